"""Interface strings for map layers, popups and the view payload: key -> (zh, en)."""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {}
