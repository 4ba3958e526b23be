"""The override chooser of a recommendation card: another unit, with class, ETA and a reason.

The chooser opens on a toggle (its ETAs are computed only then). It offers the free units
with the task's capability, each with its vehicle class (translated), ETA to this task and
fuel; a unit recommended for another task is marked so and listed after the others; units out
on a task are not offered (reassign them instead) and the nearest are named below.
The reason is required (the service refuses an empty one too, code ``reason_required``); the
message after says "overridden".
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import ui
from dashboard.actions import SessionUser, describe_error
from dashboard.console import reads, work_actions
from dashboard.escape import escape_markdown
from dashboard.i18n import t
from incidents.errors import WinteropsError

__all__ = ["MAX_HELD", "candidate_label", "override_chooser"]

MAX_HELD = 6
"""Busy capable units named under the chooser (the nearest; the rest counted)."""


def _pct(fuel: object) -> str:
    try:
        return f"{float(fuel):.0%}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "—"


def candidate_label(row: Any, lang: str) -> str:
    """Return one candidate as a line: unit, class, ETA to the task, fuel."""
    cls = t(f"vehicle_class.{row.vehicle_class}", lang, default=str(row.vehicle_class))
    eta = float(row.eta_s) if row.eta_s is not None else math.nan
    if math.isnan(eta):
        line = t("cw.candidate_no_eta", lang, unit=row.unit_id, cls=cls, fuel=_pct(row.fuel))
    else:
        line = t("cw.candidate", lang, unit=row.unit_id, cls=cls, eta=round(eta / 60.0),
                 fuel=_pct(row.fuel))
    rec = row.recommended_for
    if rec is not None and not pd.isna(rec):
        line += " · " + t("cw.candidate_rec", lang, task=int(rec))
    return line


def _held_note(held: pd.DataFrame, lang: str) -> str:
    """Name the capable units out on a task (not offered: reassign them instead), nearest first."""
    names = [
        t("cw.busy_unit", lang, unit=r.unit_id,
          status=t(f"status.{r.status}", lang, default=str(r.status)))
        for r in held.head(MAX_HELD).itertuples()
    ]
    if len(held) > MAX_HELD:
        names.append(t("cw.more", lang, n=len(held) - MAX_HELD))
    return t("cw.held_elsewhere", lang, units=", ".join(names))


def _send(url: str, user: SessionUser, task_id: int, recommended: str, sel_key: str,
          reason_key: str, eta_of: dict[str, float]) -> None:
    """Button callback: send the chosen unit with the reason typed (refused when empty)."""
    lang = ui.lang()
    ui.touch()
    unit = st.session_state.get(sel_key)
    reason = str(st.session_state.get(reason_key) or "").strip()
    if unit is None:
        return
    if not reason:
        ui.flash("warning", t("cw.override_need_reason", lang))
        return
    try:
        eta = eta_of.get(str(unit))
        work_actions.override(url, user, task_id, str(unit), recommended, reason,
                              None if eta is None or math.isnan(eta) else eta)
    except (WinteropsError, ValueError) as exc:
        ui.flash(*describe_error(exc, lang))
    else:
        ui.flash("success", t("cw.override_done", lang, unit=unit, task=task_id,
                              recommended=recommended))


def override_chooser(
    lang: str, url: str, user: SessionUser, rec: Any, toggle_in: Any = None
) -> None:
    """Draw the override chooser of recommendation `rec` (a row with task_id, unit_id).

    Nothing for a read-only user. The candidates show only once the toggle is on; the toggle
    is drawn in `toggle_in` (a column of the card's button row) when given, the chooser below.
    """
    if user.read_only or not user.is_dispatcher:
        return
    task_id, recommended = int(rec.task_id), str(rec.unit_id)
    key = f"{task_id}_{recommended}"
    slot = st if toggle_in is None else toggle_in
    if not slot.toggle(t("cw.override_open", lang), key=f"wo_ovr_open_{key}"):
        return
    frame = reads.candidates(url, str(ui.settings().region_dir), task_id, recommended)
    free = frame[frame["selectable"]] if len(frame) else frame
    held = frame[~frame["selectable"]] if len(frame) else frame
    if free.empty:
        st.info(t("cw.override_none", lang))
    else:
        rows = {str(r.unit_id): r for r in free.itertuples()}
        sel_key, reason_key = f"wo_ovr_sel_{key}", f"wo_ovr_reason_{key}"
        unit = st.selectbox(t("cw.override_unit", lang), options=list(rows), index=None,
                            key=sel_key, format_func=lambda u: candidate_label(rows[u], lang),
                            placeholder=t("cw.override_unit", lang))
        if unit is not None:
            caps = ", ".join(t(f"kind.{c}", lang, default=str(c))
                             for c in rows[unit].capabilities)
            st.caption(escape_markdown(t("cw.fits", lang, caps=caps)))
        st.text_input(t("cw.override_reason", lang), key=reason_key, max_chars=500,
                      placeholder=t("cw.override_reason_hint", lang))
        eta_of = {u: float(r.eta_s) for u, r in rows.items()}
        st.button(t("cw.override_send", lang), key=f"wo_ovr_{key}",
                  disabled=unit is None, on_click=_send,
                  args=(url, user, task_id, recommended, sel_key, reason_key, eta_of))
    if not held.empty:
        st.caption(escape_markdown(_held_note(held, lang)))
