"""Reports -> incidents through incidents.live.pipeline; feeds kept in the database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from incidents import queries
from incidents.cli.app import app
from incidents.dispatch import recommend
from incidents.live import (
    import_config,
    ingest_result,
    list_feeds,
    migrate_settings_feeds,
    rank_now,
    remove_feed,
    report_patrol_hazard,
    save_feed,
    store_recommendations,
)
from incidents.store.engine import session_scope
from incidents.store.models import (
    Assignment,
    AuditEvent,
    FeedStatus,
    Hazard,
    Incident,
    Report,
    Setting,
    Unit,
)
from incidents.store.region import load_region_into_db
from ingest.errors import ConfigError
from ingest.runner import parse_payload
from tests.fusion_region import at, tiny_region

SHANGHAI = ZoneInfo("Asia/Shanghai")
HEADER = "编号,来电时间,经度,纬度,坐标系,桩号,道路,地点,车辆数,被困人数,老幼病孕,车型,需求,来电号码,备注"


def calls_csv(region, rows: list[tuple[str, float, int]], when: datetime | None = None) -> bytes:
    """A call-centre CSV: (call id, G999 km, minutes ago) per row, people stranded."""
    when = when or datetime.now(UTC)
    lines = [HEADER]
    for cid, km, ago in rows:
        p = at(region, "G999", km)
        t = (when - timedelta(minutes=ago)).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(
            f"{cid},{t},{p.x:.6f},{p.y:.6f},wgs84,,,,1,3,1,小轿车,取暖,1380000{cid[-4:]},车辆被困"
        )
    return ("\n".join(lines) + "\n").encode("utf-8")


def count(session_factory, model, *where) -> int:
    with session_scope(session_factory) as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.fixture
def data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """WINTEROPS_DATA_DIR with the tiny region, var in tmp_path; returns the loaded region."""
    monkeypatch.setenv("WINTEROPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WINTEROPS_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("WINTEROPS_DATABASE_URL", raising=False)
    return tiny_region(tmp_path / "data" / "region")


def test_ingest_calls_cli_makes_incidents_and_readers_do_not_fuse(
    data_env, db_url, session_factory, tmp_path
):
    region = data_env
    with session_scope(session_factory) as s:
        load_region_into_db(s, region)  # units, as `winterops demo` stores them
    src = tmp_path / "calls.csv"
    src.write_bytes(calls_csv(region, [("ZH-0001", 5.0, 10), ("ZH-0002", 25.0, 8)]))
    runner = CliRunner()
    res = runner.invoke(app, ["ingest", "calls", str(src), "--json", "--db", db_url])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["accepted"] == 2
    assert doc["fusion"]["reports_fused"] == 2 and doc["fusion"]["incidents_created"] == 2
    assert count(session_factory, Incident) == 2  # no other command needed

    # reports stored by someone else (not through the pipeline) stay unfused under the readers
    with session_scope(session_factory) as s:
        s.add(Report(kind="call", natural_key="raw-1", source="t", subtype="stranded",
                     observed_at=datetime.now(UTC), geometry=at(region, "G999", 15.0),
                     flags=[], attributes={"people": 2, "vehicles": 1}))
    before = count(session_factory, Incident)
    hot = runner.invoke(app, ["hotspots", "--db", db_url])
    assert hot.exit_code == 0, hot.output
    rec = runner.invoke(app, ["recommend", "--json", "--db", db_url])
    assert rec.exit_code == 0, rec.output
    assert json.loads(rec.stdout), "the two incidents' tasks get recommendations"
    assert count(session_factory, Incident) == before
    assert count(session_factory, Report, Report.segment_id.is_(None),
                 Report.off_road_reason.is_(None)) == 1
    # the same file again: duplicates only, nothing fused
    again = json.loads(runner.invoke(app, ["ingest", "calls", str(src), "--json", "--db", db_url]).stdout)
    assert again["accepted"] == 0 and again["duplicates"] == 2 and again["fusion"] is None


def test_ingest_commands_come_from_the_kinds_list():
    from incidents.live import feed_kinds

    res = CliRunner().invoke(app, ["ingest", "--help"])
    assert res.exit_code == 0
    for kind in (*feed_kinds(), "watch"):
        assert kind in res.stdout


def test_ingest_result_stores_then_fuses(tmp_path, session_factory, settings):
    region = tiny_region(tmp_path / "region")
    data = calls_csv(region, [("ZH-0101", 3.0, 5)])
    parsed = parse_payload("calls", data, "calls.csv", region)
    res = ingest_result(session_factory, region, settings, "calls", parsed)
    assert res.counts.accepted == 1 and res.fusion is not None
    assert res.fusion.incidents_created == 1 and res.changed
    again = ingest_result(session_factory, region, settings, "calls", parsed)
    assert again.counts.duplicates == 1 and again.fusion is None
    assert count(session_factory, Incident) == 1


def test_patrol_hazard_is_snapped_and_becomes_a_hazard(tmp_path, session_factory, settings):
    region = tiny_region(tmp_path / "region")
    p = at(region, "G999", 10.0, north_m=20)
    when = datetime.now(UTC)
    rid = report_patrol_hazard(
        session_factory, region, settings, unit_id="P1", lon=p.x, lat=p.y,
        condition="black_ice", note="ice <b>here</b>", at=when, actor="lead1",
    )
    with session_scope(session_factory) as s:
        r = s.get(Report, rid)
        assert r is not None and r.kind == "patrol" and r.segment_id is not None
        hazards = s.scalars(select(Hazard)).all()
        assert any(rid in (h.report_ids or []) for h in hazards)
        assert s.scalar(select(func.count()).select_from(AuditEvent)
                        .where(AuditEvent.action == "hazard.report")) == 1
    with pytest.raises(ValueError, match="out of range"):
        report_patrol_hazard(session_factory, region, settings, unit_id=None, lon=200, lat=0,
                             condition="black_ice", note="", at=when, actor="lead1")


def test_recommendations_are_kept_equal_to_the_ranking(tmp_path, session_factory, settings):
    region = tiny_region(tmp_path / "region")
    with session_scope(session_factory) as s:
        load_region_into_db(s, region)
    parsed = parse_payload("calls", calls_csv(region, [("ZH-0201", 3.0, 5)]), "c.csv", region)
    res = ingest_result(session_factory, region, settings, "calls", parsed)
    assert res.fused_at is not None
    # the pipeline ranked right after the fuse: the new task's card is stored already
    assert res.ranking is not None and res.ranking["added"] >= 1, res.ranking
    with session_scope(session_factory) as s:
        stored = queries.recommended(s)
        recs = recommend(s, region, settings, res.fused_at)
    assert recs and set(zip(stored["task_id"], stored["unit_id"], strict=True)) == {
        (r.task_id, r.unit_id) for r in recs
    }
    assert list(stored["reason"]) == [r.reason for r in recs]
    with session_scope(session_factory) as s:
        again = store_recommendations(s, recs, res.fused_at)
        assert again == {"added": 0, "kept": len(recs), "removed": 0}
        gone = store_recommendations(s, [], res.fused_at)
        assert gone["removed"] == len(recs)
    assert count(session_factory, Assignment) == 0


def test_an_override_retires_the_recommendation_it_replaced(tmp_path, session_factory, settings):
    """The dashboard's override (its one transaction): the stored card of the replaced unit is
    gone at once, the sent unit's assignment is confirmed; a re-rank adds nothing back."""
    from dashboard.console import work_actions

    region = tiny_region(tmp_path / "region")
    with session_scope(session_factory) as s:
        load_region_into_db(s, region)
        for u in s.scalars(select(Unit)).all():  # a second unit able to do whatever R1/P1 do
            s.add(Unit(id=f"ALT-{u.id}", name="alt", vehicle_class=u.vehicle_class,
                       capabilities=list(u.capabilities or []), status="available",
                       geometry=at(region, "G999", 30.0), fuel=1.0))
    parsed = parse_payload("calls", calls_csv(region, [("ZH-0301", 3.0, 5)]), "c.csv", region)
    res = ingest_result(session_factory, region, settings, "calls", parsed)
    with session_factory() as s:
        before = queries.recommended(s)
    assert len(before), "the pipeline stored a recommendation for the new call"
    task_id, unit_id = int(before.loc[0, "task_id"]), str(before.loc[0, "unit_id"])
    other = unit_id.removeprefix("ALT-") if unit_id.startswith("ALT-") else f"ALT-{unit_id}"
    with session_scope(session_factory) as s:
        sent = work_actions._override_and_retire(
            s, "system", task_id, other, recommended_unit_id=unit_id, reason="test: the other unit"
        )
        assert sent.unit_id == other and sent.state == "confirmed"
    with session_factory() as s:
        after = queries.recommended(s)
        left = s.scalars(select(Assignment).where(Assignment.state == "recommended",
                                                  Assignment.task_id == task_id)).all()
    assert task_id not in set(after["task_id"]), "the replaced card is gone at once"
    assert left == [], "the replaced recommendation's row is retired, not only hidden"
    rank_now(session_factory, region, settings, res.fused_at)
    with session_factory() as s:
        again = queries.recommended(s)
    plain = again[again["action"] == "assign"]
    assert task_id not in set(plain["task_id"]), "a re-rank does not bring it back"


def test_feeds_live_in_the_database(session_factory, tmp_path):
    with session_scope(session_factory) as s:  # what an older admin page wrote
        s.add(Setting(key="feeds", value={"feeds": [
            {"name": "cma", "kind": "alerts", "source": "https://example.org/cap.xml",
             "interval_s": 300},
            {"name": "bad", "kind": "tweets", "source": "x", "interval_s": 60},
        ]}))
    with session_scope(session_factory) as s:
        assert list_feeds(s) == []  # reading writes nothing: the worker start migrates
        assert migrate_settings_feeds(s) == 1
        feeds = {f.name: f for f in list_feeds(s)}
        assert set(feeds) == {"cma"} and feeds["cma"].enabled and feeds["cma"].interval_s == 300
        left = s.get(Setting, "feeds")
        assert left is not None and [f["name"] for f in left.value["feeds"]] == ["bad"]
        save_feed(s, name="calls-dir", kind="calls", source=str(tmp_path), interval_s=30,
                  enabled=False, options={"mapping": "m.toml"})
        with pytest.raises(ConfigError):
            save_feed(s, name="x", kind="tweets", source="y", interval_s=30)
        with pytest.raises(ConfigError):
            save_feed(s, name="x", kind="calls", source="y", interval_s=30, options={"nope": 1})
    with session_scope(session_factory) as s:
        assert [f.name for f in list_feeds(s, enabled_only=True)] == ["cma"]
        row = s.get(FeedStatus, "calls-dir")
        assert row is not None and row.options == {"mapping": "m.toml"} and not row.enabled
        assert remove_feed(s, "calls-dir") and not remove_feed(s, "calls-dir")
    cfg = tmp_path / "feeds.toml"
    cfg.write_text(
        '[[feeds]]\nname = "waze"\nkind = "waze"\nsource = "https://example.org/w.json"\n'
        'interval_s = 120\n\n[[feeds]]\nkind = "alerts"\nsource = "a.xml"\nzones = "z.geojson"\n'
        "enabled = false\n"
    )
    with session_scope(session_factory) as s:
        rows = {f.name: f for f in import_config(s, cfg)}
    assert rows["waze"].interval_s == 120 and rows["waze"].enabled
    assert not rows["alerts-2"].enabled
    assert Path(rows["alerts-2"].options["zones"]).is_absolute()
    bad = tmp_path / "bad.json"
    bad.write_text('{"feeds": [{"kind": "nope", "source": "x"}]}')
    with session_scope(session_factory) as s, pytest.raises(ConfigError):
        import_config(s, bad)



def test_avl_through_the_pipeline_moves_the_unit(data_env, db_url, session_factory, tmp_path):
    from incidents.store.models import Unit

    region = data_env
    with session_scope(session_factory) as s:
        load_region_into_db(s, region)
    p = at(region, "G999", 20.0)
    fix = tmp_path / "fix.csv"
    when = datetime.now(UTC).replace(microsecond=0).isoformat()
    fix.write_text(f"unit_id,time,lon,lat,fuel\nR1,{when},{p.x:.6f},{p.y:.6f},40\n")
    res = CliRunner().invoke(app, ["ingest", "avl", str(fix), "--json", "--db", db_url])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["accepted"] == 1 and doc["positions"]["applied"] == 1
    with session_scope(session_factory) as s:
        u = s.get(Unit, "R1")
        assert u is not None and u.geometry is not None
        assert abs(u.geometry.x - p.x) < 1e-5 and u.position_source == "avl"
