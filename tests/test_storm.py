"""The demo storm: generator determinism, the seed events in the files, loading at a moment."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from geo.region import load_region
from incidents.replay.storm import seed_demo_storm
from incidents.settings import Settings
from incidents.store.engine import init_db, make_engine, session_factory, session_scope
from incidents.store.models import Assignment, AuditEvent, Hazard, Incident, Report, Setting, Task

ROOT = Path(__file__).resolve().parents[1]
STORM = ROOT / "data" / "scenarios" / "demo-storm"
MOMENT = datetime(2025, 12, 13, 12, 0, tzinfo=UTC)


def test_generator_reproduces_the_committed_files() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "data" / "scenarios" / "build_demo_storm.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert out.returncode == 0, summary["differences"][:5]
    assert summary["differences"] == []
    assert 180 <= summary["calls"] <= 230 and 120 <= summary["detections"] <= 200
    size = sum(p.stat().st_size for p in STORM.rglob("*") if p.is_file())
    assert size < 3_000_000


def test_files_carry_the_seed_events_and_the_real_quirks() -> None:
    manifest = json.loads((STORM / "manifest.json").read_text(encoding="utf-8"))
    calls = sorted((STORM / "calls").glob("*.csv"))
    gbk = [p for p in calls if p.name.endswith("-gbk.csv")]
    assert gbk and len(gbk) < len(calls)
    with pytest.raises(UnicodeDecodeError):
        b"".join(p.read_bytes() for p in gbk).decode("utf-8")
    rows = []
    for p in calls:
        enc = "gbk" if p in gbk else "utf-8"
        rows += list(csv.reader(io.StringIO(p.read_bytes().decode(enc))))[1:]
    datums = {r[5] for r in rows}
    assert {"WGS84", "GCJ-02"} <= datums
    assert any(r[7].startswith("K") for r in rows)  # kilometre posts
    assert any(r[8] and not r[3] and not r[7] for r in rows)  # place name only
    assert any("35辆车" in r[-1] for r in rows)  # Abag's township road
    assert any("半挂车" in r[-1] for r in rows)  # New Barag Left Banner
    caps = [
        (STORM / f["file"]).read_text(encoding="utf-8")
        for f in manifest["feeds"]
        if f["kind"] == "alerts"
    ]
    assert any("<msgType>Update</msgType>" in c for c in caps)
    assert any("<msgType>Cancel</msgType>" in c for c in caps)
    assert any("<value>150425000000</value>" in c and "道路结冰" in c for c in caps)  # Hexigten
    assert {o["event"] for o in manifest["incident_overrides"]} == {
        "new_barag_left_ditch",
        "abag_35_stranded",
    }


def test_seed_demo_storm_at_a_moment(tmp_path: Path) -> None:
    settings = replace(
        Settings.from_env({}),
        database_url=f"sqlite:///{(tmp_path / 'demo.db').as_posix()}",
        var_dir=tmp_path / "var",
    )
    engine = make_engine(settings.database_url)
    init_db(engine)
    factory = session_factory(engine)
    region = load_region(settings.region_dir)
    try:
        # 20:00 on 13 Dec (the busy default is 03:00 on the 14th; earlier keeps the test short)
        first = seed_demo_storm(factory, region, settings, at=MOMENT)
        again = seed_demo_storm(factory, region, settings, at=MOMENT)
        with session_scope(factory) as s:
            n_assign = s.scalar(select(func.count()).select_from(Assignment))
            states = set(s.scalars(select(Assignment.state)))
            open_tasks = s.scalar(
                select(func.count()).select_from(Task).where(Task.status == "open")
            )
            handed = s.scalars(select(Hazard).where(Hazard.state == "handed_over")).all()
            abag = s.scalars(select(Incident).where(Incident.vehicles >= 30)).all()
            audits = s.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.actor == "demo")
            )
            # loaded through the pipeline: every point report was fused at the moment
            unfused = s.scalar(
                select(func.count()).select_from(Report).where(
                    Report.kind.in_(("call", "drone_detection", "waze")),
                    Report.segment_id.is_(None),
                    Report.off_road_reason.is_(None),
                )
            )
            clock = s.get(Setting, "clock")
    finally:
        engine.dispose()
    assert first["moment"] == MOMENT.isoformat()
    assert first["feeds"]["calls"] > 10 and first["feeds"]["alerts"] >= 5
    assert first["assignments"]["confirmed"] > 5 and first["assignments"]["en_route"] > 0
    assert states == {"confirmed", "en_route"}
    assert open_tasks and open_tasks > 10
    assert handed and all(h.road_chief_id for h in handed)
    assert abag  # the 35 stranded vehicles are one incident
    assert audits and n_assign and audits >= n_assign  # every demo action is audited
    assert unfused == 0
    assert clock is not None and clock.value.get("set_at") and not clock.value.get("frozen")
    # a second load adds nothing
    assert again["feeds"] == {k: 0 for k in again["feeds"]}
    assert again["assignments"]["confirmed"] == 0
