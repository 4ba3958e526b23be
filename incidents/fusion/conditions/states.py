"""Segment states from evidence (noisy-OR, clearing) and forecast states from live alerts."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from geo.cache import LockedLRU
from geo.network import segments_key
from geo.region import Region
from incidents.fusion.conditions.kinds import (
    OBSERVED_THRESHOLD,
    SEVERITY_RANK,
    SOURCE_RELIABILITY,
    decay,
    half_lives,
)
from incidents.settings import Settings
from incidents.store.models import (
    Alert,
    AlertState,
    Condition,
)

__all__ = [
    "standing_mask_cleared",
    "segment_states",
    "alert_condition",
    "live_alerts",
    "forecast_states",
]


def standing_mask_cleared(ev: pd.DataFrame, last_clear: pd.Series) -> pd.Series:
    """Mark the evidence rows observed at or before their segment's latest clear observation."""
    if len(last_clear) == 0:
        return pd.Series(False, index=ev.index)
    lc = pd.to_datetime(ev["segment_id"].map(last_clear), utc=True)
    return lc.notna() & (ev["observed_at"] <= lc)



def _strongest_and_ids(
    hz: pd.DataFrame,
) -> tuple[dict[tuple[Any, Any], Any], dict[tuple[Any, Any], list[int]]]:
    """Per (segment, condition): the source of the heaviest evidence, and every report id."""
    strongest: dict[tuple[Any, Any], Any] = {}
    ids: dict[tuple[Any, Any], list[int]] = {}
    order = np.argsort(-hz["weight"].to_numpy(dtype=float), kind="stable")
    seg_a = hz["segment_id"].to_numpy(dtype=object)[order]
    cond_a = hz["condition"].to_numpy(dtype=object)[order]
    src_a = hz["source"].to_numpy(dtype=object)[order]
    rid_a = hz["report_id"].to_numpy()[order]
    for sg, cd, sr, ri in zip(seg_a, cond_a, src_a, rid_a, strict=True):
        strongest.setdefault((sg, cd), sr)
        ids.setdefault((sg, cd), []).append(int(ri))
    return strongest, ids

def segment_states(evidence: pd.DataFrame, threshold: float = OBSERVED_THRESHOLD) -> pd.DataFrame:
    """Combine evidence into the observed state of each segment (vectorised).

    Hazard evidence older than the segment's latest clear observation is discarded; each
    condition's confidence is ``1 - prod(1 - weight)``; the best condition wins when it reaches
    `threshold`, else the segment is ``clear`` when it has a clear observation.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``segment_id``: ``condition``, ``confidence``, ``source`` (source of the
        strongest piece of evidence), ``report_ids`` (list), ``cleared_by`` (``"drone"`` /
        ``"patrol"`` / None), ``clear_confidence``, ``hazard_weight`` (sum of the weights of the
        hazard and incident evidence still standing).
    """
    out_cols = [
        "condition",
        "confidence",
        "source",
        "report_ids",
        "cleared_by",
        "clear_confidence",
        "hazard_weight",
    ]
    if len(evidence) == 0:
        return pd.DataFrame(columns=out_cols, index=pd.Index([], name="segment_id"))
    ev = evidence.copy()
    ev["observed_at"] = pd.to_datetime(ev["observed_at"], utc=True)
    ev["clear"] = ev["clear"].astype(bool)
    clears = ev[ev["clear"]]
    last_clear = clears.sort_values("observed_at").groupby("segment_id").tail(1)
    last_clear = last_clear.set_index("segment_id")
    alive = ~ev["clear"] & ~standing_mask_cleared(ev, last_clear["observed_at"])
    standing = ev[alive]
    hz = standing[standing["condition"].notna()].copy()
    result = pd.DataFrame(index=pd.Index(pd.unique(ev["segment_id"]), name="segment_id"))
    if len(hz):
        hz["lg"] = np.log1p(-np.clip(hz["weight"].to_numpy(dtype=float), 0.0, 0.999999))
        grp = hz.groupby(["segment_id", "condition"], sort=False)
        conf = 1.0 - np.exp(grp["lg"].sum())
        best = conf.reset_index(name="confidence")
        best["rank"] = best["condition"].map(SEVERITY_RANK)
        best = best.sort_values(["segment_id", "confidence", "rank"], ascending=[True, False, True])
        best = best.groupby("segment_id").head(1).set_index("segment_id")
        strongest, ids = _strongest_and_ids(hz)
        keys = list(zip(best.index, best["condition"], strict=True))
        best["source"] = [strongest.get(k) for k in keys]
        best["report_ids"] = [sorted(ids.get(k, [])) for k in keys]
        result = result.join(best[["condition", "confidence", "source", "report_ids"]])
    else:
        for c in ("condition", "confidence", "source", "report_ids"):
            result[c] = None
    result["hazard_weight"] = (
        standing[standing["condition"].notna() | standing["incident"].notna()]
        .groupby("segment_id")["weight"]
        .sum()
        .reindex(result.index)
        .fillna(0.0)
    )
    result["clear_confidence"] = last_clear["weight"].reindex(result.index).fillna(0.0)
    result["cleared_by"] = last_clear["source"].reindex(result.index)
    result["clear_report"] = last_clear["report_id"].reindex(result.index)
    weak = result["confidence"].isna() | (result["confidence"].astype(float) < threshold)
    has_clear = result["cleared_by"].notna()
    result.loc[weak & has_clear, "condition"] = Condition.CLEAR.value
    result.loc[weak & has_clear, "confidence"] = result.loc[weak & has_clear, "clear_confidence"]
    result.loc[weak & has_clear, "source"] = result.loc[weak & has_clear, "cleared_by"]
    result.loc[weak & has_clear, "report_ids"] = pd.Series(
        [[int(r)] for r in result.loc[weak & has_clear, "clear_report"]],
        index=result.index[weak & has_clear],
        dtype=object,
    )
    result.loc[weak & ~has_clear, ["condition", "confidence", "source", "report_ids"]] = None
    result.loc[~(weak & has_clear), "cleared_by"] = None
    return result[out_cols]


_ALERT_CONDITIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"ic(e|ing)|结冰|冰冻|冻雨|freez", re.I), "black_ice"),
    (re.compile(r"blizzard|暴雪|drift|吹雪|风雪|大风|gale|wind", re.I), "drifting_snow"),
    (re.compile(r"fog|雾|visib", re.I), "poor_visibility"),
    (re.compile(r"snow|雪", re.I), "snow_packed"),
)


def alert_condition(hazard_class: str | None, event: str | None) -> str | None:
    """Return the road condition an alert forecasts (None for e.g. a cold wave)."""
    text = f"{hazard_class or ''} {event or ''}"
    for pattern, cond in _ALERT_CONDITIONS:
        if pattern.search(text):
            return cond
    return None


def live_alerts(session: Session, now: datetime) -> list[Alert]:
    """Return alerts in force at `now`: state actual, onset passed (or unset), not expired."""
    stmt = select(Alert).where(
        Alert.state == AlertState.ACTUAL.value,
        or_(Alert.onset.is_(None), Alert.onset <= now),
        or_(Alert.expires.is_(None), Alert.expires > now),
        Alert.area.is_not(None),
    )
    return list(session.scalars(stmt))


_COVER_CACHE_SIZE = 256
# (segments key, alert identity) -> mask of the segments its area covers
_COVER_CACHE: LockedLRU[tuple[str, str], np.ndarray] = LockedLRU(_COVER_CACHE_SIZE)


def _covered(segs: gpd.GeoDataFrame, key: str, alert: Alert) -> np.ndarray:
    """Boolean mask of the segments an alert's area covers.

    Cached: an alert row's area is never edited (an Update is a new row).
    """
    ck = (key, f"{alert.sender}|{alert.identifier}|{alert.sent.isoformat()}|{alert.id}")
    return _COVER_CACHE.get_or_create(
        ck, lambda: np.asarray(segs.geometry.intersects(alert.area).to_numpy(), dtype=bool)
    )


def forecast_states(
    alerts: Sequence[Alert], region: Region, settings: Settings, now: datetime
) -> pd.DataFrame:
    """Forecast condition per segment from live alerts whose area covers it.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``segment_id``: ``condition``, ``confidence`` (alert reliability x decay from
        the onset with the alert half-life), ``report_ids`` (the alerts' report ids).
    """
    rows: list[pd.DataFrame] = []
    segs = region.network.segments
    key = segments_key(segs) if alerts else ""
    hl = half_lives(settings)["alert"]
    for a in alerts:
        cond = alert_condition(a.hazard_class, a.event)
        if cond is None or a.area is None:
            continue
        hit = _covered(segs, key, a)
        if not hit.any():
            continue
        start = a.onset or a.sent
        age = (now - start).total_seconds() / 3600.0
        conf = SOURCE_RELIABILITY["alert"] * float(decay(age, hl))
        rows.append(
            pd.DataFrame(
                {
                    "segment_id": segs.loc[hit, "segment_id"].to_numpy(dtype=object),
                    "condition": cond,
                    "confidence": conf,
                    "report_id": a.report_id,
                    "rank": SEVERITY_RANK[cond],
                }
            )
        )
    if not rows:
        return pd.DataFrame(
            columns=["condition", "confidence", "report_ids"], index=pd.Index([], name="segment_id")
        )
    df = pd.concat(rows, ignore_index=True)
    ids = df.groupby("segment_id")["report_id"].agg(
        lambda s: sorted({int(x) for x in s if pd.notna(x)})
    )
    df = df.sort_values(["segment_id", "rank", "confidence"], ascending=[True, True, False])
    best = df.groupby("segment_id").head(1).set_index("segment_id")
    best["report_ids"] = ids.reindex(best.index)
    return best[["condition", "confidence", "report_ids"]]
