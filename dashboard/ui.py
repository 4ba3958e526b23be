"""Session helpers shared by the pages: settings, language, the logged-in user, idle logout.

Everything per user lives in ``st.session_state`` (never in module globals: one Streamlit
server serves every user). Keys are prefixed ``wo_``.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import streamlit as st
import streamlit.components.v1 as components

from dashboard import actions, data
from dashboard.actions import SessionUser
from dashboard.escape import escape_markdown
from dashboard.i18n import LANGUAGES, fmt_time, t
from incidents.settings import Settings

__all__ = [
    "BIG_BUTTONS_CSS",
    "CONSOLE_CSS",
    "DARK_CSS",
    "IDLE_OUT",
    "check_idle",
    "console_style",
    "current_user",
    "flash",
    "lang",
    "language_selector",
    "last_viewport",
    "logout",
    "map_height",
    "night",
    "night_toggle",
    "set_user",
    "settings",
    "show_flash",
    "touch",
    "viewport",
]

_SETTINGS = "wo_settings"
_USER = "wo_user"
_LAST = "wo_last_active"
_LANG = "wo_lang"
_FLASH = "wo_flash"
_NIGHT = "wo_night"
_VIEWPORT = "wo_viewport"
_COMPONENTS = Path(__file__).resolve().parent / "components"
IDLE_OUT = "wo_idle_out"  # set when check_idle logged the user out

# Constant stylesheets (no data in them): big tap targets for gloves, and a night theme.
BIG_BUTTONS_CSS = """
<style>
div[data-testid="stButton"] button, div[data-testid="stFormSubmitButton"] button {
  min-height: 56px; min-width: 56px; font-size: 1.15rem; font-weight: 600;
}
</style>
"""
# The night theme and the console layout: constant files beside the components (no data in them).
DARK_CSS = "<style>\n" + (_COMPONENTS / "night.css").read_text(encoding="utf-8") + "</style>\n"
CONSOLE_CSS = "<style>\n" + (_COMPONENTS / "console.css").read_text(encoding="utf-8") + "</style>\n"
_VIEWPORT_COMPONENT = components.declare_component(
    "wo_viewport", path=str(_COMPONENTS / "viewport")
)
DEFAULT_VIEWPORT = (1920, 1080)
MAP_MARGIN_PX = 64  # the header strip above the map and a little air below it
MIN_MAP_PX = 480


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


def night() -> bool:
    """Return whether this session shows the console in night colours."""
    return bool(st.session_state.get(_NIGHT, False))


def night_toggle(lang_code: str) -> bool:
    """Show the night-mode switch in the sidebar and apply the night theme when it is on."""
    on = st.sidebar.toggle(t("look.night", lang_code), key=_NIGHT)
    if on:
        st.html(DARK_CSS)  # constant stylesheet, no data
    return bool(on)


def console_style() -> None:
    """Apply the console layout (map first, side column; desk and wall by media queries)."""
    st.html(CONSOLE_CSS)  # constant stylesheet, no data


def viewport() -> tuple[int, int]:
    """Return the browser window's (width, height) in CSS pixels, as its page last reported.

    A zero-height component in the sidebar reports the size once it is drawn and again after a
    resize; until then (the first run of a session) the desk size is assumed.
    """
    with st.sidebar:
        value: Any = _VIEWPORT_COMPONENT(key="wo_viewport_probe", default=None)
    if isinstance(value, dict):
        try:
            size = (int(value["w"]), int(value["h"]))
        except (KeyError, TypeError, ValueError):
            size = (0, 0)
        if 200 <= size[0] <= 10000 and 200 <= size[1] <= 10000:
            st.session_state[_VIEWPORT] = size
    return last_viewport()


def last_viewport() -> tuple[int, int]:
    """Return the window size :func:`viewport` last heard of (the desk size before that)."""
    kept = st.session_state.get(_VIEWPORT)
    return kept if isinstance(kept, tuple) else DEFAULT_VIEWPORT


def map_height(window_height: int) -> int:
    """Return the map's height in pixels for a window `window_height` tall (fills the window)."""
    return max(MIN_MAP_PX, int(window_height) - MAP_MARGIN_PX)
