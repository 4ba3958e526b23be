"""Admin page: users and roles, units, feed configuration, the latest audit events."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import actions, data, ui
from dashboard.escape import escape_markdown
from dashboard.i18n import fmt_time, t
from incidents.errors import WinteropsError
from incidents.store.models import Role

FEED_KINDS = ("alerts", "drone", "calls", "waze")


def users_section(lang: str, url: str, user: actions.SessionUser) -> None:
    """Users with their roles, and a form to add one."""
    frame = data.users(url)
    if not frame.empty:
        table = pd.DataFrame(
            {
                t("col.name", lang): frame["username"],
                t("col.role", lang): [t(f"role.{r}", lang, default=r) for r in frame["role"]],
                t("col.unit", lang): frame["unit_id"].fillna(""),
                t("col.last_login", lang): [fmt_time(v) for v in frame["last_login_at"]],
                t("col.locked_until", lang): [fmt_time(v) for v in frame["locked_until"]],
            }
        )
        st.dataframe(table, hide_index=True, width="stretch")
    units = data.units(url)
    with st.form("wo_add_user", clear_on_submit=True):
        st.markdown(f"**{escape_markdown(t('admin.add_user', lang))}**")
        c1, c2, c3, c4 = st.columns(4)
        name = c1.text_input(t("admin.new_username", lang), key="wo_new_user")
        password = c2.text_input(t("admin.new_password", lang), type="password", key="wo_new_pw")
        role = c3.selectbox(
            t("admin.new_role", lang),
            [r.value for r in Role],
            format_func=lambda r: t(f"role.{r}", lang),
            key="wo_new_role",
        )
        unit = c4.selectbox(
            t("admin.new_unit", lang),
            [""] + (list(units["id"]) if len(units) else []),
            format_func=lambda u: u or "—",
            key="wo_new_unit",
        )
        if st.form_submit_button(t("admin.add_user", lang)):
            try:
                actions.create_user(url, user, name, password, role, unit or None)
            except (WinteropsError, ValueError) as exc:
                st.error(escape_markdown(exc))
            else:
                ui.flash("success", t("admin.created", lang, user=name))
                st.rerun()


def units_section(lang: str, url: str) -> None:
    """Every unit with status, class, brigade and crew hours."""
    units = data.units(url)
    if units.empty:
        st.info(t("common.none", lang))
        return
    table = pd.DataFrame(
        {
            t("col.id", lang): units["id"],
            t("col.name", lang): units["name"],
            t("col.vehicle", lang): [
                t(f"vehicle_class.{v}", lang, default=v) for v in units["vehicle_class"]
            ],
            t("col.status", lang): [t(f"status.{s}", lang, default=s) for s in units["status"]],
            t("col.brigade", lang): units["brigade"].fillna(""),
            t("col.crew_hours", lang): units["crew_hours"].round(1),
        }
    )
    st.dataframe(table, hide_index=True, width="stretch", height=360)


def feeds_section(lang: str, url: str, user: actions.SessionUser) -> None:
    """The configured feeds and a form to add or change one."""
    feeds = data.feed_config(url)
    if feeds:
        st.dataframe(pd.DataFrame(feeds), hide_index=True, width="stretch")
    else:
        st.info(t("feeds.none", lang))
    with st.form("wo_feed_form", clear_on_submit=True):
        c1, c2, c3, c4 = st.columns([1, 1, 3, 1])
        name = c1.text_input(t("admin.feed_name", lang), key="wo_feed_name")
        kind = c2.selectbox(t("admin.feed_kind", lang), FEED_KINDS, key="wo_feed_kind")
        source = c3.text_input(t("admin.feed_source", lang), key="wo_feed_source")
        interval = c4.number_input(
            t("admin.feed_interval", lang), min_value=30, value=300, step=30, key="wo_feed_interval"
        )
        if st.form_submit_button(t("admin.save_feed", lang)) and name.strip() and source.strip():
            actions.save_feed(
                url,
                user,
                {
                    "name": name.strip(),
                    "kind": kind,
                    "source": source.strip(),
                    "interval_s": int(interval),
                },
            )
            ui.flash("success", t("admin.saved", lang))
            st.rerun()


def audit_section(lang: str, url: str) -> None:
    """The latest audit events."""
    events = data.audit_tail(url)
    if events.empty:
        st.info(t("common.none", lang))
        return
    table = pd.DataFrame(
        {
            t("col.at", lang): [fmt_time(v) for v in events["at"]],
            t("col.actor", lang): events["actor"],
            t("col.action", lang): events["action"],
            t("col.target", lang): events["target"].fillna(""),
            t("col.outcome", lang): events["outcome"],
        }
    )
    st.dataframe(table, hide_index=True, width="stretch", height=360)


def render() -> None:
    """The admin page (admins only: the navigation shows it to no one else)."""
    lang, url, user = ui.lang(), ui.db_url(), ui.current_user()
    if user is None or user.role != Role.ADMIN.value:
        st.error(t("patrol.not_yours", lang))
        return
    st.subheader(t("page.admin", lang))
    ui.show_flash()
    tabs = st.tabs(
        [
            t("admin.users", lang),
            t("admin.units", lang),
            t("admin.feeds", lang),
            t("admin.audit", lang),
        ]
    )
    try:
        with tabs[0]:
            users_section(lang, url, user)
        with tabs[1]:
            units_section(lang, url)
        with tabs[2]:
            feeds_section(lang, url, user)
        with tabs[3]:
            audit_section(lang, url)
    except Exception as exc:  # noqa: BLE001 - a broken database shows a message, not a trace
        st.error(t("common.db_error", lang, error=escape_markdown(exc)))


render()
