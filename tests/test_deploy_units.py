"""The systemd units in deploy/: valid for systemd, run the real commands as a dedicated user.

``systemd-analyze verify`` checks each unit (with its paths pointed at this checkout, as an
install to /opt/winterops would have them); the units read the environment file, restart on
failure, never run as root, and start ``winterops serve`` / ``winterops worker`` with options
the CLI accepts. The example environment file names only variables winterops reads.
"""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNITS = {"winterops-dashboard.service": "serve", "winterops-worker.service": "worker"}
INSTALLED = "/opt/winterops/.venv/bin/winterops"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read(DEPLOY / name, encoding="utf-8")
    return parser


@pytest.mark.parametrize(("name", "command"), sorted(UNITS.items()))
def test_unit_settings(name: str, command: str) -> None:
    unit = _unit(name)
    service = unit["Service"]
    assert service["User"] == "winterops" and service["Group"] == "winterops"
    assert service["EnvironmentFile"] == "/etc/winterops/winterops.env"
    assert service["Restart"] == "on-failure"
    assert service["StateDirectory"] == "winterops"  # /var/lib/winterops = WINTEROPS_VAR_DIR
    assert service["ProtectSystem"] == "strict" and service["NoNewPrivileges"] == "yes"
    argv = shlex.split(service["ExecStart"])
    assert argv[:2] == [INSTALLED, command]
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    # the options the unit passes are ones the command accepts
    cli = [sys.executable, "-m", "incidents", *argv[1:], "--help"]
    res = subprocess.run(cli, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-2000:]


def test_environment_file_names_only_known_variables() -> None:
    text = (DEPLOY / "winterops.env.example").read_text(encoding="utf-8")
    names = set(re.findall(r"^#?\s*(WINTEROPS_[A-Z_]+)=", text, flags=re.MULTILINE))
    known = set(re.findall(r"WINTEROPS_[A-Z_]+", (ROOT / "incidents" / "settings.py").read_text(
        encoding="utf-8")))
    assert names and names <= known, names - known
    live = dict(
        line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    assert live["WINTEROPS_VAR_DIR"] == "/var/lib/winterops"
    assert live["WINTEROPS_DATABASE_URL"].startswith("sqlite:////var/lib/winterops/")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    env = tmp_path / "winterops.env"
    env.write_text((DEPLOY / "winterops.env.example").read_text(encoding="utf-8"))
    for name in UNITS:
        text = (DEPLOY / name).read_text(encoding="utf-8")
        text = text.replace(INSTALLED, str(ROOT / ".venv" / "bin" / "winterops"))
        text = text.replace("/etc/winterops/winterops.env", str(env))
        text = text.replace("WorkingDirectory=/opt/winterops", f"WorkingDirectory={ROOT}")
        (tmp_path / name).write_text(text, encoding="utf-8")
    res = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / n) for n in UNITS)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "winterops-" not in res.stderr, res.stderr  # no warning about our units
