"""Patrolled road-km per drone flight, read back from the database and shown on the feeds page.

Issue 11: each drone flight on the feeds page with its id, time, km of road patrolled and
detections; the worker's heartbeat beside the feed health. The tracks are parsed from real
files (the fixture GPX along the demo region's Y001, the real AirData export from
../shared/realdata with a stray byte) and stored through the ingest sink, on SQLite and PostGIS.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from geo.region import load_region
from incidents import queries
from incidents.store.engine import init_db, make_engine, session_factory, session_scope
from incidents.store.models import Report, WorkerLease
from incidents.store.sink import DatabaseSink
from ingest.decoding import STRAY_FLAG
from ingest.drone import parse_drone
from ingest.records import concat_results
from tests.conftest import REPO_ROOT

FIX = REPO_ROOT / "tests" / "fixtures" / "ingest"
REGION_DIR = REPO_ROOT / "data" / "region"
NOW = datetime(2025, 12, 14, 3, 0, tzinfo=UTC)  # the fixture flights fly on 14 Dec 2025, ~01:00


@pytest.fixture(scope="module")
def region():  # type: ignore[no-untyped-def]
    if not (REGION_DIR / "roads.geojson").exists():
        pytest.skip("data/region not present")
    return load_region(REGION_DIR)


def _detections(flight: str, n: int) -> bytes:
    rows = ["detection_id,flight_id,type,confidence,time,lon,lat"]
    rows += [
        f"D{i},{flight},black_ice,0.9,2025-12-14T09:0{i}:00+08:00,115.4,44.0" for i in range(n)
    ]
    return ("\n".join(rows) + "\n").encode()


def _stray_airdata(realdata: Path) -> bytes:
    data = next((realdata / "drone" / "dji_airdata_csv").glob("*.csv")).read_bytes()
    lines = data.split(b"\n")
    lines[10] = lines[10].rstrip(b"\r") + b"\xa0"
    return b"\n".join(lines)


def store_flights(factory: Any, region: Any, realdata: Path, at: datetime = NOW) -> None:
    """Store the fixture GPX, the real AirData log (stray byte) and 3 + 1 detections.

    Every flight is then moved to end an hour before `at` (the real log flew in 2023).
    """
    results = [
        parse_drone((FIX / "track.gpx").read_bytes(), "track.gpx", region, now=NOW),
        parse_drone(_stray_airdata(realdata), "air.csv", region, now=NOW),
        parse_drone(_detections("XL-F0003", 3), "det.csv", region, now=NOW),
        parse_drone(_detections("XL-OTHER", 1), "det2.csv", region, now=NOW),
    ]
    DatabaseSink(factory, now=NOW).store("drone", concat_results(results))
    with session_scope(factory) as s:
        for rep in s.scalars(select(Report).where(Report.kind.like("drone%"))):
            rep.observed_at = at - timedelta(hours=2)
            if rep.kind == "drone_track":
                rep.attributes = {
                    **rep.attributes,
                    "ended_at": (at - timedelta(hours=1)).isoformat(),
                }


def test_flights_carry_road_km_detections_and_flags(
    session_factory: Any, region: Any, realdata: Path
) -> None:
    store_flights(session_factory, region, realdata)
    with session_factory() as s:
        flights = queries.drone_flights(s, NOW)
    by_id = flights.set_index("flight_id")
    gpx = by_id.loc["XL-F0003"]
    assert gpx["road_km"] > 0.3 and gpx["length_km"] >= gpx["road_km"]
    assert gpx["detections"] == 3, "the detections that name the flight, not XL-OTHER's"
    air = flights[flights["flight_id"].str.startswith("airdata-")].iloc[0]
    assert STRAY_FLAG in air["flags"], "the stray byte is visible on the flight"
    assert air["detections"] == 0 and air["road_km"] == 0.0, "flown in Illinois: no road here"
    assert list(flights.columns) == queries.DRONE_FLIGHT_COLUMNS
    with session_factory() as s:
        later = queries.drone_flights(s, NOW + timedelta(days=3))
    assert later.empty, "only the last 24 hours"


# ------------------------------------------------------------------------------ feeds page


@pytest.fixture(scope="module")
def page_db(tmp_path_factory: pytest.TempPathFactory, region: Any) -> Iterator[str]:
    from tests.conftest import REALDATA
    from tests.test_dashboard_apptest import seed_fixture

    if not REALDATA.is_dir():
        pytest.skip(f"{REALDATA} not present")
    folder = tmp_path_factory.mktemp("flights")
    url = f"sqlite:///{(folder / 'winterops.db').as_posix()}"
    seed_fixture(url, folder / "var", storm=False)
    engine = make_engine(url)
    init_db(engine)
    factory = session_factory(engine)
    with factory() as s:
        clock = queries.now(s)
    store_flights(factory, region, REALDATA, clock)  # the page shows 24 h of its own clock
    with session_scope(factory) as s:
        s.add(
            WorkerLease(
                name="worker:host-a:1", holder="host-a:1", acquired_at=clock,
                expires_at=datetime.now(UTC) + timedelta(hours=1),
                state={"role": "fusing", "cycle": 7, "at": datetime.now(UTC).isoformat()},
            )
        )  # fmt: skip
    engine.dispose()
    yield url


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_feeds_page_lists_flights_and_the_worker(
    page_db: str, lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    from dashboard.i18n import t
    from tests.test_dashboard_apptest import APP, PASSWORDS, login, switch

    monkeypatch.setenv("WINTEROPS_DATABASE_URL", page_db)
    app = AppTest.from_file(APP, default_timeout=90)
    app.run()
    login(app, "dispatcher", PASSWORDS["dispatcher"])
    switch(app, "feeds")
    if lang == "en":
        app.radio(key="wo_lang_radio").set_value("en")
        app.run()
    assert not app.exception, app.exception
    frames = [df.value for df in app.dataframe]
    flights = next(f for f in frames if t("col.road_km", lang) in f.columns)
    row = flights.set_index(t("col.flight", lang)).loc["XL-F0003"]
    assert row[t("col.road_km", lang)] > 0.3 and row[t("col.detections", lang)] == 3
    assert any(STRAY_FLAG in str(v) for v in flights[t("col.flags", lang)])
    workers = next(f for f in frames if t("col.worker", lang) in f.columns)
    assert list(workers[t("col.worker", lang)]) == ["host-a:1"]
    assert list(workers[t("col.cycle", lang)]) == [7]
    total = f"{flights[t('col.road_km', lang)].fillna(0).sum():.1f}"
    shown = [str(c.value) for c in app.caption]
    assert t("feeds.flights_total", lang, n=len(flights), km=total) in shown
