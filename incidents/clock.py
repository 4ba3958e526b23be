"""The operational clock: what "now" means for fusion, dispatch and the dashboard.

A live deployment runs on the wall clock. A replayed or demo storm runs on the storm's own
time, which keeps moving forward from the moment it was loaded, so cold-exposure clocks and
stage timers tick as they would have on the night. One function decides, for every part.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from incidents.store.models import AuditEvent, Report
from incidents.store.runtime import clock_setting, set_clock_setting

STALE_DATA = timedelta(days=1)
DISPLAY_ZONE = ZoneInfo("Asia/Shanghai")


def _utc(value: Any) -> datetime:
    ts = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if ts.tzinfo is None:  # a naive time from an operator means Asia/Shanghai
        ts = ts.replace(tzinfo=DISPLAY_ZONE)
    return ts.astimezone(UTC)


def operational_now(session: Session, real: datetime | None = None) -> tuple[datetime, str]:
    """Return the operational "now" (UTC) and a note saying which rule gave it.

    1. ``app_settings["clock"] = {"now": ISO, "set_at": ISO}``: starts at ``now`` and runs on
       in real time from ``set_at`` (set by :func:`set_clock`, e.g. when the demo storm is
       loaded); ``{"now": ISO, "frozen": true}`` (or no ``set_at``) stays at ``now``.
    2. A database loaded by ``winterops demo`` (audit action ``demo.load``): the newest
       report's time, running since the demo was loaded.
    3. Otherwise the present, unless the newest report is more than a day old (a replayed
       storm), then the newest report's time.

    The note is empty for the plain present.
    """
    real = real or datetime.now(UTC)
    clock = clock_setting(session)
    if clock is not None:
        start = _utc(clock.now)
        if clock.set_at is not None:
            start += max(timedelta(0), real - _utc(clock.set_at))
        return start, f"clock set in app_settings: {start.isoformat()}"
    newest = session.scalar(select(func.max(Report.observed_at)))
    loaded = session.scalar(select(func.max(AuditEvent.at)).where(AuditEvent.action == "demo.load"))
    if newest is not None and loaded is not None:
        at = newest + max(timedelta(0), real - loaded)
        return at, f"demo storm clock: {at.isoformat()}"
    if newest is not None and real - newest > STALE_DATA:
        return newest, f"newest report is from {newest.isoformat()}; ranking at that time"
    return real, ""


def set_clock(
    session: Session,
    now: datetime,
    *,
    running_from: datetime | None = None,
    frozen: bool | None = None,
) -> None:
    """Set the operational clock to `now`.

    With `running_from` (wall time) the clock runs on from then in real time
    (``now + (wall - running_from)``): the demo storm and a live worker do not stand still.
    Without it, or with ``frozen=True``, it stays at `now` (a stopped clock, as tests and a
    review of a past moment want); the stored value says ``"frozen": true``.
    """
    running = _utc(running_from) if running_from is not None and not frozen else None
    set_clock_setting(session, _utc(now), running)
