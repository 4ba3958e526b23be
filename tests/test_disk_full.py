"""The disk fills up during an ingest: a clear error, nothing half-written, nothing lost after.

The database (SQLite) and the raw payload archive live on a small filesystem: a 2 MiB tmpfs
mounted for the test (as root), else the ingest runs under ``RLIMIT_FSIZE`` (files over 2 MiB
cannot grow: the same short writes SQLite and the archive meet on a full disk). ``winterops
ingest calls`` of more than fits must stop with exit status 1, every stored payload whole (no
report twice, reports in multiples of a file's rows), the database intact
(``PRAGMA integrity_check``) and every archived payload complete; with room again, the same
ingest stores the rest and counts the rest as duplicates. PostgreSQL's own disk is the
server's and is not filled here.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from incidents.store.engine import init_db, make_engine

ROOT = Path(__file__).resolve().parents[1]
FILES = 20
ROWS = 200
SIZE = 2 * 1024 * 1024


def write_calls(folder: Path) -> None:
    folder.mkdir()
    for f in range(FILES):
        lines = ["call_id,time,lon,lat,people,notes"]
        for r in range(ROWS):
            lines.append(
                f"D{f:03d}-{r:03d},2025-12-14 08:{r % 60:02d}:00,116.{f:03d}{r:03d},43.9,2,"
                f"车辆被困 stuck in drifting snow near km {r}"
            )
        (folder / f"calls_{f:03d}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[tuple[Path, Callable[[], None] | None, str]]:
    """(folder on a small filesystem, a function that makes room, how it is limited)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(disk)],
        capture_output=True, check=False,
    ).returncode == 0
    if not mounted:
        yield disk, None, "rlimit"
        return

    def grow() -> None:
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)

    try:
        yield disk, grow, "tmpfs"
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def ingest(folder: Path, db: Path, var: Path, limit: int | None) -> subprocess.CompletedProcess[str]:
    """``python -m incidents ingest calls FOLDER --json`` (files capped at `limit` bytes)."""

    def cap() -> None:
        if limit is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap fails instead
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "WINTEROPS_VAR_DIR": str(var), "WINTEROPS_DATA_DIR": str(var / "none")}
    cmd = [sys.executable, "-m", "incidents", "ingest", "calls", str(folder), "--json"]
    return subprocess.run(
        [*cmd, "--db", f"sqlite:///{db}"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=900, preexec_fn=cap, check=False,
    )


def state(db: Path, raw: Path) -> dict[str, object]:
    """What is on the small disk: reports, integrity, archive."""
    con = sqlite3.connect(db, timeout=30)
    try:
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
        total, distinct = con.execute(
            "SELECT count(*), count(DISTINCT natural_key) FROM reports"
        ).fetchone()
    finally:
        con.close()
    files = [p for p in raw.rglob("*") if p.is_file()] if raw.exists() else []
    torn = [
        p.name for p in files
        if p.suffix != ".json" and not p.name.startswith(".tmp-")
        and hashlib.sha256(p.read_bytes()).hexdigest() != p.name
    ]
    temps = [p.name for p in files if p.name.startswith(".tmp-")]
    return {"integrity": integrity, "reports": total, "distinct": distinct, "torn": torn,
            "temp_files": temps}


@pytest.mark.slow
def test_disk_full_during_ingest(
    small_disk: tuple[Path, Callable[[], None] | None, str], tmp_path: Path
) -> None:
    disk, grow, how = small_disk
    folder = tmp_path / "calls"
    write_calls(folder)
    db, var = disk / "w.db", disk / "var"
    engine = make_engine(f"sqlite:///{db}")
    init_db(engine)
    engine.dispose()
    limit = None if how == "tmpfs" else SIZE

    full = ingest(folder, db, var, limit)
    assert full.returncode == 1, (full.returncode, full.stderr[-2000:])
    # tmpfs: SQLite's "database or disk is full" (or the archive's ENOSPC); the file size cap:
    # SQLite's "disk I/O error" (EFBIG) or the archive's "File too large"
    causes = ("disk is full", "No space left") if how == "tmpfs" else (
        "disk I/O error", "File too large")
    assert any(c in full.stderr for c in causes), full.stderr[-2000:]
    after = state(db, var / "raw")
    print(f"\ndisk full ({how}): exit {full.returncode}, {after}")
    assert after["integrity"] == "ok"
    assert after["reports"] == after["distinct"]
    assert int(after["reports"]) % ROWS == 0  # every payload whole or not at all
    assert 0 < int(after["reports"]) < FILES * ROWS  # it did fill up mid-ingest
    assert after["torn"] == [] and after["temp_files"] == []

    if grow is not None:
        grow()
    again = ingest(folder, db, var, None)
    assert again.returncode == 0, again.stderr[-2000:]
    summary = json.loads(again.stdout)
    final = state(db, var / "raw")
    assert final["integrity"] == "ok"
    assert final["reports"] == final["distinct"] == FILES * ROWS
    assert summary["accepted"] == FILES * ROWS - int(after["reports"])
    assert summary["duplicates"] == after["reports"]


@pytest.mark.slow
def test_disk_full_error_is_one_clear_line(
    small_disk: tuple[Path, Callable[[], None] | None, str], tmp_path: Path
) -> None:
    """The operator sees what happened and what to do, not a traceback."""
    disk, _grow, how = small_disk
    folder = tmp_path / "calls"
    write_calls(folder)
    engine = make_engine(f"sqlite:///{disk / 'w.db'}")
    init_db(engine)
    engine.dispose()
    full = ingest(folder, disk / "w.db", disk / "var", None if how == "tmpfs" else SIZE)
    assert full.returncode == 1
    assert "Traceback" not in full.stderr, full.stderr[-2000:]
    assert "full" in full.stderr.lower() or "space" in full.stderr.lower()
