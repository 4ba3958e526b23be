"""The patrol tablet's task card: what, where, who is waiting, the route and a live ETA.

Pure text and drawing (no Streamlit): :func:`card_lines` gives the Markdown lines (every
outside value escaped), :func:`route_svg` a small drawing of the road route from the unit to
the task (numbers only, no outside text in it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pandas as pd

from dashboard.escape import escape_markdown, escape_text
from dashboard.i18n import fmt_duration, fmt_time, t
from geo.stakes import format_stake

__all__ = ["card_lines", "eta_seconds", "route_svg", "where"]

TRAVELLING = ("confirmed", "en_route")


def where(card: dict[str, Any], lang: str) -> str:
    """Road and kilometre post, else the coordinates."""
    if card.get("road_code") and card.get("km") is not None:
        return f"{card['road_code']} {format_stake(float(card['km']))}"
    if card.get("lat") is not None:
        return f"{float(card['lat']):.5f}, {float(card['lon']):.5f}"
    return t("common.none", lang)


def eta_seconds(card: dict[str, Any], route: dict[str, Any] | None) -> float | None:
    """Return the travel time left: the route from where the unit is now, else the stored one.

    None when the unit is not travelling to this task or no time is known.
    """
    if card["state"] not in TRAVELLING:
        return None
    for value in ((route or {}).get("eta_s"), card.get("eta_s")):
        if value is not None and not pd.isna(value):
            return max(float(value), 0.0)
    return None


def _what(card: dict[str, Any], needs: Sequence[str], lang: str) -> list[str]:
    """Describe the incident in the interface language (its stored title is English, by fusion)."""
    lines = []
    if card.get("incident_kind"):
        kind = t(f"kind.{card['incident_kind']}", lang, default=str(card["incident_kind"]))
        lines.append(t("tablet.what", lang, kind=escape_markdown(kind)))
    if needs:
        shown = "、".join(t(f"tablet.need.{n}", lang, default=n) for n in needs) if lang == "zh" \
            else ", ".join(t(f"tablet.need.{n}", lang, default=n) for n in needs)
        lines.append(t("tablet.needs", lang, needs=escape_markdown(shown)))
    if card.get("notes"):
        notes = escape_markdown(str(card["notes"])[:400])
        lines.append(t("tablet.caller_said", lang, notes=notes))
    return lines


def card_lines(
    card: dict[str, Any],
    lang: str,
    now: pd.Timestamp,
    route: dict[str, Any] | None = None,
    needs: Sequence[str] = (),
) -> list[str]:
    """Return the Markdown lines of one task card (every outside value escaped)."""
    kind = t(f"kind.{card['task_kind']}", lang, default=str(card["task_kind"]))
    state = t(f"state.{card['state']}", lang, default=str(card["state"]))
    since = pd.Timestamp(card["since"]) if card.get("since") is not None else now
    if since.tzinfo is None:
        since = since.tz_localize("UTC")
    lines = [
        f"**{escape_markdown(kind)}** · {escape_markdown(t('col.task', lang))} "
        f"{int(card['task_id'])} · {escape_markdown(state)} · "
        f"{fmt_duration((now - since).total_seconds())}",
        f"{escape_markdown(t('patrol.where', lang))}: {escape_markdown(where(card, lang))}",
        *_what(card, needs, lang),
        escape_markdown(
            t(
                "patrol.people",
                lang,
                people=card.get("people", 0),
                vehicles=card.get("vehicles", 0),
                vulnerable=card.get("vulnerable", 0),
            )
        ),
    ]
    if route is not None and card["state"] in TRAVELLING:
        key = "tablet.route" if route.get("on_network") else "tablet.route_direct"
        lines.append(escape_markdown(t(key, lang, km=f"{float(route['km']):.1f}")))
    eta = eta_seconds(card, route)
    if eta is not None:
        minutes = max(1, math.ceil(eta / 60))  # never "0": under a minute shows as 1
        at = fmt_time(now + timedelta(seconds=eta), with_date=False)
        lines.append(escape_markdown(t("tablet.eta_live", lang, minutes=minutes, time=at)))
    return lines


def route_svg(coords: Sequence[tuple[float, float]], label: str, dark: bool = False) -> str:
    """Return a small SVG of the route (unit: blue dot, task: red square), north up.

    `coords` are (lon, lat); `label` (the drawing's accessible name) is escaped here.
    """
    if len(coords) < 2:
        return ""
    lat0 = math.radians(sum(c[1] for c in coords) / len(coords))
    xs = [c[0] * math.cos(lat0) for c in coords]
    ys = [c[1] for c in coords]
    w, h, pad = 720.0, 140.0, 14.0
    dx, dy = max(xs) - min(xs), max(ys) - min(ys)
    scale = min((w - 2 * pad) / max(dx, 1e-9), (h - 2 * pad) / max(dy, 1e-9))
    ox, oy = (w - dx * scale) / 2, (h - dy * scale) / 2
    pts = [(ox + (x - min(xs)) * scale, h - oy - (y - min(ys)) * scale)
           for x, y in zip(xs, ys, strict=True)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
    bg, road = ("#1b2127", "#90caf9") if dark else ("#f3f6f9", "#1565c0")
    (x0, y0), (x1, y1) = pts[0], pts[-1]
    return (
        f'<svg role="img" aria-label="{escape_text(label)}" viewBox="0 0 {w:.0f} {h:.0f}" '
        f'preserveAspectRatio="xMidYMid meet" style="width:100%;height:{h:.0f}px;'
        f'background:{bg};border-radius:6px;display:block">'
        f'<polyline points="{path}" fill="none" stroke="{road}" stroke-width="5" '
        'stroke-linejoin="round" stroke-linecap="round"/>'
        f'<circle cx="{x0:.1f}" cy="{y0:.1f}" r="9" fill="#1e88e5" stroke="#fff" stroke-width="3"/>'
        f'<rect x="{x1 - 8:.1f}" y="{y1 - 8:.1f}" width="16" height="16" fill="#e53935" '
        'stroke="#fff" stroke-width="3"/></svg>'
    )
