"""A CAP 1.2 public road-condition notice.

zh-CN and en-US info blocks, one area per hazardous stretch; :func:`ingest.cap.parse_cap`
reads it back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from xml.sax.saxutils import escape

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from geo.crs import from_metric, to_metric
from incidents.exports.common import AGENCY, CONDITION_EN, CONDITION_ZH, open_hazards, road_label
from incidents.store.models import (
    utcnow,
)

__all__ = ['cap_notice']


def _cap_polygon(geom: BaseGeometry, buffer_m: float = 150.0) -> str:
    poly = from_metric(to_metric(geom).buffer(buffer_m, quad_segs=2))
    poly = shapely.simplify(poly, 0.0005)
    ring = list(poly.exterior.coords)
    return " ".join(f"{lat:.5f},{lon:.5f}" for lon, lat in ring)


def cap_notice(
    session: Session,
    *,
    sender: str = f"notices@{AGENCY}",
    now: datetime | None = None,
    expires_h: float = 6.0,
) -> bytes:
    """Render a CAP 1.2 public road-condition notice of every open hazard (zh-CN and en-US).

    Returns
    -------
    bytes
        UTF-8 XML of one ``<alert>``; ``<info>`` per language, one ``<area>`` per hazard.
        With no open hazards, a notice that roads are clear (no area).
    """
    now = now or utcnow()
    hazards = [h for h in open_hazards(session) if h.geometry is not None]
    ident = f"winterops-roads-{now.strftime('%Y%m%dT%H%M%SZ')}"
    sent = now.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    expires = (now + timedelta(hours=expires_h)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    roads = sorted({h.road_code for h in hazards if h.road_code})

    def info(lang: str) -> str:
        zh = lang.startswith("zh")
        if zh:
            event = "道路结冰积雪路况通告"
            headline = f"{len(hazards)}处路段有暗冰、积雪或封闭：{'、'.join(roads) or '无'}"
            desc = "；".join(
                f"{road_label(h.road_code, h.km)} {CONDITION_ZH.get(h.condition, h.condition)}"
                for h in hazards
            )
            instruction = "请减速慢行，保持车距，非必要不出行。"
        else:
            event = "Road condition notice: ice and snow"
            headline = f"{len(hazards)} road stretches with ice, snow or closures: {', '.join(roads) or 'none'}"
            desc = "; ".join(
                f"{road_label(h.road_code, h.km)} {CONDITION_EN.get(h.condition, h.condition)}"
                for h in hazards
            )
            instruction = "Slow down, keep your distance, travel only if necessary."
        areas = "".join(
            "    <area>\n"
            f"      <areaDesc>{escape(road_label(h.road_code, h.km) or f'hazard {h.id}')}</areaDesc>\n"
            f"      <polygon>{_cap_polygon(h.geometry)}</polygon>\n"
            "    </area>\n"
            for h in hazards
        )
        return (
            "  <info>\n"
            f"    <language>{lang}</language>\n"
            "    <category>Transport</category>\n"
            f"    <event>{escape(event)}</event>\n"
            "    <urgency>Immediate</urgency>\n"
            f"    <severity>{'Severe' if any(h.condition == 'closed' for h in hazards) else 'Moderate'}</severity>\n"
            "    <certainty>Observed</certainty>\n"
            f"    <effective>{sent}</effective>\n"
            f"    <expires>{expires}</expires>\n"
            f"    <senderName>{'winterops 路况通告' if zh else 'winterops road notices'}</senderName>\n"
            f"    <headline>{escape(headline)}</headline>\n"
            f"    <description>{escape(desc or headline)}</description>\n"
            f"    <instruction>{escape(instruction)}</instruction>\n"
            f"{areas}"
            "  </info>\n"
        )

    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">\n'
        f"  <identifier>{ident}</identifier>\n"
        f"  <sender>{escape(sender)}</sender>\n"
        f"  <sent>{sent}</sent>\n"
        "  <status>Actual</status>\n"
        "  <msgType>Alert</msgType>\n"
        "  <scope>Public</scope>\n" + info("zh-CN") + info("en-US") + "</alert>\n"
    )
    return xml.encode("utf-8")
