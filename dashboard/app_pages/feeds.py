"""Feeds page: each feed's last attempt, success, change and error; quarantined records.

The panel reruns when the ``feeds`` topic changes (the worker wrote a poll result), through
the page's :func:`live.watcher`, and once a minute for the staleness of the times.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data, live, ui
from dashboard.escape import escape_markdown
from dashboard.i18n import fmt_time, t

TOPICS = ("feeds", "settings", "tick")


@st.fragment(key="wo_feeds")
def feeds_panel() -> None:
    """Feed health and the quarantine (rerun by the watcher when the feeds change)."""
    lang, url = ui.lang(), ui.db_url()
    live.part("wo_feeds", TOPICS, url)
    now = ui.clock()
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
    """The feeds health page."""
    st.subheader(t("page.feeds", ui.lang()))
    ui.show_flash()
    try:
        feeds_panel()
        live.watcher(ui.db_url(), _idle)
    except Exception as exc:  # noqa: BLE001 - a broken database shows a message, not a trace
        st.error(t("common.db_error", ui.lang(), error=escape_markdown(exc)))


render()
