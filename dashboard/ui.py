"""Session helpers shared by the pages: settings, language, the logged-in user, idle logout.

Everything per user lives in ``st.session_state`` (never in module globals: one Streamlit
server serves every user). Keys are prefixed ``wo_``.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from dashboard import actions, data
from dashboard.actions import SessionUser
from dashboard.escape import escape_markdown
from dashboard.i18n import LANGUAGES, fmt_time, t
from incidents.settings import Settings

__all__ = [
    "BIG_BUTTONS_CSS",
    "DARK_CSS",
    "IDLE_OUT",
    "check_idle",
    "current_user",
    "flash",
    "lang",
    "language_selector",
    "logout",
    "set_user",
    "settings",
    "show_flash",
    "touch",
]

_SETTINGS = "wo_settings"
_USER = "wo_user"
_LAST = "wo_last_active"
_LANG = "wo_lang"
_FLASH = "wo_flash"
IDLE_OUT = "wo_idle_out"  # set when check_idle logged the user out

# Constant stylesheets (no data in them): big tap targets for gloves, and a night theme.
BIG_BUTTONS_CSS = """
<style>
div[data-testid="stButton"] button, div[data-testid="stFormSubmitButton"] button {
  min-height: 56px; min-width: 56px; font-size: 1.15rem; font-weight: 600;
}
</style>
"""
DARK_CSS = """
<style>
[data-testid="stAppViewContainer"], [data-testid="stHeader"], [data-testid="stSidebar"],
[data-testid="stMain"] { background-color: #0f1216 !important; color: #e6e6e6 !important; }
[data-testid="stMarkdownContainer"], [data-testid="stCaptionContainer"],
[data-testid="stWidgetLabel"], h1, h2, h3, label, p, span { color: #e6e6e6 !important; }
div[data-testid="stButton"] button { background-color: #263238 !important;
  color: #ffffff !important; border-color: #546e7a !important; }
</style>
"""


def settings() -> Settings:
    """Return the settings of this session, built from the environment once per session."""
    if _SETTINGS not in st.session_state:
        st.session_state[_SETTINGS] = Settings.from_env()
    value: Settings = st.session_state[_SETTINGS]
    return value


def lang() -> str:
    """Return the interface language of this session ("zh" by default)."""
    return str(st.session_state.get(_LANG, "zh"))


def language_selector() -> str:
    """Show a sidebar switch between Chinese and English; return the chosen language."""
    current = lang()
    choice = st.sidebar.radio(
        t("app.language", current),
        options=list(LANGUAGES),
        format_func=lambda code: LANGUAGES[code],
        index=list(LANGUAGES).index(current),
        horizontal=True,
        key="wo_lang_radio",
    )
    st.session_state[_LANG] = choice
    return str(choice)


def touch() -> None:
    """Record user activity (for the idle log-out)."""
    st.session_state[_LAST] = time.time()


def set_user(user: SessionUser) -> None:
    """Start a logged-in session."""
    st.session_state[_USER] = user
    touch()


def current_user() -> SessionUser | None:
    """Return the logged-in user, or None.

    The user kept in the session may be an instance of an earlier import of
    :class:`SessionUser` (Streamlit re-imports the dashboard's modules when a source file
    changes): such a user is taken over by its fields, never mistaken for "logged out".
    """
    user = st.session_state.get(_USER)
    if isinstance(user, SessionUser) or user is None:
        return user
    if type(user).__name__ == SessionUser.__name__ and isinstance(
        getattr(user, "username", None), str
    ):
        same = SessionUser(str(user.username), str(user.role), getattr(user, "unit_id", None))
        st.session_state[_USER] = same
        return same
    return None


def logout(reason: str = "logout", *, audited: bool = False) -> None:
    """End the session (audited unless `audited`: the caller did it), keeping the language."""
    user = current_user()
    if user is not None and not audited:
        with contextlib.suppress(Exception):  # the session ends even if the audit write fails
            actions.logout(settings().database_url, user.username, reason=reason)
    for key in (_USER, _LAST):
        st.session_state.pop(key, None)


def check_idle() -> bool:
    """Log out after ``settings.session_idle_minutes`` without activity; True when it did."""
    user = current_user()
    if user is None:
        return False
    minutes = settings().session_idle_minutes
    last = float(st.session_state.get(_LAST, time.time()))
    if time.time() - last > minutes * 60:
        logout(reason="idle")
        st.session_state[IDLE_OUT] = True  # sessions.restore ends the server session too
        flash("warning", t("login.idle", lang(), minutes=minutes))
        return True
    return False


def flash(kind: str, text: str) -> None:
    """Keep a message to show at the top of the next run ("success", "warning", "error")."""
    st.session_state[_FLASH] = (kind, text)


def show_flash() -> None:
    """Show (and forget) the kept message, Markdown-escaped (it may quote data).

    The message sits in a container that is there on every run, message or not, so what
    follows keeps its place in the page (the map is not rebuilt because a message came).
    """
    slot = st.container()
    item: Any = st.session_state.pop(_FLASH, None)
    if not item:
        return
    kind, text = item
    show = {"success": slot.success, "warning": slot.warning, "error": slot.error}.get(
        kind, slot.info
    )
    show(escape_markdown(text))


def refreshed_caption(now: datetime | None = None) -> None:
    """Show a small "data as of" line in Asia/Shanghai time."""
    now = now or datetime.now(UTC)
    st.caption(t("common.refreshed", lang(), time=fmt_time(now)))


def db_url() -> str:
    """Return the database URL of this session."""
    return settings().database_url


def clock() -> datetime:
    """Return the operational now (the demo storm's clock when one is set)."""
    return data.clock(db_url())
