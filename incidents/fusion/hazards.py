"""Hazards: one open hazard per segment with an observed hazardous condition.

:func:`sync_hazards` keeps them current: opened, updated with new evidence, cleared.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.region import Region
from geo.stakes import format_stake
from incidents.fusion.conditions import (
    CONFIDENCE_STEP,
    OBSERVED_THRESHOLD,
)
from incidents.fusion.labels import KIND_LABEL, count_phrase, kinds_of
from incidents.fusion.summary import FusionSummary
from incidents.fusion.tasks import (
    cancel_open_tasks,
    ensure_tasks,
    open_tasks_by,
    tasks_for_hazard,
)
from incidents.settings import Settings
from incidents.store.models import (
    Condition,
    Hazard,
    HazardState,
    RoadChief,
)

__all__ = ['sync_hazards']


def _segment_info(region: Region) -> pd.DataFrame:
    return region.network.segments.set_index("segment_id")


def _chief_for(session: Session, region: Region, section_id: str | None) -> str | None:
    if not section_id or len(region.sections) == 0:
        return None
    rows = region.sections[region.sections["section_id"].astype(str) == str(section_id)]
    if len(rows) == 0 or pd.isna(rows.iloc[0]["road_chief_id"]):
        return None
    chief = str(rows.iloc[0]["road_chief_id"])
    return chief if session.get(RoadChief, chief) is not None else None


def _stretch(info: pd.DataFrame, segment_ids: Sequence[str]) -> str:
    known = [s for s in segment_ids if s in info.index]
    if not known:
        return "unknown road"
    if len(known) == 1:
        one = info.loc[known[0]]
        k0, k1 = float(one["km_from"]), float(one["km_to"])
        return f"{one['road_code']} {format_stake(k0)}-{format_stake(k1)}"
    rows = info.loc[known]
    parts = []
    for code, grp in rows.groupby("road_code", sort=False):
        k0, k1 = float(grp["km_from"].min()), float(grp["km_to"].max())
        parts.append(f"{code} {format_stake(k0)}-{format_stake(k1)}")
    return "; ".join(parts)


def sync_hazards(
    session: Session,
    region: Region,
    settings: Settings,
    now: datetime,
    states: pd.DataFrame,
    summary: FusionSummary,
) -> None:
    """Open, update or clear the hazard of every segment with an observed state in `states`."""
    if len(states) == 0:
        return
    info = _segment_info(region)
    open_h = {
        h.segment_id: h
        for h in session.scalars(
            select(Hazard).where(
                Hazard.state.in_((HazardState.OPEN.value, HazardState.HANDED_OVER.value))
            )
        )
    }
    observed = states[states["observed"].astype(bool)]
    tasks = open_tasks_by(session, "hazard")
    kinds = kinds_of(session, [i for ids in observed["report_ids"] for i in ids])
    for sid, row in observed.iterrows():
        sid = str(sid)
        cond = str(row["condition"])
        hz = open_h.get(sid)
        if cond == Condition.CLEAR.value:
            if hz is not None:
                hz.state = HazardState.CLEARED.value
                hz.cleared_at = now
                hz.cleared_by = str(row["cleared_by"] or row["source"])
                hz.version += 1
                summary.hazards_cleared += 1
                summary.tasks_cancelled += cancel_open_tasks(session, hazard_id=hz.id, now=now)
            continue
        conf = float(row["confidence"])
        if conf < OBSERVED_THRESHOLD:
            continue
        ids = [int(i) for i in row["report_ids"]]
        seg = info.loc[sid] if sid in info.index else None
        stretch = _stretch(info, [sid])
        reason = (
            f"{KIND_LABEL.get(cond, cond)} on {stretch}: "
            f"{count_phrase(kinds.get(i, '?') for i in ids)} (confidence {conf:.2f})"
        )
        if hz is None:
            hz = _new_hazard(session, region, sid, seg, cond, conf, ids, reason, now)
            session.add(hz)
            session.flush()
            summary.hazards_opened += 1
        elif _update_hazard(hz, cond, conf, ids, reason, now):
            summary.hazards_updated += 1
        ensure_tasks(session, None, hz, tasks_for_hazard(hz), now, summary, seg, open_tasks=tasks)


def _new_hazard(
    session: Session,
    region: Region,
    sid: str,
    seg: Any,
    cond: str,
    conf: float,
    ids: list[int],
    reason: str,
    now: datetime,
) -> Hazard:
    geom = seg.geometry if seg is not None else None
    section = None if seg is None or pd.isna(seg["section_id"]) else str(seg["section_id"])
    return Hazard(
        segment_id=sid,
        condition=cond,
        observed=True,
        confidence=conf,
        state=HazardState.OPEN.value,
        geometry=geom,
        road_code=None if seg is None else str(seg["road_code"]),
        km=None if seg is None else float(seg["km_from"]),
        section_id=section,
        road_chief_id=_chief_for(session, region, section),
        first_seen=now,
        last_seen=now,
        report_ids=ids,
        reason=reason,
        version=1,
    )


def _update_hazard(
    hz: Hazard, cond: str, conf: float, ids: list[int], reason: str, now: datetime
) -> bool:
    """Bring an open hazard up to date; False when nothing about it changed."""
    merged = sorted(set(hz.report_ids or []) | set(ids))
    if (
        hz.condition == cond
        and merged == sorted(hz.report_ids or [])
        and abs(hz.confidence - conf) <= CONFIDENCE_STEP
    ):
        return False
    if hz.condition != cond or merged != sorted(hz.report_ids or []):
        # a new condition or new reports is news for whoever holds the hazard;
        # a fading confidence is not (no version bump, no spurious edit conflicts)
        hz.version += 1
        hz.last_seen = now
    hz.condition = cond
    hz.confidence = conf
    hz.report_ids = merged
    hz.reason = reason
    return True
