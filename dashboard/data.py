"""All data access of the dashboard: cache wrappers over the read model and the engine.

The read model is :mod:`incidents.queries`, the engine :func:`dashboard.live.engine`.

* the engine and session factories are resources (``st.cache_resource``), one per URL;
* the region (road graph, gazetteer) and the basemap payloads are resources too (per path);
* every frame is cached with ``st.cache_data`` keyed by the change counters of the topics it
  shows (:func:`dashboard.live.stamp`): a write anywhere (another process too) moves the key,
  so the next read reloads; an unchanged topic hits the cache. :data:`TTL_S` is only a
  safety net for what has no counter (users, audit, simulation runs);
* the map's live layers are serialised once per version into immutable
  :class:`~dashboard.mapview.LayerPayload` objects (``st.cache_resource``);
* :func:`invalidate` clears the caches after an action, so the actor sees its effect at once;
* recommendations are the stored ranking (the worker's, :func:`recommendations`).

Functions take the database URL (a plain string, the cache key) and, where they need it, the
:class:`~incidents.settings.Settings` as ``_settings`` (not hashed; it is one per URL).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from dashboard import live, mapview
from geo.region import load_region
from incidents import queries
from incidents.live import rank_now
from incidents.settings import Settings

__all__ = [
    "ACTIVE_STATES",
    "TTL_S",
    "alerts_live",
    "assignments",
    "audit_tail",
    "basemap",
    "clock",
    "coverage",
    "engine",
    "feed_config",
    "feed_status",
    "hazards_by_age",
    "hazards_open",
    "incidents_open",
    "invalidate",
    "map_payloads",
    "overdue",
    "quarantine",
    "recommendations",
    "region",
    "session_factory",
    "simulation_runs",
    "stale_feeds",
    "staging",
    "tasks_open",
    "units",
    "users",
    "workers",
]

log = logging.getLogger(__name__)

TTL_S = 300
WORKER_TTL_S = 5  # worker heartbeats have no change counter: re-read this often
ACTIVE_STATES = queries.ACTIVE_STATES
MAP_TOPICS = ("alerts", "assignments", "hazards", "incidents", "tasks", "tick", "units")
REC_TOPICS = ("assignments", "hazards", "incidents", "recommendations", "settings", "tasks",
              "units")


def _v(url: str, topics: Iterable[str]) -> tuple[int, ...]:
    return live.stamp(url, topics)


# --------------------------------------------------------------------------------------------
# Resources
# --------------------------------------------------------------------------------------------


def engine(url: str) -> Engine:
    """Return the engine of `url` (one per server process, :func:`dashboard.live.engine`)."""
    return live.engine(url)


@st.cache_resource(show_spinner=False)
def session_factory(url: str) -> sessionmaker[Session]:
    """Return a session factory for writes on :func:`engine` (its commits count changes)."""
    return queries.write_sessions(engine(url))


@st.cache_resource(show_spinner=False)
def reader(url: str) -> sessionmaker[Session]:
    """Return a session factory for reads only (no write lock on SQLite)."""
    return queries.read_sessions(engine(url))


@st.cache_resource(show_spinner=False)
def region(region_dir: str) -> Any:
    """Return the region (roads, graph, gazetteer) of `region_dir`, or None when it cannot load."""
    try:
        return load_region(Path(region_dir))
    except Exception:  # noqa: BLE001 - the map still works without the routing region
        return None


@st.cache_resource(show_spinner=False)
def basemap(region_dir: str, lang: str, dark: bool) -> list[mapview.LayerPayload]:
    """Return the banner outlines, roads and place names of ``data/region``, serialised.

    Once per language and theme (:func:`dashboard.basemap.read_basemap`).
    """
    base = mapview.read_basemap(Path(region_dir))
    return mapview.basemap_payloads(base, lang, dark)


# --------------------------------------------------------------------------------------------
# Clock
# --------------------------------------------------------------------------------------------


@st.cache_data(ttl=20, show_spinner=False)
def _clock(url: str, v: tuple[int, ...]) -> datetime:
    with reader(url)() as session:
        return queries.now(session)


def clock(url: str) -> datetime:
    """Return this database's operational "now" (:func:`incidents.clock.operational_now`)."""
    return _clock(url, _v(url, ("settings",)))


# --------------------------------------------------------------------------------------------
# Frames (each keyed by the versions of the topics it shows)
# --------------------------------------------------------------------------------------------


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _incidents_open(url: str, v: tuple[int, ...]) -> pd.DataFrame:
    with reader(url)() as session:
        return queries.points_xy(queries.incidents_open(session))


def incidents_open(url: str) -> pd.DataFrame:
    """Open incidents, most urgent first, with lon/lat."""
    return _incidents_open(url, _v(url, ("incidents",)))


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _tasks_open(url: str, v: tuple[int, ...]) -> pd.DataFrame:
    with reader(url)() as session:
        return queries.tasks_open(session)


def tasks_open(url: str) -> pd.DataFrame:
    """Tasks that are open or assigned, most urgent first."""
    return _tasks_open(url, _v(url, ("tasks",)))


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _units(url: str, v: tuple[int, ...], _settings: Settings | None) -> pd.DataFrame:
    with reader(url)() as session:
        gdf = queries.units(session, queries.now(session), _settings)
    return queries.points_xy(gdf)


def units(url: str, settings: Settings | None = None) -> pd.DataFrame:
    """Return every unit with status, lon/lat, crew hours and ``position_state``.

    ``position_state`` is live, stale or unknown.
    """
    return _units(url, _v(url, ("settings", "tick", "units")), settings)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _assignments(
    url: str, v: tuple[int, ...], unit_id: str | None, active_only: bool
) -> pd.DataFrame:
    with reader(url)() as session:
        return queries.assignments(session, unit_id, active_only)


def assignments(url: str, unit_id: str | None = None, active_only: bool = True) -> pd.DataFrame:
    """Return assignments (active ones by default), optionally of one unit, newest first."""
    return _assignments(url, _v(url, ("assignments", "tasks")), unit_id, active_only)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _hazards_open(url: str, v: tuple[int, ...]) -> pd.DataFrame:
    with reader(url)() as session:
        return queries.points_xy(queries.hazards_open(session))


def hazards_open(url: str) -> pd.DataFrame:
    """Open and handed-over hazards with their road chief, oldest first."""
    return _hazards_open(url, _v(url, ("hazards",)))


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _hazards_by_age(url: str, v: tuple[int, ...]) -> pd.DataFrame:
    with reader(url)() as session:
        return queries.hazards_by_age(session, queries.now(session))


def hazards_by_age(url: str) -> pd.DataFrame:
    """Hazards not yet cleared, oldest first, with age and road chief (the service's view)."""
    return _hazards_by_age(url, _v(url, ("hazards", "settings", "tick")))


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _alerts(url: str, v: tuple[int, ...], now: datetime) -> pd.DataFrame:
    with reader(url)() as session:
        frame = queries.alerts(session, now)
    return pd.DataFrame(frame.drop(columns="geometry")) if len(frame) else pd.DataFrame(frame)


def alerts_live(url: str) -> pd.DataFrame:
    """Live alerts (state actual, not expired at :func:`clock`), without geometry."""
    return _alerts(url, _v(url, ("alerts",)), clock(url))


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _feed_status(url: str, v: tuple[int, ...]) -> pd.DataFrame:
    with reader(url)() as session:
        return queries.feed_status(session)


def feed_status(url: str) -> pd.DataFrame:
    """One row per configured feed: last attempt, success, change, error, interval."""
    return _feed_status(url, _v(url, ("feeds",)))


def stale_feeds(url: str, now: datetime | None = None) -> list[str]:
    """Return feeds with no success within two polling intervals (the dispatcher's banner)."""
    frame = feed_status(url)
    return [] if frame.empty else queries.stale_feeds(frame, now or datetime.now(UTC))


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _quarantine(url: str, v: tuple[int, ...], limit: int) -> pd.DataFrame:
    with reader(url)() as session:
        return queries.quarantine(session, limit)


def quarantine(url: str, limit: int = 500) -> pd.DataFrame:
    """Return the latest quarantined records with their reasons."""
    return _quarantine(url, _v(url, ("feeds",)), limit)


@st.cache_data(ttl=20, show_spinner=False)
def simulation_runs(url: str) -> pd.DataFrame:
    """Return stored storm replays (metrics and series as dicts), newest first."""
    with reader(url)() as session:
        return queries.simulation_runs(session)


@st.cache_data(ttl=20, show_spinner=False)
def users(url: str) -> pd.DataFrame:
    """Users and roles (no password hashes)."""
    with reader(url)() as session:
        return queries.users(session)


@st.cache_data(ttl=20, show_spinner=False)
def audit_tail(url: str, limit: int = 200) -> pd.DataFrame:
    """Return the latest audit events."""
    with reader(url)() as session:
        return queries.audit_tail(session, limit)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _feed_config(url: str, v: tuple[int, ...]) -> list[dict[str, Any]]:
    with reader(url)() as session:
        return queries.feed_config(session)


def feed_config(url: str) -> list[dict[str, Any]]:
    """Return the configured feeds (``app_settings["feeds"]["feeds"]``), as a list of dicts."""
    return _feed_config(url, _v(url, ("settings",)))


# --------------------------------------------------------------------------------------------
# Derived: recommendations, coverage, overdue tasks
# --------------------------------------------------------------------------------------------


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _recommended(url: str, v: tuple[int, ...]) -> pd.DataFrame:
    with reader(url)() as session:
        return queries.recommended(session)


class _RankMemo:
    """Return, per server process, the versions each database was last ranked at, with a lock.

    The ranking is this dashboard's when no worker runs; the lock allows one ranking at a time.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ranked: dict[str, tuple[int, ...]] = {}


@st.cache_resource(show_spinner=False)
def _rank_memo() -> _RankMemo:
    return _RankMemo()


def _rank_if_moved(url: str, settings: Settings, policy: str) -> None:
    """Rank here when no worker is alive, once per change of what a ranking reads.

    The same :func:`incidents.live.rank_now`, so the cards still follow the situation.
    """
    memo = _rank_memo()
    with memo.lock:
        if memo.ranked.get(url) == _v(url, REC_TOPICS):
            return
        reg = region(str(settings.region_dir))
        if reg is None:
            return
        rank_now(session_factory(url), reg, settings, None, policy)
        memo.ranked[url] = _v(url, REC_TOPICS)


def recommendations(url: str, settings: Settings, policy: str = "optimized") -> pd.DataFrame:
    """Return the stored ranking a dispatcher can act on (:func:`incidents.queries.recommended`).

    The worker (and the pipeline after each fuse) writes it; when no worker is alive
    (:func:`workers`), this dashboard ranks after each change before it reads.
    """
    if not workers(url):
        try:
            _rank_if_moved(url, settings, policy)
        except Exception:  # noqa: BLE001 - a busy database: show what is stored
            log.warning("ranking on the dashboard failed", exc_info=True)
    return _recommended(url, _v(url, REC_TOPICS))


@st.cache_data(ttl=WORKER_TTL_S, show_spinner=False)
def workers(url: str) -> list[dict[str, Any]]:
    """Live worker heartbeats (:func:`incidents.queries.workers`), re-read every few seconds."""
    with reader(url)() as session:
        return queries.workers(session)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _staging(url: str, v: tuple[int, ...], _settings: Settings) -> pd.DataFrame:
    reg = region(str(_settings.region_dir))
    if reg is None:
        return pd.DataFrame()
    with reader(url)() as session:
        return queries.staging(session, reg, _settings, queries.now(session))


def staging(url: str, settings: Settings) -> pd.DataFrame:
    """Staging suggestions: free units to move to duty points ahead of a forecast onset."""
    return _staging(url, _v(url, ("alerts", "hazards", "settings", "units")), settings)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _coverage(url: str, v: tuple[int, ...], _settings: Settings) -> float | None:
    reg = region(str(_settings.region_dir))
    if reg is None:
        return None
    with reader(url)() as session:
        return queries.coverage_share(session, reg, _settings, queries.now(session))


def coverage(url: str, settings: Settings) -> float | None:
    """Share of hazardous road-km within T minutes of a free unit (None when not available)."""
    return _coverage(url, _v(url, ("hazards", "settings", "units")), settings)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _overdue(url: str, v: tuple[int, ...]) -> pd.DataFrame:
    with reader(url)() as session:
        return queries.overdue(session, queries.now(session))


def overdue(url: str) -> pd.DataFrame:
    """Tasks whose current stage has lasted longer than its limit, most late first."""
    return _overdue(url, _v(url, ("assignments", "settings", "tasks", "tick")))


# --------------------------------------------------------------------------------------------
# The map
# --------------------------------------------------------------------------------------------


# the live layers, each with the topics it shows: a change reserialises only its layers
LAYER_TOPICS: dict[str, tuple[str, ...]] = {
    "alerts": ("alerts", "settings", "tick"),
    "segments": ("hazards",),
    "hotspots": ("hazards", "incidents", "settings"),
    "incidents": ("incidents",),
    "units": ("settings", "tick", "units"),
    "routes": ("assignments", "hazards", "units"),
    "duty_points": (),
    "drone_coverage": ("reports", "tick"),
}
FIELD_KEYS: dict[str, tuple[str, ...]] = {
    "alerts": ("alerts",),
    "segments": ("segments",),
    "hotspots": ("hotspots",),
    "incidents": ("incidents",),
    "units": ("units",),
    "routes": ("routes",),
    "duty_points": ("duty_points", "warming_points"),
    "drone_coverage": ("drone_coverage",),
}


def _read_field(
    session: Session, field: str, settings: Settings, now: datetime, unit_id: str | None
) -> gpd.GeoDataFrame | None:
    if field == "alerts":
        return queries.alerts(session, now)
    if field == "segments":
        return queries.segments_hazardous(session)
    if field == "hotspots":
        reg = region(str(settings.region_dir))
        try:
            return None if reg is None else queries.hotspots(session, reg, settings, now)
        except Exception:  # noqa: BLE001 - the rest of the map still draws
            return None
    if field == "incidents":
        return queries.incidents_with_notes(session)
    if field == "units":
        frame = queries.units(session, now, settings)
        return frame[frame["id"] == unit_id] if unit_id is not None else frame
    if field == "routes":
        # unit -> task along the roads, from where the unit is now
        return queries.routes_to_tasks(session, region(str(settings.region_dir)), unit_id)
    if field == "drone_coverage":
        return queries.drone_coverage(session, now)
    return queries.duty_points(session)


def load_layers(
    url: str, settings: Settings, now: datetime, unit_id: str | None = None,
    fields: Iterable[str] = tuple(LAYER_TOPICS),
) -> mapview.MapLayers:
    """Read the live layers `fields` (all by default) from the database (no cache)."""
    with reader(url)() as session:
        found = {f: _read_field(session, f, settings, now, unit_id) for f in fields}
    return mapview.MapLayers(**found)


@st.cache_resource(ttl=TTL_S, show_spinner=False, max_entries=256)
def _field_payloads(
    url: str, field: str, v: tuple[int, ...], _settings: Settings, lang: str,
    unit_id: str | None,
) -> tuple[mapview.LayerPayload, ...]:
    layers = load_layers(url, _settings, clock(url), unit_id, fields=(field,))
    wanted = FIELD_KEYS[field]
    return tuple(p for p in mapview.layer_payloads(layers, lang) if p.key in wanted)


def map_payloads(
    url: str, settings: Settings, lang: str, unit_id: str | None = None
) -> list[mapview.LayerPayload]:
    """Return the live map layers, serialised (immutable, shared by the sessions on `url`).

    Each layer is cached by the versions of its own topics, so a unit moving does not reserialise
    the road conditions.
    """
    by_key: dict[str, mapview.LayerPayload] = {}
    for field, topics in LAYER_TOPICS.items():
        for payload in _field_payloads(url, field, _v(url, topics), settings, lang, unit_id):
            by_key[payload.key] = payload
    return [by_key[k] for k in mapview.LAYER_KEYS if k in by_key]


def invalidate() -> None:
    """Forget cached frames and map layers (after an action, so its effect shows at once)."""
    st.cache_data.clear()
    _field_payloads.clear()
