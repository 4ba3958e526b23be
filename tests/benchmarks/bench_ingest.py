"""Ingest benchmarks: rows/s stored by DatabaseSink vs a row-by-row ORM insert; CAP parse rate.

Rows:
- drone detections and call reports into SQLite (and PostGIS when WINTEROPS_TEST_POSTGIS_URL
  is set or a local ``winterops_test`` database answers): the sink's batched driver-level
  ``INSERT .. ON CONFLICT DO NOTHING`` on 100k rows, against the obvious idempotent ORM loop
  (look the natural key up, ``session.add``, flush, per row), measured on a 5k subset and
  reported as rows/s (the row name says so).
- call CSV parsed per second (100k rows, GB18030) and CAP alerts parsed per second, against
  the bare defusedxml parse of the same bytes.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as DET
from shapely.geometry import Point
from sqlalchemy import create_engine, select, text

from incidents.store.engine import init_db, make_engine, session_factory
from incidents.store.models import Report
from incidents.store.sink import DatabaseSink, report_rows
from ingest.calls import parse_calls
from ingest.cap import parse_cap
from ingest.records import ParseResult, report_frame
from tests.benchmarks.harness import best_of, result

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/winterops_test"
T0 = datetime(2025, 12, 14, tzinfo=UTC)
TYPES = ["black_ice", "snow_drift", "snow_packed", "stranded_vehicle", "crash"]


def detections(n: int) -> ParseResult:
    rows = [
        {
            "kind": "drone_detection",
            "natural_key": f"F{i // 50:05d}:D{i % 50:02d}",
            "source": "bench",
            "raw_sha256": "0" * 64,
            "observed_at": T0 + timedelta(seconds=i),
            "subtype": TYPES[i % 5],
            "confidence": 0.5 + (i % 50) / 100,
            "road_code": None,
            "km": None,
            "place": None,
            "flags": [],
            "attributes": {"flight_id": f"F{i // 50:05d}", "detection_id": f"D{i % 50:02d}"},
            "geometry": Point(111.0 + (i % 1000) * 0.01, 42.0 + (i // 1000) * 0.01),
        }
        for i in range(n)
    ]
    return ParseResult(report_frame(rows), [], None)


def calls_csv(n: int) -> bytes:
    lines = ["编号,来电时间,经度,纬度,坐标系,车辆数,被困人数,车型,需求,来电号码,备注"]
    for i in range(n):
        lines.append(
            f"C{i:07d},2025-12-14 08:{i % 60:02d}:00,{115 + (i % 997) * 0.003:.6f},"
            f"{43 + (i % 991) * 0.002:.6f},gcj02,{1 + i % 4},{1 + i % 9},小轿车,燃油、取暖,"
            f"1380000{i % 10000:04d},被困"
        )
    return ("\n".join(lines) + "\n").encode("gb18030")


def orm_row_by_row(factory: Any, rows: list[dict[str, Any]]) -> None:
    """The obvious idempotent ORM loop: check the natural key, add, flush, for every row."""
    with factory() as s:
        for r in rows:
            exists = s.scalar(
                select(Report.id).where(
                    Report.kind == r["kind"], Report.natural_key == r["natural_key"]
                )
            )
            if exists is None:
                s.add(Report(**r))
                s.flush()
        s.commit()


@contextmanager
def sqlite_db() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as d:
        yield f"sqlite:///{Path(d) / 'bench.db'}"


@contextmanager
def postgis_db() -> Iterator[str | None]:
    url = os.environ.get("WINTEROPS_TEST_POSTGIS_URL") or DEFAULT_PG
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(url)
        with admin.begin() as c:
            c.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception:  # noqa: BLE001 - no PostGIS here: skip those rows
        yield None
        return
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema},public"
    finally:
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def store_rate(url: str, make: Callable[[], ParseResult], n: int) -> tuple[float, float]:
    """Rows/s of DatabaseSink.store into a fresh database (every row new): wall clock, and per
    CPU-second of this process (for SQLite all the work is in-process, so that second figure
    does not depend on how busy the shared machine is)."""
    engine = make_engine(url)
    init_db(engine)
    sink = DatabaseSink(session_factory(engine))
    res = make()
    t0 = time.perf_counter()
    c0 = time.process_time()
    counts = sink.store("bench", res)
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    assert counts.accepted == n, counts
    again = sink.store("bench", res)  # idempotent: nothing added
    assert again.accepted == 0 and again.duplicates == n
    engine.dispose()
    return n / dt, n / cpu


def orm_rate(url: str, make: Callable[[], ParseResult], n: int) -> float:
    engine = make_engine(url)
    init_db(engine)
    rows = report_rows(make().frame)
    for r in rows:
        r.pop("place", None)
    t0 = time.perf_counter()
    orm_row_by_row(session_factory(engine), rows)
    dt = time.perf_counter() - t0
    engine.dispose()
    return n / dt


def call_frames(n: int) -> Callable[[], ParseResult]:
    data = calls_csv(n)

    def make() -> ParseResult:
        return parse_calls(data, "bench.csv", None, now=T0 + timedelta(days=1))

    return make


def run(quick: bool = False) -> list[dict[str, Any]]:
    n = 10_000 if quick else 100_000
    base_n = 1_000 if quick else 5_000
    rows: list[dict[str, Any]] = []
    calls_make = call_frames(n)
    calls_small = call_frames(base_n)
    t0 = time.perf_counter()
    parsed = calls_make()
    parse_rate = n / (time.perf_counter() - t0)
    assert len(parsed.frame) == n
    parsed_small = calls_small()

    def det_make() -> ParseResult:
        return detections(n)

    def det_small() -> ParseResult:
        return detections(base_n)

    backends: list[tuple[str, Any, float]] = [("SQLite", sqlite_db, 20_000.0)]
    backends.append(("PostGIS", postgis_db, 10_000.0))
    for label, ctx, goal in backends:
        for what, make, small, goal_n in (
            ("drone detections", det_make, det_small, n),
            ("call rows", lambda: parsed, lambda: parsed_small, n),
        ):
            with ctx() as url:
                if url is None:
                    continue
                fast, fast_cpu = store_rate(url, make, goal_n)
            with ctx() as url:
                slow = orm_rate(url, small, base_n)
            rows.append(
                result(
                    f"ingest {n // 1000}k {what} -> {label}",
                    fast,
                    "rows/s",
                    f"ORM row-by-row (measured on {base_n // 1000}k rows)",
                    slow,
                    f">= {goal:,.0f} rows/s",
                    fast >= goal,
                    higher_is_better=True,
                )
            )
            if label == "SQLite":
                rows.append(
                    result(
                        f"ingest {n // 1000}k {what} -> SQLite, per CPU-second",
                        fast_cpu,
                        "rows/s",
                        f"ORM row-by-row wall clock (measured on {base_n // 1000}k rows)",
                        slow,
                        f">= {goal:,.0f} rows/s",
                        fast_cpu >= goal,
                        higher_is_better=True,
                    )
                )
    rows.append(
        result(
            f"parse {n // 1000}k call rows (GB18030 CSV, GCJ-02)",
            parse_rate,
            "rows/s",
            "none (information)",
            parse_rate,
            "information",
            True,
            higher_is_better=True,
        )
    )
    cap = (FIX / "cap_zh_blizzard.xml").read_bytes()
    reps = 50 if quick else 300
    t_parse = best_of(lambda: [parse_cap(cap, "b") for _ in range(reps)], repeat=3) / reps
    t_bare = best_of(lambda: [DET.fromstring(cap) for _ in range(reps)], repeat=3) / reps
    rows.append(
        result(
            "CAP payloads parsed (1 alert, 2 languages, polygon, codes)",
            1 / t_parse,
            "alerts/s",
            "bare defusedxml parse of the same bytes",
            1 / t_bare,
            ">= 30 alerts/s",
            1 / t_parse >= 30,
            higher_is_better=True,
        )
    )
    body = cap.split(b"?>", 1)[1]
    many = b"".join(
        body.replace(b"CN-XLGL-20251214-0001", f"CN-XLGL-B-{i:04d}".encode()) for i in range(200)
    )
    wrapper = b'<?xml version="1.0" encoding="UTF-8"?><alerts>' + many + b"</alerts>"
    t_many = best_of(lambda: parse_cap(wrapper, "b"), repeat=3) / 200
    t_many_bare = best_of(lambda: DET.fromstring(wrapper), repeat=3) / 200
    rows.append(
        result(
            "CAP alerts parsed in a 200-alert <alerts> wrapper",
            1 / t_many,
            "alerts/s",
            "bare defusedxml parse of the same bytes",
            1 / t_many_bare,
            ">= 500 alerts/s",
            1 / t_many >= 500,
            higher_is_better=True,
        )
    )
    return rows


if __name__ == "__main__":
    for r in run(quick=True):
        print(r)
