"""Cached reads of the workflow panels over :mod:`incidents.console_reads`.

Each frame is cached with ``st.cache_data`` keyed by the change counters of the topics it shows
(:func:`dashboard.live.stamp`), like :mod:`dashboard.data`; an action clears them
(:func:`dashboard.data.invalidate`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import data, live
from incidents import console_reads

__all__ = ["candidates", "incident", "overdue", "partners", "readiness"]

TTL_S = 300
CANDIDATE_TOPICS = ("assignments", "hazards", "recommendations", "tasks", "units")
INCIDENT_TOPICS = ("assignments", "incidents", "tasks")
OVERDUE_TOPICS = ("assignments", "incidents", "settings", "tasks", "tick")


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _candidates(url: str, v: tuple[int, ...], region_dir: str, task_id: int,
                recommended: str | None) -> pd.DataFrame:
    with data.reader(url)() as session:
        return console_reads.override_candidates(
            session, data.region(region_dir), task_id, recommended
        )


def candidates(url: str, region_dir: str, task_id: int, recommended: str | None) -> pd.DataFrame:
    """Return the units that could take `task_id` instead of `recommended` (with ETA, class)."""
    return _candidates(url, live.stamp(url, CANDIDATE_TOPICS), region_dir, task_id, recommended)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _incident(url: str, v: tuple[int, ...], incident_id: int) -> dict[str, Any] | None:
    with data.reader(url)() as session:
        return console_reads.incident_detail(session, incident_id)


def incident(url: str, incident_id: int) -> dict[str, Any] | None:
    """Return incident `incident_id` with its merge log, reports and tasks (None: no such)."""
    return _incident(url, live.stamp(url, INCIDENT_TOPICS), incident_id)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _partners(url: str, v: tuple[int, ...], incident_id: int) -> pd.DataFrame:
    with data.reader(url)() as session:
        return console_reads.merge_partners(session, incident_id)


def partners(url: str, incident_id: int) -> pd.DataFrame:
    """Return open incidents to merge into `incident_id`, same road and nearest first."""
    return _partners(url, live.stamp(url, ("incidents",)), incident_id)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _overdue(url: str, v: tuple[int, ...]) -> pd.DataFrame:
    with data.reader(url)() as session:
        return console_reads.overdue_graded(session, data.clock(url))


def overdue(url: str) -> pd.DataFrame:
    """Return the overdue tasks graded, worst first, with acknowledgements and escalations."""
    return _overdue(url, live.stamp(url, OVERDUE_TOPICS))


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _readiness(url: str, v: tuple[int, ...]) -> pd.DataFrame:
    with data.reader(url)() as session:
        return console_reads.unit_readiness(session)


def readiness(url: str) -> pd.DataFrame:
    """Return every unit's status, fuel and crew hours."""
    return _readiness(url, live.stamp(url, ("units",)))
