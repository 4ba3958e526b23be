"""Patrol page (tablet first, 820x1180): my unit's tasks and route, big status buttons.

Also: report a hazard where I am, mark a hazard cleared, night mode.

A patrol lead sees and changes only their own unit; an admin picks a unit to look at.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import actions, data, geolocate, live, mapui, ui
from dashboard.escape import escape_markdown
from dashboard.i18n import fmt_duration, t
from geo.stakes import format_stake
from incidents.errors import ConflictError
from incidents.service.hazards import REPORTABLE
from incidents.service.patrol import nearby_hazards, task_cards
from incidents.store.enums import Role

NEARBY_KM = 60.0
FIX_MAX_AGE_S = 300.0  # a browser position older than this is not sent with a status tap
_TAP = "wo_patrol_tap"
_DARK = "wo_patrol_dark"
_FIX = "wo_patrol_fix"  # the browser's last position: {"lon", "lat", "accuracy_m", "t"}
_CONFIRM = "wo_patrol_confirm"  # assignment id waiting for "cleared" to be confirmed
_SENT = "wo_patrol_sent"  # (assignment id, state, version) of the last tap sent
_FRESH = "wo_patrol_fresh"  # a tap was sent: tasks draws read the database itself until then
FRESH_S = 15.0  # how long after a tap the cards bypass the counters' cache key


def _act(done: str, fn: Any, *args: Any, **kwargs: Any) -> None:
    """Run one action; show the outcome in the user's language (never a raw English error)."""
    lang = ui.lang()
    ui.touch()
    try:
        fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a translated message
        kind, text = actions.describe_error(exc, lang)
        ui.flash(kind, text)
    else:
        ui.flash("success", done)
    st.rerun()


TASK_TOPICS = ("assignments", "incidents", "tasks", "tick", "units")
# the tablet's map redraws for what it is read for (my routes, my unit, road conditions);
# incidents and the minute tick show at its next redraw (a redraw blocks taps meanwhile)
MAP_TOPICS = ("assignments", "hazards", "units")
HAZARD_TOPICS = ("hazards",)


@st.cache_data(ttl=data.TTL_S, show_spinner=False, max_entries=256)
def _cards_at(url: str, unit_id: str, v: tuple[int, ...]) -> list[dict[str, Any]]:
    with data.reader(url)() as session:
        return task_cards(session, unit_id)


def _cards(url: str, unit_id: str) -> list[dict[str, Any]]:
    """Return the unit's task cards, cached until an assignment, task, incident or unit changes."""
    return _cards_at(url, unit_id, live.stamp(url, TASK_TOPICS))


@st.cache_data(ttl=data.TTL_S, show_spinner=False, max_entries=256)
def _nearby_at(
    url: str, lon: float, lat: float, unit_id: str | None, v: tuple[int, ...]
) -> list[dict[str, Any]]:
    with data.reader(url)() as session:
        return nearby_hazards(session, lon, lat, within_km=NEARBY_KM, unit_id=unit_id)


def _nearby(url: str, lon: float, lat: float, unit_id: str | None) -> list[dict[str, Any]]:
    """Open hazards near (lon, lat), each saying whether `unit_id`'s lead may clear it.

    Cached until a hazard or the unit's work changes (what a lead may clear follows their
    tasks and sections); `unit_id` None (an admin) may clear every hazard.
    """
    return _nearby_at(url, lon, lat, unit_id, live.stamp(url, HAZARD_TOPICS + TASK_TOPICS))


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


def _fresh_fix() -> actions.TabletFix | None:
    """Return the browser's position when it is recent enough to send with a status tap."""
    fix = st.session_state.get(_FIX)
    if not isinstance(fix, dict) or time.time() - float(fix.get("t", 0)) > FIX_MAX_AGE_S:
        return None
    return actions.TabletFix(float(fix["lon"]), float(fix["lat"]), fix.get("accuracy_m"))


def _where(card: dict[str, Any], lang: str) -> str:
    """Road and kilometre post, else the coordinates."""
    if card.get("road_code") and card.get("km") is not None:
        return f"{card['road_code']} {format_stake(float(card['km']))}"
    if card.get("lat") is not None:
        return f"{float(card['lat']):.5f}, {float(card['lon']):.5f}"
    return t("common.none", lang)


def _card_text(card: dict[str, Any], lang: str, now: pd.Timestamp) -> list[str]:
    """Return the lines of one task card (Markdown, every outside value escaped)."""
    kind = t(f"kind.{card['task_kind']}", lang, default=str(card["task_kind"]))
    state = t(f"state.{card['state']}", lang, default=str(card["state"]))
    since = pd.Timestamp(card["since"]) if card.get("since") is not None else now
    if since.tzinfo is None:
        since = since.tz_localize("UTC")
    lines = [
        f"**{escape_markdown(kind)}** · {escape_markdown(t('col.task', lang))} "
        f"{int(card['task_id'])} · {escape_markdown(state)} · "
        f"{fmt_duration((now - since).total_seconds())}",
        f"{escape_markdown(t('patrol.where', lang))}: {escape_markdown(_where(card, lang))}",
    ]
    if card.get("title") or card.get("notes"):
        text = " · ".join(str(v) for v in (card.get("title"), card.get("notes")) if v)
        lines.append(escape_markdown(text[:400]))
    lines.append(
        escape_markdown(
            t(
                "patrol.people",
                lang,
                people=card.get("people", 0),
                vehicles=card.get("vehicles", 0),
                vulnerable=card.get("vulnerable", 0),
            )
        )
    )
    travelling = card["state"] in ("confirmed", "en_route")
    if travelling and card.get("eta_s") is not None and pd.notna(card["eta_s"]):
        minutes = round(float(card["eta_s"]) / 60)
        eta = t("patrol.eta", lang, minutes=minutes if minutes >= 1 else "<1")
        lines.append(escape_markdown(eta))
    return lines


def _status_buttons(card: dict[str, Any], lang: str, url: str, user: actions.SessionUser) -> None:
    """One big button per legal next status; "cleared" asks again, on the other side.

    Every button acts in its ``on_click`` callback: Streamlit runs a callback at the start of
    whichever run first sees the tap (a keyed rerun of another part, the watcher's tick), so a
    tap that lands while a part is redrawn is never lost (an ``if st.button(...)`` is true only
    in a run that draws that very button).
    """
    aid, version = int(card["assignment_id"]), int(card["version"])
    if st.session_state.get(_CONFIRM) == aid and "cleared" in card["choices"]:
        st.warning(t("patrol.confirm_cleared", lang))
        back, yes = st.columns(2, gap="large")
        back.button(t("patrol.back", lang), key=f"wo_back_{aid}", width="stretch",
                    on_click=_close_confirm)
        yes.button(t("patrol.yes_cleared", lang), key=f"wo_yes_{aid}", type="primary",
                   width="stretch", on_click=_on_tap,
                   args=(aid, "cleared", version, lang, url, user, str(card["state"]), True))
        return
    choices = list(card["choices"])
    cols = st.columns(max(1, len(choices)))
    for col, new_state in zip(cols, choices, strict=False):
        label = t(f"patrol.set_{new_state}", lang)
        col.button(label, key=f"wo_st_{aid}_{new_state}", type="primary", width="stretch",
                   on_click=_on_tap,
                   args=(aid, new_state, version, lang, url, user, str(card["state"])))


def _close_confirm() -> None:
    """Close the confirm panel ("back"); nothing is sent."""
    st.session_state.pop(_CONFIRM, None)
    ui.touch()


def _state_of(url: str, aid: int) -> str | None:
    """Return the assignment's state as stored now (None when it is no longer active)."""
    frame = data.assignments(url)
    rows = frame[frame["id"] == aid] if len(frame) else frame
    return None if rows.empty else str(rows.iloc[0]["state"])


def _on_tap(
    aid: int, new_state: str, version: int, lang: str, url: str, user: actions.SessionUser,
    seen_state: str = "", confirmed: bool = False,
) -> None:
    """Handle a status button: "cleared" first opens the confirm panel.

    Anything else (and "yes, cleared") is sent with the tablet's position. The tasks part reruns
    (the tap was in it); the map and the unit's status follow through the change counters.
    """
    ui.touch()
    if new_state == "cleared" and not confirmed:
        # the "cleared" button only opens the panel that asks again (twice delivered, still
        # only open: the status is sent by "yes, cleared" alone)
        st.session_state[_CONFIRM] = aid
        return
    st.session_state.pop(_CONFIRM, None)
    label = t(f"patrol.set_{new_state}", lang)
    tap = (aid, new_state, version)
    if st.session_state.get(_SENT) == tap:
        return  # the same tap delivered twice (a coalesced rerun): it was sent already
    st.session_state[_SENT] = tap
    st.session_state[_FRESH] = time.monotonic() + FRESH_S
    try:
        try:
            actions.set_status(url, user, aid, new_state, version, position=_fresh_fix())
        except ConflictError:
            # the version moved under the card (a background write) while its state is still
            # the one the lead saw: the tap means the same thing, send it once more; any other
            # change (cancelled, moved on) is refused by the lifecycle and said as before
            now_state = _state_of(url, aid)
            if now_state == new_state:
                ui.flash("success", t("patrol.status_set", lang, state=label))
                return  # already so (this tap's own earlier delivery, another tablet)
            if now_state != seen_state:
                raise
            actions.set_status(url, user, aid, new_state, None, position=_fresh_fix())
    except Exception as exc:  # noqa: BLE001 - every failure becomes a translated message
        kind, text = actions.describe_error(exc, lang)
        ui.flash(kind, text)
    else:
        ui.flash("success", t("patrol.status_set", lang, state=label))


@st.fragment(key="wo_patrol_tasks")
def tasks_panel(unit_id: str) -> None:
    """My unit's active assignments: a card each, with one big button per legal next status.

    Reruns by itself when an assignment, task, incident or unit changes (:mod:`dashboard.live`),
    and once a minute for the stage clocks.
    """
    lang, url, user = ui.lang(), ui.db_url(), ui.current_user()
    if user is None:
        return
    # while the lead is asked "cleared?", the watcher leaves this part alone (the panel is not
    # redrawn under the finger); the answer reruns it
    live.part("wo_patrol_tasks", TASK_TOPICS, url, hold=st.session_state.get(_CONFIRM) is not None)
    ui.show_flash()  # the outcome of a tap (this part reran alone)
    unit = _unit_row(unit_id)
    status = "" if unit is None else t(f"status.{unit.get('status')}", lang, default="")
    if status:
        st.caption(escape_markdown(status))
    st.markdown(f"### {escape_markdown(t('patrol.tasks', lang))}")
    if time.monotonic() < st.session_state.get(_FRESH, 0.0):
        # for a while after a tap: read the cards themselves, not through the counters' cache
        # key (on PostgreSQL the key follows NOTIFY, which may arrive after this run; a second
        # run of the part in that moment, e.g. a tap delivered twice, must not draw the cards
        # cached before the tap)
        with data.reader(url)() as session:
            cards = task_cards(session, unit_id)
    else:
        cards = _cards(url, unit_id)
    if not cards:
        st.info(t("patrol.no_tasks", lang))
        return
    now = pd.Timestamp(ui.clock())
    if now.tzinfo is None:
        now = now.tz_localize("UTC")
    for card in cards:
        # keyed by assignment and state: after a tap the card is a new one, so the tapped
        # button goes with the old card instead of lingering beside the new buttons
        key = f"wo_pcard_{int(card['assignment_id'])}_{card['state']}"
        with st.container(border=True, key=key):
            st.markdown("  \n".join(_card_text(card, lang, now)))
            _status_buttons(card, lang, url, user)


@st.fragment(key="wo_patrol_map")
def map_panel(unit_id: str, dark: bool) -> None:
    """Show my unit and its routes on the map; the watcher redraws it when they change.

    A tap on the map (a point to report at) redraws the whole tablet, so the report form offers it.
    """
    live.part("wo_patrol_map", MAP_TOPICS, ui.db_url())
    unit = _unit_row(unit_id)
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
        tap = {"lat": float(clicked["lat"]), "lng": float(clicked["lng"])}
        if st.session_state.get(_TAP) != tap:
            st.session_state[_TAP] = tap
            st.rerun()  # from the map part's body: the report form (outside it) offers the point


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
        known = st.session_state.get(_FIX) or {}
        if known.get("at_ms") != here["at_ms"]:  # a new answer: note when the server got it
            st.session_state[_FIX] = {**here, "t": time.time()}
        fix = _fresh_fix()
        if fix is not None and st.button(
            t("patrol.send_position", lang), key="wo_send_position", width="stretch"
        ):
            _act(t("patrol.position_sent", lang), actions.send_position, url, user, unit_id, fix)
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
            ui.settings(),
            user,
            lon=lon,
            lat=lat,
            condition=str(condition),
            note=note,
        )


def hazards_panel(unit_id: str) -> None:
    """Open hazards near me (the tablet's fix, else the unit), each with "mark cleared"."""
    lang, url, user = ui.lang(), ui.db_url(), ui.current_user()
    if user is None:
        return
    st.markdown(f"### {escape_markdown(t('patrol.hazards', lang))}")
    fix, unit = _fresh_fix(), _unit_row(unit_id)
    if fix is not None:
        lon, lat = fix.lon, fix.lat
    elif unit is not None and pd.notna(unit.get("lon")) and pd.notna(unit.get("lat")):
        lon, lat = float(unit["lon"]), float(unit["lat"])
    else:
        st.info(t("common.none", lang))
        return
    lead_unit = unit_id if user.role == Role.PATROL_LEAD.value else None
    near = _nearby(url, round(lon, 4), round(lat, 4), lead_unit)
    if not near:
        st.info(t("patrol.none_near", lang, km=f"{NEARBY_KM:g}"))
        return
    for h in near:
        c1, c2 = st.columns([3, 2])
        cond = t(f"condition.{h['condition']}", lang, default=str(h["condition"]))
        km = f" {format_stake(float(h['km']))}" if h.get("km") is not None else ""
        c1.text(f"#{h['id']} {cond} · {h.get('road_code') or ''}{km} · {h['dist_km']:.1f} km")
        if h.get("clearable") is False:  # not on this unit's task or section: its chief clears it
            c2.caption(t("patrol.not_own_hazard", lang))
            continue
        if c2.button(t("patrol.clear_hazard", lang), key=f"wo_clear_{h['id']}", width="stretch"):
            _act(
                t("patrol.hazard_cleared", lang, id=int(h["id"])),
                actions.clear_hazard,
                url,
                user,
                int(h["id"]),
                int(h["version"]),
            )


def _idle() -> None:
    if ui.check_idle():
        st.rerun()


def render() -> None:
    """Draw the patrol lead's tablet view."""
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
    st.subheader(t("patrol.unit", lang, unit=escape_markdown(name)))
    try:
        tasks_panel(unit_id)
        map_panel(unit_id, dark)
        report_panel(unit_id, st.session_state.get(_TAP), dark)
        hazards_panel(unit_id)
        live.watcher(ui.db_url(), _idle)
    except Exception as exc:  # noqa: BLE001 - a broken database shows a message, not a trace
        st.error(t("common.db_error", lang, error=escape_markdown(exc)))


render()
