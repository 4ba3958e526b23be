"""What a dashboard user can do: each action is one audited service call.

Every stamp uses the operational clock (:func:`dashboard.data.clock`: the wall clock, or the
demo storm's running clock), so what a user does lines up with the clocks shown. Log-ins and
lock-outs use the wall clock.

This module is thin: the pages call these functions; they call the ``incidents`` services
(``incidents.service.actions``, ``.hazards``, ``.users``, ``.feeds``), which check the role
(:mod:`incidents.service.roles`: a wall display may do nothing) and audit; then the data caches
are cleared so the change shows at once. Errors from ``incidents.errors`` reach the page,
which shows them in the user's language through :func:`describe_error`.

No Streamlit widgets here; :func:`dashboard.data.invalidate` is the only Streamlit call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from dashboard import data
from dashboard.i18n import STRINGS, t
from incidents.errors import (
    AuthError,
    BusyError,
    ConflictError,
    NotFoundError,
    PermissionDenied,
    TransitionError,
    WinteropsError,
)
from incidents.live import retire_recommendations
from incidents.service import actions as service
from incidents.service import feeds as feed_service
from incidents.service import hazards as hazard_service
from incidents.service import users as user_service
from incidents.service.actions import TabletFix
from incidents.store.connect import database_unreachable
from incidents.store.enums import Role

__all__ = [
    "SessionUser",
    "TabletFix",
    "cancel",
    "clear_hazard",
    "configured_feeds",
    "confirm",
    "create_user",
    "describe_error",
    "end_session",
    "hand_to_road_chief",
    "locked_until",
    "login",
    "logout",
    "move_and_confirm",
    "reassign",
    "remove_feed",
    "report_hazard",
    "resume_session",
    "retiring",
    "revoke_sessions",
    "run_action",
    "save_feed",
    "send_position",
    "set_status",
]


class _User(Protocol):
    """What :meth:`SessionUser.of` reads from a database user (``incidents`` ``User`` row)."""

    @property
    def username(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def unit_id(self) -> str | None: ...


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

    @property
    def read_only(self) -> bool:
        """A wall display watches and never acts (the services refuse it too)."""
        return self.role == Role.WALL.value

    @classmethod
    def of(cls, user: _User) -> SessionUser:
        """From a database user."""
        return cls(user.username, user.role, user.unit_id)


_ERRORS: tuple[tuple[type[BaseException], str, str], ...] = (
    (ConflictError, "warning", "error.conflict"),
    (PermissionDenied, "error", "error.denied"),
    (TransitionError, "warning", "error.transition"),
    (NotFoundError, "warning", "error.not_found"),
    (AuthError, "error", "error.auth"),
    (BusyError, "warning", "error.busy"),
    (ValueError, "error", "error.invalid"),
    (WinteropsError, "error", "error.failed"),
)


def describe_error(exc: BaseException, lang: str) -> tuple[str, str]:
    """Return a failed action as ``(kind, text)`` for a flash message, in `lang` first.

    The text leads with a translated sentence (the finer ``code`` the raiser gave, when the
    catalogue has ``error.<code>``, else the error's class); the service's own message (English, naming the offending
    value) follows as the detail. A busy database (``busy``) asks to try again; a database that
    cannot be reached says so (``ops.db_lost_action``). Unexpected errors say only that it failed.
    """
    for cls, kind, key in _ERRORS:
        if isinstance(exc, cls):
            code = vars(exc).get("code")  # a finer code the raiser named says it more exactly
            if isinstance(code, str) and f"error.{code}" in STRINGS:
                key = f"error.{code}"
            return kind, t(key, lang, detail=str(exc)[:300])
    if database_unreachable(exc):  # PostgreSQL restarting, a network cut: try again later
        return "warning", t("ops.db_lost_action", lang)
    return "error", t("error.unexpected", lang, name=type(exc).__name__)


def login(url: str, username: str, password: str, now: datetime | None = None
          ) -> tuple[SessionUser, str]:
    """Check the password and open a server-side session; return the user and the token.

    Lockout is counted in the database (AuthError); the browser keeps the session token.
    """
    with data.session_factory(url).begin() as session:
        user = user_service.authenticate(session, username, password, now=now)
        token = user_service.start_session(session, user, now=now)
        return SessionUser.of(user), token


def resume_session(url: str, token: str, idle_minutes: float) -> SessionUser | None:
    """Return the user of a live session `token` (a browser reload), or None; touch it."""
    with data.session_factory(url).begin() as session:
        user = user_service.resume_session(session, token, idle_minutes=idle_minutes)
        return None if user is None else SessionUser.of(user)


def end_session(url: str, token: str, reason: str | None = "logout") -> bool:
    """Revoke session `token` (log-out or idle); return True when it was live.

    Audited unless `reason` is None.
    """
    with data.session_factory(url).begin() as session:
        return user_service.end_session(session, token, reason=reason)


def revoke_sessions(url: str, user: SessionUser, username: str) -> int:
    """End every session of `username` as an admin (audited); return how many were live."""
    try:
        return _call(url, user_service.revoke_sessions, user, username)
    finally:
        data.invalidate()


def locked_until(url: str, username: str, now: datetime | None = None) -> datetime | None:
    """When `username` is locked out at `now`, until when (UTC); else None."""
    with data.session_factory(url)() as session:
        return user_service.locked_until(session, username, now=now)


def logout(url: str, username: str, reason: str = "logout") -> None:
    """Audit a log-out without a server-side session (``reason``: "logout" or "idle")."""
    with data.session_factory(url).begin() as session:
        user_service.record_logout(session, username, reason=reason)


def _call(url: str, action: Callable[..., Any], user: SessionUser, *args: Any, **kw: Any) -> Any:
    """Run one service action as `user` through :func:`service.act`.

    It runs in its own transaction; a refusal is audited after the rollback.
    """
    return service.act(data.session_factory(url), action, user.username, *args, **kw)


def run_action(url: str, action: Callable[..., Any], user: SessionUser, *args: Any, **kw: Any) -> Any:
    """Run one ``incidents.service.actions`` action in its own transaction, then clear the caches.

    Through :func:`service.act` (a refusal or a lost race is audited after the rollback), on the
    operational clock; the cleared caches make the change show at once.
    """
    now = data.clock(url)  # read before the write transaction starts
    try:
        return service.act(data.session_factory(url), action, user.username, *args, now=now, **kw)
    finally:
        data.invalidate()


def retiring(action: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap `action` (confirm, redirect) so that it retires what it made moot (override: console).

    In the action's transaction, the stored recommendations it made moot are retired
    (:func:`incidents.live.retire_recommendations`): the replaced recommendation's card is gone at
    once, not at the next ranking.
    """

    def run(session: Any, actor: Any, *args: Any, **kw: Any) -> Any:
        a = action(session, actor, *args, **kw)
        retire_recommendations(session, task_id=int(a.task_id), unit_id=str(a.unit_id))
        return a

    run.__name__ = getattr(action, "__name__", "action")
    run.__doc__ = action.__doc__
    return run


_confirm = retiring(service.confirm)
_redirect = retiring(service.redirect)


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
    a = run_action(url, _confirm, user, task_id, unit_id, eta_s=eta_s, explanation=explanation)
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
    """Confirm a "reassign" recommendation in one transaction.

    `unit_id` leaves its current assignment (`replaces_assignment_id`) for `task_id`; its old task
    opens again.
    """
    a = run_action(
        url,
        _redirect,
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


def reassign(
    url: str, user: SessionUser, assignment_id: int, new_unit_id: str, expected_version: int
) -> int:
    """Move an active assignment's task to another unit; return the new assignment id."""
    a = run_action(url, service.reassign, user, assignment_id, new_unit_id, expected_version)
    return int(a.id)


def cancel(url: str, user: SessionUser, assignment_id: int, expected_version: int) -> None:
    """Cancel an assignment (the unit is free again, the task open)."""
    run_action(url, service.cancel, user, assignment_id, expected_version)


def set_status(
    url: str,
    user: SessionUser,
    assignment_id: int,
    new_state: str,
    expected_version: int | None,
    *,
    position: TabletFix | None = None,
) -> None:
    """Record a patrol status tap (en route, on scene, cleared), with the tablet's position.

    The position, when the browser gave one, is recorded as the unit's in the same transaction.

    A patrol lead may move only their own unit's assignments: the service refuses (and audits)
    anything else with PermissionDenied; `expected_version` is the version the user saw
    (ConflictError when it changed; None: whatever the state is now, if the move is legal).
    """
    run_action(url, service.set_status, user, assignment_id, new_state, expected_version,
               position=position)


def send_position(url: str, user: SessionUser, unit_id: str, fix: TabletFix) -> None:
    """Send the tablet's position now (the unit moves on the map; audited)."""
    run_action(url, service.send_position, user, unit_id, fix)


def report_hazard(
    url: str,
    settings: Any,
    user: SessionUser,
    *,
    lon: float,
    lat: float,
    condition: str,
    note: str = "",
) -> int:
    """Report a hazard where the patrol lead stands; return the report id.

    It becomes a hazard on the dispatcher's map at once
    (:func:`incidents.service.hazards.report_hazard`).
    """
    now = data.clock(url)  # read before the write transaction starts
    try:
        return hazard_service.report_hazard(
            data.session_factory(url),
            data.region(str(settings.region_dir)),
            settings,
            user.username,
            lon=lon,
            lat=lat,
            condition=condition,
            note=note,
            at=now,
        )
    finally:
        data.invalidate()


def clear_hazard(url: str, user: SessionUser, hazard_id: int, expected_version: int) -> None:
    """Mark a hazard cleared (version-checked; ConflictError if someone changed it first)."""
    run_action(url, service.clear_hazard, user, hazard_id, expected_version=expected_version)


def hand_to_road_chief(url: str, user: SessionUser, hazard_id: int, expected_version: int) -> None:
    """Hand an open hazard to its section's road chief (路长制); dispatchers only.

    The service refuses a patrol lead (PermissionDenied, audited), a cleared hazard
    (TransitionError), a section without a road chief (NotFoundError) and a hazard changed
    since `expected_version` (ConflictError).
    """
    run_action(url, service.hand_to_road_chief, user, hazard_id, expected_version=expected_version)


def create_user(
    url: str, user: SessionUser, username: str, password: str, role: str, unit_id: str | None
) -> None:
    """Add a user as an admin (argon2 hash; the service refuses anyone else; audited)."""
    try:
        _call(url, user_service.add_user, user, username, password, role, unit_id or None)
    finally:
        data.invalidate()


def save_feed(url: str, user: SessionUser, feed: Mapping[str, Any]) -> None:
    """Add or change a feed in the database as an admin (the worker polls it; audited)."""
    fields = {k: feed[k] for k in ("name", "kind", "source", "interval_s") if k in feed}
    for key in ("enabled", "options"):
        if key in feed:
            fields[key] = feed[key]
    try:
        _call(url, feed_service.put_feed, user, **fields)
    finally:
        data.invalidate()


def configured_feeds(url: str) -> list[dict[str, Any]]:
    """Return the feeds configured in the database (reading writes nothing)."""
    with data.session_factory(url).begin() as session:
        return feed_service.configured_feeds(session)


def remove_feed(url: str, user: SessionUser, name: str) -> None:
    """Remove a feed as an admin (audited)."""
    try:
        _call(url, feed_service.delete_feed, user, name)
    finally:
        data.invalidate()
