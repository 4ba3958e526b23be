"""Interface strings for operations: faults, busy database, recovery, offline install: key -> (zh, en)."""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {}
