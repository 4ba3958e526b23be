"""Interface string catalogues beside the core one in :mod:`dashboard.i18n`, one module per area.

A new area is one module with a ``STRINGS`` dict (key -> (zh, en)) and one line in
``CATALOGUES`` below. Keys must not repeat across catalogues (a test says so).
"""

from __future__ import annotations

from dashboard.strings import console_look, console_work, map, ops, tablet

__all__ = ["CATALOGUES", "merged"]

CATALOGUES: dict[str, dict[str, tuple[str, str]]] = {
    "console_work": console_work.STRINGS,
    "console_look": console_look.STRINGS,
    "tablet": tablet.STRINGS,
    "map": map.STRINGS,
    "ops": ops.STRINGS,
}


def merged(core: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """Return `core` plus every area catalogue; a key defined twice raises ``KeyError``."""
    out = dict(core)
    for area, strings in CATALOGUES.items():
        for key, pair in strings.items():
            if key in out:
                raise KeyError(f"interface string {key!r} defined twice (again in {area})")
            out[key] = pair
    return out
