"""Server-side log-in sessions: start, resume (a reload), end (log-out) and revoke.

A session lives in ``user_sessions`` as the sha256 of a random token, never the token itself
(the browser keeps that in a cookie): :func:`start_session` after a log-in,
:func:`resume_session` on a reload (the idle timeout is enforced here too),
:func:`end_session` (log-out) and :func:`revoke_sessions` (an admin, or the user). Every
start and log-out is audited. :mod:`incidents.service.users` re-exports these names.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from incidents.errors import NotFoundError
from incidents.service.audit import audit
from incidents.service.roles import Actor, actor_of, require_admin
from incidents.store.models import User, UserSession, utcnow

__all__ = [
    "SESSION_TOKEN_BYTES",
    "end_session",
    "record_logout",
    "resume_session",
    "revoke_live",
    "revoke_sessions",
    "start_session",
]

SESSION_TOKEN_BYTES = 32  # 256 random bits per log-in session


def record_logout(
    session: Session, username: str, now: datetime | None = None, *, reason: str = "logout"
) -> None:
    """Audit a log-out of `username` (`reason`: ``"logout"``, or ``"idle"`` for a timeout)."""
    audit(session, username, "logout", f"user:{username}", details={"reason": reason},
          at=now or utcnow())


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(session: Session, user: User, now: datetime | None = None) -> str:
    """Open a server-side session for `user` after a successful log-in; return its token.

    Only the sha256 of the token is stored (``user_sessions.token_hash``); the browser keeps
    the token itself (a cookie) and a reload hands it back to :func:`resume_session`.
    Audited (``session.start``) in the caller's transaction.
    """
    now = now or utcnow()
    token = secrets.token_urlsafe(SESSION_TOKEN_BYTES)
    session.add(
        UserSession(token_hash=_token_hash(token), user_id=user.id, created_at=now,
                    last_seen_at=now)
    )
    session.flush()
    audit(session, user.username, "session.start", f"user:{user.username}", at=now)
    return token


def resume_session(
    session: Session,
    token: str,
    *,
    idle_minutes: float,
    now: datetime | None = None,
) -> User | None:
    """Return the user of a live session `token`, or None (unknown, revoked, idle too long).

    A session of a disabled account is revoked here too. A session unused for more than
    `idle_minutes` is revoked here (audited as a ``logout``
    with reason ``idle``), so the idle timeout holds across reloads. A live one is touched
    (``last_seen_at``).
    """
    now = now or utcnow()
    if not token:
        return None
    row = session.get(UserSession, _token_hash(token), populate_existing=True)
    if row is None or row.revoked_at is not None:
        return None
    user = session.get(User, row.user_id, populate_existing=True)
    if user is None:
        return None
    if user.disabled_at is not None:
        row.revoked_at = now
        session.flush()
        return None
    if now - row.last_seen_at > timedelta(minutes=idle_minutes):
        row.revoked_at = now
        session.flush()
        record_logout(session, user.username, now, reason="idle")
        return None
    row.last_seen_at = now
    session.flush()
    return user


def end_session(
    session: Session, token: str, now: datetime | None = None, *, reason: str | None = "logout"
) -> bool:
    """Revoke session `token` (log-out; audited with `reason`); True when it was live.

    `reason` None revokes without an audit event (the caller already audited the log-out).
    """
    now = now or utcnow()
    row = session.get(UserSession, _token_hash(token), populate_existing=True) if token else None
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now
    session.flush()
    if reason is not None:
        user = session.get(User, row.user_id)
        record_logout(session, user.username if user else "?", now, reason=reason)
    return True


def revoke_live(session: Session, user: User, now: datetime) -> int:
    """Revoke every live session of `user` at `now` (no audit); return how many were live."""
    live = list(
        session.scalars(
            select(UserSession).where(
                UserSession.user_id == user.id, UserSession.revoked_at.is_(None)
            )
        )
    )
    for row in live:
        row.revoked_at = now
    return len(live)


def revoke_sessions(
    session: Session, actor: User | Actor | str, username: str, now: datetime | None = None
) -> int:
    """Revoke every live session of `username` (an admin, or the user themself); audited.

    Returns
    -------
    int
        How many sessions were live.

    Raises
    ------
    PermissionDenied
        `actor` is neither an admin nor `username` (audited).
    NotFoundError
        No user `username`.
    """
    now = now or utcnow()
    who = actor_of(session, actor)
    target = f"user:{username}"
    if who.name != username:
        require_admin(session, who, "session.revoke", target)
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        msg = f"no user {username!r}"
        raise NotFoundError(msg)
    ended = revoke_live(session, user, now)
    session.flush()
    audit(session, who.name, "session.revoke", target, details={"sessions": ended}, at=now)
    return ended
