"""Interface strings for dispatcher workflows: override, overdue, merge and split, unit readiness: key -> (zh, en)."""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {}
