"""Feed settings as people change them: admins only, every change audited.

The feeds live in the database (:mod:`incidents.live.feeds`); the worker polls what is there.
These functions add the permission check and the audit event, in the caller's transaction.
An admin's save or removal first moves feeds an older admin page left in ``app_settings``
into the feed table (:func:`incidents.live.feeds.migrate_settings_feeds`); reading writes
nothing.
"""

from __future__ import annotations

from typing import Any, Unpack

from sqlalchemy.orm import Session

from incidents.errors import NotFoundError
from incidents.live.feeds import (
    FeedFields,
    FeedRow,
    list_feeds,
    migrate_settings_feeds,
    remove_feed,
    save_feed,
)
from incidents.service.audit import audit
from incidents.service.roles import Actor, actor_of, require_admin
from incidents.store.models import User

__all__ = ["configured_feeds", "delete_feed", "put_feed"]


def put_feed(
    session: Session, actor: User | Actor | str, **feed: Unpack[FeedFields]
) -> FeedRow:
    """Let an admin add a feed or change one (audited ``feed.save``); return the feed row.

    The keywords are those of :func:`incidents.live.feeds.save_feed` (``name``, ``kind``,
    ``source``, ``interval_s``, optionally ``enabled`` and ``options``); the audit event holds
    the settings as stored.

    Raises
    ------
    PermissionDenied
        `actor` is not an admin (audited).
    ConfigError
        A bad name, kind, source, interval or option (from :func:`incidents.live.feeds.save_feed`).
    """
    target = f"feed:{feed['name']}"
    who = actor_of(session, actor)
    require_admin(session, who, "feed.save", target)
    migrate_settings_feeds(session)
    row = save_feed(session, **feed)
    audit(session, who.name, "feed.save", target, details=row.settings())
    return row


def delete_feed(session: Session, actor: User | Actor | str, name: str) -> None:
    """Let an admin remove a feed (audited ``feed.remove``).

    Raises
    ------
    PermissionDenied
        `actor` is not an admin (audited).
    NotFoundError
        No feed `name`.
    """
    who = actor_of(session, actor)
    require_admin(session, who, "feed.remove", f"feed:{name}")
    migrate_settings_feeds(session)
    if not remove_feed(session, name):
        msg = f"no feed {name!r}"
        raise NotFoundError(msg)
    audit(session, who.name, "feed.remove", f"feed:{name}")


def configured_feeds(session: Session) -> list[dict[str, Any]]:
    """Return every configured feed as a JSON-ready dict, by name (read-only: any role)."""
    return [row.to_dict() for row in list_feeds(session)]
