"""Settings: one frozen object, built from `WINTEROPS_*` environment variables, passed explicitly.

Never a mutable module global: a Streamlit server shares module globals between all its users.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from ingest.registry import EVIDENCE

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DISPLAY_TZ = "Asia/Shanghai"


def default_database_url(var_dir: Path) -> str:
    """Return the SQLite URL of the default database file under `var_dir`."""
    return f"sqlite:///{(var_dir / 'winterops.db').as_posix()}"


@dataclass(frozen=True)
class Settings:
    """Everything configurable about a winterops process.

    Attributes
    ----------
    database_url
        SQLAlchemy URL. SQLite file under `var_dir` unless `WINTEROPS_DATABASE_URL` is set.
    var_dir
        Writable folder for the database, raw payload archive, caches, screenshots.
    data_dir
        Read-only project data: `region/` and `scenarios/`.
    snap_tolerance_m
        Reports farther than this from any road segment are off-road.
    coverage_minutes
        T of "hazardous road-km within T minutes of a free unit".
    tile_url
        Optional intranet tile server URL template; no tiles when empty (air-gapped default).
    stale_position_minutes
        A unit position with no fix for longer than this is ``stale``: shown as such and not
        trusted for ETAs (see :mod:`incidents.dispatch.positions`).
    """

    database_url: str
    var_dir: Path = PROJECT_ROOT / "var"
    data_dir: Path = PROJECT_ROOT / "data"
    snap_tolerance_m: float = 250.0
    coverage_minutes: float = 30.0
    tile_url: str = ""
    tile_attribution: str = ""
    max_payload_bytes: int = 50 * 1024 * 1024
    http_connect_timeout_s: float = 5.0
    http_read_timeout_s: float = 30.0
    session_idle_minutes: int = 30
    lockout_attempts: int = 5
    lockout_minutes: int = 10
    stale_position_minutes: float = 15.0
    half_life_hours: Mapping[str, float] = field(
        default_factory=lambda: {src: ev.half_life_h for src, ev in EVIDENCE.items()}
    )

    @property
    def raw_dir(self) -> Path:
        """Folder of the raw payload archive."""
        return self.var_dir / "raw"

    @property
    def region_dir(self) -> Path:
        """Folder of the region data (roads, places, units, duty points)."""
        return self.data_dir / "region"

    @property
    def scenario_dir(self) -> Path:
        """Folder of storm scenarios."""
        return self.data_dir / "scenarios"

    def with_database(self, url: str | None) -> Settings:
        """Return a copy that uses `url` (unchanged when `url` is empty)."""
        return replace(self, database_url=url) if url else self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `WINTEROPS_*` variables (defaults for the rest)."""
        env = os.environ if environ is None else environ
        var_dir = Path(env.get("WINTEROPS_VAR_DIR", str(PROJECT_ROOT / "var")))
        data_dir = Path(env.get("WINTEROPS_DATA_DIR", str(PROJECT_ROOT / "data")))
        return cls(
            database_url=env.get("WINTEROPS_DATABASE_URL") or default_database_url(var_dir),
            var_dir=var_dir,
            data_dir=data_dir,
            snap_tolerance_m=float(env.get("WINTEROPS_SNAP_TOLERANCE_M", "250")),
            coverage_minutes=float(env.get("WINTEROPS_COVERAGE_MINUTES", "30")),
            tile_url=env.get("WINTEROPS_TILE_URL", ""),
            tile_attribution=env.get("WINTEROPS_TILE_ATTRIBUTION", ""),
            stale_position_minutes=float(env.get("WINTEROPS_STALE_POSITION_MINUTES", "15")),
        )
