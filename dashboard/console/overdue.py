"""Overdue tasks graded by how late and how bad, worst first; acknowledge and escalate.

A line of counts per grade, then one compact table of the rows still to see (acknowledged ones
fold away until they get worse; a switch shows them), at most :data:`MAX_ROWS`, coloured by
grade. A dispatcher picks a row to acknowledge it or escalate it to the duty chief (both
audited by the service, :mod:`incidents.service.overdue`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import ui, wording
from dashboard.actions import SessionUser, describe_error
from dashboard.console import reads, work_actions
from dashboard.i18n import fmt_duration, fmt_time, t
from incidents.errors import WinteropsError

__all__ = ["GRADE_STYLE", "MAX_ROWS", "overdue_panel"]

MAX_ROWS = 25
GRADE_STYLE = {
    "critical": "background-color: #b71c1c; color: #ffffff",
    "late": "background-color: #ffe0b2; color: #5d2a00",
    "watch": "background-color: #fff9c4; color: #3e3a00",
}


def _summary(frame: pd.DataFrame, lang: str) -> str:
    seen = frame[frame["acknowledged"]]
    shown = frame[~frame["acknowledged"]]
    n = {g: int((shown["grade"] == g).sum()) for g in ("critical", "late", "watch")}
    return t("cw.overdue_summary", lang, acked=len(seen), critical=n["critical"],
             late=n["late"], watch=n["watch"])


def _mark(row: Any, lang: str) -> str:
    if row.escalated:
        return t("cw.marked_esc", lang, who=row.marked_by)
    if row.acknowledged:
        return t("cw.marked_ack", lang, who=row.marked_by)
    return ""


def _table(rows: pd.DataFrame, lang: str) -> Any:
    grade_col = t("cw.col_grade", lang)
    table = pd.DataFrame({
        grade_col: [t(f"cw.grade.{g}", lang) for g in rows["grade"]],
        t("col.task", lang): rows["task_id"],
        t("col.kind", lang): [t(f"kind.{k}", lang, default=str(k)) for k in rows["task_kind"]],
        t("col.state", lang): [t(f"state.{s}", lang, default=t(f"task_status.{s}", lang))
                               for s in rows["stage"]],
        t("cw.col_late", lang): [fmt_duration(60 * m) for m in rows["late_min"]],
        t("col.people", lang): rows["people"],
        t("cw.col_why", lang): [", ".join(t(f"cw.why.{w}", lang) for w in why)
                                for why in rows["why"]],
        t("col.unit", lang): rows["unit_id"].fillna(""),
        wording.zoned(t("col.since", lang), lang): [fmt_time(v) for v in rows["since"]],
        t("cw.col_mark", lang): [_mark(r, lang) for r in rows.itertuples()],
    })
    styles = [GRADE_STYLE[g] for g in rows["grade"]]
    return table.style.apply(lambda _c: styles, subset=[grade_col])


def _mark_chosen(action: str, url: str, user: SessionUser, sel_key: str, note_key: str) -> None:
    lang = ui.lang()
    ui.touch()
    task = st.session_state.get(sel_key)
    if task is None:
        return
    note = str(st.session_state.get(note_key) or "") or None
    fn = work_actions.acknowledge if action == "ack" else work_actions.escalate
    try:
        fn(url, user, int(task), note)
    except (WinteropsError, ValueError) as exc:
        ui.flash(*describe_error(exc, lang))
    else:
        done = "cw.acknowledged" if action == "ack" else "cw.escalated"
        ui.flash("success", t(done, lang, task=int(task)))
        st.session_state.pop(sel_key, None)


def _controls(lang: str, url: str, user: SessionUser, rows: pd.DataFrame) -> None:
    by_task = {int(r.task_id): r for r in rows.itertuples()}
    sel_key, note_key = "wo_od_sel", "wo_od_note"
    c0, c1 = st.columns([3, 2], vertical_alignment="bottom")
    c0.selectbox(
        t("cw.overdue_pick", lang), options=list(by_task), index=None, key=sel_key,
        placeholder=t("cw.overdue_pick", lang),
        format_func=lambda i: t(
            "cw.overdue_task", lang, task=i,
            kind=t(f"kind.{by_task[i].task_kind}", lang, default=str(by_task[i].task_kind)),
            grade=t(f"cw.grade.{by_task[i].grade}", lang),
            late=fmt_duration(60 * float(by_task[i].late_min)),
        ),
    )
    c1.text_input(t("cw.note", lang), key=note_key, max_chars=500)
    chosen = st.session_state.get(sel_key) is None
    b0, b1 = st.columns(2)
    b0.button(t("cw.acknowledge", lang), key="wo_od_ack", disabled=chosen, width="stretch",
              on_click=_mark_chosen, args=("ack", url, user, sel_key, note_key))
    b1.button(t("cw.escalate", lang), key="wo_od_esc", disabled=chosen, width="stretch",
              on_click=_mark_chosen, args=("esc", url, user, sel_key, note_key))


def overdue_panel(lang: str, url: str, user: SessionUser) -> None:
    """Draw the graded overdue list with acknowledge / escalate for dispatchers."""
    frame = reads.overdue(url)
    if frame.empty:
        st.success(t("dispatch.no_overdue", lang))
        return
    st.markdown(_summary(frame, lang))  # the part's heading names it (dispatch page)
    n_acked = int(frame["acknowledged"].sum())
    show_acked = n_acked > 0 and st.toggle(t("cw.show_acked", lang, n=n_acked),
                                           key="wo_od_show_acked")
    rows = frame if show_acked else frame[~frame["acknowledged"]]
    if rows.empty:
        return
    st.dataframe(_table(rows.head(MAX_ROWS), lang), hide_index=True, width="stretch")
    if len(rows) > MAX_ROWS:
        st.caption(t("cw.overdue_more", lang, n=len(rows) - MAX_ROWS))
    if user.is_dispatcher:
        _controls(lang, url, user, rows.head(MAX_ROWS))
