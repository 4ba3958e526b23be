"""Feeds page: the worker's heartbeat, each feed's health, drone flights, quarantined records.

Feed health is each feed's last attempt, success, change and error. Drone flights are those of
the last 24 hours, each with its road-km patrolled and detections
(:func:`incidents.queries.drone_flights`).

The panel reruns when the ``feeds`` topic changes (the worker wrote a poll result), through
the page's :func:`live.watcher`, and once a minute for the staleness of the times.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import data, live, ui
from dashboard.escape import escape_markdown
from dashboard.i18n import fmt_time, t
from incidents import queries

TOPICS = ("feeds", "settings", "tick")
FLIGHT_TOPICS = ("reports",)
FLIGHT_HOURS = 24.0


@st.cache_data(ttl=30, show_spinner=False)
def _flights(url: str, v: tuple[int, ...], at: datetime) -> pd.DataFrame:
    with data.reader(url)() as session:
        return queries.drone_flights(session, at, FLIGHT_HOURS)


def drone_flights(url: str, at: datetime) -> pd.DataFrame:
    """Return the drone flights of the last day (cached until a report is stored)."""
    return _flights(url, live.stamp(url, FLIGHT_TOPICS), at.replace(second=0, microsecond=0))


def worker_table(lang: str, url: str) -> None:
    """Show the live ``winterops worker`` processes (heartbeats), or a warning when none is."""
    alive: list[dict[str, Any]] = data.workers(url)
    st.markdown(f"### {escape_markdown(t('feeds.workers', lang))}")
    if not alive:
        st.warning(t("dispatch.worker_none", lang))
        return
    table = pd.DataFrame(
        {
            t("col.worker", lang): [str(w.get("holder") or "") for w in alive],
            t("col.role", lang): [str(w.get("role") or "") for w in alive],
            t("col.cycle", lang): [w.get("cycle") for w in alive],
            t("col.heartbeat", lang): [
                fmt_time(pd.to_datetime(w.get("at"), utc=True, errors="coerce")) for w in alive
            ],
        }
    )
    st.dataframe(table, hide_index=True, width="stretch")


def flights_table(lang: str, url: str, now: datetime) -> None:
    """Show one row per drone flight: id, time, road-km patrolled, length, detections, flags."""
    st.markdown(f"### {escape_markdown(t('feeds.flights', lang))}")
    flights = drone_flights(url, now)
    if flights.empty:
        st.info(t("feeds.no_flights", lang))
        return
    table = pd.DataFrame(
        {
            t("col.flight", lang): flights["flight_id"].astype(str),
            t("col.started", lang): [fmt_time(v) for v in flights["started_at"]],
            t("col.ended", lang): [fmt_time(v) for v in flights["ended_at"]],
            t("col.road_km", lang): flights["road_km"].round(2),
            t("col.length_km", lang): flights["length_km"].round(2),
            t("col.detections", lang): flights["detections"].astype(int),
            t("col.flags", lang): flights["flags"].astype(str),
        }
    )
    st.dataframe(table, hide_index=True, width="stretch")
    total = float(flights["road_km"].fillna(0).sum())
    st.caption(t("feeds.flights_total", lang, n=len(flights), km=f"{total:.1f}"))


@st.fragment(key="wo_feeds")
def feeds_panel() -> None:
    """Show workers, feed health, drone flights and the quarantine (rerun on a change)."""
    lang, url = ui.lang(), ui.db_url()
    live.part("wo_feeds", TOPICS + FLIGHT_TOPICS, url)
    now = ui.clock()
    worker_table(lang, url)
    status = data.feed_status(url)
    stale = set(data.stale_feeds(url, now))
    st.markdown(f"### {escape_markdown(t('feeds.title', lang))}")
    if status.empty:
        st.info(t("feeds.none", lang))
    else:
        table = pd.DataFrame(
            {
                t("col.feed", lang): status["feed"],
                t("col.kind", lang): status["kind"],
                t("col.source", lang): status["source"],
                t("col.interval", lang): status["interval_s"],
                t("col.last_attempt", lang): [fmt_time(v) for v in status["last_attempt"]],
                t("col.last_success", lang): [fmt_time(v) for v in status["last_success"]],
                t("col.last_change", lang): [fmt_time(v) for v in status["last_change"]],
                t("col.last_error", lang): status["last_error"].fillna(""),
                t("col.stale", lang): [f in stale for f in status["feed"]],
            }
        )
        st.dataframe(table, hide_index=True, width="stretch")
    flights_table(lang, url, now)
    st.markdown(f"### {escape_markdown(t('feeds.quarantine', lang))}")
    quarantine = data.quarantine(url)
    if quarantine.empty:
        st.info(t("feeds.no_quarantine", lang))
    else:
        table = pd.DataFrame(
            {
                t("col.at", lang): [fmt_time(v) for v in quarantine["created_at"]],
                t("col.feed", lang): quarantine["feed"],
                t("col.source", lang): quarantine["source"],
                t("col.reason", lang): quarantine["reason"],
                t("col.record", lang): quarantine["record"].astype(str).str.slice(0, 300),
            }
        )
        st.dataframe(table, hide_index=True, width="stretch")
    ui.refreshed_caption(now)


def _idle() -> None:
    if ui.check_idle():
        st.rerun()


def render() -> None:
    """Draw the feeds health page."""
    st.subheader(t("page.feeds", ui.lang()))
    ui.show_flash()
    try:
        feeds_panel()
    except Exception as exc:  # noqa: BLE001 - a broken database shows a message, not a trace
        st.error(t("common.db_error", ui.lang(), error=escape_markdown(exc)))
    # outside the try: a part that failed while the database was away must not keep the
    # watcher from starting, or the page would not redraw itself when the database is back
    live.watcher(ui.db_url(), _idle)


render()
