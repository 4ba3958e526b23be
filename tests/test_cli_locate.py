"""``winterops locate``: JSON contract, human output, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from geo.crs import wgs84_to_gcj02
from incidents.cli.geo import register
from tests.test_geo_region import LOCATE_KEYS, write_tiny_region

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "region"


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("version")
    def version() -> None:  # a second command keeps typer from collapsing the group
        typer.echo("test")

    return app


@pytest.fixture(scope="module")
def region_dir(tmp_path_factory) -> Path:
    return write_tiny_region(tmp_path_factory.mktemp("cli_region"))


def run(app, region_dir, *args):
    return CliRunner().invoke(app, ["locate", *args, "--region", str(region_dir)])


def test_json_stake(app, region_dir):
    res = run(app, region_dir, "G331 K1520+300", "--json")
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert list(d) == LOCATE_KEYS
    assert (d["road"], d["km"], d["offset_m"], d["method"]) == ("G331", 1520.3, 0.0, "stake")
    assert (d["admin_code"], d["admin_name"]) == ("152522", "阿巴嘎旗")


def test_json_place_and_coordinates_in_every_datum(app, region_dir):
    d = json.loads(run(app, region_dir, "Abag Banner", "--json").stdout)
    assert (d["method"], d["admin_code"]) == ("place", "152522")
    lon, lat = wgs84_to_gcj02(115.7, 44.52)
    for args in (
        ["44.52,115.7"],
        [f"{lat},{lon}", "--crs", "gcj02"],
        [f"{lat},{lon}", "--crs", "GCJ02"],
    ):
        res = run(app, region_dir, *args, "--json")
        assert res.exit_code == 0, res.output
        d = json.loads(res.stdout)
        assert d["method"] == "coordinates"
        assert d["lon"] == pytest.approx(115.7, abs=1e-5) and d["lat"] == pytest.approx(
            44.52, abs=1e-5
        )
        assert d["road"] == "G331"


def test_human_output(app, region_dir):
    res = run(app, region_dir, "阿巴嘎旗")
    assert res.exit_code == 0
    assert "阿巴嘎旗 (152522)" in res.stdout
    assert "method: place" in res.stdout
    assert "K" in res.stdout and "m from the road" in res.stdout


@pytest.mark.parametrize(
    ("query", "extra", "message"),
    [
        ("G999 K1+000", [], "unknown road 'G999'"),
        ("G331 K1900+000", [], "outside road G331's range"),
        ("G331 Kxyz", [], "cannot read kilometre post"),
        ("44.5,", [], "malformed coordinates"),
        ("39.9,116.4", [], "outside the region"),
        ("39.9,116.4", ["--crs", "bd09"], "outside the region"),
        ("Atlantis", [], "cannot locate 'Atlantis'"),
    ],
)
def test_errors_exit_1_with_message(app, region_dir, query, extra, message):
    res = run(app, region_dir, query, "--json", *extra)
    assert res.exit_code == 1
    assert res.stdout == ""
    assert message in res.stderr


def test_unusable_arguments_exit_2(app, region_dir):
    res = run(app, region_dir, "44.5,115.7", "--crs", "utm")
    assert res.exit_code == 2
    assert "--crs" in res.stderr
    res = CliRunner().invoke(app, ["locate"])
    assert res.exit_code == 2


def test_missing_region_exit_1(app, tmp_path):
    res = CliRunner().invoke(app, ["locate", "G331 K1+000", "--region", str(tmp_path / "none")])
    assert res.exit_code == 1
    assert "cannot load the region" in res.stderr


@pytest.mark.skipif(not (DEMO / "roads.geojson").exists(), reason="data/region not built yet")
@pytest.mark.slow
def test_winterops_locate_on_demo_region_subprocess(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "incidents",
            "locate",
            "Xilinhot",
            "--json",
            "--db",
            f"sqlite:///{tmp_path}/w.db",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert list(d) == LOCATE_KEYS
    assert (d["method"], d["admin_code"]) == ("place", "152502")


@pytest.mark.skipif(not (DEMO / "roads.geojson").exists(), reason="data/region not built yet")
def test_winterops_app_locate_errors_on_demo_region():
    from incidents.cli.app import app as winterops_app

    res = CliRunner().invoke(winterops_app, ["locate", "G999 K1+000"])
    assert res.exit_code == 1
    assert "unknown road 'G999'" in res.stderr
    res = CliRunner().invoke(winterops_app, ["locate", "G331 K1520+300", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert (d["road"], d["km"], d["method"]) == ("G331", 1520.3, "stake")
