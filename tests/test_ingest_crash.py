"""Kill an ingest process mid-batch (SIGKILL); on rerun nothing committed is lost or doubled."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from incidents.store.engine import init_db, make_engine
from incidents.store.engine import session_factory as make_factory
from incidents.store.sink import DatabaseSink
from ingest.runner import run_ingest

ROOT = Path(__file__).resolve().parents[1]
FILES = 80
ROWS = 50


def write_calls(folder: Path) -> None:
    folder.mkdir()
    for f in range(FILES):
        lines = ["call_id,time,lon,lat,people"]
        for r in range(ROWS):
            lines.append(
                f"K{f:04d}-{r:03d},2025-12-14 08:{r % 60:02d}:00,116.{f:03d}{r:03d},43.9,2"
            )
        (folder / f"calls_{f:04d}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def count(db: Path) -> tuple[int, int]:
    con = sqlite3.connect(db, timeout=30)
    try:
        total, distinct = con.execute(
            "SELECT count(*), count(DISTINCT natural_key) FROM reports"
        ).fetchone()
    except sqlite3.OperationalError:
        return 0, 0
    finally:
        con.close()
    return int(total), int(distinct)


def run_cli(folder: Path, db: Path, tmp: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "WINTEROPS_VAR_DIR": str(tmp / "var"),
        "WINTEROPS_DATA_DIR": str(tmp / "nodata"),
    }
    cmd = [sys.executable, "-m", "incidents.cli.ingest", "ingest", "calls", str(folder)]
    cmd += ["--json", "--db", f"sqlite:///{db}"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_sigkill_mid_batch_then_rerun(tmp_path: Path) -> None:
    folder = tmp_path / "calls"
    write_calls(folder)
    db = tmp_path / "w.db"
    proc = run_cli(folder, db, tmp_path)
    deadline = time.monotonic() + 60
    seen = 0
    while time.monotonic() < deadline and proc.poll() is None:
        seen, _ = count(db)
        if seen >= 3 * ROWS:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "ingest finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    before, distinct_before = count(db)
    assert 0 < before < FILES * ROWS  # killed mid-batch
    assert before == distinct_before
    assert before % ROWS == 0  # a payload is stored whole or not at all

    # rerun (in this process, same code path as the CLI)
    engine = make_engine(f"sqlite:///{db}")
    init_db(engine)
    summary = run_ingest(
        "calls", [str(folder)], DatabaseSink(make_factory(engine)), raw_dir=tmp_path / "raw"
    )
    engine.dispose()
    assert not summary.unreadable
    total, distinct = count(db)
    assert total == distinct == FILES * ROWS
    assert summary.counts.accepted == FILES * ROWS - before
    assert summary.counts.duplicates == before
