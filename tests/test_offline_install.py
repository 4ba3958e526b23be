"""Air-gapped install (issue 15): a bundle of wheels, installed with no registry reachable.

``make wheelhouse`` (``deploy/wheelhouse.sh``) builds the bundle where PyPI is reachable;
``deploy/install-offline.sh`` installs from it with ``pip install --no-index --find-links``.

* Always: the installer refuses a missing bundle and a damaged one (``SHA256SUMS``), before it
  creates anything.
* With ``WINTEROPS_WHEELHOUSE`` pointing at a built bundle (``make test-offline`` sets it):
  a temporary copy of this source tree gets a fresh venv from the bundle alone (pip's own
  configuration ignored, every proxy pointed at a closed port so any download would fail),
  then ``winterops --help``, ruff, mypy and a subset of the tests run there (the committed
tree, ``git archive HEAD``, in a checkout) (SQLite, and
  PostGIS when ``WINTEROPS_TEST_POSTGIS_URL`` is set). ``WINTEROPS_OFFLINE_FULL=1`` runs the
  whole ``make test`` selection there instead (about 10 min on a quiet machine).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INSTALL = ROOT / "deploy" / "install-offline.sh"
WHEELHOUSE = os.environ.get("WINTEROPS_WHEELHOUSE", "")
FULL = os.environ.get("WINTEROPS_OFFLINE_FULL") == "1"
NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing listens, a download fails at once
# one test file per kind of dependency: the layers (ast), the database and migrations
# (SQLAlchemy, Alembic, psycopg, GeoAlchemy2), the command line (typer, geopandas, pyogrio),
# the official export schemas (jsonschema, lxml), hotspot statistics (esda, libpysal, scipy),
# the dashboard's error sentences (streamlit)
SUBSET = [
    "tests/test_architecture.py",
    "tests/test_db_smoke.py",
    "tests/test_cli_core.py",
    "tests/test_export_schemas.py",
    "tests/test_hotspots.py",
    "tests/test_error_messages.py",
]


def _offline_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "VIRTUAL_ENV")) and k not in ("PYTHONPATH",)}
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        env[var] = NOWHERE
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"  # the tests' own local servers
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_NO_INDEX"] = "1"
    env.update(extra or {})
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


def _copy_tree(dest: Path) -> Path:
    """Copy this source tree to `dest`: the committed tree (``git archive HEAD``) in a checkout.

    What is committed is what gets deployed; a working copy may hold someone's half-done edit.
    Outside git, the files on disk (without venv, var, caches).
    """
    dest.mkdir(parents=True)
    if shutil.which("git") and (ROOT / ".git").exists():
        archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=ROOT,
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        return dest
    shutil.copytree(ROOT, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
        ".venv", "var", ".git", "build", "*.egg-info", "__pycache__", ".mypy_cache"))
    return dest


def test_installer_refuses_a_missing_or_damaged_bundle(tmp_path: Path) -> None:
    env = _offline_env()
    res = _run(["bash", str(INSTALL), "--wheelhouse", str(tmp_path / "none"),
                "--venv", str(tmp_path / "venv")], ROOT, env, 60)
    assert res.returncode == 1 and "no bundle at" in res.stderr
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "winterops-0.1.0-py3-none-any.whl").write_bytes(b"not the wheel that was listed")
    (bundle / "SHA256SUMS").write_text("0" * 64 + "  winterops-0.1.0-py3-none-any.whl\n")
    res = _run(["bash", str(INSTALL), "--wheelhouse", str(bundle), "--venv",
                str(tmp_path / "venv")], ROOT, env, 60)
    assert res.returncode == 1 and "bundle damaged" in res.stderr
    assert not (tmp_path / "venv").exists()  # refused before creating anything
    res = _run(["bash", str(INSTALL), "--bogus"], ROOT, env, 60)
    assert res.returncode == 2


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_install_from_bundle_without_registry_then_tests_pass(tmp_path: Path) -> None:
    wh = Path(WHEELHOUSE) if WHEELHOUSE else None
    if wh is None or not any(wh.glob("winterops-*.whl")):
        pytest.skip("WINTEROPS_WHEELHOUSE does not point at a built bundle (make wheelhouse; "
                    "make test-offline runs this test)")
    tree = _copy_tree(tmp_path / "tree")
    env = _offline_env()
    t0 = time.monotonic()
    res = _run(["bash", "deploy/install-offline.sh", "--wheelhouse", str(wh.resolve()),
                "--venv", ".venv", "--editable"], tree, env, 1800)
    installed_s = time.monotonic() - t0
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    assert "winterops runs" in res.stdout
    assert "No broken requirements found" in res.stdout
    bin_ = tree / ".venv" / "bin"
    # the bundle's own wheels, nothing else: every installed distribution has its wheel there
    freeze = _run([str(bin_ / "python"), "-m", "pip", "list", "--format=freeze"], tree, env, 120)
    names = {line.split("==")[0].lower().replace("_", "-") for line in freeze.stdout.split()}
    wheels = {p.name.split("-")[0].lower().replace("_", "-") for p in wh.glob("*.whl")}
    assert names - wheels <= {"winterops"}, sorted(names - wheels)
    res = _run([str(bin_ / "winterops"), "--help"], tree, env, 120)
    assert res.returncode == 0 and "demo" in res.stdout
    res = _run([str(bin_ / "ruff"), "check", "geo", "ingest", "incidents", "dashboard", "tests"],
               tree, env, 600)
    assert res.returncode == 0, res.stdout[-3000:]
    res = _run([str(bin_ / "mypy")], tree, env, 1200)
    assert res.returncode == 0, res.stdout[-3000:]
    selection = ["-m", "not e2e"] if FULL else ["-m", "not browser and not e2e", *SUBSET]
    t1 = time.monotonic()
    res = _run([str(bin_ / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
                *selection], tree, env, 3000)
    tested_s = time.monotonic() - t1
    tail = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else res.stderr[-500:]
    print(f"\noffline install from {wh}: {len(list(wh.glob('*.whl')))} wheels, installed in "
          f"{installed_s:.0f} s; ruff, mypy clean; {'make test' if FULL else 'subset'}: {tail} "
          f"({tested_s:.0f} s)", file=sys.stderr)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    assert " passed" in tail and "failed" not in tail
