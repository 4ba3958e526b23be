"""After-action review of the real response (incidents.review) on SQLite and PostGIS."""

from __future__ import annotations

import json
from datetime import timedelta

from typer.testing import CliRunner

from incidents.cli import app
from incidents.review import INCIDENT_COLUMNS, response_review
from incidents.service import actions as service
from incidents.service.users import create_user
from incidents.store.engine import session_scope
from tests.test_dispatch import NOW, add_task, add_unit


def _storm(session_factory):
    """Two groups: one reached after 25 min (4 people), one still waiting (10 people)."""
    t0 = NOW - timedelta(hours=2)
    with session_scope(session_factory) as s:
        create_user(s, "disp", "dispatch-password-1", "dispatcher")
        add_unit(s, "PC1", 10)
        add_unit(s, "PC2", 40)
        reached = add_task(s, 12, 50.0, t0, people=4)
        waiting = add_task(s, 45, 80.0, t0 + timedelta(minutes=30), people=10)
        ids = reached.id, waiting.id, reached.incident_id, waiting.incident_id
    with session_scope(session_factory) as s:
        a = service.confirm(s, "disp", ids[0], "PC1", t0 + timedelta(minutes=5))
        a_id, version = a.id, a.version
    with session_scope(session_factory) as s:
        a = service.set_status(s, "PC1", a_id, "en_route", version, t0 + timedelta(minutes=6))
        version = a.version
    with session_scope(session_factory) as s:
        service.set_status(s, "PC1", a_id, "on_scene", version, t0 + timedelta(minutes=25))
    with session_scope(session_factory) as s:
        service.override(s, "disp", ids[1], "PC2", t0 + timedelta(minutes=40),
                         recommended_unit_id="PC1", reason="PC1 is busy")
    return t0, ids


def test_review_measures_time_to_first_unit_and_exposure(session_factory):
    t0, (_, _, reached_inc, waiting_inc) = _storm(session_factory)
    with session_factory() as s:
        review = response_review(s, NOW)
    inc = review.incidents.set_index("incident_id")
    assert list(review.incidents.columns) == list(INCIDENT_COLUMNS)
    assert inc.loc[reached_inc, "to_confirm_min"] == 5.0
    assert inc.loc[reached_inc, "to_first_unit_min"] == 25.0
    assert inc.loc[reached_inc, "waiting_min"] == 25.0
    assert abs(inc.loc[reached_inc, "exposure_person_h"] - 4 * 25 / 60) < 1e-9
    # the second group: confirmed by an override 10 min after its call, nobody on scene yet,
    # so it has waited from its first call (t0 + 30 min) until the review's end (NOW)
    assert inc.loc[waiting_inc, "to_confirm_min"] == 10.0
    assert inc.loc[waiting_inc, "first_on_scene_at"] is None or str(
        inc.loc[waiting_inc, "first_on_scene_at"]) == "NaT"
    assert inc.loc[waiting_inc, "waiting_min"] == 90.0
    assert inc.loc[waiting_inc, "exposure_person_h"] == 15.0
    assert review.incidents["incident_id"].iloc[0] == waiting_inc, "worst exposure first"
    sm = review.summary
    assert (sm["incidents"], sm["reached"], sm["waiting"], sm["people"]) == (2, 1, 1, 14)
    assert sm["first_unit_p50_min"] == 25.0
    assert sm["overrides"] == 1 and sm["confirmations"] >= 2
    who = review.by_actor.set_index(["actor", "action"])["count"]
    assert who[("disp", "assignment.override")] == 1
    assert who[("PC1", "assignment.on_scene")] == 1
    assert review.timeline["at"].is_monotonic_increasing


def test_review_period_and_cli_json(session_factory, settings):
    t0, _ = _storm(session_factory)
    with session_factory() as s:
        early = response_review(s, t0 + timedelta(minutes=20))
        later_only = response_review(s, NOW, since=t0 + timedelta(minutes=20))
    # at t0+20 min only the first group had called, and nobody was on scene yet
    assert early.summary["incidents"] == 1 and early.summary["reached"] == 0
    assert early.incidents["waiting_min"].iloc[0] == 20.0
    assert later_only.summary["incidents"] == 1 and later_only.summary["people"] == 10
    res = CliRunner().invoke(
        app, ["review", "--json", "--at", NOW.isoformat(), "--db", settings.database_url]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["summary"]["incidents"] == 2 and out["summary"]["reached"] == 1
    assert {r["action"] for r in out["by_actor"]} >= {"assignment.override"}
    text = CliRunner().invoke(
        app, ["review", "--at", NOW.isoformat(), "--db", settings.database_url]
    )
    assert text.exit_code == 0 and "reached 1, waiting 1, people 14" in text.output


def test_replay_from_the_page_reports_progress_stores_and_audits(
    session_factory, settings, tmp_path
):
    from sqlalchemy import select

    from incidents.dispatch import POLICIES
    from incidents.errors import PermissionDenied
    from incidents.replay.runs import run_replays
    from incidents.store.models import AuditEvent, SimulationRun
    from tests.test_simulate import write_small_scenario

    scenario = write_small_scenario(tmp_path / "sc")
    with session_scope(session_factory) as s:
        create_user(s, "disp", "dispatch-password-1", "dispatcher")
        add_unit(s, "PC9", 1)
        create_user(s, "lead", "patrol-password-12", "patrol_lead", "PC9")
    seen: list[tuple[float, str]] = []
    ids = run_replays(session_factory, "disp", scenario, settings=settings, step_minutes=10,
                      progress=lambda f, p, m: seen.append((f, f"{p}: {m}")))
    fractions = [f for f, _ in seen]
    assert len(ids) == 2 and fractions == sorted(fractions) and fractions[-1] == 1.0
    first, second = POLICIES  # one half of the bar each, in this order
    assert any(0.0 < f < 0.5 and m.startswith(first) for f, m in seen), seen[:5]
    assert any(0.5 < f < 1.0 and m.startswith(second) for f, m in seen)
    import pytest

    with pytest.raises(PermissionDenied):
        run_replays(session_factory, "lead", scenario, settings=settings)
    with session_factory() as s:
        runs = s.scalars(select(SimulationRun).order_by(SimulationRun.id)).all()
        events = s.execute(
            select(AuditEvent.actor, AuditEvent.outcome).where(AuditEvent.action == "replay.run")
        ).all()
    assert tuple(r.policy for r in runs) == POLICIES and [r.id for r in runs] == ids
    assert runs[1].metrics["incidents"] == 2
    assert sorted(events) == [("disp", "ok"), ("disp", "ok"), ("lead", "denied")]
