"""``winterops region import``: a region's files into the database, all or nothing, with history.

:func:`import_region` reads and checks every file first (:func:`read_region`); one problem
anywhere and nothing is written: a :class:`~incidents.errors.RegionImportError` lists them all
(file, feature, field, value). Otherwise, in the caller's one transaction:

- rows new to the database are added; rows that differ are **updated in place**, and their old
  values go to ``region_history`` (``before`` / ``after`` of the changed columns); rows the
  import no longer has are kept (incidents and assignments refer to them) and counted
  ``absent``;
- a unit's live state (status, position away from its base, crew hours, fuel) is never
  overwritten by a re-import: the roster changes only the roster's facts;
- one ``region_imports`` row records who, when, every file's sha256 and the counts.

No users are created: people are added with ``winterops users add`` (the demo adds its own).
A dry run checks and counts without writing anything.
"""

from __future__ import annotations

import getpass
import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from incidents.errors import RegionImportError
from incidents.store.engine import write_gdf
from incidents.store.models import (
    Base,
    DutyPoint,
    Place,
    RegionHistory,
    RegionImport,
    RoadChief,
    RoadSection,
    Segment,
    Unit,
    UnitStatus,
)
from incidents.store.region import segments_frame
from incidents.store.region_checks import RegionData, read_region
from incidents.store.region_files import RegionOptions, blank, load_mapping

__all__ = [
    "ImportSummary",
    "check_region",
    "default_actor",
    "import_region",
    "load_mapping",
    "problem_report",
]

# columns a re-import may change, per table (a unit's live state is not among them)
_UNIT_ROSTER = (
    "name", "name_en", "vehicle_class", "capabilities", "brigade", "home_base",
    "crew_hour_limit", "crew",
)
_SCOPE = {"duty_points": "kind", "places": "level"}  # absent = of the kinds imported


@dataclass
class ImportSummary:
    """What an import did (or would do, for a dry run)."""

    import_id: int | None
    dry_run: bool
    source: str
    sha256: str
    files: list[dict[str, Any]]
    ignored: list[str]
    counts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as a JSON object (``region import --json``)."""
        return {
            "import_id": self.import_id,
            "dry_run": self.dry_run,
            "source": self.source,
            "sha256": self.sha256,
            "files": self.files,
            "ignored": self.ignored,
            "counts": self.counts,
        }

    def lines(self) -> list[str]:
        """Human-readable lines: one per file, then one per table."""
        out = [f"{f['name']}: {f['kind']}, {f['rows']} rows, sha256 {f['sha256'][:12]}"
               for f in self.files]
        if self.ignored:
            out.append("ignored (not region files): " + ", ".join(self.ignored))
        for table, c in self.counts.items():
            out.append(f"{table}: {c['added']} added, {c['updated']} updated, "
                       f"{c['unchanged']} unchanged, {c['absent']} absent (kept)")
        head = "dry run, nothing written" if self.dry_run else f"region import #{self.import_id}"
        return [head, *out]


def default_actor() -> str:
    """``cli:<login name>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def problem_report(data: RegionData) -> str:
    """Every problem of a checked import, one per line, with a count first."""
    head = f"{len(data.problems)} problem(s) in the region files; nothing was imported:"
    return "\n  ".join([head, *(str(p) for p in data.problems)])


def check_region(
    sources: Iterable[str | Path], options: RegionOptions | None = None
) -> RegionData:
    """Read and check the files of an import, without a database (``winterops region check``)."""
    return read_region(sources, options)


# ------------------------------------------------------------------------------ frames


def _units_rows(units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": units["unit_id"].astype(str),
            "name": units["name_zh"].astype(str),
            "name_en": units["name_en"],
            "vehicle_class": units["vehicle_class"],
            "capabilities": units["capabilities"],
            "brigade": units["brigade"],
            "home_base": units["home_base"],
            "crew_hour_limit": units["crew_hour_limit"].astype(float),
            "crew": units["crew"],
            "fuel": units["fuel"].astype(float),
            "status": UnitStatus.AVAILABLE.value,
            "crew_hours": 0.0,
            "version": 1,
        },
        geometry=units.geometry.to_numpy(),
        crs=4326,
    )


def _duty_rows(duty: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    frame = duty.rename(columns={"name_zh": "name"})
    cols = ["id", "kind", "name", "name_en", "road_code", "km", "admin_code", "hours", "capacity"]
    return gpd.GeoDataFrame(frame[cols], geometry=duty.geometry.to_numpy(), crs=4326)


def _place_rows(data: RegionData) -> gpd.GeoDataFrame:
    rows: list[dict[str, Any]] = []
    geoms: list[BaseGeometry | None] = []
    if data.places is not None:
        for r in data.places.itertuples(index=False):
            seat = None
            lon: Any = getattr(r, "seat_lon", None)
            lat: Any = getattr(r, "seat_lat", None)
            if not blank(lon) and not blank(lat):
                seat = shapely.Point(float(lon), float(lat))
            elif r.geometry is not None:
                seat = r.geometry.representative_point()
            code = str(r.admin_code)
            rows.append({"id": code, "level": str(r.level), "name": str(r.name_zh),
                         "name_en": _opt(getattr(r, "name_en", None)), "admin_code": code,
                         "parent_code": _opt(getattr(r, "parent_code", None))})
            geoms.append(seat)
    if data.towns is not None:
        for r in data.towns.itertuples(index=False):
            code = str(r.admin_code)
            key = code if len(code) > 6 else f"{code}-{r.name_zh}"
            rows.append({"id": key[:64], "level": str(r.kind or "township"),
                         "name": str(r.name_zh), "name_en": _opt(getattr(r, "name_en", None)),
                         "admin_code": code, "parent_code": code[:6] if len(code) > 6 else code})
            geoms.append(shapely.Point(float(r.lon), float(r.lat)))
    frame = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=gpd.GeoSeries(geoms, crs=4326),
                             crs=4326)
    return frame.drop_duplicates("id", keep="first")


def _section_rows(sections: pd.DataFrame) -> pd.DataFrame:
    s = sections
    return pd.DataFrame({
        "id": s["section_id"].astype(str),
        "road_code": s["road_code"].astype(str).str.upper(),
        "km_from": pd.to_numeric(s["km_from"]),
        "km_to": pd.to_numeric(s["km_to"]),
        "name": s.get("name_zh"),
        "name_en": s.get("name_en"),
        "maintainer": s.get("maintainer"),
        "road_chief_id": s.get("road_chief_id"),
    })


def _chief_rows(chiefs: pd.DataFrame) -> pd.DataFrame:
    def col(name: str) -> list[str | None]:
        vals = chiefs[name] if name in chiefs.columns else [None] * len(chiefs)
        return [_opt(v) for v in vals]

    return pd.DataFrame({
        "id": chiefs["road_chief_id"].astype(str),
        "name": chiefs["name_zh"].astype(str),
        "name_en": col("name_en"),
        "title": col("title_zh"),
        "phone": col("phone"),
        "section_id": col("section_id"),
    })


def _opt(v: Any) -> str | None:
    return None if blank(v) else str(v)


def _table_frames(data: RegionData) -> list[tuple[type[Base], pd.DataFrame]]:
    """(model, rows) for each table the import's files fill, in foreign-key order."""
    out: list[tuple[type[Base], pd.DataFrame]] = []
    if data.places is not None or data.towns is not None:
        out.append((Place, _place_rows(data)))
    if data.chiefs is not None:
        out.append((RoadChief, _chief_rows(data.chiefs)))
    if data.sections is not None:
        out.append((RoadSection, _section_rows(data.sections)))
    if data.region is not None:
        out.append((Segment, segments_frame(data.region)))
    if data.units is not None:
        out.append((Unit, _units_rows(data.units)))
    if data.duty_points is not None:
        out.append((DutyPoint, _duty_rows(data.duty_points)))
    return out


# ------------------------------------------------------------------------------ comparing


def _plain(v: Any) -> Any:
    """Return a JSON-able, comparable value: numpy scalars unwrapped, NaN -> None, WKT."""
    if isinstance(v, BaseGeometry):
        return shapely.to_wkt(v, rounding_precision=7)
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, tuple | np.ndarray):
        return list(v)
    return v


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, BaseGeometry) or isinstance(b, BaseGeometry):
        if a is None or b is None:
            return a is b
        return bool(a.equals_exact(b, 1e-9))
    pa, pb = _plain(a), _plain(b)
    if isinstance(pa, float) and isinstance(pb, int | float):
        return math.isclose(pa, float(pb), rel_tol=0, abs_tol=1e-9)
    if pa == "" and pb is None or pb == "" and pa is None:
        return True
    return bool(pa == pb)


def _compared(model: type[Base], frame: pd.DataFrame) -> list[str]:
    if model is Unit:
        return list(_UNIT_ROSTER)
    cols = [c.key for c in model.__table__.columns if c.key != "id"]
    return [c for c in cols if c in frame.columns]


def _record(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (None if not isinstance(v, list | BaseGeometry) and pd.isna(v) else v)
            for k, v in row.items()}


def _upsert(
    session: Session, model: type[Base], frame: pd.DataFrame, batch: RegionImport | None
) -> dict[str, Any]:
    """Add new rows, update changed ones (history kept), count unchanged and absent ones."""
    table = str(model.__tablename__)
    existing = {str(o.id): o for o in session.scalars(select(model))}  # type: ignore[attr-defined]
    geom = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    rows = frame.to_dict("records")
    if geom is not None:
        for row, g in zip(rows, frame.geometry, strict=True):
            row["geometry"] = g
            if geom != "geometry":
                row.pop(geom, None)
    compared = _compared(model, frame)
    fresh: list[dict[str, Any]] = []
    updated = unchanged = 0
    for row in rows:
        obj = existing.get(str(row["id"]))
        if obj is None:
            fresh.append(row)
            continue
        cols = list(compared)
        if model is Unit and obj.position_source in (None, "base"):  # type: ignore[attr-defined]
            cols.append("geometry")  # a unit at its base moves with its base
        elif model is not Unit and "geometry" in row:
            cols.append("geometry")
        changed = [c for c in cols if not _same(getattr(obj, c), _record(row)[c])]
        if not changed:
            unchanged += 1
            continue
        updated += 1
        if batch is not None:
            before = {c: _plain(getattr(obj, c)) for c in changed}
            after = {c: _plain(_record(row)[c]) for c in changed}
            for c in changed:
                setattr(obj, c, _record(row)[c])
            if model is Unit:
                obj.version = int(obj.version or 0) + 1  # type: ignore[attr-defined]
            session.add(RegionHistory(import_id=batch.id, table_name=table, row_id=str(row["id"]),
                                      change="updated", before=before, after=after))
    if batch is not None and fresh:
        new = pd.DataFrame(fresh)
        write_gdf(session, model,
                  gpd.GeoDataFrame(new, geometry="geometry", crs=4326) if geom else new)
    ids = {str(r["id"]) for r in rows}
    scope_col = _SCOPE.get(table)
    scope = set(frame[scope_col]) if scope_col else None
    absent = sorted(
        i for i, o in existing.items()
        if i not in ids and (scope is None or getattr(o, str(scope_col)) in scope)
    )
    return {"added": len(fresh), "updated": updated, "unchanged": unchanged,
            "absent": len(absent), "absent_ids": absent[:50]}


# ------------------------------------------------------------------------------ the import


def _combined_sha(data: RegionData) -> str:
    h = hashlib.sha256()
    for f in sorted(data.files, key=lambda f: f.path.name):
        h.update(f"{f.path.name}:{f.sha256}\n".encode())
    return h.hexdigest()


def import_region(
    session: Session,
    sources: Iterable[str | Path],
    options: RegionOptions | None = None,
    *,
    actor: str = "cli",
    dry_run: bool = False,
) -> ImportSummary:
    """Import a region's files in the caller's transaction (see the module docstring).

    Parameters
    ----------
    session
        Open session; the caller commits (everything or, on an exception, nothing).
    sources
        Folders and files (kinds told apart by name or by the mapping).
    options
        Layer, CRS, field mappings (:func:`load_mapping`).
    actor
        Recorded in ``region_imports``.
    dry_run
        Check and count, write nothing.

    Raises
    ------
    RegionImportError
        Any problem in any file (all listed; nothing written).
    """
    srcs = [Path(s) for s in sources]
    data = read_region(srcs, options)
    if data.problems:
        raise RegionImportError(problem_report(data), list(data.problems))
    files = [{"name": f.path.name, "kind": f.kind, "sha256": f.sha256,
              "rows": data.rows.get(f.kind, 0)} for f in data.files]
    summary = ImportSummary(None, dry_run, ", ".join(str(s) for s in srcs), _combined_sha(data),
                            files, [p.name for p in data.ignored])
    batch = None
    if not dry_run:
        batch = RegionImport(actor=actor, source=summary.source, sha256=summary.sha256,
                             files=files, counts={})
        session.add(batch)
        session.flush()
        summary.import_id = batch.id
    for model, frame in _table_frames(data):
        summary.counts[str(model.__tablename__)] = _upsert(session, model, frame, batch)
    if batch is not None:
        batch.counts = summary.counts
        session.flush()
    return summary
