"""Log-in sessions that survive a browser reload: a server-side session and a cookie.

On log-in :func:`start` opens a ``user_sessions`` row (only the token's sha256 is stored) and
a tiny local component (``components/session_cookie``, served by Streamlit itself) stores the
token in a first-party cookie. After a reload the new browser connection brings the cookie
(``st.context.cookies``) and :func:`restore` resumes the session when the server still holds it
live: not revoked (log-out, an admin) and not idle longer than ``session_idle_minutes``.
:func:`heartbeat` re-checks a logged-in session every :data:`CHECK_EVERY_S` seconds, so an
admin's revocation ends it within that time.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any

import streamlit as st
import streamlit.components.v1 as components

from dashboard import actions, ui
from dashboard.i18n import t

__all__ = ["COOKIE", "heartbeat", "logout", "render_cookie", "restore", "start"]

COOKIE = "wo_session"
COOKIE_MAX_AGE_S = 12 * 3600  # the server's idle timeout ends a session long before
CHECK_EVERY_S = 30.0
RETRY_S = 5.0  # a re-check that could not reach the database is tried again this soon
_SID = "wo_token"
_JOB = "wo_cookie_job"  # ("set", token) or ("clear", "") until the browser did it
_DEAD = "wo_cookie_dead"  # a cookie token the server refused (not tried again)
_CHECKED = "wo_session_checked"

log = logging.getLogger(__name__)

_COMPONENT = components.declare_component(
    "wo_session_cookie",
    path=str(Path(__file__).resolve().parent / "components" / "session_cookie"),
)


def start(user: actions.SessionUser, token: str) -> None:
    """Remember the user and the token of a successful log-in, and have the browser keep it."""
    ui.set_user(user)
    st.session_state[_SID] = token
    st.session_state[_CHECKED] = time.time()
    st.session_state[_JOB] = ("set", token)


def _cookie_token() -> str:
    with contextlib.suppress(Exception):  # no browser connection (AppTest, bare script)
        value = st.context.cookies.get(COOKIE)
        return str(value or "")
    return ""


def restore() -> None:
    """End a leftover session or resume the one the cookie names (no user in this session yet).

    A leftover session is one the page logged out for idleness.
    """
    if ui.current_user() is not None:
        return
    url = ui.db_url()
    leftover = st.session_state.pop(_SID, None)
    if leftover and st.session_state.pop(ui.IDLE_OUT, False):
        # ui.check_idle logged out (and audited); the server session ends too
        with contextlib.suppress(Exception):
            actions.end_session(url, str(leftover), reason=None)
        st.session_state[_DEAD] = str(leftover)
        st.session_state[_JOB] = ("clear", "")
        return
    # no user but no idle log-out either (the session state lost its user some other way):
    # the token this session held, else the cookie's, resumes it when the server still can
    token = str(leftover or "") or _cookie_token()
    if not token or token == st.session_state.get(_DEAD):
        return
    try:
        user = actions.resume_session(url, token, ui.settings().session_idle_minutes)
    except Exception:  # noqa: BLE001 - the database is busy: the log-in page, try again later
        log.warning("session resume failed; the log-in page is shown", exc_info=True)
        return
    if user is None:
        st.session_state[_DEAD] = token
        st.session_state[_JOB] = ("clear", "")
        return
    ui.set_user(user)
    st.session_state[_SID] = token
    st.session_state[_CHECKED] = time.time()


def heartbeat() -> None:
    """Every :data:`CHECK_EVERY_S`: is the server session still live? (touches it too)."""
    token = st.session_state.get(_SID)
    if ui.current_user() is None or not token:
        return
    if time.time() - float(st.session_state.get(_CHECKED, 0.0)) < CHECK_EVERY_S:
        return
    st.session_state[_CHECKED] = time.time()
    try:
        user = actions.resume_session(
            ui.db_url(), str(token), ui.settings().session_idle_minutes
        )
    except Exception:  # noqa: BLE001 - a busy or unreachable database is no revocation
        log.warning("session re-check failed; retried in %g s", RETRY_S, exc_info=True)
        st.session_state[_CHECKED] = time.time() - CHECK_EVERY_S + RETRY_S
        return
    if user is None:
        _forget(str(token))
        ui.logout(reason="revoked", audited=True)
        ui.flash("warning", t("login.revoked", ui.lang()))


def _forget(token: str) -> None:
    st.session_state.pop(_SID, None)
    st.session_state[_DEAD] = token
    st.session_state[_JOB] = ("clear", "")


def logout() -> None:
    """Log the user out: revoke the server session (audited) and clear the cookie."""
    token = st.session_state.get(_SID)
    if token:
        ended = False
        with contextlib.suppress(Exception):  # the browser session ends even if the write fails
            ended = actions.end_session(ui.db_url(), str(token), reason="logout")
        _forget(str(token))
        ui.logout(audited=ended)
    else:
        ui.logout()


def render_cookie() -> None:
    """Have the browser set or clear the cookie when a change is pending (an invisible frame)."""
    job: Any = st.session_state.get(_JOB)
    if not job:
        return
    action, token = job
    done = _COMPONENT(
        name=COOKIE,
        action=action,
        token=token,
        max_age_s=COOKIE_MAX_AGE_S,
        key="wo_session_cookie",
        default=None,
    )
    if done == f"{action}:{token}":
        st.session_state.pop(_JOB, None)
