"""Patrol page (tablet first, 820x1180): my unit's tasks and route, big status buttons,
report a hazard where I am, mark a hazard cleared, night mode.

A patrol lead sees and changes only their own unit; an admin picks a unit to look at.
"""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from dashboard import actions, data, geolocate, mapui, ui
from dashboard.escape import escape_markdown
from dashboard.i18n import fmt_duration, t
from incidents.errors import ConflictError, WinteropsError
from incidents.store.models import Role

REFRESH_S = 20
NEXT_STATES = {
    "confirmed": ("en_route", "on_scene", "cleared"),
    "en_route": ("on_scene", "cleared"),
    "on_scene": ("cleared",),
}
REPORTABLE = ("black_ice", "drifting_snow", "snow_packed", "poor_visibility", "closed")
NEARBY_KM = 60.0
_TAP = "wo_patrol_tap"
_DARK = "wo_patrol_dark"


def _act(done: str, fn: object, *args: object, **kwargs: object) -> None:
    lang = ui.lang()
    ui.touch()
    try:
        fn(*args, **kwargs)  # type: ignore[operator]
    except ConflictError as exc:
        ui.flash("warning", t("dispatch.conflict", lang, error=str(exc)))
    except PermissionError:
        ui.flash("error", t("patrol.not_yours", lang))
    except (WinteropsError, ValueError) as exc:
        ui.flash("error", t("dispatch.failed", lang, error=str(exc)))
    else:
        ui.flash("success", done)
    st.rerun()


def _my_unit(user: actions.SessionUser, lang: str) -> str | None:
    if user.role != Role.ADMIN.value:
        return user.unit_id
    units = data.units(ui.db_url())
    ids = list(units["id"]) if len(units) else []
    if not ids:
        return None
    return st.selectbox(t("col.unit", lang), ids, key="wo_patrol_admin_unit")


def _unit_row(unit_id: str) -> pd.Series | None:
    units = data.units(ui.db_url())
    if units.empty:
        return None
    rows = units[units["id"] == unit_id]
    return None if rows.empty else rows.iloc[0]


@st.fragment(run_every=REFRESH_S)
def tasks_panel(unit_id: str) -> None:
    """My unit's active assignments with one big button per next status."""
    lang, url, user = ui.lang(), ui.db_url(), ui.current_user()
    if user is None:
        return
    if ui.check_idle():
        st.rerun()
    st.markdown(f"### {escape_markdown(t('patrol.tasks', lang))}")
    mine = data.assignments(url, unit_id=unit_id)
    if mine.empty:
        st.info(t("patrol.no_tasks", lang))
        return
    now = pd.Timestamp(ui.clock())
    for row in mine.itertuples():
        with st.container(border=True):
            kind = t(f"kind.{row.task_kind}", lang, default=str(row.task_kind))
            state = t(f"state.{row.state}", lang, default=str(row.state))
            stamp = getattr(row, f"{row.state}_at", None)  # when the current stage began
            since = pd.Timestamp(stamp) if stamp is not None and pd.notna(stamp) else now
            st.markdown(
                f"**{escape_markdown(kind)}** · {t('col.task', lang)} {int(row.task_id)} · "
                f"{escape_markdown(state)} · {fmt_duration((now - since).total_seconds())}"
            )
            if pd.notna(row.eta_s):
                st.caption(f"{t('col.eta', lang)}: {round(float(row.eta_s) / 60)}")
            nexts = NEXT_STATES.get(str(row.state), ())
            cols = st.columns(max(1, len(nexts)))
            for col, new_state in zip(cols, nexts, strict=False):
                label = t(f"patrol.set_{new_state}", lang)
                if col.button(
                    label,
                    key=f"wo_st_{row.id}_{new_state}",
                    type="primary",
                    width="stretch",
                ):
                    _act(
                        t("patrol.status_set", lang, state=label),
                        actions.set_status,
                        url,
                        user,
                        int(row.id),
                        new_state,
                        int(row.version),
                    )


def report_panel(unit_id: str, tapped: dict[str, float] | None, dark: bool) -> None:
    """Report a hazard where I am (browser location), at the tapped point, or at the unit."""
    lang, url, user = ui.lang(), ui.db_url(), ui.current_user()
    if user is None:
        return
    st.markdown(f"### {escape_markdown(t('patrol.report', lang))}")
    here = geolocate.browser_location(
        "wo_patrol_gps",
        t("patrol.locate", lang),
        t("patrol.locate_failed", lang),
        t("patrol.locating", lang),
        dark=dark,
    )
    unit = _unit_row(unit_id)
    points: dict[str, tuple[float, float]] = {}
    if here:
        points["gps"] = (here["lon"], here["lat"])
    if tapped:
        points["tap"] = (float(tapped["lng"]), float(tapped["lat"]))
    if unit is not None and pd.notna(unit.get("lon")) and pd.notna(unit.get("lat")):
        points["unit"] = (float(unit["lon"]), float(unit["lat"]))
    if not points:
        st.info(t("patrol.no_point", lang))
        return
    labels = {"gps": "patrol.use_gps", "tap": "patrol.use_tap", "unit": "patrol.use_unit"}
    with st.form("wo_report_form", clear_on_submit=True):
        where = st.radio(
            t("patrol.use_tap", lang),
            list(points),
            horizontal=True,
            key="wo_report_where",
            format_func=lambda s: t(labels[s], lang),
            label_visibility="collapsed",
        )
        condition = st.selectbox(
            t("patrol.condition", lang),
            REPORTABLE,
            format_func=lambda c: t(f"condition.{c}", lang),
            key="wo_report_cond",
        )
        note = st.text_input(t("patrol.note", lang), max_chars=300, key="wo_report_note")
        sent = st.form_submit_button(
            t("patrol.submit_report", lang), type="primary", width="stretch"
        )
    st.caption(
        " · ".join(
            f"{t(labels[k], lang)}: {lat:.5f}, {lon:.5f}" for k, (lon, lat) in points.items()
        )
    )
    if sent:
        lon, lat = points.get(str(where), next(iter(points.values())))
        st.session_state.pop(_TAP, None)
        _act(
            t("patrol.reported", lang, id="✓"),
            actions.report_hazard,
            url,
            user,
            lon,
            lat,
            condition,
            note,
        )


def _km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    # haversine, for sorting nearby hazards only (display, not analysis)
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))


def hazards_panel(unit_id: str) -> None:
    """Open hazards near the unit, each with a big "mark cleared" button."""
    lang, url, user = ui.lang(), ui.db_url(), ui.current_user()
    if user is None:
        return
    st.markdown(f"### {escape_markdown(t('patrol.hazards', lang))}")
    frame = data.hazards_open(url)
    unit = _unit_row(unit_id)
    if frame.empty or unit is None or pd.isna(unit.get("lon")):
        st.info(t("common.none", lang))
        return
    frame = frame[frame["lon"].notna()].copy()
    frame["dist_km"] = [
        _km(float(unit["lon"]), float(unit["lat"]), x, y)
        for x, y in zip(frame["lon"], frame["lat"], strict=True)
    ]
    near = frame[frame["dist_km"] <= NEARBY_KM].sort_values("dist_km").head(6)
    if near.empty:
        st.info(t("common.none", lang))
        return
    for row in near.itertuples():
        c1, c2 = st.columns([3, 2])
        cond = t(f"condition.{row.condition}", lang, default=str(row.condition))
        km = f" K{float(row.km):.1f}" if pd.notna(row.km) else ""
        c1.text(f"#{row.id} {cond} · {row.road_code or ''}{km} · {row.dist_km:.0f} km")
        if c2.button(t("patrol.clear_hazard", lang), key=f"wo_clear_{row.id}", width="stretch"):
            _act(
                t("patrol.hazard_cleared", lang, id=int(row.id)),
                actions.clear_hazard,
                url,
                user,
                int(row.id),
                int(row.version),
            )


def render() -> None:
    """The patrol lead's tablet view."""
    lang, user = ui.lang(), ui.current_user()
    if user is None:
        return
    st.markdown(ui.BIG_BUTTONS_CSS, unsafe_allow_html=True)  # constant stylesheet, no data
    dark = st.toggle(t("patrol.dark", lang), key=_DARK)
    if dark:
        st.markdown(ui.DARK_CSS, unsafe_allow_html=True)  # constant stylesheet, no data
    ui.show_flash()
    unit_id = _my_unit(user, lang)
    if not unit_id:
        st.warning(t("patrol.no_unit", lang))
        return
    unit = _unit_row(unit_id)
    name = unit_id if unit is None else f"{unit_id} · {unit.get('name') or ''}"
    status = "" if unit is None else t(f"status.{unit.get('status')}", lang, default="")
    st.subheader(t("patrol.unit", lang, unit=escape_markdown(name)))
    if status:
        st.caption(escape_markdown(status))
    try:
        tasks_panel(unit_id)
        center = None
        if unit is not None and pd.notna(unit.get("lat")):
            center = (float(unit["lat"]), float(unit["lon"]))
        result = mapui.show_map(
            "patrol_map",
            unit_id=unit_id,
            dark=dark,
            height=460,
            center=center,
            zoom=9,
            returned=["last_clicked"],
            legend_open=False,
        )
        clicked = result.get("last_clicked")
        if isinstance(clicked, dict) and "lat" in clicked and "lng" in clicked:
            st.session_state[_TAP] = {"lat": float(clicked["lat"]), "lng": float(clicked["lng"])}
        report_panel(unit_id, st.session_state.get(_TAP), dark)
        hazards_panel(unit_id)
    except Exception as exc:  # noqa: BLE001 - a broken database shows a message, not a trace
        st.error(t("common.db_error", lang, error=escape_markdown(exc)))


render()
