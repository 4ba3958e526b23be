"""Unit readiness: every unit with status, fuel and crew hours; dispatchers change them.

A compact table (fuel as a share of the tank, crew hours against the limit); below it, for a
dispatcher or admin, one form: pick a unit, take it out of service (a reason is required) or
back in, set fuel and crew hours. The write is :func:`incidents.service.units.set_readiness`
(role-checked, versioned, audited).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import ui
from dashboard.actions import SessionUser, describe_error
from dashboard.console import reads, work_actions
from dashboard.escape import escape_markdown
from dashboard.i18n import t
from incidents.errors import WinteropsError

__all__ = ["LOW_FUEL", "units_panel"]

LOW_FUEL = 0.25
"""Fuel share under which a unit is named in the low-fuel line."""
_SEL, _SERVICE, _FUEL, _CREW, _REASON = (
    "wo_ur_sel", "wo_ur_service", "wo_ur_fuel", "wo_ur_crew", "wo_ur_reason",
)


def _table(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    return pd.DataFrame({
        t("col.unit", lang): frame["id"],
        t("col.name", lang): frame["name"],
        t("col.vehicle", lang): [t(f"vehicle_class.{c}", lang, default=str(c))
                                 for c in frame["vehicle_class"]],
        t("col.status", lang): [t(f"status.{s}", lang, default=str(s)) for s in frame["status"]],
        t("cw.col_fuel", lang): [f"{float(f):.0%}" for f in frame["fuel"]],
        t("cw.col_crew", lang): [f"{float(h):.1f} / {float(lim):g}" for h, lim in
                                 zip(frame["crew_hours"], frame["crew_hour_limit"], strict=True)],
    })


def _save(url: str, user: SessionUser, unit: str, was: dict[str, float], version: int) -> None:
    """Form callback: write the changes the dispatcher made to `unit` (only what changed)."""
    lang = ui.lang()
    ui.touch()
    state = st.session_state
    fuel = float(state.get(f"{_FUEL}_{unit}", was["fuel"] * 100)) / 100.0
    crew = float(state.get(f"{_CREW}_{unit}", was["crew_hours"]))
    service = state.get(f"{_SERVICE}_{unit}", "keep")
    changes: dict[str, object] = {
        "reason": str(state.get(f"{_REASON}_{unit}") or "").strip() or None,
        "expected_version": version,
    }
    if abs(fuel - was["fuel"]) > 1e-6:
        changes["fuel"] = fuel
    if abs(crew - was["crew_hours"]) > 1e-6:
        changes["crew_hours"] = crew
    if service != "keep":
        changes["in_service"] = service == "back"
    try:
        work_actions.set_readiness(url, user, str(unit), **changes)
    except (WinteropsError, ValueError) as exc:
        ui.flash(*describe_error(exc, lang))
    else:
        ui.flash("success", t("cw.readiness_saved", lang, unit=unit))


def _editor(lang: str, url: str, user: SessionUser, frame: pd.DataFrame) -> None:
    rows = {str(r.id): r for r in frame.itertuples()}
    unit = st.selectbox(t("cw.readiness_pick", lang), options=list(rows), index=None, key=_SEL,
                        placeholder=t("cw.readiness_pick", lang),
                        format_func=lambda u: f"{u} · {rows[u].name}")
    if unit is None:
        return
    row = rows[unit]
    with st.form(f"wo_ur_form_{unit}", border=True):
        st.radio(t("cw.service", lang), options=["keep", "out", "back"], key=f"{_SERVICE}_{unit}",
                 horizontal=True, format_func=lambda o: t(f"cw.service_{o}", lang))
        c0, c1 = st.columns(2)
        c0.slider(t("cw.fuel_pct", lang), 0, 100, int(round(float(row.fuel) * 100)), step=5,
                  key=f"{_FUEL}_{unit}")
        c1.number_input(t("cw.crew_hours", lang), min_value=0.0, max_value=48.0, step=0.5,
                        value=float(row.crew_hours), key=f"{_CREW}_{unit}")
        st.text_input(t("cw.readiness_reason", lang), key=f"{_REASON}_{unit}", max_chars=500)
        was = {"fuel": float(row.fuel), "crew_hours": float(row.crew_hours)}
        st.form_submit_button(t("cw.readiness_save", lang), on_click=_save,
                              args=(url, user, unit, was, int(row.version)))


def units_panel(lang: str, url: str, user: SessionUser) -> None:
    """Draw every unit's readiness; the change form for dispatchers and admins."""
    frame = reads.readiness(url)
    if frame.empty:
        st.info(t("common.none", lang))
        return
    low = frame[frame["fuel"] < LOW_FUEL]
    if len(low):
        st.warning(escape_markdown(t("cw.fuel_low", lang, units=", ".join(low["id"]))))
    st.dataframe(_table(frame, lang), hide_index=True, width="stretch", height=300)
    if user.is_dispatcher:
        _editor(lang, url, user, frame)
    else:
        st.caption(t("cw.readiness_only_dispatch", lang))
