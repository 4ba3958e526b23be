"""`winterops ingest ...` through the real typer app: JSON contract and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from incidents.cli.app import app
from incidents.store.engine import make_engine
from incidents.store.engine import session_factory as make_factory
from incidents.store.models import Alert, FeedStatus, Report

FIX = Path(__file__).parent / "fixtures" / "ingest"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("WINTEROPS_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("WINTEROPS_DATABASE_URL", raising=False)
    return f"sqlite:///{tmp_path / 'w.db'}"


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.output


def test_ingest_alerts_json_contract(env: str) -> None:
    code, out = run(
        "ingest",
        "alerts",
        str(FIX / "cap_zh_blizzard.xml"),
        str(FIX / "cap_zh_update.xml"),
        str(FIX / "cap_hostile.xml"),
        "--json",
        "--db",
        env,
    )
    assert code == 0, out
    doc = json.loads(out)
    assert set(doc) >= {"kind", "sources", "accepted", "updated", "cancelled", "duplicates"}
    assert doc["kind"] == "alerts" and doc["accepted"] == 2 and doc["updated"] == 1
    assert len(doc["quarantined"]) == 1
    q = doc["quarantined"][0]
    assert q["source"].endswith("cap_hostile.xml") and "hostile XML" in q["reason"]
    with make_factory(make_engine(env))() as s:
        states = dict(s.execute(select(Alert.identifier, Alert.state)).all())
    # the update expired in December 2025: stored as expired (the CLI runs on the real clock)
    assert states == {"CN-XLGL-20251214-0001": "updated", "CN-XLGL-20251214-0002": "expired"}


def test_ingest_twice_adds_nothing_and_text_output(env: str) -> None:
    code, out = run("ingest", "calls", str(FIX / "calls_gbk.csv"), "--db", env)
    assert code == 0 and "quarantined" in out
    code, out = run("ingest", "calls", str(FIX / "calls_gbk.csv"), "--db", env, "--json")
    doc = json.loads(out)
    assert doc["accepted"] == 0 and doc["duplicates"] == 3
    with make_factory(make_engine(env))() as s:
        assert s.scalar(select(func.count()).select_from(Report)) == 3
        phones = [r.attributes["phone_masked"] for r in s.scalars(select(Report))]
    assert phones == ["138****1111", "138****2222", "138****3333"]


def test_exit_1_when_a_source_is_unreadable(env: str, tmp_path: Path) -> None:
    code, out = run(
        "ingest", "waze", str(FIX / "waze.json"), str(tmp_path / "nope.json"), "--json", "--db", env
    )
    assert code == 1
    doc = json.loads(out)
    assert doc["accepted"] == 2 and doc["unreadable"][0]["source"].endswith("nope.json")


def test_exit_2_for_bad_arguments(env: str, tmp_path: Path) -> None:
    assert run("ingest", "tweets", "x", "--db", env)[0] == 2
    assert run("ingest", "alerts", "--db", env)[0] == 2  # no source
    bad = tmp_path / "m.toml"
    bad.write_text('[columns]\n"x" = "nope"\n')
    code, out = run(
        "ingest", "calls", str(FIX / "calls_other.csv"), "--mapping", str(bad), "--db", env
    )
    assert code == 2 and "nope" in out
    code, out = run(
        "ingest",
        "calls",
        str(FIX / "calls_other.csv"),
        "--mapping",
        str(FIX / "calls_mapping.toml"),
        "--json",
        "--db",
        env,
    )
    assert code == 0 and json.loads(out)["accepted"] == 1
    cfg = tmp_path / "feeds.toml"
    cfg.write_text('[[feeds]]\nkind = "nope"\nsource = "x"\n')
    assert run("ingest", "watch", "--config", str(cfg), "--once", "--db", env)[0] == 2


def test_watch_once(env: str, tmp_path: Path) -> None:
    cfg = tmp_path / "feeds.json"
    cfg.write_text(
        json.dumps(
            {
                "feeds": [
                    {
                        "name": "drone-dir",
                        "kind": "drone",
                        "source": str(FIX / "detections.csv"),
                        "interval_s": 60,
                    },
                    {
                        "name": "gone",
                        "kind": "calls",
                        "source": str(tmp_path / "gone"),
                        "interval_s": 60,
                    },
                ]
            }
        )
    )
    code, out = run("ingest", "watch", "--config", str(cfg), "--once", "--db", env)
    assert code == 1 and "drone-dir: ok" in out and "gone: unreadable" in out
    with make_factory(make_engine(env))() as s:
        st = {f.feed: f for f in s.scalars(select(FeedStatus))}
    assert st["drone-dir"].last_success is not None and st["gone"].last_error
    # the config was imported into the database: the next run needs no --config
    assert st["drone-dir"].enabled and st["drone-dir"].interval_s == 60
    code, out = run("ingest", "watch", "--once", "--db", env)
    assert code == 1 and "drone-dir: ok, 0 accepted" in out and "gone: unreadable" in out


def test_watch_without_feeds_says_how_to_add_one(env: str) -> None:
    code, out = run("ingest", "watch", "--once", "--db", env)
    assert code == 0 and "no enabled feeds" in out and "cycle 1: no feed due" in out


def test_zone_file_resolves_nws_zones(env: str, tmp_path: Path) -> None:
    nws = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": None,
                "properties": {
                    "id": "Z-1",
                    "sender": "w-nws.webmaster@noaa.gov",
                    "sent": "2025-12-14T03:00:00-08:00",
                    "messageType": "Alert",
                    "event": "Winter Storm Warning",
                    "affectedZones": ["https://api.weather.gov/zones/forecast/ORZ001"],
                },
            }
        ],
    }
    src = tmp_path / "nws.json"
    src.write_text(json.dumps(nws))
    code, out = run("ingest", "alerts", str(src), "--json", "--db", env)
    assert code == 0 and json.loads(out)["accepted"] == 0
    zones = tmp_path / "zones.geojson"
    square = {"type": "Polygon", "coordinates": [[[-124, 45], [-123, 45], [-123, 46], [-124, 45]]]}
    zones.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {"type": "Feature", "geometry": square, "properties": {"id": "ORZ001"}}
                ],
            }
        )
    )
    code, out = run("ingest", "alerts", str(src), "--zones", str(zones), "--json", "--db", env)
    doc = json.loads(out)
    assert code == 0 and doc["accepted"] == 1 and not doc["quarantined"]
    with make_factory(make_engine(env))() as s:
        alert = s.scalars(select(Alert)).one()
    assert alert.hazard_class == "blizzard" and alert.area is not None
    assert alert.area.bounds == (-124.0, 45.0, -123.0, 46.0)
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [{"properties": {}}]}')
    assert run("ingest", "alerts", str(src), "--zones", str(bad), "--db", env)[0] == 2


def test_a_full_disk_is_told_apart_from_other_errors() -> None:
    """The ingest command turns only disk-full errors into one line (tests/test_disk_full.py
    runs the real thing on a small filesystem)."""
    import errno
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from incidents.cli.ingest import disk_full

    wrapped = OperationalError("INSERT ...", {}, sqlite3.OperationalError("database or disk is full"))
    assert disk_full(wrapped)
    assert disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert disk_full(OSError(errno.EFBIG, "File too large"))
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("archive failed") from inner
    except RuntimeError as outer:
        assert disk_full(outer)
    assert not disk_full(OperationalError("SELECT", {}, sqlite3.OperationalError("no such table")))
    assert not disk_full(OSError(errno.EACCES, "Permission denied"))
