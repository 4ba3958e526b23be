"""Dispatch page: the map, the incident queue, recommendations to confirm, the clocks.

Each part is a keyed fragment that says which change topics it shows (:func:`live.part`);
the :func:`live.watcher` reruns only the parts whose topics changed (another dispatcher, a
patrol tablet, the worker), within about a second. No part reruns on a blind timer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import actions, data, live, mapui, ui, wording
from dashboard.console import incident_detail as console_incident
from dashboard.console import overdue as console_overdue
from dashboard.console import override as console_override
from dashboard.console import units as console_units
from dashboard.escape import escape_markdown
from dashboard.i18n import fmt_duration, fmt_time, t
from incidents.errors import ConflictError, NotFoundError, WinteropsError

STRIP_TOPICS = ("feeds", "hazards", "incidents", "settings", "tasks", "tick", "units")
MAX_RECS = 6
MAX_HAND = 12  # one-click hand-over buttons shown (oldest open hazards first)
# the queue table: as tall as the window leaves under the figures and tabs; column widths in px
# (id, priority, incident, people, exposure, first report; the notes take the rest)
QUEUE_MIN_PX, QUEUE_MARGIN_PX = 320, 330
_PICKED = "wo_map_picked"  # the last map selection acted on
QUEUE_WIDTHS = (48, 64, 206, 104, 100, 128, None)


def _label(prefix: str, value: object, lang: str) -> str:
    return t(f"{prefix}.{value}", lang, default=str(value)) if value else ""



def _do(action: str, fn: object, *args: object, **kwargs: object) -> None:
    """Run an action and keep a translated message for the next run.

    No raw error text for a lost race: the card it came from is simply gone.
    """
    lang = ui.lang()
    ui.touch()
    try:
        fn(*args, **kwargs)  # type: ignore[operator]
    except (ConflictError, NotFoundError):
        ui.flash("warning", t("dispatch.conflict", lang))
        data.invalidate()
    except (WinteropsError, ValueError) as exc:
        ui.flash("error", t("dispatch.failed", lang, error=str(exc)))
    else:
        ui.flash("success", action)


def _run(action: str, fn: object, *args: object, **kwargs: object) -> None:
    """Run an action from a part's body, then redraw that part (the message shows in it).

    The other parts whose data changed follow through the change counters
    (:mod:`dashboard.live`). A whole-page rerun here would race the watcher's keyed part reruns.
    """
    _do(action, fn, *args, **kwargs)
    st.rerun(scope="fragment" if live.in_part_run() else "app")


def _on_click(action: str, fn: object, *args: object, **kwargs: object) -> None:
    """Handle a button click, even when its card is gone at the next run.

    The recommendation may have been retired meanwhile. No rerun here (Streamlit ignores one in a
    callback): the click reruns the part it sits in, where the card is gone and the message
    shows; the figures and the map follow through the change counters.
    """
    _do(action, fn, *args, **kwargs)


@st.fragment(key="wo_strip")
def status_strip() -> None:
    """Stale-feed banner and the headline figures (rerun by the watcher)."""
    lang, url, settings = ui.lang(), ui.db_url(), ui.settings()
    live.part("wo_strip", STRIP_TOPICS, url)
    now = ui.clock()
    stale = data.stale_feeds(url, now)
    if stale:
        st.warning(t("dispatch.stale", lang, feeds=escape_markdown(", ".join(stale))))
    incidents = data.incidents_open(url)
    units = data.units(url)
    tasks = data.tasks_open(url)
    cover = data.coverage(url, settings)
    cols = st.columns(5)
    cols[0].metric(t("dispatch.open_incidents", lang), len(incidents))
    people = int(incidents["people"].fillna(0).sum()) if len(incidents) else 0
    cols[1].metric(t("dispatch.people", lang), people)
    free = int((units["status"] == "available").sum()) if len(units) else 0
    cols[2].metric(t("dispatch.free_units", lang), free)
    open_tasks = int((tasks["status"] == "open").sum()) if len(tasks) else 0
    cols[3].metric(t("dispatch.open_tasks", lang), open_tasks)
    cols[4].metric(
        t("dispatch.coverage", lang, minutes=int(settings.coverage_minutes)),
        "—" if cover is None else f"{cover:.0%}",
    )
    worker_line(lang, url)
    ui.refreshed_caption(now)


def worker_line(lang: str, url: str) -> None:
    """Whether a ``winterops worker`` is alive (its heartbeat), and when it last cycled."""
    alive = data.workers(url)
    if not alive:
        st.warning(t("dispatch.worker_none", lang))
        return
    stamps = [pd.to_datetime(w.get("at"), utc=True, errors="coerce") for w in alive]
    known = [x for x in stamps if not pd.isna(x)]
    last = wording.zoned(fmt_time(max(known)), lang) if known else "—"  # with its zone
    st.caption(t("dispatch.worker_ok", lang, n=len(alive), time=last))


@st.fragment(key="wo_map")
def situation_map() -> None:
    """Draw the map; a change swaps only the live layers.

    The view and the layer choices the dispatcher made are kept (:func:`mapui.show_map` with
    ``remember``).
    """
    live.part("wo_map", data.MAP_TOPICS, ui.db_url())
    height = ui.map_height(ui.last_viewport()[1])  # as tall as the window
    # st_folium sizes its map once: a window of another height gets a map of its own
    desk = height == ui.map_height(ui.DEFAULT_VIEWPORT[1])
    key = "dispatch_map" if desk else f"dispatch_map_{height}"
    result = mapui.show_map(key, height=height, remember=True, dark=ui.night(), select=True)
    _open_picked(mapui.selected(result))


def _open_picked(picked: mapui.MapSelection | None) -> None:
    """Open the incident clicked on the map in the incident panel (once per new click).

    The panel (:mod:`dashboard.console.incident_detail`) sits in the queue tab; the page is
    redrawn so it shows the incident, and a toast says where it is. The same selection is
    reported again on every later run: only a new one acts.
    """
    if picked is None or picked.kind != "incident":
        return
    if st.session_state.get(_PICKED) == picked:
        return
    st.session_state[_PICKED] = picked
    try:
        incident_id = int(picked.id)
    except ValueError:
        return
    console_incident.select_incident(incident_id)
    st.toast(t("look.map_picked", ui.lang(), id=incident_id))
    st.rerun(scope="app")


def incident_queue(lang: str, url: str) -> None:
    """Open incidents by priority, each with its cold-exposure clock."""
    incidents = data.incidents_open(url)
    if incidents.empty:
        st.info(t("common.none", lang))
        return
    now = pd.Timestamp(ui.clock())
    first = pd.to_datetime(incidents["first_report_at"], utc=True)
    exposed = incidents["people"].fillna(0) > 0
    exposure = (now - first).dt.total_seconds().where(exposed)
    event, notes = t("look.col.event", lang), t("col.notes", lang)
    first = wording.zoned(t("look.col.first", lang), lang)
    table = pd.DataFrame(
        {
            t("col.id", lang): incidents["id"],
            t("col.priority", lang): incidents["priority"].round(1),
            event: wording.incident_titles(incidents, lang, counts=False),
            t("look.col.people", lang): [
                _people(p, v) for p, v in zip(incidents["people"], incidents["vulnerable"],
                                              strict=True)
            ],
            t("col.exposure", lang): [fmt_duration(s) for s in exposure],
            first: [fmt_time(v) for v in incidents["first_report_at"]],
            notes: incidents["notes"].fillna(""),
        }
    )
    widths = dict(zip(table.columns, QUEUE_WIDTHS, strict=True))
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        height=max(QUEUE_MIN_PX, ui.last_viewport()[1] - QUEUE_MARGIN_PX),
        column_config={
            name: st.column_config.Column(width=w) for name, w in widths.items() if w
        },
    )


def _people(people: object, vulnerable: object) -> str:
    """Return "12 (2)": people stranded and, in brackets, how many of them vulnerable."""
    def whole(v: object) -> int:
        return 0 if v is None or pd.isna(v) else int(v)  # type: ignore[call-overload]

    n, weak = whole(people), whole(vulnerable)
    return f"{n} ({weak})" if weak else str(n)


def recommendations(lang: str, url: str, user: actions.SessionUser) -> None:
    """Recommended assignments with their reasons and one-click confirm / override."""
    recs = data.recommendations(url, ui.settings())
    if recs.empty:
        st.info(t("dispatch.no_recs", lang))
        return
    units = data.units(url)
    free = units[units["status"] == "available"] if len(units) else units
    for rec in recs.head(MAX_RECS).itertuples():
        # a keyed card: when it goes (confirmed, retired), its buttons go with it instead of
        # being left behind in the card that moves up into its place
        with st.container(border=True, key=f"wo_card_{int(rec.task_id)}_{rec.unit_id}"):
            eta_min = round(float(rec.eta_s) / 60.0)
            st.markdown(
                f"**{escape_markdown(_label('kind', rec.task_kind, lang))}** · "
                f"{t('col.task', lang)} {int(rec.task_id)} → "
                f"**{escape_markdown(rec.unit_id)}** · {t('look.eta_min', lang, eta=eta_min)}"
            )
            reason_zh = str(getattr(rec, "reason_zh", "") or "")
            reason = reason_zh if lang == "zh" and reason_zh else str(rec.reason)
            reason = wording.reason_words(reason, lang)  # "(patrol_car, ...)" as words
            runner = getattr(rec, "runner_up", None)
            if isinstance(runner, dict) and runner.get("unit_id"):
                eta = round(float(runner["eta_s"]) / 60.0)
                reason += " · " + t("look.runner_up", lang, unit=runner["unit_id"], eta=eta)
            st.caption(escape_markdown(reason))
            _card_buttons(lang, url, user, rec, free)


def _card_buttons(
    lang: str, url: str, user: actions.SessionUser, rec: Any, free: pd.DataFrame
) -> None:
    """Draw the confirm and override controls of one recommendation card.

    They are button callbacks, so a click is handled even when the card is retired before the
    next run.
    """
    if user.read_only:  # a wall display watches only (the services refuse it too)
        return
    task_id, unit_id = int(rec.task_id), str(rec.unit_id)
    key = f"{task_id}_{unit_id}"
    done = t("dispatch.confirmed", lang, unit=unit_id, task=task_id)
    replaces = getattr(rec, "replaces_assignment_id", None)
    if getattr(rec, "action", "assign") == "reassign" and pd.notna(replaces):
        fn: object = actions.move_and_confirm
        args: tuple[object, ...] = (url, user, task_id, unit_id, int(replaces))  # type: ignore[arg-type]
        kwargs: dict[str, object] = {"eta_s": float(rec.eta_s)}
    else:
        fn, args = actions.confirm, (url, user, task_id, unit_id)
        kwargs = {"eta_s": float(rec.eta_s), "explanation": {"reason": rec.reason}}
    c0, c1 = st.columns([2, 6], vertical_alignment="bottom")  # one row per card
    c0.button(t("dispatch.confirm", lang), key=f"wo_conf_{key}", type="primary",
              on_click=_on_click, args=(done, fn, *args), kwargs=kwargs, width="stretch")
    # another unit, with class, ETA and a required reason (dashboard.console.override)
    console_override.override_chooser(lang, url, user, rec, toggle_in=c1)


def active_assignments(lang: str, url: str, user: actions.SessionUser) -> None:
    """Active assignments as a table, and one reassign / cancel control for any of them."""
    active = data.assignments(url)
    if active.empty:
        st.info(t("common.none", lang))
        return
    now = pd.Timestamp(ui.clock())
    since = pd.to_datetime(active["confirmed_at"], utc=True)
    table = pd.DataFrame(
        {
            "#": active["id"],
            t("col.unit", lang): active["unit_id"],
            t("col.task", lang): active["task_id"],
            t("col.kind", lang): [_label("kind", k, lang) for k in active["task_kind"]],
            t("col.state", lang): [_label("state", x, lang) for x in active["state"]],
            t("col.eta", lang): (active["eta_s"] / 60).round(0),
            t("col.age", lang): [fmt_duration(x) for x in (now - since).dt.total_seconds()],
        }
    )
    st.dataframe(table, hide_index=True, width="stretch", height=260)
    if user.read_only:  # a wall display watches only (the services refuse it too)
        return
    units = data.units(url)
    free_ids = list(units.loc[units["status"] == "available", "id"]) if len(units) else []
    rows = {int(r.id): r for r in active.itertuples()}
    c0, c1 = st.columns(2)
    chosen = c0.selectbox(
        "#",
        options=list(rows),
        index=None,
        key="wo_active_sel",
        format_func=lambda i: f"#{i} {rows[i].unit_id} → {t('col.task', lang)} {rows[i].task_id}",
        placeholder=t("dispatch.active", lang),
        label_visibility="collapsed",
    )
    new_unit = c1.selectbox(
        t("dispatch.reassign", lang),
        options=free_ids,
        index=None,
        key="wo_re_sel",
        label_visibility="collapsed",
        placeholder=t("dispatch.override_unit", lang),
    )
    c2, c3 = st.columns(2)
    if c2.button(
        t("dispatch.reassign", lang),
        key="wo_re_btn",
        disabled=chosen is None or new_unit is None,
        width="stretch",
    ):
        row = rows[int(chosen)]  # type: ignore[arg-type]
        _run(
            t("dispatch.confirmed", lang, unit=new_unit, task=row.task_id),
            actions.reassign,
            url,
            user,
            int(row.id),
            str(new_unit),
            int(row.version),
        )
    if c3.button(
        t("dispatch.cancel", lang), key="wo_cancel_btn", disabled=chosen is None, width="stretch"
    ):
        row = rows[int(chosen)]  # type: ignore[arg-type]
        _run(t("dispatch.cancel", lang), actions.cancel, url, user, int(row.id), int(row.version))


def overdue_tasks(lang: str, url: str, user: actions.SessionUser) -> None:
    """Overdue tasks graded worst first, with acknowledge / escalate (dashboard.console.overdue)."""
    console_overdue.overdue_panel(lang, url, user)


def hazards(lang: str, url: str, user: actions.SessionUser) -> None:
    """Show the open hazards by age, with state (open / handed over, to whom, when), road chief.

    A dispatcher gets one "hand to road chief" button per hazard not yet handed over.
    """
    frame = data.hazards_by_age(url)
    if frame.empty:
        st.info(t("common.none", lang))
        return
    table = pd.DataFrame(
        {
            t("col.id", lang): frame["hazard_id"],
            t("col.condition", lang): [_label("condition", c, lang) for c in frame["condition"]],
            t("col.stake", lang): [
                wording.stake_text(r, k) for r, k in zip(frame["road_code"], frame["km"], strict=True)
            ],
            t("col.age", lang): [fmt_duration(h * 3600) for h in frame["age_h"]],
            t("col.state", lang): [_label("hstate", x, lang) for x in frame["state"]],
            t("col.road_chief", lang): frame["road_chief"].fillna(""),
            t("col.phone", lang): frame["road_chief_phone"].fillna(""),
            t("col.handed_at", lang): [
                "" if v is None or pd.isna(v) else fmt_time(v) for v in frame["handed_at"]
            ],
        }
    )
    st.dataframe(table, hide_index=True, width="stretch", height=300)
    if not user.is_dispatcher:
        return
    still_open = frame[frame["state"] == "open"]
    for row in still_open.head(MAX_HAND).itertuples():
        hazard_id = int(row.hazard_id)
        c0, c1 = st.columns([3, 2], vertical_alignment="center")
        c0.caption(
            escape_markdown(
                f"#{hazard_id} · {_label('condition', row.condition, lang)} · "
                f"{wording.stake_text(row.road_code, row.km)} · {fmt_duration(float(row.age_h) * 3600)}"
            )
        )
        if c1.button(t("dispatch.hand_over", lang), key=f"wo_hand_{hazard_id}", width="stretch"):
            _run(
                t("dispatch.handed_over", lang, id=hazard_id),
                actions.hand_to_road_chief,
                url,
                user,
                hazard_id,
                int(row.version),
            )
    if len(still_open) > MAX_HAND:
        st.caption(t("dispatch.hand_more", lang, n=len(still_open) - MAX_HAND))


def staging(lang: str, url: str) -> None:
    """Staging suggestions: free units to move to duty points ahead of a forecast onset."""
    try:
        frame = data.staging(url, ui.settings())
    except Exception as exc:  # noqa: BLE001 - the rest of the panel still shows
        st.warning(t("dispatch.staging_failed", lang, error=escape_markdown(exc)))
        return
    if frame.empty:
        st.info(t("dispatch.no_staging", lang))
        return
    reasons = frame["reason_zh"] if lang == "zh" else frame["reason"]
    table = pd.DataFrame(
        {
            t("col.unit", lang): frame["unit_id"],
            t("col.duty_point", lang): frame["duty_point_name"],
            t("col.eta", lang): (frame["eta_s"] / 60).round(0),
            t("col.covered_km", lang): frame["covered_km"].round(1),
            t("col.reason", lang): reasons,
        }
    )
    st.dataframe(table, hide_index=True, width="stretch")


PANELS: dict[str, tuple[str, ...]] = {
    "wo_recs": data.REC_TOPICS,
    "wo_queue": ("incidents", "settings", "tick"),
    "wo_active": ("assignments", "settings", "tasks", "tick", "units"),
    "wo_overdue": ("assignments", "incidents", "settings", "tasks", "tick"),
    "wo_incident": ("assignments", "incidents", "tasks"),
    "wo_units": ("units",),
    "wo_hazards": ("hazards", "settings", "tick"),
    "wo_staging": ("alerts", "hazards", "settings", "units"),
}


def _panel(key: str, draw: Callable[[str, str, actions.SessionUser], None]) -> None:
    lang, url, user = ui.lang(), ui.db_url(), ui.current_user()
    if user is None:
        return
    live.part(key, PANELS[key], url)
    ui.show_flash()  # the outcome of an action taken in this part (it reran alone)
    draw(lang, url, user)


@st.fragment(key="wo_recs")
def recs_panel() -> None:
    """Recommendations to confirm (rerun when tasks, assignments or units change)."""
    _panel("wo_recs", recommendations)


@st.fragment(key="wo_queue")
def queue_panel() -> None:
    """Show the incident queue with the cold-exposure clocks."""
    _panel("wo_queue", lambda lang, url, _user: incident_queue(lang, url))


@st.fragment(key="wo_active")
def active_panel() -> None:
    """Active assignments with reassign / cancel."""
    _panel("wo_active", active_assignments)


@st.fragment(key="wo_overdue")
def overdue_panel() -> None:
    """Overdue tasks."""
    _panel("wo_overdue", overdue_tasks)


@st.fragment(key="wo_hazards")
def hazards_panel() -> None:
    """Open hazards by age with hand-over."""
    _panel("wo_hazards", hazards)


@st.fragment(key="wo_staging")
def staging_panel() -> None:
    """Staging suggestions."""
    _panel("wo_staging", lambda lang, url, _user: staging(lang, url))


@st.fragment(key="wo_incident")
def incident_part() -> None:
    """Show one incident: why its reports are one, merge and split (dashboard.console)."""
    _panel("wo_incident", console_incident.incident_panel)


@st.fragment(key="wo_units")
def units_part() -> None:
    """Show unit readiness: out of service, fuel, crew hours (dashboard.console)."""
    _panel("wo_units", console_units.units_panel)


# the side column's tabs: four short names (six long ones overflowed), each with its parts
TABS: tuple[tuple[str, tuple[tuple[str, Callable[[], None]], ...]], ...] = (
    ("look.tab.recs", (("", recs_panel),)),
    ("look.tab.queue", (("cw.incident", incident_part), ("", queue_panel))),  # a map click
    ("look.tab.work", (("dispatch.active", active_panel), ("dispatch.overdue", overdue_panel),
                       ("cw.units", units_part))),
    ("look.tab.roads", (("dispatch.hazards", hazards_panel), ("dispatch.staging", staging_panel))),
)


def work_panel() -> None:
    """Queue, recommendations, active work, clocks: one fragment per part, grouped in tabs."""
    lang = ui.lang()
    tabs = st.tabs([t(name, lang) for name, _parts in TABS])
    for tab, (_name, parts) in zip(tabs, TABS, strict=True):
        with tab:
            for heading, panel in parts:
                if heading:
                    st.markdown(f"**{escape_markdown(t(heading, lang))}**")
                panel()


def _idle() -> None:
    if ui.check_idle():
        st.rerun()


def render() -> None:
    """Draw the dispatcher's console."""
    lang = ui.lang()
    ui.console_style()  # map first and window-tall, the side column beside it (desk / wall)
    ui.viewport()
    ui.show_flash()
    try:
        left, right = st.columns([56, 44], gap="small")
        with left, st.container(key="wo_mapcol"):
            situation_map()
        with right, st.container(key="wo_side"):
            st.markdown(f"#### {escape_markdown(t('page.dispatch', lang))}")
            status_strip()
            work_panel()
    except Exception as exc:  # noqa: BLE001 - a broken database shows a message, not a trace
        st.error(t("common.db_error", lang, error=escape_markdown(exc)))
    # outside the try: a part that failed while the database was away must not keep the
    # watcher from starting, or the page would not redraw itself when the database is back
    live.watcher(ui.db_url(), _idle)


render()
