"""Region source files: which file is which, the import options, reading tables and layers.

A region comes as a folder or as files, told apart by name (``roads.*``, ``places.*``,
``towns.csv`` / ``townships.csv`` / ``gazetteer.csv``, ``units.csv`` / ``roster.csv``,
``duty_points.csv``, ``warming_points.csv``, ``sections.csv``, ``road_chiefs.csv``) or claimed
by the mapping file (``[units] file = "车辆台账.csv"``). Every problem is a :class:`RegionProblem`
(file, feature, field, value, message); nothing raises until all files were read.

Mapping file (TOML or JSON), every part optional::

    [roads]
    file = "lx.shp"            # claim a file whatever its name
    layer = "roads"            # GeoPackage layer
    crs = "EPSG:4547"          # CRS of a file that has none
    [roads.fields]             # schema field = file field
    road_code = "LXBM"
    [roads.km_anchors]         # post at the first vertex, when posts are derived
    X101 = 12.0
    [units.fields]
    unit_id = "车辆编号"
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from geo.errors import GeoError
from geo.roads import read_roads
from incidents.errors import RegionImportError

__all__ = [
    "KINDS",
    "RegionFile",
    "RegionOptions",
    "RegionProblem",
    "find_region_files",
    "load_mapping",
    "read_places",
    "read_road_problems",
    "read_table",
]

KINDS = (
    "roads",
    "places",
    "towns",
    "units",
    "duty_points",
    "warming_points",
    "sections",
    "road_chiefs",
)
_VECTOR = {".geojson", ".json", ".gpkg", ".shp", ".fgb"}
_SIDECARS = {".prj", ".dbf", ".shx", ".cpg", ".qix", ".sbn", ".sbx", ".xml", ".qmd"}
# file-name stem (lower case, before any "_v2" etc.) -> kind, longest first
_STEMS = (
    ("warming_points", "warming_points"),
    ("duty_points", "duty_points"),
    ("road_chiefs", "road_chiefs"),
    ("townships", "towns"),
    ("gazetteer", "towns"),
    ("sections", "sections"),
    ("chiefs", "road_chiefs"),
    ("roster", "units"),
    ("places", "places"),
    ("towns", "towns"),
    ("roads", "roads"),
    ("units", "units"),
)
_TABLE_KINDS = {"towns", "units", "duty_points", "warming_points", "sections", "road_chiefs"}


@dataclass(frozen=True)
class RegionProblem:
    """One thing wrong with the region files."""

    file: str
    feature: str | None
    field: str | None
    value: str | None
    message: str

    def __str__(self) -> str:
        """Return the message."""
        parts = [self.file]
        if self.feature:
            parts.append(self.feature)
        where = ": ".join(parts)
        what = f"{self.field} {self.value!r}: " if self.field and self.value is not None else (
            f"{self.field}: " if self.field else ""
        )
        return f"{where}: {what}{self.message}"

    def to_dict(self) -> dict[str, str | None]:
        """Return the problem as a JSON object (``region check --json``)."""
        return {
            "file": self.file,
            "feature": self.feature,
            "field": self.field,
            "value": self.value,
            "message": self.message,
        }


@dataclass(frozen=True)
class RegionFile:
    """A source file of the import: its kind, path and sha256 (with a Shapefile's sidecars)."""

    kind: str
    path: Path
    sha256: str


@dataclass
class RegionOptions:
    """How to read the files: per kind a claimed file name, field mapping; roads layer, CRS."""

    layer: str | None = None
    crs: str | None = None
    fields: dict[str, dict[str, str]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    km_anchors: dict[str, float] = field(default_factory=dict)


def load_mapping(path: str | Path | None, layer: str | None = None,
                 crs: str | None = None) -> RegionOptions:
    """Read a TOML/JSON mapping file (module docstring) into options; `layer`/`crs` override.

    Raises
    ------
    RegionImportError
        The file cannot be read, or names an unknown kind or a non-text field.
    """
    doc: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
            doc = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
        except (OSError, UnicodeDecodeError, ValueError) as e:
            msg = f"cannot read the mapping file {str(p)!r}: {e}"
            raise RegionImportError(msg) from e
    options = RegionOptions()
    problems: list[str] = []
    for kind, section in doc.items():
        if kind not in KINDS or not isinstance(section, dict):
            problems.append(f"[{kind}] is not one of {', '.join(KINDS)}")
            continue
        fields = section.get("fields", {})
        if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
            problems.append(f"[{kind}.fields] must map schema fields to file field names")
        else:
            options.fields[kind] = {str(k): v for k, v in fields.items()}
        if "file" in section:
            options.files[kind] = str(section["file"])
        if kind == "roads":
            options.layer = section.get("layer")
            options.crs = section.get("crs")
            anchors = section.get("km_anchors", {})
            try:
                options.km_anchors = {str(k).upper(): float(v) for k, v in anchors.items()}
            except (AttributeError, TypeError, ValueError):
                problems.append("[roads.km_anchors] must map road codes to kilometres")
    if problems:
        msg = f"mapping file {str(path)!r}: " + "; ".join(problems)
        raise RegionImportError(msg)
    options.layer = layer or options.layer
    options.crs = crs or options.crs
    return options


def _kind_of(path: Path, options: RegionOptions) -> str | None:
    for kind, name in options.files.items():
        if path.name == name or str(path) == name:
            return kind
    stem = path.stem.lower()
    ext = path.suffix.lower()
    for prefix, kind in _STEMS:
        if stem.startswith(prefix):
            if kind in ("roads", "places"):
                return kind if ext in _VECTOR else None
            return kind if ext == ".csv" else None
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    paths = [path]
    if path.suffix.lower() == ".shp":
        paths += sorted(p for p in path.parent.glob(path.stem + ".*") if p != path)
    for p in paths:
        h.update(p.name.encode("utf-8"))
        h.update(p.read_bytes())
    return h.hexdigest()


def find_region_files(
    sources: Iterable[str | Path], options: RegionOptions
) -> tuple[list[RegionFile], list[Path], list[RegionProblem]]:
    """Return the region files among folders and files: (files, ignored, problems).

    Sidecars of a Shapefile (``.prj``, ``.dbf``, ...) are neither files nor ignored; anything
    else that is no region file is ignored (and listed); two files of one kind are a problem.
    """
    found: dict[str, RegionFile] = {}
    ignored: list[Path] = []
    problems: list[RegionProblem] = []
    for source in sources:
        src = Path(source)
        if src.is_dir():
            paths = sorted(p for p in src.iterdir() if p.is_file())
        elif src.is_file():
            paths = [src]
        else:
            problems.append(RegionProblem(str(src), None, None, None, "no such file or folder"))
            continue
        for p in paths:
            kind = _kind_of(p, options)
            if kind is None:
                if p.suffix.lower() not in _SIDECARS:
                    ignored.append(p)
                continue
            if kind in found:
                problems.append(RegionProblem(
                    p.name, None, None, None,
                    f"a second {kind} file (first: {found[kind].path.name}); import one of them",
                ))
                continue
            found[kind] = RegionFile(kind, p, _sha256(p))
    if not found and not problems:
        problems.append(RegionProblem(
            ", ".join(str(s) for s in sources) or "(nothing)", None, None, None,
            "no region files found (expected roads.*, places.*, towns.csv, units.csv, "
            "duty_points.csv, warming_points.csv, sections.csv, road_chiefs.csv)",
        ))
    ordered = [found[k] for k in KINDS if k in found]
    return ordered, ignored, problems


# ------------------------------------------------------------------------------ roads, places

_FEATURE_RE = re.compile(r"^(features? \d+(?: and \d+)?(?: \([^)]*\))?): (.*)$")
_FIELDS = ("road_code", "km_start", "km_end", "road_class", "geometry", "coordinates")
_QUOTED_RE = re.compile(r"'([^']*)'")


def read_road_problems(
    rf: RegionFile, options: RegionOptions
) -> tuple[gpd.GeoDataFrame | None, list[RegionProblem]]:
    """Read and validate the road file: (roads or None, its problems)."""
    try:
        roads = read_roads(
            rf.path,
            options.layer,
            fields=options.fields.get("roads") or None,
            crs=options.crs,
            km_anchors=options.km_anchors,
        )
    except GeoError as e:
        return None, _road_error_problems(rf.path.name, str(e))
    return roads, []


def _road_error_problems(name: str, text: str) -> list[RegionProblem]:
    lines = [ln.strip() for ln in text.splitlines()]
    if len(lines) == 1:
        line = _strip_source(lines[0])
        line = line[len(name) + 1:] if line.startswith(name + " ") else line
        return [RegionProblem(name, None, None, None, line)]
    out: list[RegionProblem] = []
    for line in lines[1:]:
        m = _FEATURE_RE.match(line)
        feature, message = (m[1], m[2]) if m else (None, line)
        fld = next((f for f in _FIELDS if f in message), None)
        q = _QUOTED_RE.search(message)
        out.append(RegionProblem(name, feature, fld, q[1] if q else None, message))
    return out


def _strip_source(line: str) -> str:
    return re.sub(r"^road network file '[^']*' ", "", line)


_PLACE_LEVELS = ("province", "league", "banner", "township")


def read_places(
    rf: RegionFile, options: RegionOptions
) -> tuple[gpd.GeoDataFrame | None, list[RegionProblem]]:
    """Read the administrative places layer (admin code, level, names, parent, seat, outline)."""
    name = rf.path.name
    try:
        gdf = gpd.read_file(rf.path, engine="pyogrio")
    except Exception as e:  # pyogrio raises several DataSource errors
        return None, [RegionProblem(name, None, None, None, f"cannot read: {e}")]
    gdf = gdf.rename(columns=_renames(gdf.columns, options.fields.get("places", {}), {}))
    problems: list[RegionProblem] = []
    if gdf.crs is None:
        if not options.crs:
            fix = f"add {rf.path.stem}.prj" if rf.path.suffix.lower() == ".shp" else "set one"
            return None, [RegionProblem(name, None, None, None,
                                        f"has no CRS: {fix} or pass --crs EPSG:4326")]
        gdf = gdf.set_crs(options.crs)
    gdf = gdf.to_crs(4326)
    for col in ("admin_code", "level", "name_zh"):
        if col not in gdf.columns:
            problems.append(RegionProblem(name, None, col, None, "required field missing"))
    if problems:
        return None, problems
    gdf["admin_code"] = [_code_text(v) for v in gdf["admin_code"]]
    if "parent_code" in gdf.columns:
        gdf["parent_code"] = [_code_text(v) or None for v in gdf["parent_code"]]
    codes = set(gdf["admin_code"])
    seen: set[str] = set()
    for i, row in enumerate(gdf.itertuples(index=False)):
        where = f"feature {i} ({row.admin_code or row.name_zh})"
        code = str(row.admin_code)
        if not re.fullmatch(r"\d{6}(?:\d{3}|\d{6})?", code):
            problems.append(RegionProblem(name, where, "admin_code", code,
                                          "not a 6-, 9- or 12-digit division code"))
        elif code in seen:
            problems.append(RegionProblem(name, where, "admin_code", code, "appears twice"))
        seen.add(code)
        if str(row.level) not in _PLACE_LEVELS:
            problems.append(RegionProblem(name, where, "level", str(row.level),
                                          f"expected one of {', '.join(_PLACE_LEVELS)}"))
        if blank(row.name_zh):
            problems.append(RegionProblem(name, where, "name_zh", None, "empty name"))
        parent = getattr(row, "parent_code", None)
        if row.level in ("league", "banner", "township") and parent and parent not in codes:
            problems.append(RegionProblem(name, where, "parent_code", str(parent),
                                          "no place with this code in the file"))
        if row.geometry is None or row.geometry.is_empty:
            problems.append(RegionProblem(name, where, "geometry", None, "empty geometry"))
    return (None if problems else gdf), problems


# ------------------------------------------------------------------------------ tables


def blank(v: Any) -> bool:
    """Whether a cell is empty (None, NaN or only spaces)."""
    return v is None or (isinstance(v, float) and math.isnan(v)) or str(v).strip() == ""


def _code_text(v: Any) -> str:
    return "" if blank(v) else str(v).strip().split(".")[0]


def _renames(
    columns: Iterable[Any], mapping: Mapping[str, str], aliases: Mapping[str, str]
) -> dict[Any, str]:
    """Column renames: the mapping (schema -> file field) first, then the aliases."""
    cols = [c for c in columns if c != "geometry"]
    out: dict[Any, str] = {}
    for target, source in mapping.items():
        for c in cols:
            if str(c).strip().lower() == source.strip().lower():
                out[c] = target
    taken = set(out.values()) | {str(c).strip().lower() for c in cols}
    for c in cols:
        key = str(c).strip().lower()
        alias = aliases.get(key)
        if c not in out and alias and alias not in taken:
            out[c] = alias
            taken.add(alias)
        elif c not in out and key != c:
            out[c] = key
    return out


def read_table(
    rf: RegionFile, options: RegionOptions, aliases: Mapping[str, str]
) -> tuple[pd.DataFrame | None, list[RegionProblem]]:
    """Read a CSV table as text (UTF-8, UTF-8 with BOM, else GB18030), columns renamed."""
    name = rf.path.name
    raw = rf.path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes nearly any byte string
        return None, [RegionProblem(name, None, None, None, "text encoding not UTF-8 or GB18030")]
    from io import StringIO

    try:
        df = pd.read_csv(StringIO(text), dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as e:
        return None, [RegionProblem(name, None, None, None, f"not a readable CSV table: {e}")]
    mapping = options.fields.get(rf.kind, {})
    missing = [
        f"{s!r} (for {t})" for t, s in mapping.items()
        if s.strip().lower() not in {str(c).strip().lower() for c in df.columns}
    ]
    if missing:
        return None, [RegionProblem(name, None, None, None,
                                    "the field mapping names field(s) the file lacks: "
                                    + ", ".join(missing))]
    df = df.rename(columns=_renames(df.columns, mapping, aliases))
    return df.apply(lambda col: col.str.strip()), []
