"""The patrol lead's tablet page (AppTest on a real SQLite database with the demo region):
every status button shown is a legal lifecycle move and succeeds; "cleared" asks again; the
task card says where, what and how many; nearby hazards work with LineString hazards."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import shapely
from sqlalchemy import select

from dashboard.escape import escape_markdown
from geo.region import load_region
from incidents.patrol_routes import unit_routes
from incidents.service.lifecycle import TRANSITIONS, UNIT_STATUS_AFTER
from incidents.settings import Settings
from incidents.store.engine import make_engine, session_factory, session_scope
from incidents.store.models import (
    Assignment,
    AssignmentState,
    AuditEvent,
    Hazard,
    Segment,
    Task,
    Unit,
)
from tests.test_dashboard_apptest import (
    APP,
    HOSTILE,
    PASSWORDS,
    PATROL_UNIT,
    login,
    seed_fixture,
    texts,
)


@pytest.fixture(scope="module")
def patrol_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("patrol")
    url = f"sqlite:///{(folder / 'winterops.db').as_posix()}"
    yield url, seed_fixture(url, folder / "var", storm=False)


@pytest.fixture
def tablet(patrol_db: tuple[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("WINTEROPS_DATABASE_URL", patrol_db[0])
    return _tablet()


def _put_in_state(url: str, aid: int, state: str) -> None:
    """Set the fixture's assignment (and its unit and task) to `state`, as the lifecycle would
    (ORM writes: the change counters move, so the page's caches see it)."""
    engine = make_engine(url)
    with session_scope(session_factory(engine)) as s:
        a = s.get(Assignment, aid)
        assert a is not None
        later = a.confirmed_at + timedelta(minutes=5)
        a.state, a.version, a.cleared_at = state, a.version + 1, None
        a.en_route_at = later if state in ("en_route", "on_scene") else None
        a.on_scene_at = later if state == "on_scene" else None
        unit, task = s.get(Unit, a.unit_id), s.get(Task, a.task_id)
        assert unit is not None and task is not None
        unit.status = UNIT_STATUS_AFTER[AssignmentState(state)].value
        task.status, task.closed_at = "assigned", None
    engine.dispose()


def _state(url: str, aid: int) -> str:
    engine = make_engine(url)
    with session_factory(engine)() as s:
        a = s.get(Assignment, aid)
        assert a is not None
        state = str(a.state)
    engine.dispose()
    return state


def _tablet() -> Any:
    """A fresh AppTest logged in as the demo patrol lead (WINTEROPS_DATABASE_URL set)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    login(at, "patrol", PASSWORDS["patrol"])
    assert not at.exception, at.exception
    return at


def _status_buttons(at: Any, aid: int) -> list[str]:
    prefix = f"wo_st_{aid}_"
    return [str(b.key)[len(prefix):] for b in at.button if str(b.key or "").startswith(prefix)]


@pytest.mark.parametrize("state", ["confirmed", "en_route", "on_scene"])
def test_every_status_button_shown_is_legal_and_succeeds(
    patrol_db: tuple[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, state: str
) -> None:
    url, ids = patrol_db
    aid = ids["assignment"]
    _put_in_state(url, aid, state)
    monkeypatch.setenv("WINTEROPS_DATABASE_URL", url)
    shown = _status_buttons(_tablet(), aid)
    assert shown, f"a button for the next step from {state}"
    legal = {s.value for s in TRANSITIONS[AssignmentState(state)]}
    assert set(shown) <= legal, f"{state}: shown {shown}, legal {sorted(legal)}"
    for target in shown:  # each one shown succeeds (fresh state and page for each)
        _put_in_state(url, aid, state)
        at = _tablet()
        at.button(key=f"wo_st_{aid}_{target}").click()
        at.run()
        assert not at.exception, at.exception
        if target == "cleared":  # asks again first: nothing changed yet
            assert _state(url, aid) == state
            keys = {str(b.key) for b in at.button}
            assert {f"wo_yes_{aid}", f"wo_back_{aid}"} <= keys
            assert f"wo_st_{aid}_cleared" not in keys  # the confirm is a different button
            at.button(key=f"wo_yes_{aid}").click()
            at.run()
            assert not at.exception, at.exception
        assert _state(url, aid) == target
        assert not at.error, [e.value for e in at.error]
        assert any(str(s.value).startswith("状态已更新") for s in at.success)
    _put_in_state(url, aid, "confirmed")


def test_cleared_can_be_taken_back(
    patrol_db: tuple[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, ids = patrol_db
    aid = ids["assignment"]
    _put_in_state(url, aid, "on_scene")
    monkeypatch.setenv("WINTEROPS_DATABASE_URL", url)
    at = _tablet()
    at.button(key=f"wo_st_{aid}_cleared").click()
    at.run()
    at.button(key=f"wo_back_{aid}").click()
    at.run()
    assert not at.exception, at.exception
    assert _state(url, aid) == "on_scene"
    assert _status_buttons(at, aid) == ["cleared"]
    _put_in_state(url, aid, "confirmed")


def test_task_card_says_where_what_and_how_many(
    tablet: Any, patrol_db: tuple[str, dict[str, Any]]
) -> None:
    url, _ids = patrol_db
    shown = texts(tablet)
    engine = make_engine(url)
    with session_factory(engine)() as s:
        a = s.get(Assignment, patrol_db[1]["assignment"])
        assert a is not None
        task = s.get(Task, a.task_id)
        assert task is not None and task.incident is not None
        road = task.incident.road_code
    engine.dispose()
    assert f"位置: {road} K" in shown  # road and kilometre post
    assert "被困 5 人（老幼病弱 1）· 车辆 2 辆" in shown
    assert "事件：车辆被困" in shown and "需求：救援" in shown  # what, in the interface language
    # the route from where the unit is now, along the roads, and its live ETA (never "0")
    engine = make_engine(url)
    with session_factory(engine)() as s:
        routes = unit_routes(s, load_region(Settings.from_env({}).region_dir), PATROL_UNIT)
    engine.dispose()
    route = routes[patrol_db[1]["assignment"]]
    assert route["on_network"] and route["km"] > 0.1 and route["eta_s"] > 0
    assert f"路线：沿公路 {route['km']:.1f} 公里" in shown
    assert f"预计 {math.ceil(route['eta_s'] / 60)} 分钟到达（北京时间 " in shown
    assert "预计 0 分钟" not in shown
    # the caller's words came from outside: shown escaped, never as raw HTML; the English
    # title fusion builds is not shown in the Chinese interface
    cards = [str(m.value) for m in tablet.markdown if "报警人说明" in str(m.value)]
    assert cards, "the caller's note is on the card"
    assert all(HOSTILE not in c for c in cards)
    assert any(escape_markdown(HOSTILE) in c for c in cards)
    assert "stranded" not in shown
    svgs = [str(m.value) for m in tablet.markdown if str(m.value).startswith("<svg")]
    assert svgs and "<polyline" in svgs[0], "a small drawing of the route"


def test_nearby_hazards_with_a_linestring_hazard(
    patrol_db: tuple[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ids = patrol_db
    engine = make_engine(url)
    with session_scope(session_factory(engine)) as s:
        unit = s.get(Unit, PATROL_UNIT)
        assert unit is not None
        x, y = unit.geometry.x, unit.geometry.y
        seed = s.scalars(select(Hazard)).first()
        assert seed is not None
        line = Hazard(segment_id=seed.segment_id, condition="drifting_snow", state="open",
                      geometry=shapely.LineString([(x + 0.02, y - 0.05), (x + 0.02, y + 0.05)]),
                      road_code="G331", km=12.3, first_seen=seed.first_seen,
                      last_seen=seed.last_seen)
        s.add(line)
        s.flush()
        line_id = line.id
    engine.dispose()
    monkeypatch.setenv("WINTEROPS_DATABASE_URL", url)
    at = _tablet()
    shown = texts(at)
    assert "Point geometries" not in shown and "数据库暂不可用" not in shown
    assert f"#{line_id} 吹雪" in shown or f"#{line_id} " in shown
    row = next(str(t.value) for t in at.text if str(t.value).startswith(f"#{line_id} "))
    assert "G331 K12+300" in row and row.endswith(" km")
    assert 1.0 < float(row.rsplit("·", 1)[1].replace("km", "").strip()) < 2.0  # ~1.6 km east
    # and it can be marked cleared from there
    at.button(key=f"wo_clear_{line_id}").click()
    at.run()
    assert not at.exception, at.exception
    engine = make_engine(url)
    with session_factory(engine)() as s:
        h = s.get(Hazard, line_id)
        assert h is not None and h.state == "cleared" and h.cleared_by == "patrol"
        assert s.scalars(select(AuditEvent).where(AuditEvent.action == "hazard.cleared",
                                                  AuditEvent.actor == "patrol")).first()
    engine.dispose()


def test_page_source_has_no_private_rule_copies() -> None:
    """The page takes its buttons from the service (the lifecycle), not its own table."""
    page = (Path(APP).parent / "app_pages" / "patrol.py").read_text(encoding="utf-8")
    assert "NEXT_STATES" not in page and "_km(" not in page


def test_a_hazard_off_the_units_work_offers_no_clear_button(
    patrol_db: tuple[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service refuses a lead clearing a hazard off their task or section (issue 15): the
    page shows that hazard with a note instead of a button that could only fail."""
    url, _ids = patrol_db
    engine = make_engine(url)
    with session_scope(session_factory(engine)) as s:
        unit = s.get(Unit, PATROL_UNIT)
        assert unit is not None
        x, y = unit.geometry.x, unit.geometry.y
        seed = s.scalars(select(Hazard)).first()
        assert seed is not None
        seg = s.scalars(
            select(Segment).where(Segment.section_id.is_not(None),
                                  Segment.section_id != seed.section_id)
        ).first()
        assert seg is not None
        far = Hazard(segment_id=seg.id, section_id=seg.section_id, condition="black_ice",
                     state="open", geometry=shapely.Point(x + 0.01, y + 0.02),
                     road_code=seg.road_code, km=seg.km_from, first_seen=seed.first_seen,
                     last_seen=seed.last_seen)
        s.add(far)
        s.flush()
        far_id = far.id
    engine.dispose()
    monkeypatch.setenv("WINTEROPS_DATABASE_URL", url)
    at = _tablet()
    assert not at.exception, at.exception
    assert any(str(t.value).startswith(f"#{far_id} ") for t in at.text), "listed"
    assert f"wo_clear_{far_id}" not in [str(b.key) for b in at.button], "no button to fail"
    assert "不在本车任务或路段上" in texts(at)
