"""Place gazetteer: leagues/cities and banners/counties with their codes, plus towns and sites.

Administrative places come from ``places.geojson`` (see ``data/README.md``: derived from the
DataV.GeoAtlas files, converted from GCJ-02 to WGS84): ``admin_code`` (6 digits), ``level``
(province | league | banner), ``name_zh``, ``name_en``, ``parent_code``, ``seat_lon``,
``seat_lat`` and the outline. Towns and other named sites come from ``towns.csv``:
``name_zh, name_en, kind, lon, lat, admin_code, source``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from geo.crs import WGS84, to_metric, to_metric_xy
from geo.errors import UnknownPlaceError

__all__ = ["ADMIN_LEVELS", "Gazetteer", "Place", "normalize_name"]

ADMIN_LEVELS = ("province", "league", "banner")
TOWN_COLUMNS = ("name_zh", "name_en", "kind", "lon", "lat", "admin_code", "source")

# longest first, so 自治旗 goes before 旗
_ZH_SUFFIXES = ("自治旗", "自治县", "苏木", "旗", "盟", "市", "县", "区", "镇", "乡")
_EN_SUFFIXES = (
    "autonomous banner",
    "autonomous county",
    "banner",
    "league",
    "city",
    "county",
    "district",
    "township",
    "town",
    "sumu",
)
# admin-code lookup tolerates a banner missing from the gazetteer by trying its league
_ADMIN_CODE_RE = re.compile(r"^\d{6}(\d{3}|\d{6})?$")


@dataclass(frozen=True)
class Place:
    """A gazetteer entry.

    Attributes
    ----------
    admin_code
        6-digit administrative division code (for towns: the banner they lie in).
    name_zh, name_en
        Names.
    level
        ``province``, ``league``, ``banner``, or a town kind from ``towns.csv``.
    lon, lat
        WGS84 seat (administrative places) or position (towns).
    geometry
        Outline (administrative places) or point (towns).
    parent_code
        Code of the enclosing unit, when known.
    """

    admin_code: str
    name_zh: str
    name_en: str
    level: str
    lon: float
    lat: float
    geometry: BaseGeometry | None = None
    parent_code: str | None = None

    @property
    def point(self) -> Point:
        """The seat / position as a WGS84 point."""
        return Point(self.lon, self.lat)


def _clean(text: str) -> str:
    s = unicodedata.normalize("NFKC", str(text)).casefold()
    s = re.sub(r"\(.*?\)", " ", s)  # "Bieligutai Town (Abag Banner seat)"
    s = s.replace("'", "").replace("’", "")
    return re.sub(r"[\s\-_.,]+", " ", s).strip()


def normalize_name(text: str) -> tuple[str, str]:
    """Return ``(exact_key, stripped_key)`` of a place name.

    The exact key is the name in NFKC case-folded form with spaces normalised; the stripped key
    also drops an administrative suffix (旗, 盟, 市, 县, ... / Banner, League, City, ...).
    """
    exact = _clean(text)
    stripped = exact
    for suf in _ZH_SUFFIXES:
        if stripped.endswith(suf) and len(stripped) > len(suf) + 1:
            stripped = stripped[: -len(suf)]
            break
    for suf in _EN_SUFFIXES:
        if stripped.endswith(" " + suf):
            stripped = stripped[: -len(suf) - 1].strip()
            break
    return exact.replace(" ", ""), stripped.replace(" ", "")


def _text(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    return str(v)


class Gazetteer:
    """Look up places by administrative code, by name, or by position.

    Parameters
    ----------
    places
        Administrative places (schema of ``places.geojson``).
    towns
        Optional towns and sites (schema of ``towns.csv``).

    Attributes
    ----------
    places
        GeoDataFrame (EPSG:4326), ``admin_code`` as 6-digit strings.
    towns
        DataFrame of towns (empty when none given).
    """

    def __init__(self, places: gpd.GeoDataFrame, towns: pd.DataFrame | None = None) -> None:
        places = places.copy()
        if places.crs is None:
            places = places.set_crs(WGS84)
        elif not places.crs.equals(WGS84):
            places = places.to_crs(WGS84)
        places["admin_code"] = [_text(c).strip().split(".")[0] for c in places["admin_code"]]
        if "parent_code" in places.columns:
            places["parent_code"] = [_text(c).split(".")[0] or None for c in places["parent_code"]]
        self.places = places.reset_index(drop=True)
        self.towns = (
            towns.reset_index(drop=True).copy()
            if towns is not None
            else pd.DataFrame({c: [] for c in TOWN_COLUMNS})
        )
        if len(self.towns):
            self.towns["admin_code"] = [
                _text(c).strip().split(".")[0] for c in self.towns["admin_code"]
            ]
        self._by_code = {c: i for i, c in enumerate(self.places["admin_code"])}
        # name index: key -> list of (tier, order, kind, row)
        self._names: dict[str, list[tuple[int, int, str, int]]] = {}
        level_rank = {"province": 2, "league": 0, "banner": 1}
        for i, row in enumerate(self.places.itertuples(index=False)):
            rank = level_rank.get(str(row.level), 3)
            for name in (row.name_zh, row.name_en):
                if _text(name):
                    exact, stripped = normalize_name(name)
                    self._add(exact, (0, rank, "place", i))
                    self._add(stripped, (2, rank, "place", i))
        for i, row in enumerate(self.towns.itertuples(index=False)):
            for name in (row.name_zh, row.name_en):
                if _text(name):
                    exact, stripped = normalize_name(name)
                    self._add(exact, (1, 0, "town", i))
                    self._add(stripped, (3, 0, "town", i))
        banners = self.places[self.places["level"] == "banner"]
        self._banner_rows = banners.index.to_numpy()
        self._banner_geoms = np.asarray(to_metric(banners.geometry).to_numpy(), dtype=object)
        self._banner_tree = shapely.STRtree(self._banner_geoms)

    def _add(self, key: str, entry: tuple[int, int, str, int]) -> None:
        if key:
            self._names.setdefault(key, []).append(entry)

    @classmethod
    def from_files(cls, places_path: str | Path, towns_path: str | Path | None = None) -> Gazetteer:
        """Load ``places.geojson`` (and ``towns.csv`` when given and present)."""
        places = gpd.read_file(places_path, engine="pyogrio")
        towns = None
        if towns_path is not None and Path(towns_path).exists():
            towns = pd.read_csv(towns_path, dtype={"admin_code": str})
        return cls(places, towns)

    # ------------------------------------------------------------------ lookups

    def _place(self, i: int) -> Place:
        r = self.places.iloc[i]
        geom = r.geometry
        lon = r.get("seat_lon")
        lat = r.get("seat_lat")
        if lon is None or lat is None or not (np.isfinite(lon) and np.isfinite(lat)):
            rp = geom.representative_point()
            lon, lat = rp.x, rp.y
        return Place(
            admin_code=str(r["admin_code"]),
            name_zh=_text(r.get("name_zh")),
            name_en=_text(r.get("name_en")),
            level=str(r["level"]),
            lon=float(lon),
            lat=float(lat),
            geometry=geom,
            parent_code=r.get("parent_code"),
        )

    def _town(self, i: int) -> Place:
        r = self.towns.iloc[i]
        lon, lat = float(r["lon"]), float(r["lat"])
        code = _text(r.get("admin_code"))
        parent = self._by_code.get(code)
        return Place(
            admin_code=code,
            name_zh=_text(r.get("name_zh")),
            name_en=_text(r.get("name_en")),
            level=_text(r.get("kind")) or "town",
            lon=lon,
            lat=lat,
            geometry=Point(lon, lat),
            parent_code=code if parent is not None else None,
        )

    def by_code(self, code: str | int) -> Place:
        """The administrative place of a 6-digit code, or of a 9/12-digit code's first 6 digits.

        A code the gazetteer lacks at banner level falls back to its league (``xxxx00``).

        Raises
        ------
        UnknownPlaceError
            Malformed code, or neither the code nor its league is known.
        """
        s = _text(code).strip()
        if not _ADMIN_CODE_RE.match(s):
            msg = f"administrative code {code!r} is not a 6-, 9- or 12-digit code"
            raise UnknownPlaceError(msg)
        c6 = s[:6]
        for candidate in (c6, c6[:4] + "00"):
            i = self._by_code.get(candidate)
            if i is not None:
                return self._place(i)
        msg = f"unknown administrative code {code!r} (not in the gazetteer, nor its league {c6[:4]}00)"
        raise UnknownPlaceError(msg)

    def find(self, name: str) -> Place:
        """A place by its Chinese or English name, with or without 旗/盟/市/县/Banner/League.

        Exact names beat suffix-stripped ones, administrative places beat towns of the same
        name, leagues beat banners.

        Raises
        ------
        UnknownPlaceError
            No place of that name.
        """
        exact, stripped = normalize_name(name)
        candidates = self._names.get(exact, []) + [
            (t + 2 if t < 2 else t, r, k, i) for t, r, k, i in self._names.get(stripped, [])
        ]
        if not candidates:
            msg = f"unknown place {name!r} (no league, banner or town of that name)"
            raise UnknownPlaceError(msg)
        tier, _, kind, i = min(candidates)
        return self._place(i) if kind == "place" else self._town(i)

    def admin_at(self, lon: float, lat: float, tolerance_m: float = 2000.0) -> Place | None:
        """The banner containing a WGS84 point (or within `tolerance_m` of its outline).

        The tolerance absorbs the simplification of the outlines along borders. Returns None
        outside every banner.
        """
        if len(self._banner_rows) == 0 or not (np.isfinite(lon) and np.isfinite(lat)):
            return None
        x, y = to_metric_xy(lon, lat)
        p = shapely.Point(float(x), float(y))
        hits = self._banner_tree.query(p, predicate="intersects")
        if hits.size == 0 and tolerance_m > 0:
            hits = self._banner_tree.query_nearest(p, max_distance=tolerance_m, all_matches=False)
        if hits.size == 0:
            return None
        return self._place(int(self._banner_rows[int(np.min(hits))]))

    def __len__(self) -> int:
        return len(self.places) + len(self.towns)
