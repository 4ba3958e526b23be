"""Place gazetteer: leagues/cities and banners/counties with their codes, plus towns and sites.

Administrative places come from ``places.geojson`` (see ``data/README.md``: derived from the
DataV.GeoAtlas files, converted from GCJ-02 to WGS84): ``admin_code`` (6 digits), ``level``
(province | league | banner), ``name_zh``, ``name_en``, ``parent_code``, ``seat_lon``,
``seat_lat`` and the outline. Towns and other named sites come from ``towns.csv``:
``name_zh, name_en, kind, lon, lat, admin_code, source``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Geod
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from geo.crs import WGS84, to_metric, to_metric_xy
from geo.errors import UnknownPlaceError

__all__ = ["ADMIN_LEVELS", "Gazetteer", "Place", "Resolution", "normalize_name", "zh_number"]

ADMIN_LEVELS = ("province", "league", "banner")
TOWN_COLUMNS = ("name_zh", "name_en", "kind", "lon", "lat", "admin_code", "source")

# longest first, so 自治旗 goes before 旗
_ZH_SUFFIXES = (
    "自治旗", "自治县", "街道办事处", "苏木", "嘎查", "街道", "社区", "旗", "盟", "市", "县", "区",
    "镇", "乡", "村",
)  # fmt: skip
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
    "gacha",
    "village",
)
# admin-code lookup tolerates a banner missing from the gazetteer by trying its league
_ADMIN_CODE_RE = re.compile(r"^\d{6}(\d{3}|\d{6})?$")


_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "四": 4, "五": 5}
_ZH_DIGITS |= {"六": 6, "七": 7, "八": 8, "九": 9}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10_000}


def zh_number(text: str) -> int | None:
    """Return the integer a Chinese numeral writes (``十五`` 15, ``两百`` 200, ``一百零五`` 105).

    Returns None when `text` is not a Chinese numeral (``二三十`` is a range, not a numeral).
    """
    if not text or any(c not in _ZH_DIGITS and c not in _ZH_UNITS for c in text):
        return None
    total, section, digit = 0, 0, None
    for c in text:
        if c in _ZH_DIGITS:
            if digit:
                return None
            digit = _ZH_DIGITS[c]
            continue
        unit = _ZH_UNITS[c]
        if unit == 10_000:
            total += (section + (digit or 0)) * unit
            section, digit = 0, None
        else:
            section += (1 if digit is None else digit) * unit
            digit = None
    return total + section + (digit or 0)


# uncertainty (metres) of a point-like place of each kind; outlines use their own size
TOWN_UNCERTAINTY_M = 3000.0
SITE_UNCERTAINTY_M = 500.0  # service areas, toll stations, clinics: one building or yard
VILLAGE_UNCERTAINTY_M = 15_000.0  # a gacha/village of a named town: somewhere in its township
OFFSET_SPREAD = 0.25  # "15 km north": +-25 % of the distance, about +-15 degrees of bearing
_GEOD = Geod(ellps="WGS84")
_SITE_KINDS = ("service_area", "toll_station", "clinic", "village", "site")
_BEARINGS = {
    "北": 0.0, "东北": 45.0, "东": 90.0, "东南": 135.0, "南": 180.0, "西南": 225.0, "西": 270.0,
    "西北": 315.0, "north": 0.0, "northeast": 45.0, "east": 90.0, "southeast": 135.0,
    "south": 180.0, "southwest": 225.0, "west": 270.0, "northwest": 315.0,
}  # fmt: skip
_UNITS_M = {"公里": 1000.0, "千米": 1000.0, "km": 1000.0, "里": 500.0, "米": 1.0, "m": 1.0}
_UNITS_M |= {"kilometres": 1000.0, "kilometers": 1000.0, "metres": 1.0, "meters": 1.0}
_ZH_NUM = r"\d+(?:\.\d+)?|[零〇一二三四五六七八九两十百千半]+"
_ZH_OFFSET = re.compile(
    rf"^(?:距离?|离)?(?P<base>.+?)(?:以|往|向|偏)?(?P<dir>东北|东南|西北|西南|东|南|西|北)?"
    rf"(?:方向|方|侧|面|边|部)?(?:约|大约|大概|近|将近)?(?P<dist>{_ZH_NUM})\s*(?:多|余)?"
    r"\s*(?P<unit>公里|千米|km|里|米|m)(?:多|余|左右)?(?:处|的地方|附近|路段)?$"
)
_EN_OFFSET = re.compile(
    r"^(?:about |approx\.? |approximately |around |~)?(?P<dist>\d+(?:\.\d+)?) ?"
    r"(?P<unit>km|kilometres|kilometers|m|metres|meters) (?P<dir>north|northeast|east|southeast|"
    r"south|southwest|west|northwest|n|ne|e|se|s|sw|w|nw)?(?: of| from)? (?P<base>.+)$"
)
_EN_SHORT = {"n": "north", "ne": "northeast", "e": "east", "se": "southeast", "s": "south"}
_EN_SHORT |= {"sw": "southwest", "w": "west", "nw": "northwest"}
# vague words after a place name: "X镇附近", "X镇境内", "X苏木一带"
_VAGUE = re.compile(r"(?:附近|境内|一带|周边|周围|辖区|地区|路口|路段|段|处|方向)+$")
_PROVINCE_PREFIX = re.compile(r"^(?:中国)?(?:内蒙古自治区|内蒙古)")


@dataclass(frozen=True)
class Resolution:
    """Where a place description puts a call, and how sure that is.

    Attributes
    ----------
    place
        The gazetteer place the description rests on (the town of "X镇以北15公里").
    lon, lat
        WGS84 point (the place's seat, moved by an offset when one was given).
    uncertainty_m
        Radius in metres within which the caller should be: the place's size (a banner's or
        township's outline, 3 km for a town, 0.5 km for a site), plus 25 % of an offset's
        distance (or the whole distance when no direction was given).
    method
        ``name`` (the name itself), ``composite`` (banner + township), ``banner_only`` (the
        banner was found but not the township or village within it), ``village`` (the town of
        a named village), each with ``+offset`` when moved.
    notes
        What was not found or assumed, in words a dispatcher can read.
    """

    place: Place
    lon: float
    lat: float
    uncertainty_m: float
    method: str
    notes: tuple[str, ...] = ()


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


def _offset(text: str) -> tuple[str, float | None, float] | None:
    """Split an offset into ``(base text, bearing in degrees or None, metres)``, or None."""
    m = _ZH_OFFSET.match(text)
    if m is None:
        m = _EN_OFFSET.match(text.lower())
        if m is None:
            return None
    raw = m["dist"]
    dist = 0.5 if raw == "半" else float(raw) if raw[0].isdigit() else zh_number(raw)
    if dist is None or not m["base"].strip():
        return None
    word = m["dir"]
    bearing = _BEARINGS[_EN_SHORT.get(word, word)] if word else None
    return m["base"].strip(), bearing, float(dist) * _UNITS_M[m["unit"]]


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
        self._resolved: dict[str, Resolution] = {}

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
        """Return the administrative place of a 6-digit code (or a 9/12-digit code's first 6).

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
        """Return a place by Chinese or English name, with or without 旗/盟/市/县/Banner/League.

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
        """Return the banner containing a WGS84 point (or within `tolerance_m` of its outline).

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

    # ------------------------------------------------------------ place descriptions

    def resolve(self, text: str) -> Resolution:
        """Resolve a place description as callers give it, with its uncertainty in metres.

        Understands a plain name (:meth:`find`), a composite name (``阿巴嘎旗别力古台镇``,
        ``锡林郭勒盟阿巴嘎旗那仁宝拉格苏木``: league/banner prefixes, then the township among
        that banner's), a township with a village (``X苏木Y嘎查``: the township, village
        uncertainty), suffix variants (``别力古台``, ``X苏木`` written ``X镇``), vague words
        (``附近``, ``境内``) and an offset (``X镇以北约15公里``, ``距X镇15公里``,
        ``15 km north of X``). A banner found without its township gives the banner
        (``banner_only``, the banner's size as uncertainty, a note naming what was missing).

        Raises
        ------
        UnknownPlaceError
            Nothing in the text names a known place, or a bare township name is ambiguous
            (several banners have one); the message says which.
        """
        key = unicodedata.normalize("NFKC", str(text)).strip()
        hit = self._resolved.get(key)
        if hit is None:
            hit = self._resolve(key)
            if len(self._resolved) < 20_000:
                self._resolved[key] = hit
        return hit

    def _resolve(self, text: str) -> Resolution:
        offset = _offset(text)
        base_text = offset[0] if offset else text
        town = self._settlement(base_text) if offset else None
        res = self._resolution(town, "name") if town else self._resolve_name(base_text, text)
        if offset is None:
            return res
        _, bearing, dist = offset
        if bearing is None:  # "距X镇15公里": somewhere on a ring around X
            unc, lon, lat = res.uncertainty_m + dist, res.lon, res.lat
            notes = (
                *res.notes,
                f"no direction given: within {dist / 1000:g} km of {res.place.name_zh}",
            )
        else:
            lon, lat, _ = _GEOD.fwd(res.lon, res.lat, bearing, dist)
            unc, notes = res.uncertainty_m + OFFSET_SPREAD * dist, res.notes
        return Resolution(res.place, float(lon), float(lat), unc, res.method + "+offset", notes)

    def _resolve_name(self, text: str, original: str) -> Resolution:
        name = _VAGUE.sub("", _PROVINCE_PREFIX.sub("", text).strip()) or text
        vague = name != _PROVINCE_PREFIX.sub("", text).strip()
        try:
            place = self._find_unambiguous(name)
            return self._resolution(place, "name", vague=vague)
        except UnknownPlaceError as e:
            if "ambiguous" in str(e):
                raise
        admin, rest = self._admin_prefix(name)
        if admin is None:
            town = self._town_prefix(name)
            if town is None:
                msg = (
                    f"unknown place {original!r} (no league, banner, township or town of that name)"
                )
                raise UnknownPlaceError(msg)
            place, village = town
            note = f"village {village!r} not in the gazetteer: {place.name_zh} used"
            return self._resolution(place, "village", extra=VILLAGE_UNCERTAINTY_M, notes=(note,))
        if len(rest.strip()) < 2:
            return self._resolution(admin, "name", vague=vague)
        found = self._within(admin, rest)
        if found is not None:
            place, village = found
            if village:
                note = f"village {village!r} not in the gazetteer: {place.name_zh} used"
                return self._resolution(
                    place, "village", extra=VILLAGE_UNCERTAINTY_M, notes=(note,)
                )
            return self._resolution(place, "composite", vague=vague)
        note = f"{rest!r} not found in {admin.name_zh}: the banner's seat is used"
        try:
            other = self.find(rest)
            if other.admin_code[:6] != admin.admin_code[:6]:
                where = self.by_code(other.admin_code).name_zh if other.admin_code else "?"
                note = f"{other.name_zh} is in {where}, not in {admin.name_zh}: {admin.name_zh}'s seat is used"
        except UnknownPlaceError:
            pass
        return self._resolution(admin, "banner_only", notes=(note,))

    def _town_prefix(self, name: str) -> tuple[Place, str] | None:
        """Return a town written at the start of `name` with a village after it (``X镇Y嘎查``)."""
        for k in range(len(name) - 2, 1, -1):
            try:
                place = self._find_unambiguous(name[:k])
            except UnknownPlaceError:
                continue
            if place.level not in ADMIN_LEVELS:
                return place, name[k:]
        return None

    def _settlement(self, name: str) -> Place | None:
        """Return the one town of that name, or None.

        An offset is measured from the settlement, not from a banner of the same name such as
        Xilinhot.
        """
        exact, stripped = normalize_name(name)
        towns = {i for _, _, k, i in self._names.get(exact, []) if k == "town"}
        towns = towns or {i for _, _, k, i in self._names.get(stripped, []) if k == "town"}
        return self._town(towns.pop()) if len(towns) == 1 else None

    def _find_unambiguous(self, name: str) -> Place:
        exact, stripped = normalize_name(name)
        entries = self._names.get(exact) or self._names.get(stripped) or []
        towns = {i for t, _, k, i in entries if k == "town" and t in (1, 3)}
        if not any(k == "place" for _, _, k, _ in entries) and len(towns) > 1:
            where = sorted({self._town(i).admin_code for i in towns})
            banners = [self._place(self._by_code[c]).name_zh for c in where if c in self._by_code]
            msg = (
                f"place {name!r} is ambiguous: there is one in {', '.join(banners or where)}; "
                "give the banner too (e.g. 阿巴嘎旗别力古台镇)"
            )
            raise UnknownPlaceError(msg)
        return self.find(name)

    def _admin_prefix(self, name: str) -> tuple[Place | None, str]:
        """Return the innermost administrative place `name` starts with, and the rest."""
        admin: Place | None = None
        rest = name
        while len(rest) > 1:
            for k in range(len(rest) - 1, 1, -1):
                entries = self._names.get(normalize_name(rest[:k])[0], [])
                rows = [i for t, _, kind, i in sorted(entries) if kind == "place" and t in (0, 2)]
                if rows:
                    admin, rest = self._place(rows[0]), rest[k:]
                    break
            else:
                break
        return admin, rest

    def _within(self, admin: Place, rest: str) -> tuple[Place, str] | None:
        """Return a township/town of `admin` named by `rest` (or its start, a village following)."""
        code = admin.admin_code
        inside = code[:4] if admin.level == "league" else code
        for k in range(len(rest), 1, -1):
            exact, stripped = normalize_name(rest[:k])
            for key in dict.fromkeys((exact, stripped)):
                for _, _, kind, i in sorted(self._names.get(key, [])):
                    p = self._town(i) if kind == "town" else self._place(i)
                    below = p.admin_code != code and p.admin_code.startswith(inside)
                    if below or (kind == "town" and p.admin_code == code):
                        return p, rest[k:]
        return None

    def _resolution(
        self,
        place: Place,
        method: str,
        *,
        vague: bool = False,
        extra: float = 0.0,
        notes: tuple[str, ...] = (),
    ) -> Resolution:
        unc = max(self._size_m(place), extra)
        if vague:
            unc += TOWN_UNCERTAINTY_M
        return Resolution(place, place.lon, place.lat, unc, method, notes)

    def _size_m(self, place: Place) -> float:
        """Return a place's radius in metres: its outline's (as a disc), or by kind for points."""
        geom = place.geometry
        if geom is not None and geom.geom_type in ("Polygon", "MultiPolygon"):
            area = float(to_metric(geom).area)
            return max(TOWN_UNCERTAINTY_M, round(math.sqrt(area / math.pi), -2))
        if place.level in _SITE_KINDS:
            return SITE_UNCERTAINTY_M
        return TOWN_UNCERTAINTY_M

    def __len__(self) -> int:
        """Return the number of entries."""
        return len(self.places) + len(self.towns)
