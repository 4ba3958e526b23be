"""Interface strings for patrol tablet page: key -> (zh, en)."""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    "tablet.route": ("路线：沿公路 {km} 公里", "Route: {km} km by road"),
    "tablet.route_direct": (
        "路线：无道路路线，直线 {km} 公里", "Route: no road route, {km} km in a straight line"
    ),
    "tablet.eta_live": (
        "预计 {minutes} 分钟到达（北京时间 {time}）", "ETA {minutes} min ({time} Beijing time)"
    ),
    "tablet.needs": ("需求：{needs}", "Needs: {needs}"),
    "tablet.what": ("事件：{kind}", "Incident: {kind}"),
    "tablet.caller_said": ("报警人说明：{notes}", "Caller said: {notes}"),
    "tablet.route_map": ("本车到任务的路线", "Route from the unit to the task"),
    "tablet.map_hint": (
        "点击地图放置上报位置（图钉）。", "Tap the map to place the report point (pin)."
    ),
    "tablet.pin_set": ("已选地图位置：{lat}, {lon}", "Map point picked: {lat}, {lon}"),
    "tablet.language": ("English", "中文"),
    "tablet.need.fuel": ("燃油", "fuel"),
    "tablet.need.heat": ("取暖", "heating"),
    "tablet.need.food": ("食物饮水", "food and water"),
    "tablet.need.medical": ("医疗", "medical care"),
    "tablet.need.heavy_tow": ("重型拖车", "heavy tow"),
    "tablet.need.tow": ("拖车", "tow"),
    "tablet.need.rescue": ("救援", "rescue"),
    "tablet.need.grit": ("撒布融雪剂", "gritting"),
    "tablet.need.plow": ("除雪", "plowing"),
    "tablet.need.traffic_control": ("交通管制", "traffic control"),
}
