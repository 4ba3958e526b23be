"""Dashboard pages driven with Streamlit's AppTest, for every page and role, on a real SQLite
database loaded with the demo (region, users, storm when available) plus a small fixture with
hostile strings.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import shapely
from sqlalchemy import func, select

from dashboard.i18n import t
from incidents.clock import set_clock
from incidents.settings import Settings
from incidents.store.engine import init_db, make_engine, session_factory, session_scope
from incidents.store.models import (
    Alert,
    Assignment,
    AuditEvent,
    FeedStatus,
    Hazard,
    Incident,
    Quarantine,
    Report,
    Segment,
    SegmentCondition,
    SimulationRun,
    Task,
    Unit,
    User,
)

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
HOSTILE = "<img src=x onerror=alert(1)>${alert(2)}`</script>"
PASSWORDS = {"dispatcher": "winter-dispatch", "patrol": "winter-patrol", "admin": "winter-admin"}
PATROL_UNIT = "XL-ABG-PC01"


def seed_fixture(url: str, var_dir: Path, storm: bool = True) -> dict[str, Any]:
    """Load the demo into `url` and add a small, hostile fixture; return ids used by tests.

    With `storm` the whole ``winterops demo`` (region, demo users, demo storm); without, only
    the region and the demo users (much faster).
    """
    from geo.region import load_region
    from incidents.replay.demo import DEMO_USERS, load_demo, patrol_unit_for_demo
    from incidents.service.users import create_user
    from incidents.store.region import load_region_into_db

    settings = replace(Settings.from_env({}), database_url=url, var_dir=var_dir)
    engine = make_engine(url)
    init_db(engine)
    factory = session_factory(engine)
    if storm:
        load_demo(engine, settings)
    else:
        region = load_region(settings.region_dir)
        with session_scope(factory) as s:
            load_region_into_db(s, region)
            unit = patrol_unit_for_demo(region)
            for user in DEMO_USERS:
                create_user(s, user.username, user.password, user.role,
                            unit if user.username == "patrol" else None)
    with session_scope(factory) as s:
        # the dashboard's clock: the demo storm's moment when the storm is loaded
        newest = s.scalar(select(func.max(Report.observed_at)))
        now = newest if newest is not None else datetime.now(UTC)
        set_clock(s, now)  # a stopped clock, so the tests see fixed ages
    with session_scope(factory) as s:
        seg = s.scalars(select(Segment).order_by(Segment.id)).first()
        assert seg is not None
        mid = seg.geometry.interpolate(0.5, normalized=True)
        incident = Incident(
            kind="stranded", status="open", title=f"stranded {HOSTILE}", geometry=mid,
            road_code=seg.road_code, km=seg.km_from + 0.5, segment_id=seg.id, vehicles=2,
            people=5, vulnerable=1, needs=["rescue"], first_report_at=now - timedelta(hours=2),
            last_report_at=now - timedelta(minutes=10), priority=88.0, report_ids=[],
            notes=HOSTILE,
        )
        s.add(incident)
        s.flush()
        open_task = Task(incident_id=incident.id, kind="rescue", capability="rescue",
                         status="open", priority=88.0, geometry=mid)
        patrol_task = Task(incident_id=incident.id, kind="traffic_control",
                           capability="traffic_control", status="assigned", priority=60.0,
                           geometry=mid)
        s.add_all([open_task, patrol_task])
        s.flush()
        unit = s.get(Unit, PATROL_UNIT)
        assert unit is not None
        unit.status = "assigned"
        route = shapely.LineString([unit.geometry.coords[0], mid.coords[0]])
        assignment = Assignment(unit_id=PATROL_UNIT, task_id=patrol_task.id, state="confirmed",
                                version=1, eta_s=1800.0, recommended_at=now - timedelta(hours=1),
                                confirmed_at=now - timedelta(hours=1), confirmed_by="dispatcher",
                                route=route)
        s.add(assignment)
        near = shapely.Point(unit.geometry.x + 0.01, unit.geometry.y + 0.01)
        hazard = Hazard(segment_id=seg.id, condition="black_ice", observed=True, confidence=0.9,
                        state="open", geometry=near, road_code=seg.road_code, km=seg.km_from,
                        section_id=seg.section_id, first_seen=now - timedelta(hours=3),
                        last_seen=now, report_ids=[], version=1)
        s.add(hazard)
        s.add(SegmentCondition(segment_id=seg.id, condition="black_ice", observed=True,
                               confidence=0.9, source="drone", report_ids=[],
                               valid_from=now - timedelta(hours=3), valid_to=None))
        s.add(Alert(sender="nmc", identifier=f"fixture-{now.timestamp()}", sent=now,
                    msg_type="Alert", status="Actual", state="actual", references=[],
                    event="暴雪", hazard_class="blizzard", severity="Severe", colour="orange",
                    onset=now - timedelta(hours=1), expires=now + timedelta(hours=12),
                    headline=HOSTILE, infos=[], area_codes=[],
                    area=shapely.box(115.5, 43.5, 117.5, 45.0)))
        s.add(FeedStatus(feed="cap-nmc", kind="alerts", source="http://127.0.0.1/cap",
                         interval_s=300.0, last_attempt=now, last_success=now - timedelta(hours=2),
                         last_error=HOSTILE))
        s.add(Quarantine(feed="calls", source="calls.csv", record=HOSTILE,
                         reason=f"no location: {HOSTILE}", fingerprint=f"fx-{now.timestamp()}"))
        # shaped like incidents.replay.simulate's stored runs
        times = [(now + timedelta(minutes=5 * i)).isoformat() for i in range(5)]
        for policy, first, exposure in (("closest", 48.0, 210.0), ("optimized", 36.0, 150.0)):
            s.add(SimulationRun(scenario="demo-storm", policy=policy, ran_at=now,
                                metrics={"ttfu_mean_min": first,
                                         "cold_exposure_person_hours": exposure,
                                         "timings_s": {"total": 1.0}},
                                series={"t": times, "open_tasks": [1, 4, 6, 3, 1],
                                        "free_units": [9, 7, 5, 6, 8],
                                        "incidents": [{"id": 1, "ttfu_min": first}]}))
        s.flush()
        ids = {"incident": incident.id, "open_task": open_task.id,
               "assignment": assignment.id, "hazard": hazard.id}
    engine.dispose()
    return ids


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    """A SQLite database: demo region and users (no storm, for speed) plus the fixture."""
    folder = tmp_path_factory.mktemp("dash")
    url = f"sqlite:///{(folder / 'winterops.db').as_posix()}"
    ids = seed_fixture(url, folder / "var", storm=False)
    yield url, ids


@pytest.fixture
def app(demo_db: tuple[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh AppTest on the demo database (environment as `winterops serve` sets it)."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("WINTEROPS_DATABASE_URL", demo_db[0])
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    return at


def login(at: Any, username: str, password: str) -> Any:
    at.text_input(key="wo_login_user").input(username)
    at.text_input(key="wo_login_pw").input(password)
    at.button[0].click()
    at.run()
    return at


def texts(at: Any) -> str:
    parts: list[str] = []
    for kind in ("markdown", "caption", "text", "subheader", "info", "success", "warning",
                 "error", "title"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts).replace("\\", "")  # Markdown escapes removed


def switch(at: Any, page: str) -> Any:
    at.switch_page(f"app_pages/{page}.py")
    at.run()
    return at


def test_login_page_first(app: Any) -> None:
    assert not app.exception
    assert app.text_input(key="wo_login_user") is not None
    assert "wo_user" not in app.session_state


def test_login_failure_then_success(app: Any, demo_db: tuple[str, dict[str, Any]]) -> None:
    login(app, "dispatcher", "wrong-password")
    assert "wo_user" not in app.session_state
    assert any("用户名或密码错误" in str(e.value) for e in app.error), "failed log-in message"
    login(app, "dispatcher", PASSWORDS["dispatcher"])
    assert not app.exception
    assert app.session_state["wo_user"].role == "dispatcher"
    # the failure and the success are both in the audit log
    engine = make_engine(demo_db[0])
    with session_factory(engine)() as s:
        outcomes = [e.outcome for e in s.scalars(
            select(AuditEvent).where(AuditEvent.action == "login",
                                     AuditEvent.actor == "dispatcher"))]
    engine.dispose()
    assert "denied" in outcomes and "ok" in outcomes


def test_lockout_after_five_failures(app: Any, demo_db: tuple[str, dict[str, Any]]) -> None:
    from incidents.service.users import create_user
    from incidents.store.engine import session_scope as scope

    engine = make_engine(demo_db[0])
    with scope(session_factory(engine)) as s:
        create_user(s, "locky", "locky-password-1", "dispatcher")
    from dashboard import actions
    from incidents.errors import AuthError

    for _ in range(4):  # four failures straight through the dashboard's action ...
        with pytest.raises(AuthError):
            actions.login(demo_db[0], "locky", "nope-nope-nope")
    login(app, "locky", "nope-nope-nope")  # ... the fifth through the page locks the account
    assert "wo_user" not in app.session_state
    login(app, "locky", "locky-password-1")  # right password, but locked now
    assert "wo_user" not in app.session_state
    shown = " ".join(str(e.value) for e in app.error)
    assert "锁定" in shown  # "account locked" in Chinese (the default language)
    with session_factory(engine)() as s:
        user = s.scalars(select(User).where(User.username == "locky")).one()
        assert user.locked_until is not None
    engine.dispose()


@pytest.mark.parametrize("role", ["dispatcher", "admin"])
def test_dispatch_page(app: Any, role: str, demo_db: tuple[str, dict[str, Any]]) -> None:
    login(app, role, PASSWORDS[role])
    assert not app.exception, app.exception
    assert app.metric, "headline figures shown"
    shown = texts(app)
    assert "cap-nmc" in shown, "stale feed banner names the feed"
    # the hostile note is shown as data (escaped for Markdown), never as markup
    assert "<img src=x" not in shown
    frames = [df.value for df in app.dataframe]
    notes = [v for df in frames for col in df.columns for v in df[col].astype(str)]
    assert any(HOSTILE in v for v in notes), "queue shows the raw note as plain table text"


def test_dispatch_confirm_and_conflict(app: Any, demo_db: tuple[str, dict[str, Any]]) -> None:
    from incidents.errors import ConflictError
    from incidents.service import actions as service

    login(app, "dispatcher", PASSWORDS["dispatcher"])
    keys = [str(b.key) for b in app.button if str(b.key or "").startswith("wo_conf_")]
    if not keys:
        pytest.skip("no recommendation at this moment")
    # another dispatcher confirms one of the recommended units first
    engine = make_engine(demo_db[0])
    taken = None
    for key in keys:
        task_id, unit_id = key.removeprefix("wo_conf_").split("_", 1)
        try:
            with session_scope(session_factory(engine)) as s:
                service.confirm(s, "admin", int(task_id), unit_id)
        except ConflictError:
            continue  # e.g. a busy unit recommended to move: try the next one
        taken = key
        break
    engine.dispose()
    if taken is None:
        pytest.skip("no recommendation could be confirmed by the other dispatcher")
    app.button(key=taken).click()
    app.run()
    assert not app.exception, app.exception
    shown = texts(app)
    assert "其他调度员" in shown, "the loser is told another dispatcher got there first"


def test_dispatch_parts_rerun_only_for_their_topics(
    app: Any, demo_db: tuple[str, dict[str, Any]]
) -> None:
    """Each part of the dispatcher page declares its topics; a unit status written by another
    connection makes the parts showing units due, and not the queue or the hazards."""
    from dashboard.live import due_parts
    from incidents.store import changes

    login(app, "dispatcher", PASSWORDS["dispatcher"])
    assert not app.exception, app.exception
    (page,) = app.session_state["wo_live_parts"]  # parts are kept per page
    parts = app.session_state["wo_live_parts"][page]
    assert {"wo_strip", "wo_map", "wo_recs", "wo_queue", "wo_active", "wo_hazards"} <= set(parts)
    seen = app.session_state["wo_live_seen"][page]
    engine = make_engine(demo_db[0])
    with session_scope(session_factory(engine)) as s:
        unit = s.scalars(select(Unit).where(Unit.status == "available")).first()
        assert unit is not None
        unit.fuel = 0.9
    now = {**changes.versions(engine), "tick": seen["wo_queue"]["tick"]}
    engine.dispose()
    due = due_parts(parts, seen, now)
    assert {"wo_strip", "wo_map", "wo_recs", "wo_active"} <= set(due)
    assert "wo_queue" not in due and "wo_hazards" not in due


def test_dispatch_stale_card_is_retired_with_a_translated_message(
    app: Any, demo_db: tuple[str, dict[str, Any]]
) -> None:
    """Confirming a card whose task another dispatcher took meanwhile: a Chinese message, no
    raw English error, and the card is gone."""
    from incidents.errors import ConflictError
    from incidents.service import actions as service

    engine = make_engine(demo_db[0])
    with session_scope(session_factory(engine)) as s:  # a task of its own to recommend
        incident = s.get(Incident, demo_db[1]["incident"])
        assert incident is not None
        s.add(Task(incident_id=incident.id, kind="rescue", capability="rescue", status="open",
                   priority=95.0, geometry=incident.geometry))
    login(app, "dispatcher", PASSWORDS["dispatcher"])
    keys = [str(b.key) for b in app.button if str(b.key or "").startswith("wo_conf_")]
    if not keys:
        pytest.skip("no recommendation at this moment")
    taken = None
    for key in keys:
        task_id, unit_id = key.removeprefix("wo_conf_").split("_", 1)
        others = []
        with session_factory(engine)() as s:
            others = [u.id for u in s.scalars(select(Unit).where(Unit.status == "available"))
                      if u.id != unit_id]
        for other in others:
            try:
                with session_scope(session_factory(engine)) as s:
                    service.override(s, "admin", int(task_id), other, recommended_unit_id=unit_id,
                                     reason="another dispatcher took it")
            except (ConflictError, Exception):  # noqa: BLE001 - not capable: try another
                continue
            taken = key
            break
        if taken:
            break
    engine.dispose()
    if taken is None:
        pytest.skip("no recommendation could be overridden by the other dispatcher")
    app.button(key=taken).click()
    app.run()
    assert not app.exception, app.exception
    shown = texts(app)
    assert "其他调度员" in shown
    assert "changed meanwhile" not in shown and "Conflict" not in shown, "no raw error text"
    assert taken not in [str(b.key) for b in app.button], "the retired card is gone"


def test_feeds_review_pages(app: Any, demo_db: tuple[str, dict[str, Any]]) -> None:
    login(app, "dispatcher", PASSWORDS["dispatcher"])
    switch(app, "feeds")
    assert not app.exception, app.exception
    values = [str(v) for df in app.dataframe for col in df.value.columns for v in df.value[col]]
    assert "cap-nmc" in values
    assert any("no location" in v for v in values)
    switch(app, "review")
    assert not app.exception, app.exception
    compare = [df.value for df in app.dataframe]
    mean, exposure = t("metric.ttfu_mean_min", "zh"), t("metric.cold_exposure_person_hours", "zh")
    assert any(mean in df.index for df in compare), "per-policy comparison, metric names in zh"
    table = next(df for df in compare if mean in df.index)
    assert table.loc[mean, t("policy.optimized", "zh")] == 36.0
    assert table.loc[exposure, t("policy.closest", "zh")] == 210.0
    # the real response: one row per incident with its waiting time and cold exposure
    real = next(df for df in compare if t("review.col.exposure", "zh") in df.columns)
    row = real.set_index(t("review.col.incident", "zh")).loc[demo_db[1]["incident"]]
    waited = row[t("review.col.waiting", "zh")]
    assert row[t("review.col.people", "zh")] == 5
    assert 0 < waited <= 120.0  # first report 2 h before the clock (less once a unit is there)
    assert row[t("review.col.exposure", "zh")] == round(5 * waited / 60, 1)
    assert t("review.tab_real", "zh") in [tab.label for tab in app.tabs]


def test_admin_page_only_for_admin(app: Any) -> None:
    login(app, "admin", PASSWORDS["admin"])
    switch(app, "admin")
    assert not app.exception, app.exception
    values = [str(v) for df in app.dataframe for col in df.value.columns for v in df.value[col]]
    assert "dispatcher" in values and "patrol" in values
    # the audit log speaks Chinese: the log-in just made is worded, not its raw action code
    audit = next(df.value for df in app.dataframe if t("col.action", "zh") in df.value.columns)
    actions_shown = set(audit[t("col.action", "zh")])
    assert t("look.action.login", "zh") in actions_shown and "login" not in actions_shown
    assert set(audit[t("col.outcome", "zh")]) <= {
        t(f"outcome.{o}", "zh") for o in ("ok", "denied", "conflict", "error", "locked")}
    for page in ("patrol", "review", "feeds"):  # an admin sees every page
        switch(app, page)
        assert not app.exception, (page, app.exception)


def test_dispatcher_cannot_open_admin(app: Any) -> None:
    login(app, "dispatcher", PASSWORDS["dispatcher"])
    with pytest.raises(ValueError, match="Known pages"):  # not in a dispatcher's navigation
        switch(app, "admin")
    switch(app, "feeds")  # a page the dispatcher has
    assert not app.exception


def test_patrol_lead_has_only_patrol_page(app: Any) -> None:
    login(app, "patrol", PASSWORDS["patrol"])
    for page in ("dispatch", "feeds", "review", "admin"):
        with pytest.raises(ValueError, match="Known pages"):
            switch(app, page)


def test_patrol_lead_sees_only_own_unit(app: Any, demo_db: tuple[str, dict[str, Any]]) -> None:
    login(app, "patrol", PASSWORDS["patrol"])
    assert not app.exception, app.exception
    assert PATROL_UNIT in texts(app)
    status_keys = [str(b.key) for b in app.button if str(b.key or "").startswith("wo_st_")]
    assert status_keys, "big status buttons for the unit's assignment"
    assignment_ids = {int(k.split("_")[2]) for k in status_keys}
    assert demo_db[1]["assignment"] in assignment_ids
    engine = make_engine(demo_db[0])
    with session_factory(engine)() as s:
        owners = {s.get(Assignment, a).unit_id for a in assignment_ids}
    engine.dispose()
    assert owners == {PATROL_UNIT}, "only the lead's own unit's assignments are offered"
    # tap "en route": the assignment moves, audited under the patrol lead's name
    app.button(key=f"wo_st_{demo_db[1]['assignment']}_en_route").click()
    app.run()
    assert not app.exception, app.exception
    engine = make_engine(demo_db[0])
    with session_factory(engine)() as s:
        assert s.get(Assignment, demo_db[1]["assignment"]).state == "en_route"
        actors = [e.actor for e in s.scalars(
            select(AuditEvent).where(AuditEvent.action == "assignment.en_route"))]
    engine.dispose()
    assert "patrol" in actors


def test_patrol_lead_cannot_move_other_units(demo_db: tuple[str, dict[str, Any]]) -> None:
    from dashboard import actions
    from incidents.errors import PermissionDenied

    url, ids = demo_db
    engine = make_engine(url)
    with session_scope(session_factory(engine)) as s:
        other = s.scalars(select(Unit).where(Unit.id != PATROL_UNIT,
                                             Unit.status == "available")).first()
        assert other is not None
        a = Assignment(unit_id=other.id, task_id=ids["open_task"], state="confirmed", version=1)
        s.add(a)
        s.flush()
        aid, version = a.id, a.version
    lead = actions.SessionUser("patrol", "patrol_lead", PATROL_UNIT)
    with pytest.raises(PermissionDenied):
        actions.set_status(url, lead, aid, "en_route", version)
    with session_factory(engine)() as s:
        assert s.get(Assignment, aid).state == "confirmed"
        # the refusal outlives the rolled-back transaction: it is in the audit log
        denied = s.scalars(
            select(AuditEvent).where(AuditEvent.actor == "patrol", AuditEvent.outcome == "denied")
        ).all()
        assert any(str(aid) in (e.target or "") for e in denied)
    engine.dispose()


def test_english_switch(app: Any) -> None:
    app.radio(key="wo_lang_radio").set_value("en")
    app.run()
    login(app, "dispatcher", PASSWORDS["dispatcher"])
    assert not app.exception
    assert "Dispatch" in texts(app)


def test_idle_logout(app: Any, demo_db: tuple[str, dict[str, Any]]) -> None:
    login(app, "dispatcher", PASSWORDS["dispatcher"])
    app.session_state["wo_last_active"] = 0.0  # long ago
    app.run()
    assert "wo_user" not in app.session_state
    engine = make_engine(demo_db[0])
    with session_factory(engine)() as s:
        reasons = [e.details.get("reason") for e in s.scalars(
            select(AuditEvent).where(AuditEvent.action == "logout"))]
    engine.dispose()
    assert "idle" in reasons


def test_streamlit_only_in_dashboard() -> None:
    root = Path(__file__).resolve().parents[1]
    offenders = [
        str(p) for pkg in ("geo", "ingest", "incidents") for p in (root / pkg).rglob("*.py")
        if "import streamlit" in p.read_text(encoding="utf-8")
        or "from streamlit" in p.read_text(encoding="utf-8")
    ]
    assert offenders == []
    assert os.path.isfile(APP)


def test_dispatcher_cancels_an_assignment(app: Any, demo_db: tuple[str, dict[str, Any]]) -> None:
    login(app, "dispatcher", PASSWORDS["dispatcher"])
    chooser = app.selectbox(key="wo_active_sel")
    assert chooser.options, "active assignments offered"
    label = chooser.options[0]
    assignment_id = int(label.split()[0].lstrip("#"))
    chooser.set_value(assignment_id)
    app.run()
    app.button(key="wo_cancel_btn").click()
    app.run()
    assert not app.exception, app.exception
    engine = make_engine(demo_db[0])
    with session_factory(engine)() as s:
        assert s.get(Assignment, assignment_id).state == "cancelled"
        actors = [e.actor for e in s.scalars(
            select(AuditEvent).where(AuditEvent.action == "assignment.cancelled",
                                     AuditEvent.target == f"assignment:{assignment_id}"))]
    engine.dispose()
    assert actors == ["dispatcher"]


def _add_open_hazard(url: str, days_old: float = 30.0) -> tuple[int, str]:
    """A fresh open hazard on a segment whose section has a road chief; (id, chief name)."""
    from incidents.store.models import RoadChief

    engine = make_engine(url)
    with session_scope(session_factory(engine)) as s:
        chief = s.scalars(select(RoadChief).where(RoadChief.section_id.is_not(None))
                          .order_by(RoadChief.id)).first()
        assert chief is not None, "the demo region has road chiefs"
        seg = s.scalars(select(Segment).where(Segment.section_id == chief.section_id)
                        .order_by(Segment.id)).first()
        assert seg is not None
        now = datetime.now(UTC)
        hazard = Hazard(segment_id=seg.id, condition="drifting_snow", observed=True,
                        confidence=0.8, state="open",
                        geometry=seg.geometry.interpolate(0.5, normalized=True),
                        road_code=seg.road_code, km=seg.km_from, section_id=seg.section_id,
                        first_seen=now - timedelta(days=days_old), last_seen=now,
                        report_ids=[], version=1)
        s.add(hazard)
        s.flush()
        found = (int(hazard.id), str(chief.name))
    engine.dispose()
    return found


def test_dispatcher_hands_hazard_to_road_chief(
    app: Any, demo_db: tuple[str, dict[str, Any]]
) -> None:
    from dashboard import data

    url = demo_db[0]
    hazard_id, chief = _add_open_hazard(url)
    data.invalidate()  # the hazard was written behind the dashboard's back
    login(app, "dispatcher", PASSWORDS["dispatcher"])
    assert not app.exception, app.exception
    key = f"wo_hand_{hazard_id}"
    assert key in [str(b.key) for b in app.button], "one hand-over button per open hazard"
    app.button(key=key).click()
    app.run()
    assert not app.exception, app.exception
    engine = make_engine(url)
    with session_factory(engine)() as s:
        h = s.get(Hazard, hazard_id)
        assert h.state == "handed_over" and h.road_chief_id is not None
        assert h.handed_at is not None
        events = s.scalars(select(AuditEvent).where(
            AuditEvent.action == "hazard.hand_over",
            AuditEvent.target == f"hazard:{hazard_id}")).all()
    engine.dispose()
    assert [(e.actor, e.outcome) for e in events] == [("dispatcher", "ok")]
    # no button any more; the table shows the new state, the road chief and when
    assert key not in [str(b.key) for b in app.button]
    table = next(df.value for df in app.dataframe if "路长" in df.value.columns)
    row = table[table["编号"] == hazard_id].iloc[0]
    assert row["状态"] == "已交路长"
    assert row["路长"] == chief
    assert row["移交时间"] != ""


def test_patrol_lead_cannot_hand_over_hazard(demo_db: tuple[str, dict[str, Any]]) -> None:
    from dashboard import actions
    from incidents.errors import PermissionDenied

    url = demo_db[0]
    hazard_id, _ = _add_open_hazard(url, days_old=1.0)
    lead = actions.SessionUser("patrol", "patrol_lead", PATROL_UNIT)
    with pytest.raises(PermissionDenied):
        actions.hand_to_road_chief(url, lead, hazard_id, 1)
    engine = make_engine(url)
    with session_factory(engine)() as s:
        h = s.get(Hazard, hazard_id)
        assert h.state == "open" and h.road_chief_id is None
        denied = s.scalars(select(AuditEvent).where(
            AuditEvent.actor == "patrol", AuditEvent.outcome == "denied",
            AuditEvent.target.contains(str(hazard_id)))).all()
    engine.dispose()
    assert denied, "the refusal is in the audit log"


def test_dispatch_staging_suggestions(app: Any, demo_db: tuple[str, dict[str, Any]]) -> None:
    from dashboard import data
    from geo.region import load_region
    from incidents.dispatch import preposition

    url = demo_db[0]
    data.invalidate()  # earlier tests wrote hazards behind the dashboard's back
    login(app, "dispatcher", PASSWORDS["dispatcher"])
    assert not app.exception, app.exception
    settings = replace(Settings.from_env({}), database_url=url)
    engine = make_engine(url)
    with session_factory(engine)() as s:
        from incidents.clock import operational_now

        expected = preposition(s, load_region(settings.region_dir), settings,
                               operational_now(s)[0])
    engine.dispose()
    assert expected, "the fixture's blizzard alert and free demo units give suggestions"
    tables = [df.value for df in app.dataframe if "执勤点" in df.value.columns]
    assert tables, "the staging table is shown"
    shown = tables[0]
    assert list(shown["车辆"]) == [x.unit_id for x in expected]
    assert list(shown["执勤点"]) == [x.duty_point_name for x in expected]
    assert list(shown["原因"]) == [x.reason_zh for x in expected]


# ------------------------------------------------------------------------------------------
# Read-only wall display (H3)
# ------------------------------------------------------------------------------------------


def test_wall_display_sees_map_and_queue_without_action_buttons(
    app: Any, demo_db: tuple[str, dict[str, Any]]
) -> None:
    from incidents.service.users import create_user as _create

    engine = make_engine(demo_db[0])
    with session_scope(session_factory(engine)) as s:
        if s.scalars(select(User).where(User.username == "lobby")).first() is None:
            _create(s, "lobby", "watch-only-screen", "wall")
    engine.dispose()
    login(app, "lobby", "watch-only-screen")
    assert not app.exception, app.exception
    assert app.metric, "headline figures shown"
    frames = [df.value for df in app.dataframe]
    assert frames, "the queue and tables are shown"
    actions_shown = [str(b.key) for b in app.button if str(b.key) != "wo_logout"]
    assert actions_shown == [], f"a wall display has no action buttons: {actions_shown}"
    for page in ("patrol", "admin", "feeds", "review"):
        with pytest.raises(ValueError, match="Known pages"):
            switch(app, page)
