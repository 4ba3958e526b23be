"""Interface strings for map layers, popups and the view payload: key -> (zh, en)."""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    # a grid cell standing for several incidents when the view holds too many to draw
    "map.cell_incidents": ("{n} 起事件（放大查看）", "{n} incidents (zoom in)"),
    "map.count": ("数量", "Count"),
}
