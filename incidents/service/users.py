"""Users: argon2 password hashes, roles, and a lockout counted in the database.

Password policy (:func:`check_password_strength`, :func:`check_password_reuse`): at least
:data:`MIN_PASSWORD_LENGTH` (12) characters, not the user name, not one of the user's last
:data:`PASSWORD_HISTORY` (3) passwords. Admins unlock, reset and disable accounts
(:func:`unlock_user`, :func:`reset_password`, :func:`disable_user`, :func:`enable_user`;
audited); a disabled account cannot log in and its sessions end.

Five failed log-ins lock an account for ten minutes. The count lives in the ``users`` row
(``failed_attempts``, ``locked_until``), not in a browser session, so a new tab or a restarted
server does not reset it. Every log-in, failure, lock-out and log-out is audited.

Log-in sessions live on the server (``user_sessions``: the sha256 of a random token, never the
token): :func:`start_session`, :func:`resume_session` (a browser reload; the idle timeout is
enforced here too), :func:`end_session` (log-out) and :func:`revoke_sessions` (an admin), in
:mod:`incidents.service.user_sessions` and re-exported here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from incidents.errors import (
    AuthError,
    ConflictError,
    NotFoundError,
    PasswordPolicyError,
    PermissionDenied,
)
from incidents.service.audit import audit
from incidents.service.roles import Actor, actor_of, require_admin
from incidents.service.user_sessions import SESSION_TOKEN_BYTES as SESSION_TOKEN_BYTES
from incidents.service.user_sessions import end_session as end_session
from incidents.service.user_sessions import record_logout as record_logout
from incidents.service.user_sessions import resume_session as resume_session
from incidents.service.user_sessions import revoke_live
from incidents.service.user_sessions import revoke_sessions as revoke_sessions
from incidents.service.user_sessions import start_session as start_session
from incidents.store.models import PasswordHistory, Role, Unit, User, utcnow

MIN_PASSWORD_LENGTH = 12
PASSWORD_HISTORY = 3  # a new password may not be any of the user's last 3
LOCKOUT_ATTEMPTS = 5
LOCKOUT_MINUTES = 10
_USERS = cast(Table, User.__table__)
_HASHER = PasswordHasher()  # stateless, safe to share
# verified against when the user name is unknown, so both failures take the same time
_DUMMY_HASH = _HASHER.hash("not-a-real-password")


def hash_password(password: str) -> str:
    """Return the argon2id hash of `password`."""
    return _HASHER.hash(password)


def check_password_strength(password: str, username: str = "") -> None:
    """Refuse a password shorter than 12 characters or equal to the user name.

    Raises
    ------
    PasswordPolicyError
        A ``ValueError``; ``code`` ``password_too_short`` or ``password_is_username``.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        msg = f"password too short: {len(password)} characters, at least {MIN_PASSWORD_LENGTH}"
        raise PasswordPolicyError(msg, code="password_too_short")
    if username and password.strip().lower() == username.strip().lower():
        msg = f"password must not be the user name {username!r}"
        raise PasswordPolicyError(msg, code="password_is_username")


def check_password_reuse(session: Session, user: User, password: str) -> None:
    """Refuse `password` when it is one of `user`'s last :data:`PASSWORD_HISTORY` passwords.

    Raises
    ------
    PasswordPolicyError
        ``code`` ``password_reused``.
    """
    recent = list(
        session.scalars(
            select(PasswordHistory.password_hash)
            .where(PasswordHistory.user_id == user.id)
            .order_by(PasswordHistory.set_at.desc(), PasswordHistory.id.desc())
            .limit(PASSWORD_HISTORY)
        )
    )
    if user.password_hash not in recent:  # users from before the history was kept
        recent = [user.password_hash, *recent[: PASSWORD_HISTORY - 1]]
    if any(_verify(h, password) for h in recent):
        msg = (
            f"password of {user.username!r} was used before: none of the last "
            f"{PASSWORD_HISTORY} passwords may be used again"
        )
        raise PasswordPolicyError(msg, code="password_reused")


def _remember_password(session: Session, user: User, now: datetime) -> None:
    session.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash, set_at=now))
    user.password_changed_at = now


def create_user(
    session: Session,
    username: str,
    password: str,
    role: str | Role,
    unit_id: str | None = None,
    *,
    display_name: str | None = None,
    actor: str = "system",
) -> User:
    """Create a user with an argon2 password hash (in the caller's transaction).

    Parameters
    ----------
    username
        Unique log-in name (letters, digits, ``._-``; at most 64 characters).
    password
        Plain text; only its hash is stored. At least 12 characters, not the user name.
    role
        ``dispatcher``, ``patrol_lead`` (needs `unit_id`), ``admin`` or ``wall`` (read-only
        wall display).
    unit_id
        The unit a patrol lead leads; not allowed for other roles.

    Raises
    ------
    ValueError
        Unknown role, bad user name, weak password, or a unit given to a non-patrol role.
    NotFoundError
        `unit_id` is not a unit.
    ConflictError
        The user name is taken.
    """
    try:
        role_value = Role(role)
    except ValueError:
        msg = f"unknown role {role!r}; choose one of {[r.value for r in Role]}"
        raise ValueError(msg) from None
    name = username.strip()
    if not name or len(name) > 64 or not all(c.isalnum() or c in "._-" for c in name):
        msg = f"bad user name {username!r}: 1-64 letters, digits, '.', '_' or '-'"
        raise ValueError(msg)
    check_password_strength(password, name)
    if role_value is Role.PATROL_LEAD and not unit_id:
        msg = f"a patrol lead must be bound to a unit (--unit) for user {name!r}"
        raise ValueError(msg)
    if role_value is not Role.PATROL_LEAD and unit_id:
        msg = f"only patrol leads are bound to a unit; {name!r} is {role_value.value}"
        raise ValueError(msg)
    if unit_id and session.get(Unit, unit_id) is None:
        msg = f"no unit {unit_id!r}"
        raise NotFoundError(msg)
    if session.scalars(select(User).where(User.username == name)).first() is not None:
        msg = f"user {name!r} already exists"
        raise ConflictError(msg)
    user = User(
        username=name,
        password_hash=hash_password(password),
        role=role_value.value,
        unit_id=unit_id,
        display_name=display_name,
        failed_attempts=0,
    )
    session.add(user)
    session.flush()
    _remember_password(session, user, utcnow())
    session.flush()
    audit(session, actor, "user.create", f"user:{name}",
          details={"role": role_value.value, "unit_id": unit_id})
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def authenticate(
    session: Session,
    username: str,
    password: str,
    now: datetime | None = None,
    *,
    max_attempts: int = LOCKOUT_ATTEMPTS,
    lock_minutes: int = LOCKOUT_MINUTES,
) -> User:
    """Check a user name and password; return the user or raise :class:`AuthError`.

    A failure is committed before the error is raised (its count and audit event must survive
    the caller's rollback): the `max_attempts`-th failure in a row locks the account for
    `lock_minutes`. While locked, even the right password is refused. A success resets the
    count and is audited in the caller's transaction.

    Raises
    ------
    AuthError
        Unknown user, wrong password, a locked account (the message says until when) or, the
        password being right, a disabled one (``code`` ``account_disabled``).
    """
    now = now or utcnow()
    name = username.strip()
    user = session.scalars(select(User).where(User.username == name)).first()
    if user is None:
        _verify(_DUMMY_HASH, password)
        audit(session, name or "?", "login", f"user:{name}", "denied",
              {"reason": "unknown user"}, at=now)
        session.commit()
        raise AuthError("wrong user name or password")
    session.refresh(user)
    if user.locked_until is not None and user.locked_until > now:
        audit(session, name, "login", f"user:{name}", "locked",
              {"reason": "account locked", "locked_until": user.locked_until.isoformat()}, at=now)
        session.commit()
        msg = (
            f"account {name!r} is locked after {max_attempts} failed attempts until "
            f"{user.locked_until:%Y-%m-%d %H:%M} UTC"
        )
        raise AuthError(msg)
    if not _verify(user.password_hash, password):
        _record_failure(session, user, now, max_attempts, lock_minutes)
        session.commit()
        if user.locked_until is not None and user.locked_until > now:
            msg = (
                f"wrong user name or password; account {name!r} is now locked for "
                f"{lock_minutes} minutes"
            )
            raise AuthError(msg)
        raise AuthError("wrong user name or password")
    if user.disabled_at is not None:
        audit(session, name, "login", f"user:{name}", "denied",
              {"reason": "account disabled"}, at=now)
        session.commit()
        msg = f"account {name!r} is disabled; an admin can enable it"
        raise AuthError(msg, code="account_disabled")
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.failed_attempts = 0
    user.locked_until = None
    user.last_login_at = now
    session.flush()
    audit(session, name, "login", f"user:{name}", "ok", {"role": user.role}, at=now)
    return user


def _record_failure(
    session: Session, user: User, now: datetime, max_attempts: int, lock_minutes: int
) -> None:
    # count in the database (atomic increment), so parallel attempts are all counted
    session.execute(
        update(_USERS)
        .where(_USERS.c.id == user.id)
        .values(failed_attempts=_USERS.c.failed_attempts + 1)
    )
    session.refresh(user)
    audit(session, user.username, "login", f"user:{user.username}", "denied",
          {"reason": "wrong password", "failed_attempts": user.failed_attempts}, at=now)
    if user.failed_attempts >= max_attempts:
        until = now + timedelta(minutes=lock_minutes)
        session.execute(
            update(_USERS)
            .where(_USERS.c.id == user.id)
            .values(failed_attempts=0, locked_until=until)
        )
        session.refresh(user)
        audit(session, "system", "lockout", f"user:{user.username}", "locked",
              {"attempts": max_attempts, "locked_until": until.isoformat()}, at=now)


def set_password(
    session: Session, username: str, password: str, actor: str, *,
    action: str = "user.set_password", now: datetime | None = None,
) -> User:
    """Replace a user's password (hash) under the policy, clear any lock, and audit it.

    Raises
    ------
    NotFoundError
        No user `username`.
    PasswordPolicyError
        Too short, the user name, or one of the last :data:`PASSWORD_HISTORY` passwords.
    """
    now = now or utcnow()
    user = _user(session, username)
    check_password_strength(password, username)
    check_password_reuse(session, user, password)
    user.password_hash = hash_password(password)
    user.failed_attempts = 0
    user.locked_until = None
    _remember_password(session, user, now)
    session.flush()
    audit(session, actor, action, f"user:{username}", at=now)
    return user


def _user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username.strip())).first()
    if user is None:
        msg = f"no user {username!r}"
        raise NotFoundError(msg)
    return user


def locked_until(session: Session, username: str, now: datetime | None = None) -> datetime | None:
    """Return until when (UTC) `username` is locked out at `now` (default: the wall clock).

    None when not locked (also for an unknown name).
    """
    now = now or utcnow()
    until = session.scalars(
        select(User.locked_until).where(User.username == username.strip())
    ).first()
    return until if until is not None and until > now else None


def list_users(session: Session) -> list[User]:
    """Return every user, by name."""
    return list(session.scalars(select(User).order_by(User.username)))


# ------------------------------------------------------------------------------------------
# Admin-checked user changes (log-in sessions: incidents.service.user_sessions)
# ------------------------------------------------------------------------------------------


def add_user(
    session: Session,
    actor: User | Actor | str,
    username: str,
    password: str,
    role: str | Role,
    unit_id: str | None = None,
) -> User:
    """Add a user as an admin (:func:`create_user`, audited); anyone else is refused.

    Raises
    ------
    PermissionDenied
        `actor` is not an admin.
    """
    who = actor_of(session, actor)
    require_admin(session, who, "user.create", f"user:{username.strip()}")
    return create_user(session, username, password, role, unit_id or None, actor=who.name)


# ------------------------------------------------------------------------------------------
# Admins: unlock, reset a password, disable and enable an account (each audited)
# ------------------------------------------------------------------------------------------


def _lift_lock(user: User) -> None:
    """Forget the failed attempts and lift a lock-out (unlock and enable both do this)."""
    user.failed_attempts = 0
    user.locked_until = None


def _admin_on(
    session: Session, actor: User | Actor | str, action: str, username: str,
    now: datetime | None,
) -> tuple[datetime, Actor, User]:
    """Refuse (audited) an `actor` who is no admin; return the time, the admin and the user.

    Raises
    ------
    PermissionDenied
        `actor` is not an admin (audited).
    NotFoundError
        No user `username`.
    """
    who = actor_of(session, actor)
    require_admin(session, who, action, f"user:{username}")
    return now or utcnow(), who, _user(session, username)


def unlock_user(
    session: Session, actor: User | Actor | str, username: str, now: datetime | None = None
) -> User:
    """Lift a lock-out and reset the failed-attempt count, as an admin (``user.unlock``).

    Raises :class:`PermissionDenied` (audited) or :class:`NotFoundError` as
    :func:`_admin_on` says.
    """
    now, who, user = _admin_on(session, actor, "user.unlock", username, now)
    was = user.locked_until
    _lift_lock(user)
    session.flush()
    audit(session, who.name, "user.unlock", f"user:{user.username}",
          details={"locked_until": was.isoformat() if was else None}, at=now)
    return user


def reset_password(
    session: Session,
    actor: User | Actor | str,
    username: str,
    password: str,
    now: datetime | None = None,
) -> User:
    """Set a new password for `username`, as an admin (``user.reset_password``).

    The policy applies (length, user name, the last :data:`PASSWORD_HISTORY` passwords); the
    lock is lifted and every live session of the user ends.

    Raises
    ------
    PermissionDenied, NotFoundError
        As :func:`_admin_on`: `actor` is not an admin (audited), or no user `username`.
    PasswordPolicyError
        The policy refuses the password.
    """
    now, who, _ = _admin_on(session, actor, "user.reset_password", username, now)
    user = set_password(session, username, password, who.name, action="user.reset_password",
                        now=now)
    revoke_live(session, user, now)
    session.flush()
    return user


def disable_user(
    session: Session, actor: User | Actor | str, username: str, now: datetime | None = None
) -> User:
    """Disable an account, as an admin: no log-in, live sessions end (``user.disable``).

    Raises
    ------
    PermissionDenied
        `actor` is not an admin, or disables their own account (audited).
    NotFoundError
        No user `username`.
    """
    now, who, user = _admin_on(session, actor, "user.disable", username, now)
    target = f"user:{username}"
    if user.username == who.name:
        audit(session, who.name, "user.disable", target, "denied",
              {"reason": "an admin may not disable their own account"}, at=now)
        msg = f"admin {who.name!r} may not disable their own account"
        raise PermissionDenied(msg, code="self_disable")
    if user.disabled_at is None:
        user.disabled_at = now
    ended = revoke_live(session, user, now)
    session.flush()
    audit(session, who.name, "user.disable", target, details={"sessions": ended}, at=now)
    return user


def enable_user(
    session: Session, actor: User | Actor | str, username: str, now: datetime | None = None
) -> User:
    """Enable a disabled account again, as an admin (``user.enable``); lifts the lock too.

    Refused like :func:`unlock_user`.
    """
    now, who, user = _admin_on(session, actor, "user.enable", username, now)
    user.disabled_at = None
    _lift_lock(user)
    session.flush()
    audit(session, who.name, "user.enable", f"user:{user.username}", at=now)
    return user
