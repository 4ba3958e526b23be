"""winterops dashboard entry point: ``streamlit run dashboard/app.py`` (``winterops serve``).

A log-in gate, then the pages the user's role may see (``st.navigation``):

* dispatcher: Dispatch, Feeds, Review
* patrol lead: Patrol (their own unit only)
* admin: every page, and Admin
* wall display: Dispatch only, read-only (no action buttons; the services refuse its writes)

A log-in opens a server-side session kept in a cookie (:mod:`dashboard.sessions`): a browser
reload resumes it while the server holds it live (idle timeout, log-out, admin revocation).

Settings come from ``Settings.from_env()`` once per session (``WINTEROPS_DATABASE_URL`` etc.).
The map's scripts and styles are copied from the xstatic packages into ``dashboard/static/``
and served by Streamlit itself (``server.enableStaticServing``): nothing from a CDN.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st
from streamlit.navigation.page import StreamlitPage

if __package__ in (None, ""):  # run as a script by `streamlit run dashboard/app.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboard import assets, sessions, ui  # noqa: E402
from dashboard.i18n import t  # noqa: E402
from incidents.store.enums import Role  # noqa: E402

HERE = Path(__file__).resolve().parent


@st.cache_resource(show_spinner=False)
def _static_ready() -> str:
    """Copy the vendor files once per server process."""
    return str(assets.ensure_static())


def _pages(role: str, lang: str) -> list[StreamlitPage]:
    # no page icons: Streamlit fetches a page's icon from fonts.gstatic.com as the favicon
    def page(name: str, default: bool = False) -> StreamlitPage:
        return st.Page(
            str(HERE / "app_pages" / f"{name}.py"),
            title=t(f"page.{name}", lang),
            url_path=name,
            default=default,
        )

    if role == Role.PATROL_LEAD.value:
        return [page("patrol", default=True)]
    if role == Role.WALL.value:
        return [page("dispatch", default=True)]
    pages = [
        page("dispatch", default=True),
        page("feeds"),
        page("review"),
    ]
    if role == Role.ADMIN.value:
        pages.insert(1, page("patrol"))
        pages.append(page("admin"))
    return pages


def main() -> None:
    """Build the navigation for this session and run the chosen page."""
    ui.check_idle()
    sessions.restore()  # a reload: resume the server-side session the cookie names
    user = ui.current_user()
    # no page icon: Streamlit would fetch it from a CDN. The tablet view starts without sidebar.
    tablet = user is not None and user.role == Role.PATROL_LEAD.value
    st.set_page_config(
        page_title="winterops",
        layout="wide",
        initial_sidebar_state="collapsed" if tablet else "expanded",
    )
    _static_ready()
    if not st.get_option("server.enableStaticServing"):
        # the map's Leaflet/jQuery/Bootstrap come from /app/static/: without it, no map
        st.error(
            "server.enableStaticServing is off: the map cannot load its local scripts. "
            "Start with `winterops serve` from the project folder (.streamlit/config.toml) "
            "or pass --server.enableStaticServing=true."
        )
    ui.settings()
    lang = ui.language_selector()
    sessions.heartbeat()  # revoked by an admin, or idle on another tab: log out here too
    sessions.render_cookie()
    user = ui.current_user()
    if user is None:
        nav = st.navigation(
            [
                st.Page(
                    str(HERE / "app_pages" / "login.py"),
                    title=t("page.login", lang),
                    url_path="login",
                    default=True,
                )
            ],
            position="hidden",
        )
    else:
        ui.touch()
        st.sidebar.markdown(f"**{t('app.title', lang)}**")
        st.sidebar.text(t("login.who", lang, user=user.username, role=t(f"role.{user.role}", lang)))
        if user.role == Role.WALL.value:
            st.sidebar.caption(t("wall.read_only", lang))
        nav = st.navigation(_pages(user.role, lang))
        # the patrol page has its own night switch and log-out on the page (at >= 48 px): the
        # sidebar's copies are not drawn there (a user saw two of each)
        on_patrol = getattr(nav, "url_path", "") == "patrol"
        if user.role != Role.PATROL_LEAD.value and not on_patrol:
            ui.night_toggle(lang)
        if not on_patrol and st.sidebar.button(t("login.logout", lang), key="wo_logout"):
            sessions.logout()
            st.rerun()
    nav.run()


main()
