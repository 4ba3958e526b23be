"""Condition history: ``segment_conditions`` rows opened, updated and closed as states change."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from geo.region import Region
from incidents.fusion.conditions.evidence import load_evidence
from incidents.fusion.conditions.kinds import CONFIDENCE_STEP
from incidents.fusion.conditions.states import forecast_states, live_alerts, segment_states
from incidents.settings import Settings
from incidents.store.models import (
    Condition,
    SegmentCondition,
)

__all__ = [
    "ConditionSummary",
    "current_conditions",
    "desired_states",
    "update_conditions",
    "observed_hazard_segments",
    "to_segments_frame",
]


@dataclass
class ConditionSummary:
    """What :func:`update_conditions` changed."""

    segments_evaluated: int = 0
    opened: int = 0
    closed: int = 0
    updated: int = 0
    states: pd.DataFrame = field(default_factory=pd.DataFrame)


def current_conditions(
    session: Session, segment_ids: Iterable[str] | None = None
) -> dict[str, SegmentCondition]:
    """Return the current (``valid_to`` NULL) condition row of each segment."""
    stmt = select(SegmentCondition).where(SegmentCondition.valid_to.is_(None))
    ids = None if segment_ids is None else sorted(set(segment_ids))
    if ids is not None and len(ids) < 5000:
        stmt = stmt.where(SegmentCondition.segment_id.in_(ids))
    rows = list(session.scalars(stmt))
    if ids is not None:
        wanted = set(ids)
        rows = [r for r in rows if r.segment_id in wanted]
    return {r.segment_id: r for r in rows}


def desired_states(
    evidence: pd.DataFrame,
    forecast: pd.DataFrame,
    segment_ids: Iterable[str],
) -> dict[str, dict[str, Any]]:
    """Decide the state of each of `segment_ids` from observed evidence and forecasts.

    Returns a mapping segment_id -> ``{condition, observed, confidence, source, report_ids,
    cleared_by}``; segments with nothing to say are absent.
    """
    obs = segment_states(evidence).to_dict("index")
    fc = forecast.to_dict("index")
    out: dict[str, dict[str, Any]] = {}
    for sid in segment_ids:
        o: dict[str, Any] = obs.get(sid) or {}
        f: dict[str, Any] | None = fc.get(sid)
        cond = o.get("condition")
        cond = cond if isinstance(cond, str) else None
        if cond is not None and cond != Condition.CLEAR.value:
            out[sid] = {
                "condition": cond,
                "observed": True,
                "confidence": float(o["confidence"]),
                "source": str(o["source"]),
                "report_ids": list(o["report_ids"] or []),
                "cleared_by": None,
            }
            continue
        clear_conf = float(o["confidence"]) if cond == Condition.CLEAR.value else 0.0
        if f is not None and float(f["confidence"]) > clear_conf:
            out[sid] = {
                "condition": str(f["condition"]),
                "observed": False,
                "confidence": float(f["confidence"]),
                "source": "alert",
                "report_ids": list(f["report_ids"] or []),
                "cleared_by": None,
            }
        elif cond == Condition.CLEAR.value:
            ids = [int(i) for i in o["report_ids"] or []]
            by = str(o["source"])
            if ids and ids[0] < 0:  # a hazard cleared by hand (see manual_clear_evidence)
                cleared_by = f"hazard {-ids[0]} cleared by hand"
                ids = []
            else:
                cleared_by = f"{by} report {ids[0]}" if ids else by
            out[sid] = {
                "condition": Condition.CLEAR.value,
                "observed": True,
                "confidence": clear_conf,
                "source": by,
                "report_ids": ids,
                "cleared_by": cleared_by,
            }
    return out


def update_conditions(
    session: Session,
    region: Region,
    settings: Settings,
    now: datetime,
    touched: Iterable[str] = (),
) -> ConditionSummary:
    """Recompute the segment conditions and write the history (see the module docstring).

    The segments recomputed are the touched ones, those with a current row and those under a
    live alert.

    Parameters
    ----------
    touched
        Segment ids that have new evidence.
    """
    alerts = live_alerts(session, now)
    forecast = forecast_states(alerts, region, settings, now)
    current = current_conditions(session)
    evidence = load_evidence(session, region, settings, now)
    todo = set(touched) | set(current) | set(forecast.index)
    if len(evidence):
        todo |= set(evidence["segment_id"])
    desired = desired_states(evidence, forecast, sorted(todo))
    summary = ConditionSummary(segments_evaluated=len(todo))
    inserts: list[dict[str, Any]] = []
    for sid in sorted(todo):
        want = desired.get(sid)
        cur = current.get(sid)
        if (
            cur is not None
            and want is not None
            and cur.condition == want["condition"]
            and cur.observed == want["observed"]
        ):
            if (
                abs(cur.confidence - want["confidence"]) > CONFIDENCE_STEP
                or list(cur.report_ids or []) != want["report_ids"]
            ):
                cur.confidence = want["confidence"]
                cur.report_ids = want["report_ids"]
                cur.source = want["source"]
                summary.updated += 1
            continue
        if cur is not None:
            cur.valid_to = now
            summary.closed += 1
        if want is None:
            continue
        if want["condition"] == Condition.CLEAR.value and (cur is None or not cur.observed):
            # a clear pass is recorded only when it replaces an observed hazard
            continue
        inserts.append(
            {
                "segment_id": sid,
                "condition": want["condition"],
                "observed": want["observed"],
                "confidence": want["confidence"],
                "source": want["source"],
                "report_ids": want["report_ids"],
                "valid_from": now,
                "valid_to": None,
                "cleared_by": want["cleared_by"],
            }
        )
        summary.opened += 1
    session.flush()
    if inserts:  # one multi-row INSERT (closing rows were flushed first)
        session.execute(insert(SegmentCondition), inserts)
    states = pd.DataFrame.from_dict(desired, orient="index")
    states.index.name = "segment_id"
    summary.states = states
    return summary


def observed_hazard_segments(states: pd.DataFrame) -> pd.DataFrame:
    """Rows of `states` that are observed hazards (not clear, not forecast)."""
    if len(states) == 0:
        return states
    mask = states["observed"].astype(bool) & (states["condition"] != Condition.CLEAR.value)
    return states[mask]


def to_segments_frame(region: Region, segment_ids: Sequence[str]) -> gpd.GeoDataFrame:
    """Return the region's segment rows for `segment_ids`, in that order."""
    segs = region.network.segments.set_index("segment_id")
    return gpd.GeoDataFrame(
        segs.loc[list(segment_ids)].reset_index(), crs=region.network.segments.crs
    )
