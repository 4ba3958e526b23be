"""The long-running worker (``winterops worker``): poll feeds, fuse, re-rank, say what it did.

One cycle:

1. renew the ``worker_leases`` row named ``fuse`` (claim it when it is free or expired; a worker
   that does not hold it polls nothing and waits - two workers never double-fuse);
2. poll every enabled feed of ``feed_status`` that is due (:func:`ingest.runner.poll_feed`,
   through :class:`incidents.live.pipeline.PipelineSink`); each feed's attempt, success,
   change and error land in its ``feed_status`` row, ETag/Last-Modified/sha too, so a restarted
   worker sends conditional requests and stores nothing twice;
3. fuse when something was stored, and at least every ``fuse_every_s`` anyway, so priorities
   and cold-exposure clocks advance (at :func:`incidents.clock.operational_now`);
4. after a fuse, and within a tick of any change of tasks, units, assignments or hazards (a
   confirm, an override, a tablet tap, an AVL fix: the change counters tell), re-rank and keep
   the ``recommended`` assignments equal to the ranking (:func:`incidents.live.pipeline.rank_now`);
5. write a heartbeat (``worker_leases`` row ``worker:<holder>``: role, cycle, last result).

:meth:`Worker.stop` (the CLI wires SIGTERM/SIGINT to it) ends the loop after the current step
and releases the lease.

The database going away (PostgreSQL restarted, a network cut, SQLite busy) does not end the
worker: the cycle that met it is dropped (its transaction rolled back), the worker says
``database connection lost, retrying`` once and tries again every ``retry_s``; the first cycle
that gets through says ``database back after N s`` and polls every feed again from the stored
ETag/Last-Modified (what the dropped cycle fetched but could not store is fetched again, what
it did store counts as duplicates). At its start the worker removes the raw archive's stale
``.tmp-*`` leftovers of a killed ingest (:func:`ingest.archive.sweep_stale_temps`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from geo.region import Region
from incidents.live.feeds import FeedRow, list_feeds
from incidents.live.pipeline import PipelineSink, fuse_now, rank_now
from incidents.settings import Settings
from incidents.store import changes
from incidents.store.connect import database_unreachable
from incidents.store.engine import session_scope
from incidents.store.models import WorkerLease
from ingest.archive import sweep_stale_temps
from ingest.errors import IngestError
from ingest.http import Fetcher
from ingest.runner import IngestSummary, is_url, poll_feed

__all__ = [
    "FUSE_LEASE",
    "CycleReport",
    "Worker",
    "claim_lease",
    "live_workers",
    "release_lease",
]

log = logging.getLogger(__name__)

FUSE_LEASE = "fuse"
HEARTBEAT_PREFIX = "worker:"
RANK_TOPICS = ("assignments", "hazards", "tasks", "units")  # a change of these re-ranks


def _now() -> datetime:
    return datetime.now(UTC)



def claim_lease(
    session: Session, name: str, holder: str, ttl_s: float, now: datetime | None = None
) -> bool:
    """Claim or renew lease `name` for `holder`; True when `holder` holds it afterwards.

    A conditional ``UPDATE .. WHERE name = :name AND (holder = :me OR expires_at < :now)``
    renews a held lease or takes an expired one; when no row exists yet an INSERT claims it
    (a concurrent INSERT loses on the primary key). The caller commits.
    """
    now = now or _now()
    expires = now + timedelta(seconds=ttl_s)
    w = WorkerLease
    res = session.execute(
        update(w)
        .where(w.name == name, (w.holder == holder) | (w.expires_at < now))
        .values(holder=holder, expires_at=expires)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(res, "rowcount", 0) or 0) == 1:
        return True
    if session.get(WorkerLease, name) is not None:
        return False
    try:
        with session.begin_nested():
            session.execute(
                insert(w).values(
                    name=name, holder=holder, acquired_at=now, expires_at=expires, state={}
                )
            )
    except IntegrityError:
        return False
    return True


def release_lease(session: Session, name: str, holder: str) -> bool:
    """Let go of lease `name` if `holder` holds it (it expires at once); True when released."""
    w = WorkerLease
    res = session.execute(
        update(w)
        .where(w.name == name, w.holder == holder)
        .values(expires_at=_now() - timedelta(seconds=1))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(res, "rowcount", 0) or 0) == 1


@dataclass
class CycleReport:
    """What one worker cycle did."""

    cycle: int
    active: bool
    holder_seen: str | None = None
    stored: dict[str, int] = field(default_factory=dict)  # accepted reports per kind
    failed: list[str] = field(default_factory=list)
    polled: list[str] = field(default_factory=list)
    fused: bool = False
    ranked: bool = False
    incidents_created: int = 0
    incidents_updated: int = 0
    recommendations: int = 0
    seconds: float = 0.0

    @property
    def idle(self) -> bool:
        """True for an active cycle that polled nothing, stored nothing and did not fuse."""
        return self.active and not (
            self.stored or self.failed or self.polled or self.fused or self.ranked
        )

    def line(self) -> str:
        """One human line, e.g. ``cycle 12: calls +5 reports, fused 3 incidents, ...``."""
        if not self.active:
            return f"cycle {self.cycle}: standing by (lease held by {self.holder_seen})"
        parts = [f"{k} +{v} reports" for k, v in sorted(self.stored.items())] or [
            "no new reports" if self.polled else "no feed due"
        ]
        if self.failed:
            parts.append(f"{len(self.failed)} feed(s) failed: {', '.join(self.failed)}")
        if self.fused:
            n = max(self.incidents_created, self.incidents_updated)  # refreshed ones include new
            parts.append(f"fused {n} incidents ({self.incidents_created} new)")
            parts.append(f"{self.recommendations} recommendations")
        elif self.ranked:
            parts.append(f"re-ranked after a change: {self.recommendations} recommendations")
        return f"cycle {self.cycle}: {', '.join(parts)}, {self.seconds:.2f} s"

    def to_json(self) -> dict[str, Any]:
        """JSON-ready (the heartbeat's ``last``)."""
        return dict(self.__dict__)


class Worker:
    """Poll the database's feeds, fuse, re-rank; one instance per process (or thread).

    Parameters
    ----------
    factory
        Session factory of the database.
    region
        The loaded region (None: store only; the reports wait for a worker with a region).
    settings
        Raw archive, HTTP limits, snapping.
    fuse_every_s
        Fuse at least this often even when nothing came in (clocks advance).
    lease_s
        How long the lease lasts without renewal (default: 3 x the tick, at least 30 s).
    holder
        This worker's name in the lease (default: host:pid:random).
    policy
        Dispatch policy of the re-ranking.
    tick_s
        Longest wait between cycles.
    fetcher
        The HTTP fetcher (a default one from `settings` when None).
    retry_s
        Wait before the next try while the database cannot be reached.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        region: Region | None,
        settings: Settings,
        *,
        fuse_every_s: float = 60.0,
        lease_s: float | None = None,
        holder: str | None = None,
        policy: str = "optimized",
        tick_s: float = 1.0,
        fetcher: Fetcher | None = None,
        retry_s: float = 2.0,
    ) -> None:
        self.factory, self.region, self.settings = factory, region, settings
        self.fuse_every_s = fuse_every_s
        self.tick_s = tick_s
        self.lease_s = lease_s if lease_s is not None else max(30.0, 3 * tick_s)
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.policy = policy
        self.fetcher = fetcher or Fetcher(
            connect_timeout_s=settings.http_connect_timeout_s,
            read_timeout_s=settings.http_read_timeout_s,
            max_bytes=settings.max_payload_bytes,
        )
        self.sink = PipelineSink(factory)
        self.cycles = 0
        self.next_due: dict[str, float] = {}
        self.primed: dict[str, str] = {}  # feed name -> source whose validators are loaded
        self.last_fuse = float("-inf")
        self.last_feed: dict[str, dict[str, Any]] = {}
        self.ranked: dict[str, int] | None = None  # RANK_TOPICS versions of the last ranking
        self.retry_s = retry_s
        self.db_lost_at: float | None = None  # monotonic time the database went away
        self.outages = 0  # how many times it went away
        self._stop = threading.Event()

    # ------------------------------------------------------------------ control

    def stop(self) -> None:
        """Ask the loop to end after the current step (safe from a signal handler)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stop.is_set()

    def run(
        self,
        *,
        once: bool = False,
        max_cycles: int | None = None,
        echo: Callable[[str], None] | None = None,
    ) -> list[CycleReport]:
        """Run cycles until stopped (or one with `once`, or `max_cycles`); release the lease."""
        reports: list[CycleReport] = []
        say = echo or log.info
        swept = sweep_stale_temps(self.settings.raw_dir)
        if swept:
            say(f"removed {len(swept)} stale temporary file(s) from {self.settings.raw_dir}")
        try:
            while not self.stopping:
                try:
                    rep = self.cycle(force_all=once)
                except Exception as e:
                    if once or not database_unreachable(e):
                        raise
                    self._lost(e, say)
                    self._stop.wait(self.retry_s)
                    continue
                self._back(say)
                reports.append(rep)
                if echo is not None and not (rep.idle and not once):
                    echo(rep.line())  # idle cycles (every tick between due feeds) say nothing
                if once or (max_cycles is not None and self.cycles >= max_cycles):
                    break
                self._stop.wait(self._wait_s(rep))
        finally:
            self.close()
        return reports

    def _lost(self, exc: BaseException, say: Callable[[str], None]) -> None:
        """Note that a cycle could not reach the database; forget what it half-did."""
        if self.db_lost_at is None:
            self.db_lost_at = time.monotonic()
            self.outages += 1
            say(f"cycle {self.cycles}: database connection lost, retrying every "
                f"{self.retry_s:g} s ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})")
        # what the cycle fetched may not be stored: poll every feed again from the stored
        # validators (a 304 on an ETag only this process saw would lose that payload)
        self.fetcher.validators.clear()
        self.primed.clear()
        self.next_due.clear()

    def _back(self, say: Callable[[str], None]) -> None:
        if self.db_lost_at is not None:
            say(f"cycle {self.cycles}: database back after "
                f"{time.monotonic() - self.db_lost_at:.1f} s")
            self.db_lost_at = None

    def _wait_s(self, rep: CycleReport) -> float:
        if not rep.active:
            return self.tick_s
        t = time.monotonic()
        due = min([*self.next_due.values(), self.last_fuse + self.fuse_every_s])
        return max(0.05, min(self.tick_s, due - t))

    def close(self) -> None:
        """Release the lease, mark the heartbeat stopped, close the HTTP session."""
        try:
            with session_scope(self.factory) as s:
                release_lease(s, FUSE_LEASE, self.holder)
                self._heartbeat(s, "stopped", None)
        except Exception as e:
            if not database_unreachable(e):
                raise
            log.warning("worker %s: lease not released, the database is unreachable (it "
                        "expires in %g s)", self.holder, self.lease_s)
        finally:
            self.fetcher.close()

    # ------------------------------------------------------------------ one cycle

    def _claim(self) -> tuple[bool, str | None]:
        with session_scope(self.factory) as s:
            held = claim_lease(s, FUSE_LEASE, self.holder, self.lease_s)
            row = s.get(WorkerLease, FUSE_LEASE)
            holder = row.holder if row is not None else None
            if not held:
                self._heartbeat(s, "standby", None)
        return held, holder

    def cycle(self, *, force_all: bool = False) -> CycleReport:
        """Run one cycle (see the module docstring); `force_all` polls every feed now."""
        t0 = time.perf_counter()
        self.cycles += 1
        held, holder = self._claim()
        rep = CycleReport(self.cycles, held, holder_seen=holder)
        if not held:
            rep.seconds = time.perf_counter() - t0
            return rep
        self._poll_due(rep, force_all)
        stored = self.sink.take()
        now_m = time.monotonic()
        if stored.changed or stored.positions or now_m - self.last_fuse >= self.fuse_every_s:
            self._fuse_and_rank(rep)
            self.last_fuse = now_m
        elif self._rank_due():
            self._rank(rep)
        rep.seconds = time.perf_counter() - t0
        with session_scope(self.factory) as s:
            claim_lease(s, FUSE_LEASE, self.holder, self.lease_s)  # renew after a long cycle
            lease = s.get(WorkerLease, FUSE_LEASE)
            if lease is not None and lease.holder == self.holder:
                lease.state = {"cycle": self.cycles, "at": _now().isoformat(), "pid": os.getpid(),
                               "last": rep.to_json()}
            self._heartbeat(s, "active", rep)
        return rep

    def _feeds(self) -> list[FeedRow]:
        with session_scope(self.factory) as s:
            return list_feeds(s, enabled_only=True)

    def _poll_due(self, rep: CycleReport, force_all: bool) -> None:
        feeds = self._feeds()
        names = {f.name for f in feeds}
        for gone in set(self.next_due) - names:
            self.next_due.pop(gone, None)
        for f in feeds:
            if self.stopping:
                return
            t = time.monotonic()
            if not force_all and self.next_due.get(f.name, 0.0) > t:
                continue
            self.next_due[f.name] = t + f.interval_s
            rep.polled.append(f.name)
            summary = self._poll_one(f)
            if summary is None or summary.unreadable:
                rep.failed.append(f.name)
                continue
            if summary.counts.accepted:
                rep.stored[f.kind] = rep.stored.get(f.kind, 0) + summary.counts.accepted

    def _poll_one(self, f: FeedRow) -> IngestSummary | None:
        if is_url(f.source) and self.primed.get(f.name) != f.source:
            self.fetcher.remember(f.source, f.etag, f.last_modified)  # resume after a restart
            self.primed[f.name] = f.source
        try:
            s = poll_feed(
                f.config(),
                self.sink,
                raw_dir=self.settings.raw_dir,
                fetcher=self.fetcher,
                locator=self.region,
                last_sha=f.last_sha256,
            )
        except IngestError as e:  # a broken feed never stops the others
            at = _now()
            self.sink.record_feed_status(
                f.name, kind=f.kind, source=f.source, interval_s=f.interval_s,
                last_attempt=at, last_error=f"{at.isoformat()}: {e}",
            )
            self.last_feed[f.name] = {"error": str(e)}
            return None
        c = s.counts
        self.last_feed[f.name] = {
            "accepted": c.accepted, "duplicates": c.duplicates,
            "quarantined": len(s.quarantined), "not_modified": s.not_modified,
            "unreadable": len(s.unreadable),
        }
        return s

    def _versions(self) -> dict[str, int]:
        """Return the change counters of the topics a ranking depends on."""
        bind = self.factory.kw.get("bind")
        if bind is None:
            return {}
        found = changes.versions(bind)
        return {t: found.get(t, 0) for t in RANK_TOPICS}

    def _rank_due(self) -> bool:
        """Tell whether tasks, units, assignments or hazards changed since the last ranking.

        A dispatcher confirmed, a tablet tapped, a unit moved: re-rank within a tick.
        """
        if self.region is None or self.ranked is None:
            return False
        try:
            return self._versions() != self.ranked
        except Exception:  # noqa: BLE001 - a database hiccup: the next tick looks again
            return False

    def _rank(self, rep: CycleReport, at: datetime | None = None) -> None:
        if self.region is None:
            return
        before = self._versions()
        counts = rank_now(self.factory, self.region, self.settings, at, self.policy)
        after = self._versions()
        # the ranking's own rows count as "recommendations" (not a rank topic): a reading that
        # moved meanwhile (another writer) is left old, so the next tick ranks again
        self.ranked = after if after == before else before
        rep.ranked = True
        rep.recommendations = counts["ranked"]

    def _fuse_and_rank(self, rep: CycleReport) -> None:
        if self.region is None:
            return
        summary, at = fuse_now(self.factory, self.region, self.settings)
        rep.fused = True
        rep.incidents_created = summary.incidents_created
        rep.incidents_updated = summary.incidents_updated
        self._rank(rep, at)

    def _heartbeat(self, s: Session, role: str, rep: CycleReport | None) -> None:
        name = f"{HEARTBEAT_PREFIX}{self.holder}"[:64]
        now = _now()
        row = s.get(WorkerLease, name)
        state: dict[str, Any] = {
            "role": role, "cycle": self.cycles, "at": now.isoformat(), "pid": os.getpid(),
            "feeds": self.last_feed,
        }
        if rep is not None:
            state["last"] = rep.to_json()
        expires = now + timedelta(seconds=self.lease_s)
        if role == "stopped":
            expires = now
        if row is None:
            s.add(WorkerLease(name=name, holder=self.holder, acquired_at=now, expires_at=expires,
                              state=state))
        else:
            row.expires_at, row.state = expires, state


def live_workers(session: Session, now: datetime | None = None) -> list[dict[str, Any]]:
    """Heartbeats of workers that are alive (not expired), for a status page."""
    now = now or _now()
    rows = session.scalars(
        select(WorkerLease).where(
            WorkerLease.name.like(f"{HEARTBEAT_PREFIX}%"), WorkerLease.expires_at >= now
        )
    )
    return [{"holder": r.holder, **dict(r.state or {})} for r in rows]
