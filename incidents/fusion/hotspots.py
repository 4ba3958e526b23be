"""Hotspots: Gi* over the standing evidence per segment, significant clusters ranked by peak z.

Built for a region-wide storm (200,000 km of road, 100k reports): per region (segments content
key) one :class:`HotspotEngine` keeps the Gi* weights, the Gi* state (a refresh recomputes only
the neighbourhoods of the segments whose evidence changed, :class:`geo.hotspots.GiStar`) and the
geometry, administrative name and kilometre range of every cluster already described, so a
refresh describes only the clusters that are new; the evidence per segment and per cluster is
aggregated in one pass, not one pandas groupby per cluster.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.cache import LockedLRU
from geo.hotspots import GiStar, hot_clusters, segment_weights
from geo.network import segments_key
from geo.region import Region
from geo.stakes import format_stake
from incidents.fusion.conditions import load_evidence
from incidents.fusion.labels import KIND_LABEL, count_phrase, kinds_of
from incidents.settings import Settings
from incidents.store.models import (
    Incident,
    IncidentStatus,
)

__all__ = [
    "HOTSPOT_COLUMNS",
    "current_hotspots",
    "hotspot_weights",
    "hotspots_from_evidence",
    "hotspots_geojson",
]


HOTSPOT_ALPHA = 0.05


MIN_HOTSPOT_EVIDENCE = 0.25  # a cluster needs at least this much evidence weight


INCIDENT_HALF_LIFE_H = 12.0


_SHAPES_KEPT = 50_000  # cluster descriptions an engine keeps before starting afresh


class HotspotEngine:
    """What hotspots need of one region, built once: weights, Gi* state, cluster shapes.

    Parameters
    ----------
    segments
        The region's segments frame.
    """

    def __init__(self, segments: gpd.GeoDataFrame) -> None:
        self.segments = segments
        self.w = segment_weights(segments, k_hops=2, distance_m=1500.0, kind="binary")
        self.gi = GiStar(self.w)
        self.lock = threading.Lock()
        self.seg_ids = segments["segment_id"].astype(str).to_numpy(dtype=object)
        self.index = pd.Index(self.seg_ids)
        self.codes = segments["road_code"].astype(str).to_numpy(dtype=str)
        self.km0 = segments["km_from"].to_numpy(dtype=float)
        self.km1 = segments["km_to"].to_numpy(dtype=float)
        self.lines = np.asarray(segments.geometry.to_numpy(), dtype=object)
        self.shapes: dict[tuple[int, ...], tuple[Any, str | None, str]] = {}
        self.described = 0  # clusters described (geometry, admin name, km range) so far

    def shape(self, region: Region, idx: NDArray[np.intp]) -> tuple[Any, str | None, str]:
        """Geometry, admin name and kilometre range of the segments `idx` (in road order)."""
        key = tuple(idx.tolist())
        got = self.shapes.get(key)
        if got is None:
            geom = shapely.line_merge(shapely.union_all(self.lines[idx]))
            got = (
                geom,
                _admin_name(region, geom),
                _stretch(self.codes[idx], self.km0[idx], self.km1[idx]),
            )
            if len(self.shapes) >= _SHAPES_KEPT:
                self.shapes.clear()
            self.shapes[key] = got
            self.described += 1
        return got


_ENGINES: LockedLRU[str, HotspotEngine] = LockedLRU(4)  # segments content key -> engine
_BY_FRAME: LockedLRU[int, tuple[gpd.GeoDataFrame, HotspotEngine]] = LockedLRU(8)


def hotspot_engine(region: Region) -> HotspotEngine:
    """Return the :class:`HotspotEngine` of the region's segments (built once per segments content).

    Looked up by the segments frame first (the engine holds the frame, so its id stays its
    own), then by the content key (:func:`geo.network.segments_key`), so a Streamlit server or a
    worker builds the weights once per region.
    """
    segs = region.network.segments
    hit = _BY_FRAME.get(id(segs))
    if hit is not None and hit[0] is segs:
        return hit[1]
    engine = _ENGINES.get_or_create(segments_key(segs), lambda: HotspotEngine(segs))
    _BY_FRAME.put(id(segs), (segs, engine))
    return engine


def hotspot_weights(region: Region) -> Any:
    """Gi* weights of the region's segments (2 hops along the network, 1.5 km across space).

    Built once per segments content (:func:`hotspot_engine`), so a Streamlit server computes
    it once.
    """
    return hotspot_engine(region).w


HOTSPOT_COLUMNS = [
    "rank",
    "z",
    "p",
    "evidence",
    "condition",
    "road",
    "admin_name",
    "segment_ids",
    "report_ids",
    "reason",
]


def hotspots_from_evidence(
    region: Region, evidence: pd.DataFrame, kinds: Mapping[int, str] | None = None
) -> gpd.GeoDataFrame:
    """Rank hotspots from an evidence frame (see :func:`incidents.fusion.conditions.evidence_frame`).

    Evidence weight per segment = the weights of the hazard and incident evidence still
    standing (after the latest clear observation); Gi* over the region's segments; significant
    hot segments (one-sided p < 0.05) joined into clusters; clusters with less evidence than
    :data:`MIN_HOTSPOT_EVIDENCE` (e.g. one stale Waze report on a quiet network) are dropped;
    ranked by their peak z. Incremental per region (:class:`HotspotEngine`): Gi* is updated
    where the evidence changed and a cluster seen before is not described again.
    """
    segs = region.network.segments
    empty = gpd.GeoDataFrame(
        {c: [] for c in HOTSPOT_COLUMNS}, geometry=gpd.GeoSeries([], crs="EPSG:4326")
    )
    if len(evidence) == 0 or len(segs) < 2:
        return empty
    eng = hotspot_engine(region)
    keep, seg_codes, seg_uniq = _standing_mask(evidence)
    standing = evidence[keep]
    pos_of_code = np.append(eng.index.get_indexer(pd.Index(seg_uniq).astype(str)), -1)
    codes = seg_codes[keep]
    pos = pos_of_code[np.where(codes >= 0, codes, pos_of_code.size - 1)]
    weight = standing["weight"].to_numpy(dtype=float)
    on = pos >= 0
    y = np.asarray(
        np.bincount(pos[on], weights=weight[on], minlength=len(eng.seg_ids)), dtype=np.float64
    )
    if not (y > 0).any():
        return empty
    with eng.lock:
        z, p = eng.gi.update(y)
        clusters = [
            m
            for m in hot_clusters(eng.w, z, p, y, alpha=HOTSPOT_ALPHA)
            if y[m].sum() >= MIN_HOTSPOT_EVIDENCE
        ]
        if not clusters:
            return empty
        records = _describe(region, eng, clusters, standing, pos, z, p, y, kinds or {})
    return gpd.GeoDataFrame(records, geometry="geometry", crs="EPSG:4326")


def _describe(
    region: Region,
    eng: HotspotEngine,
    clusters: list[NDArray[np.intp]],
    standing: pd.DataFrame,
    pos: NDArray[np.intp],
    z: NDArray[np.float64],
    p: NDArray[np.float64],
    y: NDArray[np.float64],
    kinds: Mapping[int, str],
) -> list[dict[str, Any]]:
    """One record per cluster; the evidence of all clusters is grouped in one pass."""
    n = len(eng.seg_ids)
    label = np.full(n, -1, dtype=np.int64)
    rank = np.zeros(n, dtype=np.int64)
    for k, m in enumerate(clusters):
        label[m] = k
        rank[m] = np.arange(m.size)
    row_lab = np.where(pos >= 0, label[np.maximum(pos, 0)], -1)
    rows = np.flatnonzero(row_lab >= 0)
    # rows of each cluster: by segment in the cluster's order, then as they came
    rows = rows[np.lexsort((rows, rank[pos[rows]], row_lab[rows]))]
    lab_sorted = row_lab[rows]
    bounds = np.searchsorted(lab_sorted, np.arange(len(clusters) + 1))
    part = standing.iloc[rows]
    rid = part["report_id"].to_numpy()
    src = part["source"].to_numpy(dtype=object)
    what = part["incident"].where(part["incident"].notna(), part["condition"])
    by = (
        pd.DataFrame({"lab": lab_sorted, "what": what.to_numpy(dtype=object)})
        .assign(weight=part["weight"].to_numpy(dtype=float))
        .groupby(["lab", "what"], sort=True)["weight"]
        .sum()
    )
    by_lab = by.index.get_level_values(0).to_numpy()
    by_what = by.index.get_level_values(1).to_numpy(dtype=object)
    by_w = by.to_numpy(dtype=float)
    order = np.lexsort((np.arange(by_w.size), -by_w, by_lab))
    by_lab, by_what = by_lab[order], by_what[order]
    what_bounds = np.searchsorted(by_lab, np.arange(len(clusters) + 1))
    records = []
    for k, members in enumerate(clusters):
        lo, hi = bounds[k], bounds[k + 1]
        rids = sorted({int(i) for i in rid[lo:hi]})
        names = by_what[what_bounds[k] : what_bounds[k + 1]]
        main = str(names[0]) if names.size else "hazard"
        kind_counts = count_phrase(
            kinds.get(int(i), s) for i, s in zip(rid[lo:hi], src[lo:hi], strict=True)
        )
        idx = members[np.lexsort((eng.km0[members], eng.codes[members]))]
        geom, admin, stretch = eng.shape(region, idx)
        others = [KIND_LABEL.get(str(w), str(w)) for w in names[1:3]]
        extra = f" with {', '.join(others)}" if others else ""
        zmax = float(z[members].max())
        reason = (
            f"{KIND_LABEL.get(main, main)}{extra} on {stretch}"
            f"{f' ({admin})' if admin else ''}: {kind_counts}; Gi* z={zmax:.1f}"
        )
        records.append(
            {
                "rank": k + 1,
                "z": zmax,
                "p": float(p[members].min()),
                "evidence": float(y[members].sum()),
                "condition": main,
                "road": stretch,
                "admin_name": admin,
                "segment_ids": [str(s) for s in eng.seg_ids[idx]],
                "report_ids": rids,
                "reason": reason,
                "geometry": geom,
            }
        )
    return records


def _standing_mask(evidence: pd.DataFrame) -> tuple[NDArray[np.bool_], NDArray[np.intp], Any]:
    """Which evidence rows still stand (hazard or incident, not erased by a later clear).

    Returns the mask, each row's segment code and the distinct segment ids (``pd.factorize``).
    """
    ev = evidence
    t = pd.to_datetime(ev["observed_at"], utc=True)
    clear = ev["clear"].astype(bool).to_numpy()
    codes, uniq = pd.factorize(ev["segment_id"])
    ns = t.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    never = np.iinfo(np.int64).min
    last = np.full(len(uniq) + 1, never)
    sel = clear & (codes >= 0)
    np.maximum.at(last, codes[sel], ns[sel])
    lc = last[np.where(codes >= 0, codes, len(uniq))]
    cleared = (codes >= 0) & (lc != never) & (ns <= lc)
    says = (ev["condition"].notna() | ev["incident"].notna()).to_numpy()
    return ~clear & ~cleared & says, codes, uniq


def _stretch(codes: np.ndarray, km0: np.ndarray, km1: np.ndarray) -> str:
    """``G110 K10+000-K12+500; S211 ...``: one kilometre range per road, in order of appearance."""
    return "; ".join(
        f"{c} {format_stake(float(km0[codes == c].min()))}"
        f"-{format_stake(float(km1[codes == c].max()))}"
        for c in dict.fromkeys(codes)
    )


def _main_kind(part: pd.DataFrame) -> tuple[str, pd.Series]:
    """Return the kind (incident or condition) with the most evidence weight, and each weight."""
    what = part["incident"].where(part["incident"].notna(), part["condition"])
    by_what = part.groupby(what)["weight"].sum().sort_values(ascending=False)
    return (str(by_what.index[0]) if len(by_what) else "hazard"), by_what


def _admin_name(region: Region, geom: Any) -> str | None:
    centre = geom.centroid
    place = region.admin_at(centre.x, centre.y)
    return None if place is None else (place.name_en or place.name_zh)


def current_hotspots(
    session: Session, region: Region, settings: Settings, now: datetime
) -> gpd.GeoDataFrame:
    """Return the ranked hotspots at `now`.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per hotspot, best first: ``rank, z, p, evidence, condition, road, admin_name,
        segment_ids, report_ids, reason, geometry`` (EPSG:4326).
    """
    evidence = load_evidence(session, region, settings, now)
    evidence = _pin_open_incidents(session, evidence, now)
    kinds = kinds_of(session, evidence["report_id"]) if len(evidence) else {}
    return hotspots_from_evidence(region, evidence, kinds)


def _pin_open_incidents(session: Session, evidence: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """Weigh the reports of open incidents as one piece of evidence per incident.

    A stranded group does not fade at the pace of a single call while nobody has reached it.
    While its incident is open, its reports together weigh::

        (1 - prod(1 - reliability_i * confidence_i)) * (1 + log2(vehicles)) / 2 * 0.5 ** (h / 12)

    (noisy-OR of the reports, times the size of the group, with a 12-hour half-life since the
    last report), shared equally among its reports, on the segment where the incident is
    placed (a caller who gave only a town's name is counted where the group actually is), and
    not erased by a later clear pass.
    """
    if len(evidence) == 0:
        return evidence
    rows = session.execute(
        select(
            Incident.segment_id, Incident.report_ids, Incident.vehicles, Incident.last_report_at
        ).where(Incident.status == IncidentStatus.OPEN.value, Incident.segment_id.is_not(None))
    ).all()
    if not rows:
        return evidence
    ev = evidence.copy()
    is_inc = ev["incident"].notna().to_numpy()
    rid = ev["report_id"].astype(int).to_numpy()
    base_of = dict(zip(rid[is_inc], ev["base"].to_numpy(dtype=float)[is_inc], strict=True))
    seg_of: dict[int, str] = {}
    weight_of: dict[int, float] = {}
    for seg, ids, vehicles, last in rows:
        mine = [int(i) for i in ids or [] if int(i) in base_of]
        if not mine:
            continue
        base = np.array([base_of[i] for i in mine])
        combined = 1.0 - float(np.prod(1.0 - np.clip(base, 0.0, 0.999)))
        age_h = max(0.0, (now - last).total_seconds() / 3600.0)
        size = 0.5 * (1.0 + math.log2(max(1, int(vehicles or 0))))
        weight = combined * size * 0.5 ** (age_h / INCIDENT_HALF_LIFE_H)
        for i in mine:
            seg_of[i] = str(seg)
            weight_of[i] = weight / len(mine)
    mask = is_inc & np.isin(rid, np.fromiter(seg_of, dtype=np.int64, count=len(seg_of)))
    if mask.any():
        ev.loc[mask, "segment_id"] = [seg_of[int(i)] for i in rid[mask]]
        ev.loc[mask, "weight"] = [weight_of[int(i)] for i in rid[mask]]
        ev.loc[mask, "observed_at"] = pd.Timestamp(now)
    return ev


def hotspots_geojson(hotspots: gpd.GeoDataFrame) -> dict[str, Any]:
    """Return the ranking as GeoJSON (rank, z, p, reason, segment and report ids)."""
    features = []
    for row in hotspots.to_dict("records"):
        geom = row.pop("geometry")
        props = {
            k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in row.items()
        }
        features.append(
            {"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(geom)}
        )
    doc: dict[str, Any] = json.loads(
        json.dumps({"type": "FeatureCollection", "features": features}, default=str)
    )
    return doc
