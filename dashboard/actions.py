"""What a dashboard user can do: each action is one audited transaction.

Every stamp uses the operational clock (:func:`dashboard.data.clock`: the wall clock, or the
demo storm's running clock), so what a user does lines up with the clocks shown. Log-ins and
lock-outs use the wall clock.

The pages call these functions; they call the ``incidents`` services (``incidents.service.actions``
when it exists, else the lifecycle and user functions), commit, and clear the data caches so
the change shows at once. Errors from ``incidents.errors`` (ConflictError, TransitionError,
PermissionDenied, AuthError, NotFoundError) reach the page, which shows them.

No Streamlit widgets here; :func:`dashboard.data.invalidate` is the only Streamlit call.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import shapely
from sqlalchemy import select

from dashboard import data
from incidents.errors import PermissionDenied
from incidents.service import actions as service
from incidents.service.audit import audit
from incidents.store.engine import session_scope
from incidents.store.models import (
    Report,
    ReportKind,
    Role,
    Setting,
    User,
    utcnow,
)

__all__ = [
    "SessionUser",
    "cancel",
    "clear_hazard",
    "confirm",
    "create_user",
    "hand_to_road_chief",
    "locked_until",
    "login",
    "logout",
    "move_and_confirm",
    "override",
    "reassign",
    "report_hazard",
    "save_feed",
    "set_status",
]


@dataclass(frozen=True)
class SessionUser:
    """The logged-in user as the dashboard keeps it in ``st.session_state``."""

    username: str
    role: str
    unit_id: str | None = None

    @property
    def is_dispatcher(self) -> bool:
        """Dispatchers and admins may dispatch."""
        return self.role in (Role.DISPATCHER.value, Role.ADMIN.value)


def login(url: str, username: str, password: str, now: datetime | None = None) -> SessionUser:
    """Check the password against the database (lockout counted there); raise AuthError."""
    from incidents.service.users import authenticate

    with session_scope(data.session_factory(url)) as session:
        user = authenticate(session, username, password, now=now)
        return SessionUser(user.username, user.role, user.unit_id)


def locked_until(url: str, username: str, now: datetime | None = None) -> datetime | None:
    """When `username` is locked out at `now`, until when (UTC); else None."""
    now = now or utcnow()
    with data.session_factory(url)() as session:
        until = session.scalars(
            select(User.locked_until).where(User.username == username.strip())
        ).first()
    return until if until is not None and until > now else None


def logout(url: str, username: str, reason: str = "logout") -> None:
    """Audit a log-out (``reason``: "logout" or "idle")."""
    record = data.optional("incidents.service.users", "record_logout")
    with session_scope(data.session_factory(url)) as session:
        if record is not None and reason == "logout":
            record(session, username)
        else:
            audit(session, username, "logout", f"user:{username}", details={"reason": reason})


def _act(url: str, action: Callable[..., Any], user: SessionUser, *args: Any, **kw: Any) -> Any:
    """Run one ``incidents.service.actions`` action in its own transaction (:func:`service.act`: a
    refusal or a lost race is audited after the rollback), on the operational clock, then
    clear the caches so the change shows at once."""
    now = data.clock(url)  # read before the write transaction starts
    try:
        return service.act(data.session_factory(url), action, user.username, *args, now=now, **kw)
    finally:
        data.invalidate()


def confirm(
    url: str,
    user: SessionUser,
    task_id: int,
    unit_id: str,
    *,
    eta_s: float | None = None,
    explanation: dict[str, Any] | None = None,
) -> int:
    """Confirm the recommended `unit_id` for `task_id` (one click); return the assignment id.

    Raises ConflictError when another dispatcher took the unit or the task first.
    """
    a = _act(url, service.confirm, user, task_id, unit_id, eta_s=eta_s, explanation=explanation)
    return int(a.id)


def move_and_confirm(
    url: str,
    user: SessionUser,
    task_id: int,
    unit_id: str,
    replaces_assignment_id: int,
    *,
    eta_s: float | None = None,
) -> int:
    """Confirm a "reassign" recommendation: `unit_id` leaves its current assignment
    (`replaces_assignment_id`) for `task_id`, whose old task opens again; one transaction."""
    a = _act(
        url,
        service.redirect,
        user,
        replaces_assignment_id,
        task_id,
        None,
        eta_s=eta_s,
        reason=f"moved to task {task_id}",
    )
    if a.unit_id != unit_id:  # the recommendation named another unit than the one that moved
        msg = f"assignment {replaces_assignment_id} belongs to {a.unit_id!r}, not {unit_id!r}"
        raise ValueError(msg)
    return int(a.id)


def override(
    url: str, user: SessionUser, task_id: int, unit_id: str, recommended_unit_id: str | None
) -> int:
    """Send `unit_id` instead of the recommended unit (recorded as an override)."""
    a = _act(
        url, service.override, user, task_id, unit_id, recommended_unit_id=recommended_unit_id
    )
    return int(a.id)


def reassign(
    url: str, user: SessionUser, assignment_id: int, new_unit_id: str, expected_version: int
) -> int:
    """Move an active assignment's task to another unit; return the new assignment id."""
    a = _act(url, service.reassign, user, assignment_id, new_unit_id, expected_version)
    return int(a.id)


def cancel(url: str, user: SessionUser, assignment_id: int, expected_version: int) -> None:
    """Cancel an assignment (the unit is free again, the task open)."""
    _act(url, service.cancel, user, assignment_id, expected_version)


def set_status(
    url: str,
    user: SessionUser,
    assignment_id: int,
    new_state: str,
    expected_version: int,
) -> None:
    """Patrol status taps (en route, on scene, cleared).

    A patrol lead may move only their own unit's assignments: the service refuses (and audits)
    anything else with PermissionDenied; `expected_version` is the version the user saw
    (ConflictError when it changed).
    """
    _act(url, service.set_status, user, assignment_id, new_state, expected_version)


def report_hazard(
    url: str,
    user: SessionUser,
    lon: float,
    lat: float,
    condition: str,
    note: str = "",
    now: datetime | None = None,
) -> int:
    """Record a patrol observation (a report of kind ``patrol``) where the unit stands.

    Fusion turns it into a hazard on the nearest segment. Returns the report id.
    """
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        msg = f"coordinates out of range: {lon}, {lat}"
        raise ValueError(msg)
    now = now or data.clock(url)  # read before the write transaction starts
    try:
        with session_scope(data.session_factory(url)) as session:
            report = Report(
                kind=ReportKind.PATROL.value,
                natural_key=f"patrol:{user.username}:{uuid.uuid4().hex}",
                source=f"dashboard:{user.username}",
                observed_at=now,
                received_at=now,
                geometry=shapely.Point(round(lon, 6), round(lat, 6)),
                subtype=condition,
                confidence=0.9,
                flags=[],
                attributes={"note": note[:500], "unit_id": user.unit_id},
            )
            session.add(report)
            session.flush()
            audit(
                session,
                user.username,
                "hazard.report",
                f"report:{report.id}",
                details={"condition": condition, "lon": lon, "lat": lat, "unit_id": user.unit_id},
            )
            return int(report.id)
    finally:
        data.invalidate()


def clear_hazard(url: str, user: SessionUser, hazard_id: int, expected_version: int) -> None:
    """Mark a hazard cleared (version-checked; ConflictError if someone changed it first)."""
    _act(url, service.clear_hazard, user, hazard_id, expected_version=expected_version)


def hand_to_road_chief(url: str, user: SessionUser, hazard_id: int, expected_version: int) -> None:
    """Hand an open hazard to its section's road chief (路长制); dispatchers only.

    The service refuses a patrol lead (PermissionDenied, audited), a cleared hazard
    (TransitionError), a section without a road chief (NotFoundError) and a hazard changed
    since `expected_version` (ConflictError).
    """
    _act(url, service.hand_to_road_chief, user, hazard_id, expected_version=expected_version)


def create_user(
    url: str, user: SessionUser, username: str, password: str, role: str, unit_id: str | None
) -> None:
    """An admin adds a user (argon2 hash; audited)."""
    if user.role != Role.ADMIN.value:
        msg = f"{user.username!r} is not an admin"
        raise PermissionDenied(msg)
    from incidents.service.users import create_user as _create

    try:
        with session_scope(data.session_factory(url)) as session:
            _create(session, username, password, role, unit_id or None, actor=user.username)
    finally:
        data.invalidate()


def save_feed(url: str, user: SessionUser, feed: dict[str, Any]) -> None:
    """An admin adds or replaces one feed in ``app_settings["feeds"]`` (audited)."""
    if user.role != Role.ADMIN.value:
        msg = f"{user.username!r} is not an admin"
        raise PermissionDenied(msg)
    try:
        with session_scope(data.session_factory(url)) as session:
            row = session.scalars(select(Setting).where(Setting.key == "feeds")).first()
            value = dict(row.value) if row is not None else {}
            feeds = [f for f in value.get("feeds", []) if f.get("name") != feed["name"]]
            feeds.append(feed)
            value["feeds"] = feeds
            if row is None:
                session.add(Setting(key="feeds", value=value))
            else:
                row.value = value
            audit(
                session,
                user.username,
                "feed.save",
                f"feed:{feed['name']}",
                details={k: v for k, v in feed.items() if k != "name"},
            )
    finally:
        data.invalidate()
