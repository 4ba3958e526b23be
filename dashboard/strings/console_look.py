"""Interface strings for console layout, night mode, incident titles and hotspot reasons: key -> (zh, en)."""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {}
