"""Feed configuration in the database: one ``feed_status`` row per feed.

A feed is its name, kind, source (URL, file or folder), polling interval, ``enabled`` flag and
``options`` (JSON: ``zones`` file for alert geocodes, ``mapping`` file for call-centre headers,
``crs`` of the source). The same row holds the feed's health (``last_*``, ETag, Last-Modified,
last sha256), so a restarted worker resumes where it left off.

Feeds are added on the admin page (through :func:`save_feed`) or imported from a
``--config FILE`` (:func:`import_config`, the format of :func:`ingest.runner.load_watch_config`).
Feeds an older admin page left in ``app_settings["feeds"]`` are moved into ``feed_status``
(:func:`migrate_settings_feeds`) when the worker starts and when an admin saves or removes a
feed, so nothing configured is lost; reading the feeds (:func:`list_feeds`) writes nothing.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NotRequired, TypedDict, Unpack

from sqlalchemy import select
from sqlalchemy.orm import Session

from incidents.live.pipeline import feed_kinds
from incidents.store.models import FeedStatus
from incidents.store.runtime import LEGACY_FEEDS, clear_setting, legacy_feeds, set_legacy_feeds
from ingest.errors import ConfigError
from ingest.runner import FeedConfig, load_watch_config

__all__ = [
    "FeedFields",
    "FeedRow",
    "OPTION_KEYS",
    "import_config",
    "list_feeds",
    "migrate_settings_feeds",
    "remove_feed",
    "save_feed",
]

OPTION_KEYS = ("zones", "mapping", "crs")
MIN_INTERVAL_S = 1.0


class FeedFields(TypedDict):
    """What a person or a config file sets of one feed (the keywords of :func:`save_feed`)."""

    name: str
    kind: str
    source: str
    interval_s: float
    enabled: NotRequired[bool]
    options: NotRequired[Mapping[str, Any] | None]


@dataclass(frozen=True)
class FeedRow:
    """One configured feed with its health, as the admin and feeds pages show it."""

    name: str
    kind: str
    source: str
    interval_s: float
    enabled: bool
    options: dict[str, Any] = field(default_factory=dict)
    last_attempt: Any = None
    last_success: Any = None
    last_change: Any = None
    last_error: str | None = None
    last_sha256: str | None = None
    etag: str | None = None
    last_modified: str | None = None

    def config(self) -> FeedConfig:
        """Return the runner's :class:`~ingest.runner.FeedConfig` for polling this feed."""
        return FeedConfig(
            self.name,
            self.kind,
            self.source,
            self.interval_s,
            zones=self.options.get("zones"),
            mapping=self.options.get("mapping"),
        )

    def settings(self) -> dict[str, Any]:
        """Return what is configured (kind, source, interval, enabled, options), not the health."""
        return {
            "kind": self.kind,
            "source": self.source,
            "interval_s": self.interval_s,
            "enabled": self.enabled,
            "options": dict(self.options),
        }

    def to_dict(self) -> dict[str, Any]:
        """Return the row JSON-ready (times as ISO text)."""
        out: dict[str, Any] = {}
        for k, v in self.__dict__.items():
            out[k] = v.isoformat() if hasattr(v, "isoformat") else v
        return out


def _row(f: FeedStatus) -> FeedRow:
    return FeedRow(
        name=f.feed,
        kind=f.kind,
        source=f.source,
        interval_s=float(f.interval_s or 300.0),
        enabled=bool(f.enabled) if f.enabled is not None else True,
        options=dict(f.options or {}),
        last_attempt=f.last_attempt,
        last_success=f.last_success,
        last_change=f.last_change,
        last_error=f.last_error,
        last_sha256=f.last_sha256,
        etag=f.etag,
        last_modified=f.last_modified,
    )


def _check(name: str, kind: str, source: str, interval_s: float) -> None:
    if not name.strip() or len(name) > 64:
        msg = f"feed name {name!r} must be 1-64 characters"
        raise ConfigError(msg)
    if kind not in feed_kinds():
        msg = f"unknown feed kind {kind!r}; expected one of {', '.join(feed_kinds())}"
        raise ConfigError(msg)
    if not source.strip():
        msg = f"feed {name!r} needs a source (URL, file or folder)"
        raise ConfigError(msg)
    if not interval_s or interval_s < MIN_INTERVAL_S:
        msg = f"feed {name!r}: interval_s {interval_s!r} must be >= {MIN_INTERVAL_S:g}"
        raise ConfigError(msg)


def save_feed(session: Session, **feed: Unpack[FeedFields]) -> FeedRow:
    """Add a feed or change its configuration (its health columns are kept).

    The keywords are :class:`FeedFields`: ``name``, ``kind``, ``source``, ``interval_s``,
    optionally ``enabled`` (default True) and ``options``. A changed source forgets the stored
    ETag/Last-Modified/sha (they belonged to the old one).

    Raises
    ------
    ConfigError
        Empty name or source, unknown kind, interval below one second, unknown option key.
    """
    name, kind, source = feed["name"], feed["kind"], feed["source"]
    interval_s = float(feed["interval_s"])
    _check(name, kind, source, interval_s)
    opts = {k: v for k, v in dict(feed.get("options") or {}).items() if v not in (None, "")}
    unknown = sorted(set(opts) - set(OPTION_KEYS))
    if unknown:
        msg = f"feed {name!r}: unknown option(s) {unknown}; expected {', '.join(OPTION_KEYS)}"
        raise ConfigError(msg)
    row = session.get(FeedStatus, name)
    if row is None:
        row = FeedStatus(feed=name, kind=kind, source=source)
        session.add(row)
    elif row.source != source or row.kind != kind:
        row.etag = row.last_modified = row.last_sha256 = None
    row.kind, row.source = kind, source
    row.interval_s = interval_s
    row.enabled = bool(feed.get("enabled", True))
    row.options = opts
    session.flush()
    return _row(row)


def remove_feed(session: Session, name: str) -> bool:
    """Remove a feed (configuration and health); return True when it was there."""
    row = session.get(FeedStatus, name)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def migrate_settings_feeds(session: Session) -> int:
    """Move feeds kept in ``app_settings["feeds"]`` into ``feed_status``; return how many.

    A feed already in ``feed_status`` keeps its row; an entry that is not a usable feed is
    left in the setting (nothing is lost). The setting is removed once it is empty.
    """
    entries = legacy_feeds(session)
    if not entries:
        return 0
    kept: list[dict[str, Any]] = []
    moved = 0
    for e in entries:
        if session.get(FeedStatus, str(e.get("name", ""))) is not None:
            continue  # already configured in feed_status
        try:
            save_feed(
                session,
                name=str(e.get("name", "")),
                kind=str(e.get("kind", "")),
                source=str(e.get("source", "")),
                interval_s=float(e.get("interval_s", 300)),
                enabled=bool(e.get("enabled", True)),
                options={k: e[k] for k in OPTION_KEYS if k in e},
            )
        except (ConfigError, TypeError, ValueError):
            kept.append(e)
            continue
        moved += 1
    if not kept:
        clear_setting(session, LEGACY_FEEDS)
    elif len(kept) < len(entries):
        set_legacy_feeds(session, kept)
    session.flush()
    return moved


def list_feeds(session: Session, *, enabled_only: bool = False) -> list[FeedRow]:
    """Return every configured feed, by name (read only: nothing is migrated here)."""
    stmt = select(FeedStatus).order_by(FeedStatus.feed)
    if enabled_only:
        stmt = stmt.where(FeedStatus.enabled.is_not(False))
    return [_row(f) for f in session.scalars(stmt)]


def _raw_options(path: Path) -> dict[str, dict[str, Any]]:
    """Per feed name, the option keys of a config file (``load_watch_config`` keeps only zones)."""
    raw = path.read_bytes()
    doc = tomllib.loads(raw.decode("utf-8")) if path.suffix == ".toml" else json.loads(raw)
    out: dict[str, dict[str, Any]] = {}
    for i, f in enumerate(doc.get("feeds", []) if isinstance(doc, dict) else []):
        if isinstance(f, dict):
            name = str(f.get("name") or f"{f.get('kind')}-{i + 1}")
            out[name] = {k: f[k] for k in OPTION_KEYS if k in f}
            if "enabled" in f:
                out[name]["enabled"] = bool(f["enabled"])
    return out


def import_config(session: Session, path: Path) -> list[FeedRow]:
    """Import the feeds of a ``--config FILE`` (TOML or JSON, ``[[feeds]]``) into the database.

    Relative ``zones``/``mapping`` paths are made absolute (from the current folder), so a
    worker started elsewhere finds them.

    Raises
    ------
    ConfigError
        The file cannot be read or a feed in it is unusable (nothing is imported then).
    """
    feeds = load_watch_config(path)
    extra = _raw_options(path)
    out = []
    for f in feeds:
        opts = dict(extra.get(f.name, {}))
        enabled = bool(opts.pop("enabled", True))
        for key in ("zones", "mapping"):
            if key in opts and not Path(str(opts[key])).is_absolute():
                opts[key] = str(Path(str(opts[key])).resolve())
        out.append(
            save_feed(
                session,
                name=f.name,
                kind=f.kind,
                source=f.source,
                interval_s=f.interval_s,
                enabled=enabled,
                options=opts,
            )
        )
    return out
