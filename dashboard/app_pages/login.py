"""Log-in page: user name and password, checked against the database.

The lockout is counted there; a success opens a server-side session that a browser reload
resumes (:mod:`dashboard.sessions`). A disabled account is told so.
"""

from __future__ import annotations

import streamlit as st

from dashboard import actions, sessions, touch, ui
from dashboard.i18n import fmt_time, t
from incidents.errors import AuthError


def render() -> None:
    """Show the log-in form and start a session on success."""
    lang = ui.lang()
    st.markdown(touch.TOUCH_CSS, unsafe_allow_html=True)  # constant stylesheet: 48 px targets
    st.title(t("app.title", lang))
    ui.show_flash()
    with st.form("wo_login_form"):
        st.subheader(t("login.title", lang))
        username = st.text_input(t("login.username", lang), key="wo_login_user")
        password = st.text_input(t("login.password", lang), type="password", key="wo_login_pw")
        submitted = st.form_submit_button(t("login.submit", lang), type="primary")
    if not submitted:
        return
    try:
        user, token = actions.login(ui.db_url(), username, password)
    except AuthError as exc:
        until = actions.locked_until(ui.db_url(), username)
        if exc.code == "account_disabled":
            st.error(t("login.disabled", lang))
        elif until is not None:
            st.error(t("login.locked", lang, until=fmt_time(until)))
        elif "locked" in str(exc):
            st.error(t("login.locked_generic", lang))
        else:
            st.error(t("login.failed", lang))
        return
    except ImportError:
        st.error(t("login.unavailable", lang))
        return
    sessions.start(user, token)
    st.rerun()


render()
