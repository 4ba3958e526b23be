"""Frozen copy of ``incidents.fusion.hotspots.hotspots_from_evidence`` before issue 14.

The baseline of the region-scale hotspot rows (tests/benchmarks/bench_scale_dispatch.py) and
the oracle of tests/test_hotspots_incremental.py: Gi* through :func:`geo.hotspots.gi_star`, the
evidence per segment through ``segment_states``, one pandas groupby per cluster. Do not edit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.cache import LockedLRU
from geo.hotspots import gi_star, hot_clusters, segment_weights
from geo.network import segments_key
from geo.region import Region
from geo.stakes import format_stake
from incidents.fusion.conditions import (
    segment_states,
    standing_mask_cleared,
)
from incidents.fusion.labels import KIND_LABEL, count_phrase

__all__ = [
    "HOTSPOT_COLUMNS",
    "hotspot_weights",
    "hotspots_from_evidence",
]


HOTSPOT_ALPHA = 0.05


MIN_HOTSPOT_EVIDENCE = 0.25  # a cluster needs at least this much evidence weight


INCIDENT_HALF_LIFE_H = 12.0


_WEIGHTS_CACHE: LockedLRU[str, Any] = LockedLRU(4)  # segments content key -> weights


def hotspot_weights(region: Region) -> Any:
    """Gi* weights of the region's segments (2 hops along the network, 1.5 km across space).

    Cached per segments frame (content key), so a Streamlit server computes it once.
    """
    key = segments_key(region.network.segments)
    return _WEIGHTS_CACHE.get_or_create(
        key,
        lambda: segment_weights(
            region.network.segments, k_hops=2, distance_m=1500.0, kind="binary"
        ),
    )


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
    """Rank hotspots from an evidence frame (:func:`incidents.fusion.conditions.evidence_frame`).

    Evidence weight per segment = the weights of the hazard and incident evidence still
    standing (after the latest clear observation); Gi* over the region's segments; significant
    hot segments (one-sided p < 0.05) joined into clusters; clusters with less evidence than
    :data:`MIN_HOTSPOT_EVIDENCE` (e.g. one stale Waze report on a quiet network) are dropped;
    ranked by their peak z.
    """
    segs = region.network.segments
    empty = gpd.GeoDataFrame(
        {c: [] for c in HOTSPOT_COLUMNS}, geometry=gpd.GeoSeries([], crs="EPSG:4326")
    )
    if len(evidence) == 0 or len(segs) < 2:
        return empty
    states = segment_states(evidence)
    y = states["hazard_weight"].reindex(segs["segment_id"]).fillna(0.0).to_numpy(dtype=float)
    if not (y > 0).any():
        return empty
    w = hotspot_weights(region)
    z, p = gi_star(y, w)
    clusters = [
        m
        for m in hot_clusters(w, z, p, y, alpha=HOTSPOT_ALPHA)
        if y[m].sum() >= MIN_HOTSPOT_EVIDENCE
    ]
    if not clusters:
        return empty
    standing = _standing(evidence)
    ids_by_seg = standing.groupby("segment_id")["report_id"].agg(
        lambda s: sorted(int(x) for x in s)
    )
    seg_ids = segs["segment_id"].to_numpy(dtype=object)
    pos = {str(s): i for i, s in enumerate(seg_ids)}
    codes = segs["road_code"].astype(str).to_numpy()
    km0 = segs["km_from"].to_numpy(dtype=float)
    km1 = segs["km_to"].to_numpy(dtype=float)
    lines = np.asarray(segs.geometry.to_numpy(), dtype=object)
    by_seg = {k: g for k, g in standing.groupby("segment_id")}
    records = []
    for rank, members in enumerate(clusters, start=1):
        sids = [str(s) for s in seg_ids[members]]
        rids = sorted({i for s in sids for i in ids_by_seg.get(s, [])})
        parts = [by_seg[s] for s in sids if s in by_seg]
        part = pd.concat(parts) if parts else standing.iloc[:0]
        main, by_what = _main_kind(part)
        kind_counts = count_phrase(
            (kinds or {}).get(int(i), s)
            for i, s in zip(part["report_id"], part["source"], strict=True)
        )
        order = sorted(sids, key=lambda s: (codes[pos[s]], km0[pos[s]]))
        idx = np.array([pos[s] for s in order])
        geom = shapely.line_merge(shapely.union_all(lines[idx]))
        admin = _admin_name(region, geom)
        stretch = _stretch(codes[idx], km0[idx], km1[idx])
        others = [KIND_LABEL.get(str(k), str(k)) for k in by_what.index[1:3]]
        extra = f" with {', '.join(others)}" if others else ""
        reason = (
            f"{KIND_LABEL.get(main, main)}{extra} on {stretch}"
            f"{f' ({admin})' if admin else ''}: {kind_counts}; Gi* z={float(z[members].max()):.1f}"
        )
        records.append(
            {
                "rank": rank,
                "z": float(z[members].max()),
                "p": float(p[members].min()),
                "evidence": float(y[members].sum()),
                "condition": main,
                "road": stretch,
                "admin_name": admin,
                "segment_ids": order,
                "report_ids": rids,
                "reason": reason,
                "geometry": geom,
            }
        )
    return gpd.GeoDataFrame(records, geometry="geometry", crs="EPSG:4326")


def _standing(evidence: pd.DataFrame) -> pd.DataFrame:
    """Return the hazard and incident evidence not erased by a later clear observation."""
    ev = evidence.copy()
    ev["observed_at"] = pd.to_datetime(ev["observed_at"], utc=True)
    ev["clear"] = ev["clear"].astype(bool)
    clear_t = ev[ev["clear"]].groupby("segment_id")["observed_at"].max()
    return ev[
        ~ev["clear"]
        & ~standing_mask_cleared(ev, clear_t)
        & (ev["condition"].notna() | ev["incident"].notna())
    ]


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
