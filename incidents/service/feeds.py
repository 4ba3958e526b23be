"""Feed settings as people change them: admins only, every change audited.

The feeds live in the database (:mod:`incidents.live.feeds`); the worker polls what is there.
These functions add the permission check and the audit event, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from incidents.errors import NotFoundError
from incidents.service.audit import audit
from incidents.service.roles import Actor, actor_of, require_admin
from incidents.store.models import User

__all__ = ["configured_feeds", "delete_feed", "put_feed"]


def put_feed(
    session: Session,
    actor: User | Actor | str,
    *,
    name: str,
    kind: str,
    source: str,
    interval_s: float,
    enabled: bool = True,
    options: Mapping[str, Any] | None = None,
) -> Any:
    """An admin adds a feed or changes one (audited ``feed.save``); returns the feed row.

    Raises
    ------
    PermissionDenied
        `actor` is not an admin (audited).
    ConfigError
        A bad name, kind, source, interval or option (from :func:`incidents.live.feeds.save_feed`).
    """
    from incidents.live.feeds import save_feed

    who = actor_of(session, actor)
    require_admin(session, who, "feed.save", f"feed:{name}")
    row = save_feed(
        session,
        name=name,
        kind=kind,
        source=source,
        interval_s=interval_s,
        enabled=enabled,
        options=options,
    )
    audit(
        session,
        who.name,
        "feed.save",
        f"feed:{name}",
        details={
            "kind": kind,
            "source": source,
            "interval_s": interval_s,
            "enabled": enabled,
            "options": dict(options or {}),
        },
    )
    return row


def delete_feed(session: Session, actor: User | Actor | str, name: str) -> None:
    """An admin removes a feed (audited ``feed.remove``).

    Raises
    ------
    PermissionDenied
        `actor` is not an admin (audited).
    NotFoundError
        No feed `name`.
    """
    from incidents.live.feeds import remove_feed

    who = actor_of(session, actor)
    require_admin(session, who, "feed.remove", f"feed:{name}")
    if not remove_feed(session, name):
        msg = f"no feed {name!r}"
        raise NotFoundError(msg)
    audit(session, who.name, "feed.remove", f"feed:{name}")


def configured_feeds(session: Session) -> list[dict[str, Any]]:
    """Every configured feed as JSON-ready dicts, by name (read-only: any role)."""
    from incidents.live.feeds import list_feeds

    return [row.to_dict() for row in list_feeds(session)]
