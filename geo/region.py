"""The region: road network, gazetteer, graph, units and duty points loaded from one folder.

A region folder (``data/region/``) holds ``roads.geojson`` (required; any pyogrio-readable
``roads.gpkg`` / ``roads.shp`` works too), ``places.geojson``, ``towns.csv``, ``units.csv``,
``duty_points.csv``, ``sections.csv`` and ``road_chiefs.csv`` (schemas in the project's interface
contracts and ``data/README.md``). :func:`load_region` caches one :class:`Region` per folder and
file modification times, so an edited file is picked up on the next call.

**Loaded once, stored.** Building a region (segments, spatial index, road graph) takes tens of
seconds for a province-wide network, so :func:`load_region` also keeps the built region in a
cache file, ``<cache dir>/region-<key>.pkl``, where the key is a hash of every file in the
folder (names and bytes), of the :mod:`geo` source code and of the library versions: an edited
region file, a new version of the code or of numpy/pandas/shapely gives a new key and one
rebuild. The cache dir is ``WINTEROPS_CACHE_DIR``, else ``<WINTEROPS_VAR_DIR or var>/cache``
(the folder beside the default database); it keeps the 8 most recently used regions. Two
processes building at once both write a temporary file and rename it (see
:func:`geo.cache.write_cache_file`); an unwritable folder only means no cache.

:meth:`Region.locate` is the locator the ingest parsers and ``winterops locate`` use.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from geo.cache import prune_cache_dir, read_cache_file, write_cache_file
from geo.crs import WGS84, to_wgs84
from geo.errors import (
    CoordinateError,
    GeoError,
    OutsideRegionError,
    StakeError,
    UnknownPlaceError,
)
from geo.gazetteer import Gazetteer, Place
from geo.network import RoadGraph
from geo.roads import RoadNetwork, read_roads
from geo.stakes import format_stake, parse_stake

__all__ = [
    "LocateResult",
    "Region",
    "default_cache_dir",
    "load_region",
    "region_bounds",
    "region_key",
]

ROAD_FILES = ("roads.geojson", "roads.gpkg", "roads.shp")
UNIT_COLUMNS = (
    "unit_id",
    "name_zh",
    "name_en",
    "vehicle_class",
    "capabilities",
    "brigade",
    "home_base",
    "lon",
    "lat",
    "crew_hour_limit",
)
DUTY_COLUMNS = (
    "id",
    "kind",
    "name_zh",
    "name_en",
    "road_code",
    "km",
    "lon",
    "lat",
    "admin_code",
    "hours",
    "source",
)
SECTION_COLUMNS = (
    "section_id",
    "road_code",
    "km_from",
    "km_to",
    "name_zh",
    "name_en",
    "maintainer",
    "road_chief_id",
)
CHIEF_COLUMNS = (
    "road_chief_id",
    "name_zh",
    "name_en",
    "title_zh",
    "title_en",
    "phone",
    "section_id",
)
# A point this close (degrees, about 5 km) outside the simplified outline still counts as inside.
_BOUNDS_SLACK_DEG = 0.05
_ADMIN_CODE_RE = re.compile(r"^\d{6}(?:\d{3}|\d{6})?$")
_COORD_RE = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*[,，;；\s]\s*([-+]?\d+(?:\.\d+)?)\s*$")
_COORDISH_RE = re.compile(r"^[-+\d.\s,，;；]+$|^[-+]?\d+(?:\.\d+)?\s*[,，;；]")
_STAKEISH_RE = re.compile(r"^(?:[GSXYZ]\d|K\d)|公里|KM$|\d\+\d")
# bump when the cached layout changes in a way the source hash would not see
_CACHE_FORMAT = 1
_CACHE_KEEP = 8
_GEO_DIR = Path(__file__).resolve().parent
_PROJECT_VAR = _GEO_DIR.parent / "var"
_LIBRARIES = ("numpy", "pandas", "geopandas", "shapely", "pyproj", "scipy")


@dataclass(frozen=True)
class LocateResult:
    """Where a query resolved to.

    Attributes
    ----------
    lon, lat
        WGS84 position (the kilometre post's point, the place's seat, or the given point).
    road, km, offset_m
        Nearest road, its kilometre post there, and the distance to it in metres.
    admin_code, admin_name
        The banner containing the position (None outside every banner).
    method
        ``"stake"``, ``"place"`` or ``"coordinates"``.
    segment_id
        The segment nearest the position.
    """

    lon: float
    lat: float
    road: str | None
    km: float | None
    offset_m: float | None
    admin_code: str | None
    admin_name: str | None
    method: str
    segment_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON object of ``winterops locate --json`` (rounded: 1e-6 deg, 1 m)."""
        return {
            "lon": round(self.lon, 6),
            "lat": round(self.lat, 6),
            "road": self.road,
            "km": None if self.km is None else round(self.km, 3),
            "offset_m": None if self.offset_m is None else round(self.offset_m, 1),
            "admin_code": self.admin_code,
            "admin_name": self.admin_name,
            "method": self.method,
        }

    @property
    def stake(self) -> str | None:
        """``"G331 K1520+300"`` of the nearest road, or None."""
        if self.road is None or self.km is None:
            return None
        return f"{self.road} {format_stake(self.km)}"


@dataclass
class Region:
    """Everything geographic about one deployment.

    Attributes
    ----------
    network
        Roads, segments and linear referencing.
    gazetteer
        Leagues, banners, towns.
    graph
        Road graph for travel times.
    units
        Units with their home bases (GeoDataFrame, points, EPSG:4326).
    duty_points
        Duty points, duty stations and warming points (GeoDataFrame, points).
    sections, chiefs
        Maintenance sections and their road chiefs.
    bounds
        Outline of the region (the province outline, else the union of the places, else a box
        around the roads).
    root
        The folder it was loaded from.
    """

    network: RoadNetwork
    gazetteer: Gazetteer
    graph: RoadGraph
    units: gpd.GeoDataFrame
    duty_points: gpd.GeoDataFrame
    sections: pd.DataFrame
    chiefs: pd.DataFrame
    bounds: BaseGeometry
    root: Path | None = None
    _bounds_slack: BaseGeometry | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        """Check and normalise the fields."""
        if self._bounds_slack is None:
            self._bounds_slack = self.bounds.buffer(_BOUNDS_SLACK_DEG)
        shapely.prepare(self._bounds_slack)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a region read from a cache file (its outline prepared again)."""
        self.__dict__.update(state)
        if self._bounds_slack is not None:
            shapely.prepare(self._bounds_slack)

    # ------------------------------------------------------------------ queries

    def contains(self, lon: float, lat: float) -> bool:
        """Whether a WGS84 point lies in the region (with ~5 km slack for simplified borders)."""
        assert self._bounds_slack is not None
        return bool(shapely.contains_xy(self._bounds_slack, lon, lat))

    def admin_at(self, lon: float, lat: float) -> Place | None:
        """Return the banner containing a WGS84 point (see :meth:`Gazetteer.admin_at`)."""
        return self.gazetteer.admin_at(lon, lat)

    def locate(self, query: str, crs: str = "wgs84") -> LocateResult:
        """Resolve a kilometre post, a place name or ``"lat,lon"`` to a position on the network.

        Parameters
        ----------
        query
            ``"G331 K1520+300"`` (any form :func:`geo.stakes.parse_stake` reads, with a road
            code), a league/banner/town name in Chinese or English (``"阿巴嘎旗"``,
            ``"Xilinhot"``), a 6-, 9- or 12-digit administrative code (``"152522"``, method
            ``"place"``), or ``"lat,lon"`` in degrees (``"lon,lat"`` is recognised when the
            first number cannot be a latitude).
        crs
            Datum of coordinates in the query: ``"wgs84"``, ``"gcj02"`` or ``"bd09"``.

        Returns
        -------
        LocateResult

        Raises
        ------
        UnknownRoadError
            The road code is not in the network.
        StakeError
            A malformed kilometre post, one without a road code, or a kilometre outside the
            road's range.
        CoordinateError
            Malformed coordinates or an unknown datum.
        OutsideRegionError
            Coordinates outside the region.
        UnknownPlaceError
            Text that is none of the three forms, or an unknown place name.
        """
        q = unicodedata.normalize("NFKC", str(query)).strip()
        if not q:
            msg = "empty location query (expected 'G331 K1520+300', a place name or 'lat,lon')"
            raise UnknownPlaceError(msg)
        if _ADMIN_CODE_RE.match(q):  # a 6/9/12-digit administrative division code
            place = self.gazetteer.by_code(q)
            return self._result(place.lon, place.lat, "place")
        m = _COORD_RE.match(q)
        if m is not None:
            return self._locate_coordinates(query, float(m[1]), float(m[2]), crs)
        if _COORDISH_RE.match(q):
            msg = f"malformed coordinates {query!r} (expected 'lat,lon', e.g. '43.94,116.08')"
            raise CoordinateError(msg)
        to_wgs84(116.0, 44.0, crs)  # validate the datum even when unused
        compact = re.sub(r"\s+", "", q).upper()
        if _STAKEISH_RE.search(compact):
            try:
                return self._locate_place(query)
            except UnknownPlaceError:
                pass
            return self._locate_stake(query)
        try:
            return self._locate_place(query)
        except UnknownPlaceError:
            msg = (
                f"cannot locate {query!r}: not a kilometre post (e.g. 'G331 K1520+300'), "
                "not a known place name, not 'lat,lon'"
            )
            raise UnknownPlaceError(msg) from None

    def _result(
        self, lon: float, lat: float, method: str, stake: tuple[str, float] | None = None
    ) -> LocateResult:
        pos = self.network.point_to_stake(lon, lat)
        admin = self.admin_at(lon, lat)
        road, km, offset = pos.road_code, pos.km, pos.offset_m
        if stake is not None:
            road, km, offset = stake[0], stake[1], 0.0
        return LocateResult(
            lon=float(lon),
            lat=float(lat),
            road=road,
            km=float(km),
            offset_m=float(offset),
            admin_code=admin.admin_code if admin else None,
            admin_name=admin.name_zh if admin else None,
            method=method,
            segment_id=pos.segment_id,
        )

    def _locate_stake(self, query: str) -> LocateResult:
        stake = parse_stake(query)
        if stake.road_code is None:
            msg = f"kilometre post {query!r} has no road code (write it as e.g. 'G331 K1520+300')"
            raise StakeError(msg)
        p = self.network.stake_to_point(stake.road_code, stake.km)
        return self._result(p.x, p.y, "stake", (stake.road_code, stake.km))

    def _locate_place(self, query: str) -> LocateResult:
        place = self.gazetteer.find(query)
        return self._result(place.lon, place.lat, "place")

    def _locate_coordinates(self, query: str, a: float, b: float, crs: str) -> LocateResult:
        lat, lon = a, b
        if abs(a) > 90 >= abs(b):  # "lon,lat" written the other way round
            lon, lat = a, b
        wlon, wlat = to_wgs84(lon, lat, crs)
        if not self.contains(wlon, wlat):
            msg = (
                f"point {query!r} (WGS84 lon {wlon:.5f}, lat {wlat:.5f}) is outside the region "
                f"(bounds {', '.join(f'{v:.2f}' for v in self.bounds.bounds)})"
            )
            raise OutsideRegionError(msg)
        return self._result(wlon, wlat, "coordinates")


# ---------------------------------------------------------------------- loading


def _read_csv(path: Path, columns: tuple[str, ...], str_cols: tuple[str, ...] = ()) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame({c: [] for c in columns})
    try:
        df = pd.read_csv(path, dtype={c: str for c in str_cols}, keep_default_na=True)
    except (OSError, ValueError, pd.errors.ParserError) as e:
        msg = f"cannot read region file {str(path)!r}: {e}"
        raise GeoError(msg) from e
    missing = [c for c in columns if c not in df.columns]
    if missing:
        msg = f"region file {str(path)!r} lacks column(s) {', '.join(missing)}"
        raise GeoError(msg)
    return df


def _points(df: pd.DataFrame) -> gpd.GeoDataFrame:
    lon = pd.to_numeric(df["lon"], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(df["lat"], errors="coerce").to_numpy(dtype=float)
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(lon, lat), crs=WGS84)


def _road_file(root: Path) -> Path:
    for name in ROAD_FILES:
        if (root / name).exists():
            return root / name
    msg = f"region folder {str(root)!r} has no road file ({', '.join(ROAD_FILES)})"
    raise GeoError(msg)


def _fingerprint(root: Path) -> tuple[tuple[str, int, int], ...]:
    if not root.is_dir():
        msg = f"region folder {str(root)!r} does not exist"
        raise GeoError(msg)
    out = []
    for p in sorted(root.iterdir()):
        if p.is_file():
            st = p.stat()
            out.append((p.name, st.st_mtime_ns, st.st_size))
    return tuple(out)


def default_cache_dir() -> Path:
    """Folder of the region cache files: ``WINTEROPS_CACHE_DIR``, else ``<var>/cache``.

    ``<var>`` is ``WINTEROPS_VAR_DIR`` when set, else the project's ``var`` folder (the same
    rule as the database's default location in ``incidents.settings``).
    """
    env = os.environ
    if env.get("WINTEROPS_CACHE_DIR"):
        return Path(env["WINTEROPS_CACHE_DIR"])
    return Path(env.get("WINTEROPS_VAR_DIR") or _PROJECT_VAR) / "cache"


def _code_and_library_hash() -> bytes:
    h = hashlib.sha256(f"region cache {_CACHE_FORMAT} {sys.version}".encode())
    for lib in _LIBRARIES:
        try:
            h.update(f"{lib}={metadata.version(lib)};".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{lib}=?;".encode())
    for p in sorted(_GEO_DIR.glob("*.py")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.digest()


def region_key(region_dir: str | Path) -> str:
    """Content hash of a region folder for its cache file (hex).

    Covers every file of the folder (name and bytes), the :mod:`geo` source code, the Python
    version and the versions of the array and geometry libraries.

    Raises
    ------
    GeoError
        The folder does not exist.
    """
    root = Path(region_dir)
    if not root.is_dir():
        msg = f"region folder {str(root)!r} does not exist"
        raise GeoError(msg)
    h = hashlib.sha256(_code_and_library_hash())
    for p in sorted(root.iterdir()):
        if not p.is_file():
            continue
        h.update(p.name.encode() + b"\0")
        with p.open("rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def load_region(
    region_dir: str | Path, *, cache_dir: str | Path | None = None, use_cache: bool = True
) -> Region:
    """Load (or return the cached) region of a folder.

    In the process, the cache key is the resolved path plus every file's modification time
    and size. Across processes, the built region is read from its cache file when one matches
    the folder's content (:func:`region_key`), else built and stored there.

    Parameters
    ----------
    region_dir
        The region folder.
    cache_dir
        Folder of the cache files (default :func:`default_cache_dir`).
    use_cache
        False: build from the files and neither read nor write a cache file.

    Raises
    ------
    NetworkFileError
        The road file breaks the schema.
    GeoError
        The folder or its road file is missing, or a table lacks columns.
    """
    root = Path(region_dir).resolve()
    folder = "" if not use_cache else str(Path(cache_dir or default_cache_dir()).resolve())
    return _load_region_cached(str(root), _fingerprint(root), folder)


@lru_cache(maxsize=4)
def _load_region_cached(
    root_s: str, _fingerprint: tuple[tuple[str, int, int], ...], cache_dir: str
) -> Region:
    root = Path(root_s)
    if not cache_dir:
        return _build_region(root)
    key = region_key(root)
    path = Path(cache_dir) / f"region-{key[:40]}.pkl"
    cached = read_cache_file(path, key)
    if isinstance(cached, Region):
        cached.root = root
        return cached
    region = _build_region(root)
    region.network.clear_snap_cache()
    if write_cache_file(path, key, region):
        prune_cache_dir(cache_dir, "region-*.pkl", _CACHE_KEEP)
    return region


def _build_region(root: Path) -> Region:
    roads = read_roads(_road_file(root))
    network = RoadNetwork(roads)
    graph = RoadGraph.from_segments(network.segments)
    places_path = root / "places.geojson"
    towns_path = root / "towns.csv"
    towns = _read_csv(
        towns_path, ("name_zh", "name_en", "kind", "lon", "lat", "admin_code"), ("admin_code",)
    )
    if places_path.exists():
        places = gpd.read_file(places_path, engine="pyogrio")
    else:
        places = gpd.GeoDataFrame(
            {
                "admin_code": [],
                "level": [],
                "name_zh": [],
                "name_en": [],
                "parent_code": [],
                "seat_lon": [],
                "seat_lat": [],
            },
            geometry=gpd.GeoSeries([], crs=WGS84),
            crs=WGS84,
        )
    gazetteer = Gazetteer(places, towns)
    units = _points(_read_csv(root / "units.csv", UNIT_COLUMNS, ("unit_id",)))
    duty = _points(_read_csv(root / "duty_points.csv", DUTY_COLUMNS, ("id", "admin_code")))
    sections = _read_csv(root / "sections.csv", SECTION_COLUMNS, ("section_id",))
    chiefs = _read_csv(root / "road_chiefs.csv", CHIEF_COLUMNS, ("road_chief_id", "phone"))
    return Region(
        network=network,
        gazetteer=gazetteer,
        graph=graph,
        units=units,
        duty_points=duty,
        sections=sections,
        chiefs=chiefs,
        bounds=region_bounds(gazetteer.places, roads),
        root=root,
    )


def region_bounds(places: gpd.GeoDataFrame, roads: gpd.GeoDataFrame) -> BaseGeometry:
    """Return the region's outline: its province (else all places), else the roads' box + 0.5°."""
    if len(places):
        prov = places[places["level"] == "province"]
        geoms = prov.geometry if len(prov) else places.geometry
        outline = shapely.union_all(np.asarray(geoms.to_numpy(), dtype=object))
        if not outline.is_empty:
            return outline
    minx, miny, maxx, maxy = roads.total_bounds
    return box(minx - 0.5, miny - 0.5, maxx + 0.5, maxy + 0.5)
