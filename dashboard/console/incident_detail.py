"""One incident: why its reports are one (the merge log, translated), reports, tasks; merge, split.

:func:`incident_panel` draws it for a given incident id (a map click sets
``st.session_state[SELECTED]``, see :func:`select_incident`), or lets the dispatcher pick one.
Merge and split go through :mod:`incidents.service.incident_edit` (dispatchers and admins;
audited); their note is kept in the merge log.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import data, ui, wording
from dashboard.actions import SessionUser, describe_error
from dashboard.console import reads, work_actions
from dashboard.escape import escape_markdown
from dashboard.i18n import fmt_time, t
from incidents.errors import WinteropsError

__all__ = ["SELECTED", "incident_panel", "merge_line", "select_incident"]

SELECTED = "wo_incident_id"
"""Session-state key of the incident the panel shows (set it to show another)."""


def select_incident(incident_id: int | None) -> None:
    """Make the panel show `incident_id` on its next draw (None: let the dispatcher pick)."""
    st.session_state[SELECTED] = None if incident_id is None else int(incident_id)



def merge_line(entry: dict[str, Any], lang: str) -> str:
    """Return one merge-log entry as a sentence in `lang` (from its fields, not its English)."""
    rule = str(entry.get("rule") or "")
    kind = t(f"report_kind.{entry.get('kind')}", lang, default=str(entry.get("kind") or ""))
    vehicles = list(entry.get("vehicles") or [0, 0]) + [0, 0]
    reports = ", ".join(str(r) for r in entry.get("report_ids") or [])
    values = {
        "report": entry.get("report_id", ""), "kind": kind,
        "km": f"{float(entry.get('distance_m') or 0.0) / 1000.0:.1f}",
        "minutes": round(float(entry.get("minutes") or 0.0)), "a": vehicles[0], "b": vehicles[1],
        "by": entry.get("by", ""), "source": entry.get("from", ""), "reports": reports,
        "rule": rule,
    }
    key = f"cw.rule.{rule}" if f"cw.rule.{rule}" in _RULES else "cw.rule.other"
    line = t(key, lang, **values)
    if entry.get("note"):
        line += " · " + t("cw.rule_note", lang, note=entry["note"])
    return line


_RULES = frozenset(f"cw.rule.{r}" for r in (
    "new", "along_road", "nearby", "place_name", "manual_merge", "split", "split_out",
))


def _picker(lang: str, url: str) -> int | None:
    """Let the dispatcher pick an open incident; follow :data:`SELECTED` when it changes.

    A map click (or anything else) sets :data:`SELECTED`; the picker takes it over before it
    is drawn (a keyed widget keeps its own value otherwise).
    """
    open_incidents = data.incidents_open(url)
    rows = {int(r.id): r for r in open_incidents.itertuples()} if len(open_incidents) else {}
    state = st.session_state
    current = state.get(SELECTED)
    options = list(rows) if current is None or current in rows else [int(current), *rows]
    if not options:
        st.info(t("common.none", lang))
        return None
    if current != state.get(_SYNCED):  # selected from outside since the last draw
        state[_PICK] = None if current is None else int(current)
        state[_SYNCED] = current
    chosen = st.selectbox(
        t("cw.incident_pick", lang), options=options, key=_PICK, index=None,
        placeholder=t("cw.incident_pick", lang),
        format_func=lambda i: t(
            "cw.incident_line", lang, id=i,
            kind=t(f"kind.{rows[i].kind}", lang, default=str(rows[i].kind)),
            stake=wording.stake_text(rows[i].road_code, rows[i].km), people=int(rows[i].people or 0),
        ) if i in rows else f"#{i}",
    )
    state[SELECTED] = state[_SYNCED] = None if chosen is None else int(chosen)
    return None if chosen is None else int(chosen)


_PICK, _SYNCED = "wo_incident_pick", "wo_incident_synced"


def _head(inc: dict[str, Any], lang: str) -> None:
    st.markdown(escape_markdown(t(
        "cw.incident_head", lang, id=inc["id"],
        kind=t(f"kind.{inc['kind']}", lang, default=str(inc["kind"])),
        status=t(f"incident_status.{inc['status']}", lang, default=str(inc["status"])),
        stake=wording.stake_text(inc["road_code"], inc["km"]), people=inc["people"],
        vulnerable=inc["vulnerable"], priority=round(inc["priority"], 1),
    )))
    if inc["merged_into_id"]:
        st.caption(t("cw.merged_into", lang, id=inc["merged_into_id"]))
    if inc["merged_from"]:
        st.caption(t("cw.merged_from", lang, ids=", ".join(f"#{i}" for i in inc["merged_from"])))


def _why(inc: dict[str, Any], lang: str) -> None:
    st.markdown(f"**{t('cw.why_title', lang)}**")
    lines = [merge_line(e, lang) for e in inc["merge_log"]]
    st.markdown("\n".join(f"- {escape_markdown(x)}" for x in lines) or "—")


def _tables(inc: dict[str, Any], lang: str) -> None:
    reps = pd.DataFrame(inc["reports"])
    if len(reps):
        st.markdown(f"**{t('cw.reports', lang)}**")
        st.dataframe(pd.DataFrame({
            t("cw.col_report", lang): reps["id"],
            t("col.kind", lang): [t(f"report_kind.{k}", lang, default=str(k))
                                  for k in reps["kind"]],
            wording.zoned(t("cw.col_observed", lang), lang): [
                fmt_time(v) for v in reps["observed_at"]
            ],
            t("col.stake", lang): [wording.stake_text(r, k) for r, k in
                                   zip(reps["road_code"], reps["km"], strict=True)],
        }), hide_index=True, width="stretch")
    tasks = pd.DataFrame(inc["tasks"])
    if len(tasks):
        st.markdown(f"**{t('cw.tasks', lang)}**")
        st.dataframe(pd.DataFrame({
            t("col.task", lang): tasks["task_id"],
            t("col.kind", lang): [t(f"kind.{k}", lang, default=str(k)) for k in tasks["kind"]],
            t("col.state", lang): [_task_state(st_, a_st, lang) for st_, a_st in
                                   zip(tasks["status"], tasks["state"], strict=True)],
            t("col.unit", lang): tasks["unit_id"].fillna(""),
        }), hide_index=True, width="stretch")


def _task_state(status: object, assignment_state: object, lang: str) -> str:
    """Return the unit's stage on the task when it has one, else the task's status."""
    if assignment_state is not None and not pd.isna(assignment_state):  # type: ignore[call-overload]
        return t(f"state.{assignment_state}", lang, default=str(assignment_state))
    return t(f"task_status.{status}", lang, default=str(status))


def _run_edit(kind: str, url: str, region_dir: str, user: SessionUser, incident_id: int) -> None:
    """Button callback: merge the picked incident in, or split the picked reports out."""
    lang = ui.lang()
    ui.touch()
    note = str(st.session_state.get(_NOTE) or "").strip() or None
    try:
        if kind == "merge":
            other = st.session_state.get(_MERGE_SEL)
            if other is None:
                return
            work_actions.merge(url, region_dir, user, incident_id, int(other), note)
            ui.flash("success", t("cw.merged", lang, other=int(other), keep=incident_id))
        else:
            chosen = [int(r) for r in st.session_state.get(_SPLIT_SEL) or []]
            new = work_actions.split(url, region_dir, user, incident_id, chosen, note)
            ui.flash("success", t("cw.split_done", lang, new=new))
            select_incident(new)
    except (WinteropsError, ValueError) as exc:
        ui.flash(*describe_error(exc, lang))
        return
    for key in (_NOTE, _MERGE_SEL, _SPLIT_SEL):
        st.session_state.pop(key, None)


_NOTE, _MERGE_SEL, _SPLIT_SEL = "wo_inc_note", "wo_inc_merge_sel", "wo_inc_split_sel"


def _merge_controls(lang: str, url: str, user: SessionUser, inc: dict[str, Any]) -> None:
    partners = reads.partners(url, int(inc["id"]))
    if partners.empty:
        return
    rows = {int(r.id): r for r in partners.itertuples()}
    st.markdown(f"**{t('cw.merge_title', lang)}**")
    c0, c1 = st.columns([3, 1], vertical_alignment="bottom")
    other = c0.selectbox(
        t("cw.merge_pick", lang), options=list(rows), index=None, key=_MERGE_SEL,
        placeholder=t("cw.merge_pick", lang),
        format_func=lambda i: t(
            "cw.incident_line", lang, id=i,
            kind=t(f"kind.{rows[i].kind}", lang, default=str(rows[i].kind)),
            stake=wording.stake_text(rows[i].road_code, rows[i].km), people=int(rows[i].people),
        ),
    )
    region_dir = str(ui.settings().region_dir)
    c1.button(t("cw.merge_btn", lang), key="wo_inc_merge_btn", disabled=other is None,
              width="stretch", on_click=_run_edit,
              args=("merge", url, region_dir, user, int(inc["id"])))


def _split_controls(lang: str, url: str, user: SessionUser, inc: dict[str, Any]) -> None:
    if len(inc["report_ids"]) < 2:
        return
    reps = {int(r["id"]): r for r in inc["reports"]}
    st.markdown(f"**{t('cw.split_title', lang)}**")
    c0, c1 = st.columns([3, 1], vertical_alignment="bottom")
    chosen = c0.multiselect(
        t("cw.split_pick", lang), options=list(reps), key=_SPLIT_SEL,
        format_func=lambda i: t(
            "cw.report_line", lang, id=i,
            kind=t(f"report_kind.{reps[i]['kind']}", lang, default=str(reps[i]["kind"])),
            time=fmt_time(reps[i]["observed_at"]),
        ),
    )
    region_dir = str(ui.settings().region_dir)
    c1.button(t("cw.split_btn", lang), key="wo_inc_split_btn",
              disabled=not chosen or len(chosen) >= len(reps), width="stretch",
              on_click=_run_edit, args=("split", url, region_dir, user, int(inc["id"])))


def incident_panel(lang: str, url: str, user: SessionUser, incident_id: int | None = None) -> None:
    """Draw incident `incident_id` (or the one selected / picked) with merge and split."""
    if incident_id is None:
        incident_id = _picker(lang, url)
    if incident_id is None:
        return
    inc = reads.incident(url, int(incident_id))
    if inc is None:
        st.warning(t("cw.incident_missing", lang, id=incident_id))
        return
    _head(inc, lang)
    _why(inc, lang)
    _tables(inc, lang)
    if not user.is_dispatcher or inc["status"] != "open":
        return
    st.text_input(t("cw.note", lang), key=_NOTE, max_chars=500)
    _merge_controls(lang, url, user, inc)
    _split_controls(lang, url, user, inc)
