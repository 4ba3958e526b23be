"""Storm scenarios: a manifest plus feed files in the formats the feeds really deliver.

The format is documented in ``data/scenarios/README.md``. :func:`load_scenario` reads and
checks a manifest (a folder holding ``manifest.json`` or ``manifest.toml``, or the manifest
file itself) and returns a :class:`Scenario` with absolute paths and UTC times. Problems are
collected and raised once as :class:`~incidents.errors.ScenarioError` naming each.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from incidents.errors import ScenarioError
from ingest.registry import KINDS

__all__ = ["FeedFile", "Scenario", "find_scenario", "load_scenario"]

FEED_KINDS = KINDS  # every feed of the registry can be replayed (ingest.registry)
TASK_KINDS = ("rescue", "heavy_tow", "plow", "grit", "traffic_control", "medical")
DEFAULT_ON_SCENE_MIN = {
    "rescue": 75.0,
    "heavy_tow": 90.0,
    "plow": 60.0,
    "grit": 45.0,
    "traffic_control": 60.0,
    "medical": 40.0,
}
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class FeedFile:
    """One feed file and when it arrives."""

    kind: str
    path: Path
    release: datetime  # UTC


@dataclass
class Scenario:
    """A loaded scenario (paths absolute, times UTC)."""

    name: str
    folder: Path
    start: datetime
    end: datetime
    region_dir: Path | None
    feeds: list[FeedFile]
    on_scene_min: dict[str, float]
    unit_overrides: list[dict[str, Any]] = field(default_factory=list)
    unit_include: list[str] | None = None
    unit_extra: list[dict[str, Any]] = field(default_factory=list)
    incident_overrides: list[dict[str, Any]] = field(default_factory=list)
    demo_moment: datetime | None = None
    title_zh: str = ""
    title_en: str = ""

    def feeds_between(self, after: datetime | None, until: datetime) -> list[FeedFile]:
        """Return the feeds released in ``(after, until]`` (from the start when `after` is None)."""
        return [
            f for f in self.feeds if (after is None or f.release > after) and f.release <= until
        ]

    def on_scene_for(self, task_kind: str, override: dict[str, Any] | None = None) -> float:
        """On-scene minutes for a task kind (an incident override first)."""
        if override and task_kind in override:
            return float(override[task_kind])
        return float(self.on_scene_min.get(task_kind, 60.0))


def _time(value: Any, what: str, problems: list[str]) -> datetime | None:
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value))
        except ValueError:
            problems.append(f"{what}: {value!r} is not an ISO 8601 time")
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=SHANGHAI)
    return dt.astimezone(UTC)


def find_scenario(name_or_path: str | Path, scenario_dir: Path) -> Path:
    """Resolve a scenario given as a path or as a name under `scenario_dir`."""
    p = Path(name_or_path)
    if p.exists():
        return p
    q = scenario_dir / str(name_or_path)
    if q.exists():
        return q
    msg = f"no scenario {str(name_or_path)!r} (not a path, and not in {str(scenario_dir)!r})"
    raise ScenarioError(msg)


def _read_manifest(path: Path) -> tuple[dict[str, Any], Path]:
    if path.is_dir():
        for name in ("manifest.json", "manifest.toml"):
            if (path / name).exists():
                path = path / name
                break
        else:
            msg = f"scenario folder {str(path)!r} has no manifest.json or manifest.toml"
            raise ScenarioError(msg)
    try:
        raw = path.read_bytes()
    except OSError as e:
        msg = f"cannot read scenario manifest {str(path)!r}: {e}"
        raise ScenarioError(msg) from e
    try:
        doc = tomllib.loads(raw.decode("utf-8")) if path.suffix == ".toml" else json.loads(raw)
    except (ValueError, tomllib.TOMLDecodeError) as e:
        msg = f"scenario manifest {str(path)!r} is not valid {path.suffix[1:].upper()}: {e}"
        raise ScenarioError(msg) from e
    if not isinstance(doc, dict):
        msg = f"scenario manifest {str(path)!r} must be an object"
        raise ScenarioError(msg)
    return doc, path.parent


def _feeds(doc: dict[str, Any], folder: Path, problems: list[str]) -> list[FeedFile]:
    """Return the manifest's feed files (each release in UTC); add each problem to `problems`."""
    feeds: list[FeedFile] = []
    for i, f in enumerate(doc.get("feeds") or []):
        kind = str(f.get("kind", ""))
        if kind not in FEED_KINDS:
            problems.append(
                f"feed #{i + 1}: unknown kind {kind!r} (expected {', '.join(FEED_KINDS)})"
            )
            continue
        file = folder / str(f.get("file", ""))
        if not f.get("file") or not file.is_file():
            problems.append(f"feed #{i + 1}: file {str(f.get('file'))!r} not found")
            continue
        release = _time(f.get("release", doc["start"]), f"feed #{i + 1} release", problems)
        if release is not None:
            feeds.append(FeedFile(kind, file, release))
    return feeds


def _on_scene(doc: dict[str, Any], problems: list[str]) -> dict[str, float]:
    """Return on-scene minutes per task kind: the defaults overlaid by the manifest's own."""
    on_scene = dict(DEFAULT_ON_SCENE_MIN)
    for k, v in (doc.get("on_scene_minutes") or {}).items():
        if k not in TASK_KINDS:
            problems.append(f"on_scene_minutes: unknown task kind {k!r}")
            continue
        try:
            on_scene[k] = float(v)
        except (TypeError, ValueError):
            problems.append(f"on_scene_minutes[{k!r}] = {v!r} is not a number")
    return on_scene


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario manifest.

    Parameters
    ----------
    path
        The scenario folder or its manifest file.

    Raises
    ------
    ScenarioError
        Every problem found (missing fields, unknown feed kinds, missing files, bad times).
    """
    doc, folder = _read_manifest(Path(path))
    problems: list[str] = []
    for key in ("name", "start", "duration_h", "feeds"):
        if key not in doc:
            problems.append(f"missing {key!r}")
    if problems:
        msg = f"scenario {str(folder)!r}: " + "; ".join(problems)
        raise ScenarioError(msg)
    start = _time(doc["start"], "start", problems)
    try:
        duration = float(doc["duration_h"])
    except (TypeError, ValueError):
        problems.append(f"duration_h {doc['duration_h']!r} is not a number")
        duration = 0.0
    feeds = _feeds(doc, folder, problems)
    on_scene = _on_scene(doc, problems)
    for i, o in enumerate(doc.get("incident_overrides") or []):
        if ":" not in str(o.get("match_report", "")):
            problems.append(f"incident_overrides #{i + 1}: match_report must be 'kind:natural_key'")
    region_dir = None
    if doc.get("region"):
        region_dir = (folder / str(doc["region"])).resolve()
        if not region_dir.is_dir():
            problems.append(f"region folder {str(region_dir)!r} not found")
    moment = _time(doc["demo_moment"], "demo_moment", problems) if doc.get("demo_moment") else None
    if problems or start is None:
        msg = f"scenario {str(folder)!r}: " + "; ".join(problems)
        raise ScenarioError(msg)
    units = doc.get("units") or {}
    return Scenario(
        name=str(doc["name"]),
        folder=folder,
        start=start,
        end=start + timedelta(hours=duration),
        region_dir=region_dir,
        feeds=sorted(feeds, key=lambda f: (f.release, f.kind, f.path.name)),
        on_scene_min=on_scene,
        unit_overrides=list(units.get("overrides") or []),
        unit_include=list(units["include"]) if units.get("include") else None,
        unit_extra=list(units.get("extra") or []),
        incident_overrides=list(doc.get("incident_overrides") or []),
        demo_moment=moment,
        title_zh=str(doc.get("title_zh", "")),
        title_en=str(doc.get("title_en", "")),
    )
