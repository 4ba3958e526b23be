"""The workflow panels (issue 12) driven with Streamlit's AppTest on a real database (SQLite and
PostGIS): override with a required reason, overdue graded with acknowledge, merge reasons on
an incident, unit readiness."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from dashboard.actions import SessionUser
from dashboard.i18n import t
from incidents.clock import set_clock
from incidents.service.users import create_user
from incidents.settings import Settings
from incidents.store.engine import init_db, make_engine, session_factory, session_scope
from incidents.store.models import Assignment, AuditEvent, Incident, OverdueMark, Unit
from tests.test_dispatch import NOW, add_task, add_unit, write_tiny_region

LATER = NOW + timedelta(minutes=25)  # the rescue task (people waiting) is critical by then


def _script() -> None:
    """The test page: draw one panel as the user in the session (what the dispatch page does)."""
    import streamlit as st

    from dashboard import ui
    from dashboard.console import incident_detail, overdue, override, units

    ui.show_flash()
    user = ui.current_user()
    lang, url = ui.lang(), ui.db_url()
    which = st.session_state["wo_test_panel"]
    if which == "overdue":
        overdue.overdue_panel(lang, url, user)
    elif which == "incident":
        incident_detail.incident_panel(lang, url, user, st.session_state["wo_test_incident"])
    elif which == "units":
        units.units_panel(lang, url, user)
    else:
        override.override_chooser(lang, url, user, st.session_state["wo_test_rec"])


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    region_dir = write_tiny_region(tmp_path / "data" / "region")
    settings = replace(Settings.from_env({}), database_url=db_url, var_dir=tmp_path / "var",
                       data_dir=region_dir.parent)
    engine = make_engine(db_url)
    init_db(engine)
    factory = session_factory(engine)
    with session_scope(factory) as s:
        add_unit(s, "U1", 10, caps=("traffic_control", "rescue"))
        add_unit(s, "U2", 40, caps=("traffic_control", "rescue"))
        rescue = add_task(s, 12, 50.0, NOW - timedelta(minutes=30), capability="rescue",
                          people=4)
        plain = add_task(s, 30, 80.0, NOW - timedelta(minutes=2))
        create_user(s, "disp", "correct-horse-1", "dispatcher")
        create_user(s, "wall1", "correct-horse-3", "wall")
        inc = s.get(Incident, rescue.incident_id)
        assert inc is not None
        inc.report_ids = [101, 102]
        inc.merge_log = [
            {"report_id": 101, "kind": "call", "rule": "new", "why": "first report"},
            {"report_id": 102, "kind": "call", "rule": "along_road", "distance_m": 712.0,
             "minutes": 28.4, "vehicles": [3, 2], "why": "0.7 km apart along G1, ..."},
        ]
        set_clock(s, LATER)
        ids = {"rescue": rescue.id, "plain": plain.id, "incident": inc.id}
    yield {"settings": settings, "factory": factory, **ids}
    engine.dispose()


def _app(world: dict[str, Any], panel: str, user: str = "disp", role: str = "dispatcher",
         lang: str = "zh", **state: Any) -> AppTest:
    app = AppTest.from_function(_script, default_timeout=60)
    app.session_state["wo_settings"] = world["settings"]
    app.session_state["wo_user"] = SessionUser(user, role)
    app.session_state["wo_lang"] = lang
    app.session_state["wo_test_panel"] = panel
    for k, v in state.items():
        app.session_state[k] = v
    app.run()
    assert not app.exception, app.exception
    return app


def _texts(app: AppTest) -> str:
    parts = [e.value for e in (*app.markdown, *app.caption, *app.success, *app.warning,
                               *app.error, *app.info)]
    return "\n".join(str(p) for p in parts).replace("\\", "")  # Markdown escapes off


def test_overdue_panel_grades_and_a_dispatcher_acknowledges(world: dict[str, Any]) -> None:
    app = _app(world, "overdue")
    shown = _texts(app)
    assert t("cw.overdue_summary", "zh", critical=1, late=0, watch=1, acked=0) in shown
    table = app.dataframe[0].value
    grades = list(table[t("cw.col_grade", "zh")])
    assert grades == [t("cw.grade.critical", "zh"), t("cw.grade.watch", "zh")], "worst first"
    app.selectbox(key="wo_od_sel").set_value(world["rescue"]).run()
    app.button(key="wo_od_ack").click().run()
    assert not app.exception, app.exception
    assert t("cw.acknowledged", "zh", task=world["rescue"]) in _texts(app)
    assert t("cw.overdue_summary", "zh", critical=0, late=0, watch=1, acked=1) in _texts(app)
    with world["factory"]() as s:
        marks = s.scalars(select(OverdueMark)).all()
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "overdue.acknowledged")
                          ).all()
    assert [(m.task_id, m.grade, m.actor) for m in marks] == [(world["rescue"], "critical",
                                                               "disp")]
    assert len(audit) == 1 and audit[0].actor == "disp"


def test_a_wall_display_sees_the_grades_but_no_controls(world: dict[str, Any]) -> None:
    app = _app(world, "overdue", user="wall1", role="wall")
    assert len(app.dataframe) == 1
    assert not [b for b in app.button if str(b.key or "").startswith("wo_od_")]


def test_override_needs_a_reason_and_says_overridden(world: dict[str, Any]) -> None:
    from types import SimpleNamespace

    rec = SimpleNamespace(task_id=world["plain"], unit_id="U1")
    app = _app(world, "override", lang="en", wo_test_rec=rec)
    app.toggle(key=f"wo_ovr_open_{world['plain']}_U1").set_value(True).run()
    box = app.selectbox(key=f"wo_ovr_sel_{world['plain']}_U1")
    assert box.options and "U2 · patrol car" in box.options[0], box.options  # class shown
    assert "min" in box.options[0] and "fuel 100%" in box.options[0]  # ETA and fuel
    box.set_value("U2").run()
    app.button(key=f"wo_ovr_{world['plain']}_U1").click().run()
    assert t("cw.override_need_reason", "en") in _texts(app)
    with world["factory"]() as s:
        assert s.scalars(select(Assignment)).all() == []
    app.text_input(key=f"wo_ovr_reason_{world['plain']}_U1").input("U1 is iced in").run()
    app.button(key=f"wo_ovr_{world['plain']}_U1").click().run()
    shown = _texts(app)
    assert "Overridden: U2 -> task" in shown and "Confirmed" not in shown
    with world["factory"]() as s:
        a = s.scalars(select(Assignment)).one()
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "assignment.override")).one()
    assert a.unit_id == "U2" and ev.details["reason"] == "U1 is iced in"


def test_incident_panel_shows_why_the_reports_are_one(world: dict[str, Any]) -> None:
    app = _app(world, "incident", wo_test_incident=world["incident"])
    shown = _texts(app)
    assert t("cw.why_title", "zh") in shown
    assert "0.7" in shown and "28" in shown and "3 与 2" in shown, shown
    assert "along G1" not in shown, "the stored English sentence is not shown in Chinese"
    assert app.button(key="wo_inc_merge_btn") is not None  # another open incident to merge
    wall = _app(world, "incident", user="wall1", role="wall", wo_test_incident=world["incident"])
    assert not [b for b in wall.button if str(b.key or "").startswith("wo_inc_")]


def test_units_panel_takes_a_unit_out_of_service_with_a_reason(world: dict[str, Any]) -> None:
    app = _app(world, "units", lang="en")
    table = app.dataframe[0].value
    assert list(table["Fuel"]) == ["100%", "100%"]
    app.selectbox(key="wo_ur_sel").set_value("U2").run()
    app.radio(key="wo_ur_service_U2").set_value("out")
    app.text_input(key="wo_ur_reason_U2").input("broken chains")
    app.button[0].click().run()  # the form's save button: the form's values go with it
    assert not app.exception, app.exception
    assert t("cw.readiness_saved", "en", unit="U2") in _texts(app)
    with world["factory"]() as s:
        u = s.get(Unit, "U2")
        assert u is not None and u.status == "out_of_service"


def test_the_incident_picker_follows_a_selection_made_elsewhere(world: dict[str, Any]) -> None:
    """A map click sets the selected incident (incident_detail.SELECTED); the panel shows it."""
    app = _app(world, "incident", wo_test_incident=None)
    assert app.selectbox(key="wo_incident_pick").value is None
    app.session_state["wo_incident_id"] = world["incident"]
    app.run()
    assert app.selectbox(key="wo_incident_pick").value == world["incident"]
    assert t("cw.why_title", "zh") in _texts(app)
