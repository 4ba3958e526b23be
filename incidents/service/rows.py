"""Row helpers the services share: fetch a row or say it is missing, refuse a stale version.

:func:`get_row` reads a row afresh (``populate_existing``) or raises
:class:`~incidents.errors.NotFoundError`; :func:`stale` builds the
:class:`~incidents.errors.ConflictError` a versioned update raises when someone else changed the
row first, and :func:`versioned_update` is that conditional update; :func:`require_reason` refuses an empty free-text reason (code ``reason_required``).
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Table, update
from sqlalchemy.orm import Session

from incidents.errors import ConflictError, NotFoundError, TransitionError

__all__ = ["MAX_REASON", "get_row", "require_reason", "stale", "versioned_update"]

R = TypeVar("R")
MAX_REASON = 500
"""Longest reason kept (characters); a longer one is cut."""


def get_row(session: Session, model: type[R], key: Any, label: str) -> R:
    """Return the row of `model` with primary key `key`, read afresh.

    Raises
    ------
    NotFoundError
        No such row (the message names `label` and `key`).
    """
    row = session.get(model, key, populate_existing=True)
    if row is None:
        msg = f"no {label} {key!r}"
        raise NotFoundError(msg)
    return row


def stale(label: str, key: Any, state: object, version: int, expected: int) -> ConflictError:
    """Return the error for a row changed meanwhile (now `version`; the caller had `expected`)."""
    msg = (
        f"{label} {key} changed meanwhile (now {state!r}, version {version}; "
        f"you had version {expected}): refresh and try again"
    )
    return ConflictError(msg)


def versioned_update(
    session: Session, row: Any, expected_version: int | None, label: str, **values: Any
) -> None:
    """Set `values` on `row` (a mapped row with ``id`` and ``version``) if its version holds.

    One conditional ``UPDATE ... WHERE id = :id AND version = :expected`` that also bumps the
    version; `row` is refreshed after it. `expected_version` None: the version `row` has.

    Raises
    ------
    ConflictError
        Someone changed the row first (it is refreshed, so the message names its state now).
    """
    table = cast(Table, type(row).__table__)
    version = row.version if expected_version is None else expected_version
    res = session.execute(
        update(table)
        .where(table.c.id == row.id, table.c.version == version)
        .values(version=table.c.version + 1, **values)
    )
    session.refresh(row)
    if int(cast(CursorResult[Any], res).rowcount) == 0:
        state = getattr(row, "state", None) or getattr(row, "status", None)
        raise stale(label, row.id, state, row.version, version)


def require_reason(reason: str | None, action: str) -> str:
    """Return `reason` stripped (cut to :data:`MAX_REASON`); refuse an empty one.

    Raises
    ------
    TransitionError
        `reason` is None or blank (``code`` ``reason_required``): the action may not be taken
        without saying why.
    """
    text = (reason or "").strip()
    if not text:
        msg = f"{action} needs a reason (none given)"
        raise TransitionError(msg, code="reason_required")
    return text[:MAX_REASON]
