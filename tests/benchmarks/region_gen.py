"""Generate a reproducible region of any size for the region-scale benchmarks and tests.

:func:`make_region` writes a region folder in the layout of ``data/region/`` (``roads.geojson``,
``places.geojson``, ``towns.csv``, ``units.csv``, ``duty_points.csv``, ``sections.csv``,
``road_chiefs.csv``) that :func:`geo.region.load_region` and ``winterops region import`` read::

    from pathlib import Path
    from geo.region import load_region
    from tests.benchmarks.region_gen import generated_reports, make_region

    folder = make_region(Path("var/bench/regions"), km=200_000, units=600, seed=0)
    region = load_region(folder)
    reports = generated_reports(region, 100_000, seed=1)   # lon, lat, kind ("near" / "far")

or from a shell: ``.venv/bin/python -m tests.benchmarks.region_gen [KM] [UNITS] [SEED]`` (prints
the folder).

What it draws (all deterministic for a seed, WGS84 lon/lat inside Inner Mongolia's outline from
``data/region/places.geojson``, which is copied as the gazetteer):

- **towns**: the banner seats plus random points inside the province (about one per 17 km of
  road), named from Mongolian/Chinese place-name syllables, each with the banner it lies in.
- **roads**: a Delaunay triangulation of the towns, edges leaving the province dropped; its
  minimum spanning tree (so the network is connected) plus the shortest remaining edges until
  the total reaches `km`. Each edge is one road piece, a wavy polyline with a vertex about every
  200 m, ending exactly on its towns (connected pieces share an end vertex). Edges are chained
  into roads with codes G (national and expressways: ``G6``, ``G331``), S (``S203``), X
  (``X1234``) and Y (``Y0042``), the longest chains first; kilometre posts grow with the
  geodesic length along each road from its start post.
- **sections** (one per piece) and one fictional **road chief** per section; **units** (`units`,
  the demo's class mix, at towns on the network, ids ``<banner>-<class><nn>``); **duty
  points** (5/9 of `units`: duty points, duty stations, warming points) on the roads at a km.

The folder is cached: ``out_dir / "region-<km>km-<units>u-s<seed>-v<version>"`` is reused when
it is complete (a ``.done`` file beside it), written into a temporary folder and renamed
otherwise. The 200,000 km region takes about 12 s the first time (2 cores).
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Geod
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial import Delaunay

from geo.crs import from_metric_xy, to_metric_xy

ROOT = Path(__file__).resolve().parents[2]
PLACES = ROOT / "data" / "region" / "places.geojson"
DEFAULT_DIR = ROOT / "var" / "bench" / "regions"
VERSION = 1
VERTEX_M = 200.0  # spacing of the polyline vertices
KM_PER_TOWN = 17.0
FULL_KM = 200_000.0  # road length that fills the whole province at the density above
CENTRE = (116.08501, 43.942068)  # Xilinhot: centre of a region smaller than the province
_GEOD = Geod(ellps="WGS84")

# share of the road length per class, and (min, max) km of one road of that class
_CLASSES: tuple[tuple[str, float, tuple[float, float]], ...] = (
    ("expressway", 0.04, (300.0, 900.0)),
    ("national", 0.08, (300.0, 1200.0)),
    ("provincial", 0.14, (80.0, 400.0)),
    ("county", 0.30, (25.0, 120.0)),
    ("township", 0.44, (6.0, 40.0)),
)
_SPEEDS = {
    "expressway": (110, 90),
    "national": (80, 60),
    "provincial": (70, 60),
    "county": (60, 50),
    "township": (40, 30),
}
_CLASS_ZH = {
    "expressway": "高速公路",
    "national": "国道",
    "provincial": "省道",
    "county": "县道",
    "township": "乡道",
}
_SYLLABLES = (
    ("巴彦", "Bayan"), ("乌兰", "Ulan"), ("查干", "Chagan"), ("宝力格", "Bulag"),
    ("额尔敦", "Erdene"), ("锡林", "Xilin"), ("呼和", "Huhe"), ("哈拉", "Hara"),
    ("阿拉坦", "Altan"), ("白音", "Baiyin"), ("敖包", "Obo"), ("塔拉", "Tala"),
    ("诺尔", "Nur"), ("高勒", "Gol"), ("布拉格", "Bulag"), ("温都尔", "Undur"),
    ("朝克", "Chog"), ("满都", "Mandu"), ("宝日", "Bor"), ("希热", "Shire"),
    ("那仁", "Naren"), ("乌力吉", "Uliji"), ("图门", "Tumen"), ("达来", "Dalai"),
    ("伊和", "Ikh"), ("巴嘎", "Baga"), ("浩日", "Hor"), ("吉尔嘎", "Jirga"),
)
_SUFFIX = (("镇", "Town", "town"), ("苏木", "Sumu", "township"), ("乡", "Township", "township"),
           ("嘎查", "Gacha", "township"))
# vehicle class, capabilities, id letters, share of the fleet (the demo's mix)
_FLEET = (
    ("patrol_car", "traffic_control", "PC", 23),
    ("plow", "plow", "PL", 8),
    ("plow", "plow;grit", "PL", 4),
    ("grit_spreader", "grit", "GS", 7),
    ("heavy_tow", "heavy_tow;rescue", "HT", 6),
    ("rescue", "rescue;traffic_control", "RV", 6),
    ("ambulance", "medical", "AM", 7),
)
_FLEET_ZH = {"PC": "巡逻车", "PL": "除雪车", "GS": "撒布车", "HT": "重型清障车", "RV": "救援车",
             "AM": "救护车"}
_FLEET_EN = {"PC": "patrol car", "PL": "snow plow", "GS": "grit spreader", "HT": "heavy tow",
             "RV": "rescue vehicle", "AM": "ambulance"}
_DUTY = (("duty_point", "执勤点", "duty point", 8), ("duty_station", "执勤执法站",
          "duty station", 8), ("warming_point", "暖心驿站", "warming point", 14))


def folder_name(km: float, units: int, seed: int) -> str:
    """Name of the cached folder for these parameters."""
    return f"region-{km:g}km-{units}u-s{seed}-v{VERSION}"


def make_region(out_dir: Path, km: float = 200_000, units: int = 600, seed: int = 0) -> Path:
    """Write (or reuse) a generated region folder and return its path.

    Parameters
    ----------
    out_dir
        Parent folder of the cache (``var/bench/regions`` by convention).
    km
        Total road length to generate, in km (the result is within a few per cent).
    units
        How many units (``units.csv`` rows).
    seed
        Random seed: the same parameters give byte-identical files.

    Returns
    -------
    pathlib.Path
        ``out_dir / folder_name(km, units, seed)``.
    """
    out_dir = Path(out_dir)
    target = out_dir / folder_name(km, units, seed)
    done = target.with_name(target.name + ".done")
    if done.exists() and target.is_dir():
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=out_dir))
    tmp.chmod(0o755)
    try:
        _write_region(tmp, km, units, seed)
        if target.exists():  # an incomplete earlier attempt
            shutil.rmtree(target)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first
            if not target.is_dir():
                raise
        done.write_text(json.dumps({"km": km, "units": units, "seed": seed, "version": VERSION}))
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


# ------------------------------------------------------------------------------ geometry


def _province(km: float) -> tuple[gpd.GeoDataFrame, Any]:
    """The places and the area to fill: the province, or a disc of it around Xilinhot.

    The whole province (about 1.18 M km2) holds 200,000 km of road at a town every ~17 km; a
    smaller region keeps that density on a disc of proportional area (2,000 km: ~60 km radius).
    """
    places = gpd.read_file(PLACES, engine="pyogrio")
    prov = places[places["level"] == "province"].geometry.iloc[0]
    parts = list(getattr(prov, "geoms", [prov]))
    main = max(parts, key=lambda g: g.area)
    share = km / FULL_KM
    if share >= 1.0:
        return places, main
    area_m2 = 1.18e12 * share
    cx, cy = to_metric_xy(np.array([CENTRE[0]]), np.array([CENTRE[1]]))
    circle = shapely.Point(float(cx[0]), float(cy[0])).buffer(math.sqrt(area_m2 / math.pi), 64)
    ring = shapely.get_coordinates(circle)
    lon, lat = from_metric_xy(ring[:, 0], ring[:, 1])
    disc = shapely.Polygon(np.column_stack([lon, lat]))
    area = shapely.intersection(main, disc)
    parts = list(getattr(area, "geoms", [area]))
    return places, max(parts, key=lambda g: g.area)


def _sample_inside(poly: Any, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` uniform points (metric x, y) inside a lon/lat polygon."""
    shapely.prepare(poly)
    minx, miny, maxx, maxy = poly.bounds
    cx, cy = to_metric_xy(np.array([minx, maxx, minx, maxx]), np.array([miny, miny, maxy, maxy]))
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    got = 0
    while got < n:
        x = rng.uniform(cx.min(), cx.max(), 4 * n)
        y = rng.uniform(cy.min(), cy.max(), 4 * n)
        lon, lat = from_metric_xy(x, y)
        ok = shapely.contains_xy(poly, lon, lat)
        xs.append(x[ok])
        ys.append(y[ok])
        got += int(ok.sum())
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def _edges(x: np.ndarray, y: np.ndarray, poly: Any) -> tuple[np.ndarray, np.ndarray]:
    """Delaunay edges (i < j) whose quarter, half and three-quarter points are inside."""
    tri = Delaunay(np.column_stack([x, y]))
    s = tri.simplices
    e = np.concatenate([s[:, [0, 1]], s[:, [1, 2]], s[:, [0, 2]]])
    e = np.unique(np.sort(e, axis=1), axis=0)
    keep = np.ones(len(e), dtype=bool)
    for f in (0.25, 0.5, 0.75):
        mx = x[e[:, 0]] * (1 - f) + x[e[:, 1]] * f
        my = y[e[:, 0]] * (1 - f) + y[e[:, 1]] * f
        lon, lat = from_metric_xy(mx, my)
        keep &= shapely.contains_xy(poly, lon, lat)
    e = e[keep]
    length = np.hypot(x[e[:, 1]] - x[e[:, 0]], y[e[:, 1]] - y[e[:, 0]])
    return e, length


def _choose_edges(
    e: np.ndarray, length: np.ndarray, n: int, km: float
) -> tuple[np.ndarray, bool]:
    """The MST of the largest component plus the shortest other edges up to `km` (wavy: x1.01)."""
    adj = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    _, comp = connected_components(adj, directed=False)
    big = np.bincount(comp).argmax()
    inside = comp[e[:, 0]] == big
    e, length = e[inside], length[inside]
    w = coo_matrix((length, (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    mst = minimum_spanning_tree(w).tocoo()
    in_mst = set(zip(mst.row.tolist(), mst.col.tolist(), strict=True))
    is_mst = np.array([(a, b) in in_mst or (b, a) in in_mst for a, b in e.tolist()])
    budget = km * 1000.0 / 1.01
    have = float(length[is_mst].sum())
    rest = np.flatnonzero(~is_mst)
    rest = rest[np.argsort(length[rest], kind="stable")]
    cum = have + np.cumsum(length[rest])
    k = int(np.searchsorted(cum, budget)) + 1
    chosen = np.concatenate([np.flatnonzero(is_mst), rest[:k]])
    enough = have + float(length[rest].sum()) >= budget
    return np.sort(chosen), enough


def _chains(
    e: np.ndarray, length: np.ndarray, x: np.ndarray, y: np.ndarray, rng: np.random.Generator
) -> list[tuple[str, list[tuple[int, bool]]]]:
    """Group edges into roads: (road class, [(edge, reversed), ...]) in travel order."""
    n_edges = len(e)
    incident: dict[int, list[int]] = {}
    for k, (a, b) in enumerate(e.tolist()):
        incident.setdefault(a, []).append(k)
        incident.setdefault(b, []).append(k)
    used = np.zeros(n_edges, dtype=bool)
    total = float(length.sum())
    order = np.argsort(-length, kind="stable")  # long edges seed the main roads
    pos = 0
    out: list[tuple[str, list[tuple[int, bool]]]] = []

    def extend(node: int, prev: int, run: float, limit: float, chain: list[int]) -> list[int]:
        while run < limit:
            px, py = x[node] - x[prev], y[node] - y[prev]
            best, best_cos = -1, -2.0
            for k in incident.get(node, ()):
                if used[k]:
                    continue
                other = int(e[k, 1] if e[k, 0] == node else e[k, 0])
                qx, qy = x[other] - x[node], y[other] - y[node]
                c = (px * qx + py * qy) / (math.hypot(px, py) * math.hypot(qx, qy) + 1e-9)
                if c > best_cos:
                    best, best_cos = k, c
            if best < 0 or best_cos < -0.2:
                break
            used[best] = True
            chain.append(best)
            run += float(length[best])
            other = int(e[best, 1] if e[best, 0] == node else e[best, 0])
            prev, node = node, other
        return chain

    for cls, share, (lo, hi) in _CLASSES:
        budget = share * total
        spent = 0.0
        while spent < budget or cls == "township":
            while pos < n_edges and used[order[pos]]:
                pos += 1
            if pos >= n_edges:
                break
            seed_edge = int(order[pos])
            used[seed_edge] = True
            limit = rng.uniform(lo, hi) * 1000.0
            a, b = int(e[seed_edge, 0]), int(e[seed_edge, 1])
            half = (limit - length[seed_edge]) / 2
            fwd = extend(b, a, 0.0, half, [])
            back = extend(a, b, 0.0, limit - length[seed_edge] - half, [])
            edges = back[::-1] + [seed_edge] + fwd
            # orient: walk from the far end of the back part
            start = a
            for k in back:
                start = int(e[k, 1] if e[k, 0] == start else e[k, 0])
            seq: list[tuple[int, bool]] = []
            node = start
            for k in edges:
                rev = int(e[k, 0]) != node
                seq.append((k, rev))
                node = int(e[k, 0] if rev else e[k, 1])
            out.append((cls, seq))
            spent += float(length[edges].sum())
        if pos >= n_edges:
            break
    return out


def _polylines(
    e: np.ndarray, x: np.ndarray, y: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wavy polylines per edge: (vertex x, vertex y, start offset per edge into the arrays)."""
    x0, y0 = x[e[:, 0]], y[e[:, 0]]
    dx, dy = x[e[:, 1]] - x0, y[e[:, 1]] - y0
    ln = np.hypot(dx, dy)
    nv = np.maximum(np.ceil(ln / VERTEX_M).astype(np.int64), 1) + 1
    start = np.concatenate([[0], np.cumsum(nv)[:-1]])
    edge = np.repeat(np.arange(len(e)), nv)
    t = (np.arange(nv.sum()) - start[edge]) / (nv[edge] - 1)
    amp = rng.uniform(0.01, 0.05, (len(e), 3)) * ln[:, None] / np.array([1.0, 2.0, 3.0])
    phase_sign = rng.choice([-1.0, 1.0], (len(e), 3))
    wave = sum(
        (amp[:, j] * phase_sign[:, j])[edge] * np.sin(math.pi * (j + 1) * t) for j in range(3)
    )
    nx_, ny_ = -dy / np.maximum(ln, 1e-9), dx / np.maximum(ln, 1e-9)
    vx = x0[edge] + dx[edge] * t + nx_[edge] * wave
    vy = y0[edge] + dy[edge] * t + ny_[edge] * wave
    return vx, vy, np.append(start, nv.sum())


# ------------------------------------------------------------------------------ the folder


def _codes(rng: np.random.Generator, counts: dict[str, int]) -> dict[str, list[str]]:
    """Distinct realistic codes per class."""
    def pick(prefix: str, pool: list[int], n: int, width: int = 0) -> list[str]:
        if n > len(pool):
            msg = f"too many {prefix} roads ({n}) for the code pool ({len(pool)})"
            raise ValueError(msg)
        got = rng.choice(np.array(pool), n, replace=False)
        return [f"{prefix}{int(v):0{width}d}" if width else f"{prefix}{int(v)}" for v in got]

    expressway_g = [*range(1, 100), *range(1001, 1800)]
    national = [*range(101, 113), *range(201, 231), *range(301, 361), *range(501, 595),
                *range(601, 699), *range(701, 799)]
    provincial = [*range(101, 130), *range(201, 240), *range(301, 340), *range(2, 99),
                  *range(1001, 1999)]
    n_exp = counts["expressway"]
    out = {
        "expressway": pick("G", expressway_g, n_exp),
        "national": pick("G", national, counts["national"]),
        "provincial": pick("S", provincial, counts["provincial"]),
        "county": pick("X", list(range(1, 10000)), counts["county"], 3),
        "township": pick("Y", list(range(1, 10000)), counts["township"], 3),
    }
    return out


def _town_names(n: int, rng: np.random.Generator) -> list[tuple[str, str, str]]:
    names: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    dirs = (("东", "East"), ("西", "West"), ("南", "South"), ("北", "North"), ("新", "New"),
            ("中", "Central"))
    while len(names) < n:
        a, b = rng.choice(len(_SYLLABLES), 2, replace=False)
        zh_a, en_a = _SYLLABLES[int(a)]
        zh_b, en_b = _SYLLABLES[int(b)]
        sz, se, kind = _SUFFIX[int(rng.integers(len(_SUFFIX)))]
        zh, en = f"{zh_a}{zh_b}{sz}", f"{en_a} {en_b} {se}"
        tries = 0
        while zh in seen and tries < len(dirs):
            dz, de = dirs[tries]
            zh, en = f"{dz}{zh_a}{zh_b}{sz}", f"{de} {en_a} {en_b} {se}"
            tries += 1
        if zh in seen:
            c = _SYLLABLES[int(rng.integers(len(_SYLLABLES)))]
            zh, en = f"{zh_a}{zh_b}{c[0]}{sz}", f"{en_a} {en_b} {c[1]} {se}"
        if zh in seen:
            continue
        seen.add(zh)
        names.append((zh, en, kind))
    return names


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def _banner_of(places: gpd.GeoDataFrame, lon: np.ndarray, lat: np.ndarray) -> list[str]:
    banners = places[places["level"] == "banner"].reset_index(drop=True)
    geoms = np.asarray(banners.geometry.to_numpy(), dtype=object)
    tree = shapely.STRtree(geoms)
    pts = shapely.points(lon, lat)
    idx = tree.query_nearest(pts, all_matches=False)
    out = np.empty(len(lon), dtype=object)
    out[idx[0]] = banners["admin_code"].to_numpy(dtype=object)[idx[1]]
    return [str(c) for c in out]


def _write_region(folder: Path, km: float, n_units: int, seed: int) -> None:  # noqa: PLR0915
    rng = np.random.default_rng(seed)
    places, poly = _province(km)
    seats = places[places["level"] == "banner"]
    slon = seats["seat_lon"].to_numpy(dtype=float)
    slat = seats["seat_lat"].to_numpy(dtype=float)
    inside = shapely.contains_xy(poly, slon, slat)
    sx, sy = to_metric_xy(slon[inside], slat[inside])
    n_random = max(20, int(km / KM_PER_TOWN) - len(sx))
    while True:
        rx, ry = _sample_inside(poly, n_random, rng)
        x, y = np.concatenate([sx, rx]), np.concatenate([sy, ry])
        e_all, len_all = _edges(x, y, poly)
        chosen, enough = _choose_edges(e_all, len_all, len(x), km)
        if enough:
            break
        n_random = int(n_random * 1.6)
    e, length = e_all[chosen], len_all[chosen]
    chains = _chains(e, length, x, y, rng)
    vx, vy, vstart = _polylines(e, x, y, rng)
    vlon, vlat = from_metric_xy(vx, vy)
    # geodesic length of every edge
    _, _, d = _GEOD.inv(vlon[:-1], vlat[:-1], vlon[1:], vlat[1:])
    vedge = np.repeat(np.arange(len(e)), np.diff(vstart))
    same = vedge[1:] == vedge[:-1]
    geo_len = np.bincount(vedge[:-1][same], weights=d[same], minlength=len(e)) / 1000.0

    counts = {c: 0 for c, _, _ in _CLASSES}
    for cls, _ in chains:
        counts[cls] += 1
    codes = _codes(rng, counts)
    next_code = {c: 0 for c in counts}
    features: list[str] = []
    sections: list[list[Any]] = []
    chiefs: list[list[Any]] = []
    pieces: list[tuple[str, float, float, int, bool]] = []  # code, km0, km1, edge, reversed
    for cls, seq in chains:
        code = codes[cls][next_code[cls]]
        next_code[cls] += 1
        k0 = float(rng.integers(0, 1500)) if cls in ("national", "expressway") else 0.0
        car, truck = _SPEEDS[cls]
        name_zh = f"{_CLASS_ZH[cls]}{code}线"
        name_en = f"{code} ({cls} road)"
        for n, (k, rev) in enumerate(seq):
            k1 = round(k0 + float(geo_len[k]), 3)
            a, b = int(vstart[k]), int(vstart[k + 1])
            lo, la = vlon[a:b], vlat[a:b]
            if rev:
                lo, la = lo[::-1], la[::-1]
            coords = ",".join(f"[{p:.6f},{q:.6f}]" for p, q in zip(lo, la, strict=True))
            sid = f"{code}-{n + 1:02d}"
            props = {
                "road_code": code, "name_zh": name_zh, "name_en": name_en, "road_class": cls,
                "km_start": round(k0, 3), "km_end": k1, "oneway": False,
                "speed_car_kmh": car, "speed_truck_kmh": truck, "section_id": sid,
            }
            features.append(
                '{"type":"Feature","properties":' + json.dumps(props, ensure_ascii=False)
                + ',"geometry":{"type":"LineString","coordinates":[' + coords + "]}}"
            )
            chief = f"RC{len(chiefs) + 1:05d}"
            sections.append([sid, code, round(k0, 3), k1, f"{code} 第{n + 1}段",
                             f"{code} section {n + 1}", "公路养护中心(生成) / road maintenance "
                             "centre (generated)", chief])
            chiefs.append([chief, f"路长{len(chiefs) + 1}(虚构)",
                           f"Road chief {len(chiefs) + 1} (fictional)", "县级路长",
                           "county-level road chief", f"0479-0000-{len(chiefs) % 10000:04d}",
                           sid])
            pieces.append((code, round(k0, 3), k1, k, rev))
            k0 = k1
    (folder / "roads.geojson").write_text(
        '{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":'
        '"urn:ogc:def:crs:OGC:1.3:CRS84"}},"features":[\n' + ",\n".join(features) + "\n]}\n",
        encoding="utf-8",
    )
    shutil.copyfile(PLACES, folder / "places.geojson")
    _write_csv(folder / "sections.csv", ["section_id", "road_code", "km_from", "km_to",
               "name_zh", "name_en", "maintainer", "road_chief_id"], sections)
    _write_csv(folder / "road_chiefs.csv", ["road_chief_id", "name_zh", "name_en", "title_zh",
               "title_en", "phone", "section_id"], chiefs)

    # towns: the random nodes that are on the network
    on_net = np.zeros(len(x), dtype=bool)
    on_net[e.ravel()] = True
    town_idx = np.flatnonzero(on_net[len(sx):]) + len(sx)
    tlon, tlat = from_metric_xy(x[town_idx], y[town_idx])
    tcode = _banner_of(places, tlon, tlat)
    names = _town_names(len(town_idx), rng)
    src = f"generated (tests/benchmarks/region_gen.py, seed {seed})"
    _write_csv(folder / "towns.csv", ["name_zh", "name_en", "kind", "lon", "lat", "admin_code",
               "source"], [[nz, ne, kd, round(float(a), 6), round(float(b), 6), c, src]
                           for (nz, ne, kd), a, b, c in zip(names, tlon, tlat, tcode,
                                                             strict=True)])

    # duty points on roads at a km
    n_duty = max(3, n_units * 5 // 9)
    weights = np.array([w for *_, w in _DUTY], dtype=float)
    kinds = rng.choice(len(_DUTY), n_duty, p=weights / weights.sum())
    which = rng.integers(0, len(pieces), n_duty)
    frac = rng.uniform(0.05, 0.95, n_duty)
    duty_rows: list[list[Any]] = []
    dlon, dlat = np.empty(n_duty), np.empty(n_duty)
    for i in range(n_duty):
        code, k0, k1, k, rev = pieces[int(which[i])]
        a, b = int(vstart[k]), int(vstart[k + 1])
        line = shapely.linestrings(np.column_stack([vx[a:b], vy[a:b]]))
        f = 1 - frac[i] if rev else frac[i]
        p = shapely.line_interpolate_point(line, f, normalized=True)
        dlon[i], dlat[i] = (float(v[0]) for v in from_metric_xy([p.x], [p.y]))
    dcode = _banner_of(places, dlon, dlat)
    for i in range(n_duty):
        code, k0, k1, _, _ = pieces[int(which[i])]
        kind, zh, en, _ = _DUTY[int(kinds[i])]
        kmv = round(k0 + (k1 - k0) * float(frac[i]), 3)
        duty_rows.append([f"GEN-DP{i + 1:04d}", kind, f"{code}K{int(kmv)}{zh}",
                          f"{code} km {int(kmv)} {en}", code, kmv, round(float(dlon[i]), 6),
                          round(float(dlat[i]), 6), dcode[i], "24h", src])
    _write_csv(folder / "duty_points.csv", ["id", "kind", "name_zh", "name_en", "road_code", "km",
               "lon", "lat", "admin_code", "hours", "source"], duty_rows)

    # units at towns on the network (some at duty points)
    shares = np.array([s for *_, s in _FLEET], dtype=float)
    fleet = rng.choice(len(_FLEET), n_units, p=shares / shares.sum())
    at_town = rng.integers(0, len(town_idx), n_units)
    at_duty = rng.integers(0, n_duty, n_units)
    use_duty = rng.random(n_units) < 0.3
    seq_no: dict[tuple[str, str], int] = {}
    unit_rows: list[list[Any]] = []
    for i in range(n_units):
        vclass, caps, letters, _ = _FLEET[int(fleet[i])]
        if use_duty[i]:
            d = duty_rows[int(at_duty[i])]
            base, ulon, ulat, banner = d[2], d[6], d[7], d[8]
        else:
            t = int(at_town[i])
            base, ulon, ulat, banner = (names[t][0], round(float(tlon[t]), 6),
                                        round(float(tlat[t]), 6), tcode[t])
        n = seq_no[(banner, letters)] = seq_no.get((banner, letters), 0) + 1
        uid = f"{banner}-{letters}{n:02d}"
        unit_rows.append([uid, f"{banner}{_FLEET_ZH[letters]}{n}号",
                          f"{banner} {_FLEET_EN[letters]} {n}", vclass, caps,
                          f"{banner}交警大队 / {banner} traffic police brigade", base, ulon, ulat,
                          12])
    _write_csv(folder / "units.csv", ["unit_id", "name_zh", "name_en", "vehicle_class",
               "capabilities", "brigade", "home_base", "lon", "lat", "crew_hour_limit"],
               unit_rows)


# ------------------------------------------------------------------------------ reports


def _road_area(region: Any) -> Any:
    """The largest part of the region's outline within the bounding box of its roads."""
    area = shapely.intersection(region.bounds, shapely.box(*region.network.roads.total_bounds))
    return max(list(getattr(area, "geoms", [area])), key=lambda g: g.area)


def generated_reports(region: Any, n: int, seed: int = 0, far_share: float = 0.05) -> pd.DataFrame:
    """`n` report positions: most near a road, `far_share` of them anywhere in the region.

    Parameters
    ----------
    region
        A :class:`geo.region.Region` (its segments and outline are used).
    n
        How many points.
    seed
        Random seed (same inputs -> same points).
    far_share
        Share of points drawn uniformly inside the region's outline instead of near a road
        (usually kilometres off the network).

    Returns
    -------
    pandas.DataFrame
        ``lon``, ``lat`` (WGS84) and ``kind`` (``"near"``: within a few hundred metres of a
        segment, normal scatter of 80 m; ``"far"``: uniform in the outline).
    """
    rng = np.random.default_rng(seed)
    n_far = int(round(n * far_share))
    n_near = n - n_far
    seg = region.network.segments
    lines = np.asarray(seg.geometry.to_numpy(), dtype=object)
    w = seg["length_m"].to_numpy(dtype=float)
    pick = rng.choice(len(lines), n_near, p=w / w.sum())
    pts = shapely.line_interpolate_point(lines[pick], rng.random(n_near), normalized=True)
    xy = shapely.get_coordinates(pts)
    mx, my = to_metric_xy(xy[:, 0], xy[:, 1])
    mx = mx + rng.normal(0, 80, n_near)
    my = my + rng.normal(0, 80, n_near)
    nlon, nlat = from_metric_xy(mx, my)
    main = _road_area(region)
    fx, fy = _sample_inside(main, n_far, rng) if n_far else (np.empty(0), np.empty(0))
    flon, flat = from_metric_xy(fx, fy)
    out = pd.DataFrame(
        {
            "lon": np.concatenate([nlon, flon]),
            "lat": np.concatenate([nlat, flat]),
            "kind": ["near"] * n_near + ["far"] * n_far,
        }
    )
    return out.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def far_points(region: Any, n: int, seed: int = 0, min_m: float = 2000.0) -> pd.DataFrame:
    """`n` points inside the region at least `min_m` from every segment (off-road reports)."""
    rng = np.random.default_rng(seed)
    main = _road_area(region)
    lon_out: list[np.ndarray] = []
    lat_out: list[np.ndarray] = []
    got = 0
    while got < n:
        fx, fy = _sample_inside(main, 2 * n, rng)
        seg_i = region.network.nearest_segments(*from_metric_xy(fx, fy))
        lines = region.network._seg_lines[seg_i]  # noqa: SLF001 - metric lines of the network
        d = shapely.distance(lines, shapely.points(fx, fy))
        ok = d >= min_m
        lo, la = from_metric_xy(fx[ok], fy[ok])
        lon_out.append(lo)
        lat_out.append(la)
        got += int(ok.sum())
    return pd.DataFrame({"lon": np.concatenate(lon_out)[:n], "lat": np.concatenate(lat_out)[:n]})


if __name__ == "__main__":
    args = [float(a) for a in sys.argv[1:4]]
    km_arg = args[0] if args else 200_000.0
    units_arg = int(args[1]) if len(args) > 1 else 600
    seed_arg = int(args[2]) if len(args) > 2 else 0
    print(make_region(DEFAULT_DIR, km_arg, units_arg, seed_arg))
