"""winterops dashboard entry point: ``streamlit run dashboard/app.py`` (``winterops serve``).

A log-in gate, then the pages the user's role may see (``st.navigation``):

* dispatcher: Dispatch, Feeds, Review
* patrol lead: Patrol (their own unit only)
* admin: every page, and Admin

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

from dashboard import assets, ui  # noqa: E402
from dashboard.i18n import t  # noqa: E402
from incidents.models import Role  # noqa: E402

HERE = Path(__file__).resolve().parent


@st.cache_resource(show_spinner=False)
def _static_ready() -> str:
    """Copy the vendor files once per server process."""
    return str(assets.ensure_static())


def _pages(role: str, lang: str) -> list[StreamlitPage]:
    def page(name: str, icon: str, default: bool = False) -> StreamlitPage:
        return st.Page(
            str(HERE / "app_pages" / f"{name}.py"),
            title=t(f"page.{name}", lang),
            icon=icon,
            url_path=name,
            default=default,
        )

    if role == Role.PATROL_LEAD.value:
        return [page("patrol", ":material/local_shipping:", default=True)]
    pages = [
        page("dispatch", ":material/map:", default=True),
        page("feeds", ":material/rss_feed:"),
        page("review", ":material/insights:"),
    ]
    if role == Role.ADMIN.value:
        pages.insert(1, page("patrol", ":material/local_shipping:"))
        pages.append(page("admin", ":material/admin_panel_settings:"))
    return pages


def main() -> None:
    """Build the navigation for this session and run the chosen page."""
    st.set_page_config(page_title="winterops", page_icon=":material/ac_unit:", layout="wide")
    _static_ready()
    ui.settings()
    lang = ui.language_selector()
    ui.check_idle()
    user = ui.current_user()
    if user is None:
        nav = st.navigation(
            [
                st.Page(
                    str(HERE / "app_pages" / "login.py"),
                    title=t("page.login", lang),
                    icon=":material/login:",
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
        if st.sidebar.button(t("login.logout", lang), key="wo_logout"):
            ui.logout()
            st.rerun()
        nav = st.navigation(_pages(user.role, lang))
    nav.run()


main()
