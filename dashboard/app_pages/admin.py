"""Admin page: users, units, feeds, sessions, the audit log and its hash chain.

Users and roles (unlock, reset password, disable), units, feed configuration (in the database:
what the worker polls), log-in sessions, the latest audit events and when the audit hash chain
was last verified. Every change goes through an audited service that refuses
anyone but an admin.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import actions, data, live, ui, wording
from dashboard.escape import escape_markdown
from dashboard.i18n import STRINGS, fmt_time, t
from incidents.live.pipeline import feed_kinds
from incidents.service.actions import act
from incidents.service.audit import verify_audit_chain
from incidents.service.users import (
    disable_user,
    enable_user,
    list_users,
    reset_password,
    unlock_user,
)
from incidents.store.enums import Role
from incidents.store.runtime import audit_check


def _describe(exc: BaseException, lang: str) -> tuple[str, str]:
    """Describe a refusal as ``(kind, text)``.

    Its own ``error.<code>`` message when the catalogue has one, else the generic description.
    """
    key = f"error.{getattr(exc, 'code', '')}"
    if key in STRINGS:
        return "error", t(key, lang, detail=str(exc)[:300])
    return actions.describe_error(exc, lang)


def _service(url: str, user: actions.SessionUser, fn: Any, *args: Any) -> Any:
    """Run one admin service in its own transaction (a refusal is audited after the rollback)."""
    try:
        return act(data.session_factory(url), fn, user.username, *args)
    finally:
        data.invalidate()


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
            except Exception as exc:  # noqa: BLE001 - every failure becomes a translated message
                kind, text = actions.describe_error(exc, lang)
                st.error(escape_markdown(text))
            else:
                ui.flash("success", t("admin.created", lang, user=name))
                st.rerun()


def _account_run(lang: str, url: str, user: actions.SessionUser, done: str, fn: Any,
                 *args: Any) -> None:
    """One account action as `user`: a translated message either way, then a rerun."""
    try:
        _service(url, user, fn, *args)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a translated message
        ui.flash(*_describe(exc, lang))
    else:
        ui.flash("success", done)
    st.rerun()


def accounts_section(lang: str, url: str, user: actions.SessionUser) -> None:
    """Unlock, reset the password of, disable or enable an account (audited services)."""
    with data.reader(url)() as session:
        people = [(u.username, u.disabled_at, u.locked_until) for u in list_users(session)]
    if not people:
        st.info(t("common.none", lang))
        return
    st.markdown(f"**{escape_markdown(t('admin.account', lang))}**")
    disabled = {name for name, off, _ in people if off is not None}
    if disabled:
        st.caption(f"{t('col.disabled', lang)}: " + escape_markdown(", ".join(sorted(disabled))))
    c1, c2, c3, c4 = st.columns([2, 1, 3, 1])
    who = str(c1.selectbox(t("admin.account_pick", lang), [p[0] for p in people],
                           key="wo_account_pick"))
    if c2.button(t("admin.unlock", lang), key="wo_account_unlock"):
        _account_run(lang, url, user, t("admin.unlocked", lang, user=who), unlock_user, who)
    new_pw = c3.text_input(t("admin.reset_new", lang), type="password", key="wo_account_pw")
    if c4.button(t("admin.reset_password", lang), key="wo_account_reset") and new_pw:
        _account_run(lang, url, user, t("admin.password_reset", lang, user=who),
                     reset_password, who, new_pw)
    if who in disabled:
        if st.button(t("admin.enable", lang), key="wo_account_enable"):
            _account_run(lang, url, user, t("admin.enabled", lang, user=who), enable_user, who)
    elif st.button(t("admin.disable", lang), key="wo_account_disable"):
        _account_run(lang, url, user, t("admin.disabled", lang, user=who), disable_user, who)


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


@st.cache_data(ttl=data.TTL_S, show_spinner=False)
def _feeds_at(url: str, v: tuple[int, ...]) -> list[dict[str, Any]]:
    return actions.configured_feeds(url)


def _feeds(url: str) -> list[dict[str, Any]]:
    """Return the feeds configured in the database (the worker polls them), cached."""
    return _feeds_at(url, live.stamp(url, ("feeds",)))


def _run(done: str, fn: Any, *args: Any) -> None:
    """One admin action: a translated message either way, then a rerun."""
    lang = ui.lang()
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a translated message
        ui.flash(*actions.describe_error(exc, lang))
    else:
        ui.flash("success", done)
    st.rerun()


def feeds_section(lang: str, url: str, user: actions.SessionUser) -> None:
    """Show the configured feeds (the worker polls them); add, change or remove one."""
    feeds = _feeds(url)
    if feeds:
        cols = ["name", "kind", "source", "interval_s", "enabled", "last_success", "last_error"]
        st.dataframe(
            pd.DataFrame(feeds)[[c for c in cols if c in feeds[0]]], hide_index=True,
            width="stretch",
        )
    else:
        st.info(t("feeds.none", lang))
    with st.form("wo_feed_form", clear_on_submit=True):
        c1, c2, c3, c4, c5 = st.columns([1, 1, 3, 1, 1])
        name = c1.text_input(t("admin.feed_name", lang), key="wo_feed_name")
        kind = c2.selectbox(t("admin.feed_kind", lang), feed_kinds(), key="wo_feed_kind")
        source = c3.text_input(t("admin.feed_source", lang), key="wo_feed_source")
        interval = c4.number_input(
            t("admin.feed_interval", lang), min_value=30, value=300, step=30, key="wo_feed_interval"
        )
        enabled = c5.checkbox(t("admin.feed_enabled", lang), value=True, key="wo_feed_enabled")
        if st.form_submit_button(t("admin.save_feed", lang)) and name.strip() and source.strip():
            feed = {"name": name.strip(), "kind": kind, "source": source.strip(),
                    "interval_s": float(interval), "enabled": bool(enabled)}
            _run(t("admin.saved", lang), actions.save_feed, url, user, feed)
    if feeds:
        c1, c2 = st.columns([3, 1])
        gone = c1.selectbox(
            t("admin.feed_name", lang), [f["name"] for f in feeds], key="wo_feed_remove_pick"
        )
        if c2.button(t("admin.remove_feed", lang), key="wo_feed_remove"):
            _run(t("admin.feed_removed", lang, name=gone), actions.remove_feed, url, user, gone)


def sessions_section(lang: str, url: str, user: actions.SessionUser) -> None:
    """End every log-in session of a user (their browsers are logged out within a minute)."""
    frame = data.users(url)
    if frame.empty:
        st.info(t("common.none", lang))
        return
    c1, c2 = st.columns([3, 1])
    who = c1.selectbox(
        t("admin.revoke_pick", lang), list(frame["username"]), key="wo_revoke_pick"
    )
    if c2.button(t("admin.revoke_user", lang), key="wo_revoke"):
        try:
            count = actions.revoke_sessions(url, user, str(who))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a translated message
            ui.flash(*actions.describe_error(exc, lang))
        else:
            ui.flash("success", t("admin.revoked", lang, user=who, count=count))
        st.rerun()


def chain_section(lang: str, url: str, user: actions.SessionUser) -> None:
    """When the audit hash chain was last verified (and what broke), and a button to verify."""
    with data.reader(url)() as session:
        check = audit_check(session)
    if check is None:
        st.info(t("admin.audit_never", lang))
    elif check.ok:
        st.success(t("admin.audit_verified", lang, time=fmt_time(check.at), checked=check.checked))
    else:
        problem = escape_markdown(check.problem or "")
        st.error(t("admin.audit_broken", lang, time=fmt_time(check.at), problem=problem))
    if st.button(t("admin.audit_verify", lang), key="wo_audit_verify"):
        try:
            _service(url, user, verify_audit_chain)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a translated message
            ui.flash(*_describe(exc, lang))
        st.rerun()


def audit_section(lang: str, url: str, user: actions.SessionUser) -> None:
    """When the audit chain was last verified, then the latest audit events."""
    chain_section(lang, url, user)
    events = data.audit_tail(url)
    if events.empty:
        st.info(t("common.none", lang))
        return
    table = pd.DataFrame(
        {
            wording.zoned(t("col.at", lang), lang): [fmt_time(v) for v in events["at"]],
            t("col.actor", lang): events["actor"],
            t("col.action", lang): [wording.audit_action(a, lang) for a in events["action"]],
            t("col.target", lang): events["target"].fillna(""),
            t("col.outcome", lang): [
                t(f"outcome.{o}", lang, default=str(o)) for o in events["outcome"]
            ],
        }
    )
    st.dataframe(table, hide_index=True, width="stretch", height=360)


def render() -> None:
    """Render the admin page (admins only: the navigation shows it to no one else)."""
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
            t("admin.sessions", lang),
            t("admin.audit", lang),
        ]
    )
    try:
        with tabs[0]:
            users_section(lang, url, user)
            accounts_section(lang, url, user)
        with tabs[1]:
            units_section(lang, url)
        with tabs[2]:
            feeds_section(lang, url, user)
        with tabs[3]:
            sessions_section(lang, url, user)
        with tabs[4]:
            audit_section(lang, url, user)
    except Exception as exc:  # noqa: BLE001 - a broken database shows a message, not a trace
        st.error(t("common.db_error", lang, error=escape_markdown(exc)))


render()
