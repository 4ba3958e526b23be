"""Patrol page (tablet first, 820x1180): my unit's tasks and route, big status buttons.

Also: report a hazard where I am, mark a hazard cleared, night mode.

A patrol lead sees and changes only their own unit; an admin picks a unit to look at.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import actions, data, geolocate, live, patrolcard, sessions, tabletmap, touch, ui
from dashboard.escape import escape_markdown
from dashboard.i18n import LANGUAGES, t
from geo.stakes import format_stake
from incidents.errors import ConflictError
from incidents.patrol_routes import incident_caller_notes, incident_needs, unit_routes
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
_TAPS = "wo_patrol_taps"  # how many map taps: each new tap makes the report form pick it
_FRESH = "wo_patrol_fresh"  # a tap was sent: tasks draws read the database itself until then
FRESH_S = 15.0  # how long after a tap the cards bypass the counters' cache key


# Constant stylesheets (no data): every control a >= 48 px target at 820x1180 (gloves), and
# night colours for what the shared night theme leaves light (alerts, inputs, selects).
TABLET_CSS = touch.TOUCH_CSS + """<style>
[data-testid="stMainBlockContainer"] { padding-top: 3.5rem; }
[data-testid="stSidebar"] .st-key-wo_logout { display: none; }
</style>"""  # log-out is on the page itself: the sidebar's copy is hidden
NIGHT_CSS = """<style>
[data-testid="stAlert"] > div, [data-testid="stAlertContainer"] {
  background-color: #1d2a33 !important; }
[data-testid="stAlert"] *, [data-testid="stAlertContainer"] * { color: #f1f5f9 !important; }
[data-testid="stForm"], [data-testid="stVerticalBlockBorderWrapper"] {
  border-color: #546e7a !important; }
div[data-baseweb="select"] > div, div[data-baseweb="input"], div[data-baseweb="input"] input,
[data-testid="stTextInput"] input { background-color: #1f262d !important;
  color: #f1f5f9 !important; border-color: #78909c !important; }
div[data-baseweb="select"] *, ul[role="listbox"] li { color: #f1f5f9 !important; }
ul[role="listbox"], div[data-baseweb="popover"] > div { background-color: #1f262d !important; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] * {
  color: #cfd8dc !important; }
div[data-testid="stFormSubmitButton"] button, div[data-testid="stButton"] button[kind="primary"] {
  background-color: #1565c0 !important; color: #ffffff !important;
  border-color: #90caf9 !important; }
[data-testid="stText"], [data-testid="stText"] * { color: #e6e6e6 !important; }
[data-testid="stHeader"] button, [data-testid="stExpandSidebarButton"],
[data-testid="stSidebarCollapseButton"] button, [data-testid="stIconMaterial"] {
  color: #e6e6e6 !important; }
</style>"""


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


@st.cache_data(ttl=data.TTL_S, show_spinner=False, max_entries=256)
def _extras_at(
    url: str, region_dir: str, unit_id: str, v: tuple[int, ...]
) -> tuple[dict[int, dict[str, Any]], dict[int, list[str]], dict[int, str]]:
    with data.reader(url)() as session:
        routes = unit_routes(session, data.region(region_dir), unit_id)
        ids = _incident_ids(session, unit_id)
        needs = incident_needs(session, ids)
        said = incident_caller_notes(session, ids)
    return routes, needs, said


def _incident_ids(session: Any, unit_id: str) -> list[int]:
    return [int(c["incident_id"]) for c in task_cards(session, unit_id) if c.get("incident_id")]


def _extras(
    url: str, unit_id: str
) -> tuple[dict[int, dict[str, Any]], dict[int, list[str]], dict[int, str]]:
    """Return the cards' road routes from where the unit is now, needs and callers' notes.

    Cached until the unit's work, a unit position or a road condition (a hazard) changes: the
    route and its ETA follow the unit as it drives.
    """
    region_dir = str(ui.settings().region_dir)
    try:
        return _extras_at(url, region_dir, unit_id, live.stamp(url, TASK_TOPICS + HAZARD_TOPICS))
    except Exception:  # noqa: BLE001 - without a route the card still shows its stored ETA
        return {}, {}, {}


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


def _status_buttons(card: dict[str, Any], lang: str, url: str, user: actions.SessionUser) -> None:
    """One big button per legal next status; "cleared" asks again, on the other side.

    Every button acts in its ``on_click`` callback: Streamlit runs a callback at the start of
    whichever run first sees the tap (a keyed rerun of another part, the watcher's tick), so a
    tap that lands while a part is redrawn is never lost (an ``if st.button(...)`` is true only
    in a run that draws that very button).
    """
    aid, version = int(card["assignment_id"]), int(card["version"])
    note = st.empty()  # the "cleared?" question's slot, drawn in both modes (same slots)
    if st.session_state.get(_CONFIRM) == aid and "cleared" in card["choices"]:
        note.warning(t("patrol.confirm_cleared", lang))
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
    routes, needs, said = _extras(url, unit_id)
    dark = bool(st.session_state.get(_DARK))
    for card in cards:
        # keyed by assignment and state: after a tap the card is a new one, so the tapped
        # button goes with the old card instead of lingering beside the new buttons
        aid = int(card["assignment_id"])
        key = f"wo_pcard_{aid}_{card['state']}"
        route = routes.get(aid)
        if not card.get("notes"):  # fusion keeps no notes of its own: what the callers said
            card = {**card, "notes": said.get(int(card.get("incident_id") or 0)) or None}
        with st.container(border=True, key=key):
            lines = patrolcard.card_lines(card, lang, now, route,
                                          needs.get(int(card.get("incident_id") or 0), []))
            st.markdown("  \n".join(lines))
            # the card draws the same slots in every state (route drawing, note, buttons): a
            # part run cut short by the next rerun keeps the elements it did not redraw, so a
            # card that shrank after a tap could keep its tapped button on screen
            route_slot = st.empty()
            if route is not None and card["state"] in patrolcard.TRAVELLING and route["km"] > 0.05:
                svg = patrolcard.route_svg(route["coords"], t("tablet.route_map", lang), dark)
                route_slot.markdown(svg, unsafe_allow_html=True)  # numbers only; label escaped
            _status_buttons(card, lang, url, user)


def _map_points(url: str, unit_id: str) -> list[tuple[float, float]]:
    """(lat, lon) of the unit, then of its tasks: what the map's first view frames."""
    unit = _unit_row(unit_id)
    points = []
    if unit is not None and pd.notna(unit.get("lat")) and pd.notna(unit.get("lon")):
        points.append((float(unit["lat"]), float(unit["lon"])))
    for card in _cards(url, unit_id):
        if card.get("lat") is not None and card.get("lon") is not None:
            points.append((round(float(card["lat"]), 4), round(float(card["lon"]), 4)))
    return points


@st.fragment(key="wo_patrol_map")
def map_panel(unit_id: str, dark: bool) -> None:
    """Show my unit, its routes and tasks on the map; the watcher redraws it when they change.

    A tap on the map drops a pin there and picks it as the report's place (the whole tablet
    reruns, so the report form below offers and selects it).
    """
    url = ui.db_url()
    live.part("wo_patrol_map", MAP_TOPICS, url)
    tap = st.session_state.get(_TAP)
    pin = (float(tap["lat"]), float(tap["lng"])) if isinstance(tap, dict) else None
    result = tabletmap.show_tablet_map(
        "patrol_map", unit_id, points=_map_points(url, unit_id), tapped=pin, dark=dark
    )
    st.caption(t("tablet.map_hint", ui.lang()))
    clicked = result.get("last_clicked")
    if isinstance(clicked, dict) and "lat" in clicked and "lng" in clicked:
        tapped = {"lat": round(float(clicked["lat"]), 6), "lng": round(float(clicked["lng"]), 6)}
        if st.session_state.get(_TAP) != tapped:
            st.session_state[_TAP] = tapped
            st.session_state[_TAPS] = int(st.session_state.get(_TAPS, 0)) + 1
            ui.touch()
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
        # a new widget for each new tap (or set of places), which starts on the tapped point
        where = st.radio(
            t("patrol.use_tap", lang),
            list(points),
            index=list(points).index("tap") if "tap" in points else 0,
            horizontal=True,
            key=f"wo_report_where_{'_'.join(points)}_{st.session_state.get(_TAPS, 0)}",
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


def _switch_language(to: str) -> None:
    """Switch the interface language (the sidebar's switch follows)."""
    st.session_state["wo_lang_radio"] = to  # the sidebar radio sets the language each run
    st.session_state["wo_lang"] = to
    ui.touch()


def _top_bar(lang: str) -> bool:
    """Night mode, language and log-out on the page itself, big enough for a gloved finger.

    Returns whether night mode is on.
    """
    night, language, out = st.columns([2, 1, 1], gap="small", vertical_alignment="center")
    with night:
        dark = st.toggle(t("patrol.dark", lang), key=_DARK)
    other = next(code for code in LANGUAGES if code != lang)
    language.button(LANGUAGES[other], key="wo_patrol_lang", width="stretch",
                    on_click=_switch_language, args=(other,))
    out.button(t("login.logout", lang), key="wo_patrol_logout", width="stretch",
               on_click=sessions.logout)
    return bool(dark)


def render() -> None:
    """Draw the patrol lead's tablet view."""
    lang, user = ui.lang(), ui.current_user()
    if user is None:
        return
    # constant stylesheets, no data in them
    st.markdown(ui.BIG_BUTTONS_CSS + TABLET_CSS, unsafe_allow_html=True)
    dark = _top_bar(lang)
    if dark:
        st.markdown(ui.DARK_CSS + NIGHT_CSS, unsafe_allow_html=True)
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
