"""After-action review of the real response: what the dispatchers and the units actually did.

Read only. :func:`response_review` turns the stored incidents, assignments and audit events of
a period into one :class:`ResponseReview`: a row per incident (time to the first confirmed
unit, time to the first unit on scene, people waiting and their cold exposure), the timeline of
audited actions, who did what, and the headline figures. The review page shows it beside the
storm replays; ``winterops review --json`` prints it.

Times: incident and assignment stamps are on the operational clock (the demo storm's clock on
a demo database); an incident still waiting is measured up to `at`, the operational "now".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from incidents.store.models import Assignment, AuditEvent, Incident, Task

__all__ = ["INCIDENT_COLUMNS", "ResponseReview", "incident_response", "response_review"]

INCIDENT_COLUMNS = (
    "incident_id",
    "kind",
    "title",
    "status",
    "people",
    "vehicles",
    "first_report_at",
    "first_confirmed_at",
    "first_on_scene_at",
    "resolved_at",
    "units",
    "to_confirm_min",
    "to_first_unit_min",
    "waiting_min",
    "exposure_person_h",
)


@dataclass(frozen=True)
class ResponseReview:
    """The real response over a period.

    Attributes
    ----------
    incidents
        One row per incident (columns :data:`INCIDENT_COLUMNS`), worst exposure first.
    timeline
        Audited actions in time order: ``at``, ``actor``, ``action``, ``target``, ``outcome``.
    by_actor
        Count of actions per ``actor`` and ``action`` (who did what).
    summary
        Headline figures: incidents, reached, waiting, people, median and 90th percentile
        minutes to the first unit on scene, exposure person-hours, confirmations, refusals.
    """

    incidents: pd.DataFrame
    timeline: pd.DataFrame
    by_actor: pd.DataFrame
    summary: Mapping[str, float | int | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the review as plain JSON-ready data (times as ISO strings)."""
        return {
            "summary": dict(self.summary),
            "incidents": _records(self.incidents),
            "by_actor": _records(self.by_actor),
            "timeline": _records(self.timeline),
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.astype(object).where(frame.notna(), None)
    rows: list[dict[str, Any]] = out.to_dict("records")
    for row in rows:
        for key, value in row.items():
            if isinstance(value, datetime | pd.Timestamp):
                row[key] = value.isoformat()
    return rows


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, errors="coerce")


def _minutes(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return ((later - earlier).dt.total_seconds() / 60.0).clip(lower=0.0)


def incident_response(
    session: Session, at: datetime, since: datetime | None = None
) -> pd.DataFrame:
    """Return one row per incident first reported before `at` (and after `since`).

    Parameters
    ----------
    session
        An open session (reads only).
    at
        The end of the period (the operational "now"): a group still waiting waits until then.
    since
        The start of the period; every incident when None.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`INCIDENT_COLUMNS`; merged-away incidents are left out (their reports
        count in the incident they were merged into).
    """
    firsts = (
        select(
            Task.incident_id.label("incident_id"),
            func.min(Assignment.confirmed_at).label("first_confirmed_at"),
            func.min(Assignment.on_scene_at).label("first_on_scene_at"),
            func.count(func.distinct(Assignment.unit_id)).label("units"),
        )
        .join(Task, Task.id == Assignment.task_id)
        .where(Task.incident_id.is_not(None), Assignment.confirmed_at <= at)
        .group_by(Task.incident_id)
        .subquery()
    )
    stmt = (
        select(
            Incident.id.label("incident_id"),
            Incident.kind,
            Incident.title,
            Incident.status,
            Incident.people,
            Incident.vehicles,
            Incident.first_report_at,
            firsts.c.first_confirmed_at,
            firsts.c.first_on_scene_at,
            Incident.resolved_at,
            firsts.c.units,
        )
        .outerjoin(firsts, firsts.c.incident_id == Incident.id)
        .where(Incident.merged_into_id.is_(None), Incident.first_report_at <= at)
        .order_by(Incident.id)
    )
    if since is not None:
        stmt = stmt.where(Incident.first_report_at >= since)
    result = session.execute(stmt)
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    if frame.empty:
        return pd.DataFrame(columns=list(INCIDENT_COLUMNS))
    end_ts = pd.Timestamp(at)
    for col in ("first_report_at", "first_confirmed_at", "first_on_scene_at", "resolved_at"):
        frame[col] = _utc(frame[col])
        frame.loc[frame[col] > end_ts, col] = pd.NaT  # what happened after the period
    frame["units"] = frame["units"].fillna(0).astype(int)
    frame["people"] = frame["people"].fillna(0).astype(int)
    reported = frame["first_report_at"]
    frame["to_confirm_min"] = _minutes(frame["first_confirmed_at"], reported)
    frame["to_first_unit_min"] = _minutes(frame["first_on_scene_at"], reported)
    end = frame["first_on_scene_at"].fillna(frame["resolved_at"]).fillna(end_ts)
    frame["waiting_min"] = _minutes(end, reported)
    frame["exposure_person_h"] = frame["people"] * frame["waiting_min"] / 60.0
    frame = frame.sort_values(["exposure_person_h", "incident_id"], ascending=[False, True])
    return frame.reset_index(drop=True)[list(INCIDENT_COLUMNS)]


def _timeline(session: Session, at: datetime, since: datetime | None) -> pd.DataFrame:
    stmt = (
        select(
            AuditEvent.at,
            AuditEvent.actor,
            AuditEvent.action,
            AuditEvent.target,
            AuditEvent.outcome,
        )
        .where(AuditEvent.at <= at)
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    result = session.execute(stmt)
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    if not frame.empty:
        frame["at"] = _utc(frame["at"])
    return frame


def _quantile(values: pd.Series, q: float) -> float | None:
    clean = values.dropna()
    return None if clean.empty else round(float(np.quantile(clean, q)), 1)


def response_review(
    session: Session, at: datetime, since: datetime | None = None
) -> ResponseReview:
    """Review the real response up to `at` (and from `since`).

    Parameters
    ----------
    session
        An open session (reads only).
    at
        The end of the period: the operational "now" for a review during the storm.
    since
        The start of the period; the whole record when None.

    Returns
    -------
    ResponseReview
        Per incident, timeline, who did what and the headline figures.
    """
    incidents = incident_response(session, at, since)
    timeline = _timeline(session, at, since)
    if timeline.empty:
        by_actor = pd.DataFrame(columns=["actor", "action", "count"])
    else:
        by_actor = (
            timeline.groupby(["actor", "action"]).size().reset_index(name="count")
            .sort_values(["count", "actor", "action"], ascending=[False, True, True])
            .reset_index(drop=True)
        )
    reached = incidents["first_on_scene_at"].notna() if len(incidents) else pd.Series([], bool)
    actions = timeline["action"] if len(timeline) else pd.Series([], dtype=object)
    outcomes = timeline["outcome"] if len(timeline) else pd.Series([], dtype=object)
    summary: dict[str, float | int | None] = {
        "incidents": len(incidents),
        "reached": int(reached.sum()),
        "waiting": int((~reached & incidents["resolved_at"].isna()).sum()) if len(incidents) else 0,
        "people": int(incidents["people"].sum()) if len(incidents) else 0,
        "first_unit_p50_min": _quantile(incidents.get("to_first_unit_min", pd.Series()), 0.5),
        "first_unit_p90_min": _quantile(incidents.get("to_first_unit_min", pd.Series()), 0.9),
        "confirm_p50_min": _quantile(incidents.get("to_confirm_min", pd.Series()), 0.5),
        "exposure_person_h": round(float(incidents["exposure_person_h"].sum()), 1)
        if len(incidents)
        else 0.0,
        "confirmations": int((actions == "assignment.confirmed").sum()),
        "overrides": int(actions.astype(str).str.contains("override").sum()),
        "refusals": int((outcomes != "ok").sum()),
    }
    return ResponseReview(incidents, timeline, by_actor, summary)
