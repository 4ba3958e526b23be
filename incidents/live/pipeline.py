"""Reports -> incidents: the one owner of "store what came in, then fuse what changed".

Every path that brings reports in goes through here: ``winterops ingest ...``, the worker
(``winterops worker`` / ``ingest watch``), the patrol page's hazard report, the demo storm and
the storm replay. A parse result is stored by :class:`incidents.store.sink.DatabaseSink`
(idempotent: natural keys); when something new was stored, :func:`incidents.fusion.fuse` turns
the new reports into conditions, hazards, incidents and tasks at the operational clock
(:func:`incidents.clock.operational_now`) or at the given moment. AVL results (kind ``avl``)
move the units (``incidents.dispatch.apply_position_reports``) before fusing.

Reading commands (``winterops hotspots``, ``winterops recommend``) never fuse.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from geo.region import Region
from incidents.clock import operational_now
from incidents.dispatch import Recommendation, apply_position_reports, recommend
from incidents.fusion import FusionSummary, fuse
from incidents.service.audit import audit
from incidents.settings import Settings
from incidents.store.engine import session_scope
from incidents.store.models import Assignment, AssignmentState, Report, ReportKind
from incidents.store.sink import DatabaseSink
from ingest.calls import CallMapping
from ingest.http import Fetcher
from ingest.records import ParseResult
from ingest.registry import KINDS
from ingest.runner import IngestSummary, StoreCounts, run_ingest

__all__ = [
    "PipelineResult",
    "PipelineSink",
    "feed_kinds",
    "fuse_now",
    "ingest_result",
    "ingest_sources",
    "rank_now",
    "report_patrol_hazard",
    "retire_recommendations",
    "store_recommendations",
]

AVL_KIND = "avl"
PATROL_CONFIDENCE = 0.9


def feed_kinds() -> tuple[str, ...]:
    """Return the feed kinds the parsers know (:data:`ingest.registry.KINDS`, in order)."""
    return tuple(KINDS)


@dataclass
class PipelineResult:
    """What one pass through the pipeline did."""

    kinds: list[str] = field(default_factory=list)
    counts: StoreCounts = field(default_factory=StoreCounts)
    positions: dict[str, int] = field(default_factory=dict)
    fusion: FusionSummary | None = None
    fused_at: datetime | None = None
    ranking: dict[str, int] | None = None  # store_recommendations' counts after the fuse
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        """True when the store added or changed something."""
        c = self.counts
        return bool(c.accepted or c.updated or c.cancelled)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: counts, positions, fusion summary (or None when nothing was fused)."""
        c = self.counts
        return {
            "kinds": list(self.kinds),
            "accepted": c.accepted,
            "updated": c.updated,
            "cancelled": c.cancelled,
            "duplicates": c.duplicates,
            "positions": dict(self.positions),
            "fusion": self.fusion.to_json() if self.fusion is not None else None,
            "fused_at": self.fused_at.isoformat() if self.fused_at else None,
            "ranking": dict(self.ranking) if self.ranking is not None else None,
            "seconds": round(self.seconds, 3),
        }


def _apply_positions(factory: sessionmaker[Session], keys: Sequence[str]) -> dict[str, int]:
    """Move units to the AVL fixes just stored (:func:`incidents.dispatch.apply_position_reports`)."""
    with session_scope(factory) as s:
        out = apply_position_reports(s, natural_keys=list(keys))
    return {str(k): int(v) for k, v in out.items()}


class PipelineSink(DatabaseSink):
    """A :class:`DatabaseSink` that remembers what it stored, for one fuse afterwards.

    AVL results move the units right after they are stored.
    """

    def __init__(self, session_factory: sessionmaker[Session], **kw: Any) -> None:
        super().__init__(session_factory, **kw)
        self.result = PipelineResult()

    def store(self, kind: str, result: ParseResult) -> StoreCounts:
        """Store like :meth:`DatabaseSink.store`; note the counts (and move units for AVL)."""
        counts = super().store(kind, result)
        self.result.counts += counts
        if kind not in self.result.kinds:
            self.result.kinds.append(kind)
        if kind == AVL_KIND and (counts.accepted or counts.updated):
            keys = [str(k) for k in result.frame["natural_key"]] if len(result.frame) else []
            for k, v in _apply_positions(self.session_factory, keys).items():
                self.result.positions[k] = self.result.positions.get(k, 0) + v
        return counts

    def take(self) -> PipelineResult:
        """Return what was stored since the last call and start counting afresh."""
        out, self.result = self.result, PipelineResult()
        return out


def fuse_now(
    factory: sessionmaker[Session],
    region: Region,
    settings: Settings,
    now: datetime | None = None,
) -> tuple[FusionSummary, datetime]:
    """Fuse every report not yet fused, in one transaction; return the summary and the moment.

    `now` defaults to the operational clock.
    """
    with session_scope(factory) as s:
        at = now if now is not None else operational_now(s)[0]
        summary = fuse(s, region, settings, at)
    return summary, at


def _finish(
    factory: sessionmaker[Session],
    region: Region,
    settings: Settings,
    result: PipelineResult,
    now: datetime | None,
    started: float,
    *,
    always: bool = False,
    rank: bool = True,
) -> PipelineResult:
    if result.changed or result.positions or always:
        result.fusion, result.fused_at = fuse_now(factory, region, settings, now)
        if rank:  # the card of a new call is there as soon as its incident is
            result.ranking = rank_now(factory, region, settings, result.fused_at)
    result.seconds = time.perf_counter() - started
    return result


def ingest_result(
    factory: sessionmaker[Session],
    region: Region,
    settings: Settings,
    kind: str,
    result: ParseResult,
    *,
    now: datetime | None = None,
    rank: bool = True,
) -> PipelineResult:
    """Store one parse result, fuse what it changed and re-rank the recommendations.

    Parameters
    ----------
    factory
        Session factory of the database.
    region
        The loaded region (snapping, sections).
    settings
        Snap tolerance, half-lives.
    kind
        The feed kind of `result` (``alerts``, ``calls``, ``avl`` ...).
    result
        A parser's result.
    now
        Fusion clock (default: :func:`incidents.clock.operational_now`).
    rank
        After a fuse, store the new ranking (:func:`rank_now`), so a new incident's
        recommendation is there without waiting for the worker's next cycle.

    Returns
    -------
    PipelineResult
        Store counts, the fusion summary and ranking counts (None when nothing new was
        stored).
    """
    t0 = time.perf_counter()
    sink = PipelineSink(factory, now=now)
    sink.store(kind, result)
    return _finish(factory, region, settings, sink.take(), now, t0, rank=rank)


def ingest_sources(
    factory: sessionmaker[Session],
    region: Region | None,
    settings: Settings,
    kind: str,
    sources: Sequence[str],
    *,
    fetcher: Fetcher | None = None,
    mapping: CallMapping | None = None,
    zones: Mapping[str, BaseGeometry] | None = None,
    progress: bool = False,
    parse_now: datetime | None = None,
    now: datetime | None = None,
    fuse_after: bool = True,
    rank: bool = True,
) -> tuple[IngestSummary, PipelineResult]:
    """Read, archive, parse and store every source of one kind, then fuse once and re-rank.

    With `rank` False nothing is re-ranked.

    `parse_now` is the parsers' clock (relative times in payloads), `now` the fusion clock and
    the sink's alert-expiry clock (default: the operational clock / the present). Without a
    region, or with ``fuse_after=False`` (a caller that fuses once after several kinds), nothing
    is fused here.
    """
    t0 = time.perf_counter()
    sink = PipelineSink(factory, now=now or parse_now)
    summary = run_ingest(
        kind,
        sources,
        sink,
        raw_dir=settings.raw_dir,
        fetcher=fetcher,
        locator=region,
        mapping=mapping,
        zones=zones,
        progress=progress,
        now=parse_now,
    )
    result = sink.take()
    if region is None or not fuse_after:
        result.seconds = time.perf_counter() - t0
        return summary, result
    return summary, _finish(factory, region, settings, result, now, t0, rank=rank)


def report_patrol_hazard(
    factory: sessionmaker[Session],
    region: Region,
    settings: Settings,
    *,
    unit_id: str | None,
    lon: float,
    lat: float,
    condition: str,
    note: str,
    at: datetime | None,
    actor: str,
) -> int:
    """Store a patrol lead's hazard report where the unit stands, fuse, return the report id.

    The report (kind ``patrol``) is snapped to the nearest segment by fusion like every other
    point report (:func:`incidents.fusion.conditions.snap_new_reports`, within
    ``settings.snap_tolerance_m``), so it becomes a hazard on the dispatcher's map at once.
    The report is audited (``hazard.report``).

    Raises
    ------
    ValueError
        Coordinates out of range.
    """
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        msg = f"coordinates out of range: {lon}, {lat}"
        raise ValueError(msg)
    with session_scope(factory) as s:
        when = at if at is not None else operational_now(s)[0]
        report = Report(
            kind=ReportKind.PATROL.value,
            natural_key=f"patrol:{actor}:{uuid.uuid4().hex}",
            source=f"dashboard:{actor}",
            observed_at=when,
            received_at=datetime.now(UTC),
            geometry=shapely.Point(round(lon, 6), round(lat, 6)),
            subtype=condition,
            confidence=PATROL_CONFIDENCE,
            flags=[],
            attributes={"note": note[:500], "unit_id": unit_id},
        )
        s.add(report)
        s.flush()
        rid = int(report.id)
        audit(
            s,
            actor,
            "hazard.report",
            f"report:{rid}",
            details={"condition": condition, "lon": lon, "lat": lat, "unit_id": unit_id},
            at=when,
        )
    _, fused_at = fuse_now(factory, region, settings, at)
    rank_now(factory, region, settings, fused_at)  # a hazard slows the routes through it
    return rid


def _explanation(r: Recommendation, now: datetime) -> dict[str, Any]:
    """Return what a stored recommendation keeps beside its task, unit and ETA (card facts)."""
    return {
        "reason": r.reason,
        "reason_zh": r.reason_zh,
        "policy": r.policy,
        "priority": r.priority,
        "action": r.action,
        "replaces_assignment_id": r.replaces_assignment_id,
        "runner_up": (
            {"unit_id": r.runner_up[0], "eta_s": round(r.runner_up[1], 1)} if r.runner_up else None
        ),
        "unit_short_only": r.unit_short_only,
        "position_state": r.position_state,
        "position_age_s": r.position_age_s,
        "position_source": r.position_source,
        "rank_at": now.isoformat(),
    }


def store_recommendations(
    session: Session, recs: Sequence[Recommendation], now: datetime, *, eta_slack_s: float = 30.0
) -> dict[str, int]:
    """Keep the ``recommended`` assignments equal to the current ranking.

    That ranking is the one truth the dashboard shows.

    A recommendation already stored (same task and unit) keeps its row (its ETA and
    explanation are refreshed when the ETA moved by more than `eta_slack_s` or the
    action changed); a new one is added with state ``recommended``; a stored recommendation no
    longer in the ranking, never acted on, is removed (a second row of the same pair, left by
    two rankers at once, too). Both plain ``assign`` and ``reassign`` (move a unit that is out)
    recommendations are stored; the explanation says which. Confirming one goes through
    ``service.lifecycle.confirm_assignment``, which takes the matching ``recommended`` row.
    Returns ``added``, ``kept``, ``removed``.
    """
    stored: dict[tuple[int, str], Assignment] = {}
    extra: list[Assignment] = []
    for a in session.scalars(
        select(Assignment)
        .where(Assignment.state == AssignmentState.RECOMMENDED.value)
        .order_by(Assignment.id)
    ):
        if (a.task_id, a.unit_id) in stored:
            extra.append(a)
        else:
            stored[(a.task_id, a.unit_id)] = a
    out = {"added": 0, "kept": 0, "removed": 0}
    wanted = set()
    for r in recs:
        key = (r.task_id, r.unit_id)
        if key in wanted:
            continue
        wanted.add(key)
        explanation = _explanation(r, now)
        row = stored.get(key)
        if row is None:
            session.add(
                Assignment(
                    task_id=r.task_id,
                    unit_id=r.unit_id,
                    state=AssignmentState.RECOMMENDED.value,
                    eta_s=r.eta_s,
                    explanation=explanation,
                    recommended_at=now,
                )
            )
            out["added"] += 1
            continue
        out["kept"] += 1
        before = dict(row.explanation or {})
        moved = row.eta_s is None or abs(row.eta_s - r.eta_s) > eta_slack_s
        if moved or before.get("action", "assign") != r.action or (
            before.get("replaces_assignment_id") != r.replaces_assignment_id
        ):
            row.eta_s, row.explanation = r.eta_s, explanation
    for key, a in stored.items():
        if key not in wanted and a.confirmed_by is None:
            session.delete(a)
            out["removed"] += 1
    for a in extra:
        session.delete(a)
        out["removed"] += 1
    session.flush()
    return out


def rank_now(
    factory: sessionmaker[Session],
    region: Region,
    settings: Settings | None,
    at: datetime | None = None,
    policy: str = "optimized",
) -> dict[str, int]:
    """Re-rank and store the ranking in one transaction, at `at` (default: the operational clock).

    :func:`incidents.dispatch.recommend`, then :func:`store_recommendations`. The one writer of
    recommendations: the pipeline after a fuse, the worker after any change of tasks, units,
    assignments or hazards, a dashboard when no worker runs.
    """
    with session_scope(factory) as s:
        when = at if at is not None else operational_now(s)[0]
        recs = recommend(s, region, settings, when, policy)
        counts = store_recommendations(s, recs, when)
    counts["ranked"] = len(recs)
    return counts


def retire_recommendations(session: Session, *, task_id: int, unit_id: str) -> int:
    """Remove the ``recommended`` rows a confirm or an override made moot; return how many.

    That is any other unit for `task_id` (the task has its unit now) and `unit_id` for any other
    task (it is busy now), in the caller's transaction.
    """
    rows = session.scalars(
        select(Assignment).where(
            Assignment.state == AssignmentState.RECOMMENDED.value,
            (Assignment.task_id == task_id) | (Assignment.unit_id == unit_id),
        )
    ).all()
    for a in rows:
        session.delete(a)
    session.flush()
    return len(rows)
