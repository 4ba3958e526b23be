"""Road-segment conditions from reports: snapping, evidence, decay, clearing, history.

Snapping (decision)
-------------------
Reports are immutable observations, but ``reports.segment_id`` and ``reports.off_road_reason``
are *derived* columns that ingest leaves empty. Fusion fills them exactly once
(:func:`snap_new_reports`: ``UPDATE ... WHERE segment_id IS NULL AND off_road_reason IS NULL``),
and never touches any observed field. A point report within ``settings.snap_tolerance_m`` of a
segment gets its ``segment_id``; a farther one is kept, with ``off_road_reason`` saying how far
the nearest road is. A point report with neither column set is therefore "not yet fused": that
is what makes fusion incremental and idempotent. Drone tracks and alerts (lines and areas) are
not snapped; their coverage is computed when conditions are recomputed.

Evidence and confidence
-----------------------
Each report that says something about a road's state becomes evidence on its segment:
``weight = reliability(source) * confidence(report, default 1) * 0.5 ** (age_h / half_life)``
with the per-source half-life from ``settings.half_life_hours`` (drone, call, patrol, waze,
alert) and the reliabilities in :data:`SOURCE_RELIABILITY`. The confidence of a condition on a
segment combines its evidence as independent sightings (noisy-OR)::

    confidence(c) = 1 - prod_k (1 - weight_k)

Clearing: a patrol report of a clear road, a drone detection of type ``clear``, or a drone
track that passes over the segment without any detection there (same flight) is a *clear
observation*; every hazard observation older than the segment's latest clear observation is
discarded. Observed state: the condition with the highest confidence when it reaches
:data:`OBSERVED_THRESHOLD`, worst first on ties. Otherwise a live alert whose area covers the
segment gives a *forecast* state (``observed=False``), unless a clear observation is stronger.

History
-------
``segment_conditions`` keeps one row per state span: when a segment's (condition, observed)
changes, the current row gets ``valid_to = now`` and a new row is inserted; a change of
confidence alone updates the current row. A hazard that fades with no clear observation simply
closes its row (no "clear" row is invented); an observed clear inserts a ``clear`` row with
``cleared_by``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from geo.crs import from_metric_xy, to_metric
from geo.network import segments_key
from geo.region import Region
from geo.stakes import format_stake
from incidents.settings import Settings
from incidents.store.models import (
    Alert,
    AlertState,
    Condition,
    Hazard,
    HazardState,
    Report,
    SegmentCondition,
)

__all__ = [
    "CONDITION_ORDER",
    "INCIDENT_KINDS",
    "OBSERVED_THRESHOLD",
    "SOURCE_RELIABILITY",
    "Classified",
    "ConditionSummary",
    "classify",
    "current_conditions",
    "decay",
    "evidence_frame",
    "forecast_states",
    "load_evidence",
    "report_source",
    "segment_states",
    "snap_new_reports",
    "update_conditions",
]

SOURCE_RELIABILITY: Mapping[str, float] = MappingProxyType(
    {"drone": 0.9, "patrol": 0.95, "call": 0.6, "waze": 0.5, "alert": 0.5}
)
OBSERVED_THRESHOLD = 0.25
CONFIDENCE_STEP = 0.01  # a current row's confidence is rewritten when it moves more than this
HORIZON_HALF_LIVES = 6.0  # evidence older than this many half-lives (< 2 %) is ignored
POINT_KINDS = ("drone_detection", "call", "waze", "patrol")
CONDITION_ORDER = tuple(c.value for c in Condition)  # worst first
INCIDENT_KINDS = ("stranded", "crash", "vehicle_in_ditch", "road_blocked")
_SEVERITY_RANK = {c: i for i, c in enumerate(CONDITION_ORDER)}
_OFF_ROAD_SEARCH_M = 100_000.0


def report_source(kind: str) -> str:
    """Return the evidence source of a report kind (drone, call, waze, patrol, alert)."""
    if kind.startswith("drone"):
        return "drone"
    return {"call": "call", "waze": "waze", "patrol": "patrol", "alert": "alert"}.get(kind, kind)


@dataclass(frozen=True)
class Classified:
    """What one report says: a road condition, an incident kind, or that the road is clear."""

    condition: str | None = None
    incident: str | None = None
    clear: bool = False


_DRONE_TYPES = {
    "black_ice": Classified("black_ice"),
    "ice": Classified("black_ice"),
    "snow_drift": Classified("drifting_snow"),
    "drifting_snow": Classified("drifting_snow"),
    "snow_packed": Classified("snow_packed"),
    "whiteout": Classified("poor_visibility"),
    "poor_visibility": Classified("poor_visibility"),
    "fog": Classified("poor_visibility"),
    "closed": Classified("closed"),
    "road_blocked": Classified("closed", "road_blocked"),
    "stranded_vehicle": Classified(None, "stranded"),
    "crash": Classified(None, "crash"),
    "vehicle_in_ditch": Classified(None, "vehicle_in_ditch"),
    "clear": Classified(clear=True),
}
_CALL_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"沟|侧滑|滑出|ditch|slid", re.I), "vehicle_in_ditch"),
    (re.compile(r"追尾|相撞|碰撞|事故|翻车|crash|collision|accident", re.I), "crash"),
    (re.compile(r"阻断|封闭|封路|blocked|closed", re.I), "road_blocked"),
)
_EVENT_TYPES = {
    "车辆被困": "stranded",
    "被困": "stranded",
    "stranded": "stranded",
    "stranded_vehicle": "stranded",
    "交通事故": "crash",
    "事故": "crash",
    "crash": "crash",
    "车辆侧滑": "vehicle_in_ditch",
    "车辆滑入沟": "vehicle_in_ditch",
    "车辆侧滑出路": "vehicle_in_ditch",
    "侧滑": "vehicle_in_ditch",
    "vehicle_in_ditch": "vehicle_in_ditch",
    "道路阻断": "road_blocked",
    "road_blocked": "road_blocked",
}


def _waze(subtype: str, attributes: Mapping[str, Any]) -> Classified:
    typ = str(attributes.get("type") or "").upper()
    sub = (str(attributes.get("subtype") or "") or subtype).upper()
    text = f"{typ} {sub}"
    if "ROAD_CLOSED" in text:
        return Classified("closed", "road_blocked")
    if "ACCIDENT" in text:
        return Classified(None, "crash")
    if "CAR_STOPPED" in text:
        return Classified(None, "stranded")
    if "ICE" in text or "FREEZING" in text:
        return Classified("black_ice")
    if "FOG" in text or "VISIBILITY" in text:
        return Classified("poor_visibility")
    if "WIND" in text or "BLIZZARD" in text or "DRIFT" in text:
        return Classified("drifting_snow")
    if "SNOW" in text:
        return Classified("snow_packed")
    if typ == "WEATHERHAZARD":
        return Classified("snow_packed")
    return Classified()


def classify(kind: str, subtype: str | None, attributes: Mapping[str, Any] | None) -> Classified:
    """Say what a report means for the road: a condition, an incident, or "clear".

    Parameters
    ----------
    kind
        Report kind (``drone_detection``, ``call``, ``waze``, ``patrol`` ...).
    subtype
        The report's subtype (drone detection type, Waze subtype, call type, patrol condition).
    attributes
        The report's attributes (calls: ``event_type`` or ``notes``; Waze: ``type``).
    """
    attrs = attributes or {}
    sub = (subtype or "").strip()
    if kind == "drone_detection":
        return _DRONE_TYPES.get(sub.lower(), Classified())
    if kind == "waze":
        return _waze(sub, attrs)
    if kind == "patrol":
        key = sub.lower()
        if key in ("clear", "cleared"):
            return Classified(clear=True)
        if key in CONDITION_ORDER:
            return Classified(key, "road_blocked" if key == "closed" else None)
        return _DRONE_TYPES.get(key, Classified())
    if kind == "call":
        event = str(attrs.get("event_type") or attrs.get("incident_type") or "").strip()
        if event in _EVENT_TYPES:
            return Classified(None, _EVENT_TYPES[event])
        notes = str(attrs.get("notes") or "")
        for pattern, incident in _CALL_RULES:
            if pattern.search(notes):
                return Classified("closed" if incident == "road_blocked" else None, incident)
        return Classified(None, "stranded")
    return Classified()


def decay(age_h: Any, half_life_h: Any) -> Any:
    """Return ``0.5 ** (age_h / half_life_h)`` (vectorised; negative ages count as 0)."""
    age = np.maximum(np.asarray(age_h, dtype=np.float64), 0.0)
    return np.power(0.5, age / np.asarray(half_life_h, dtype=np.float64))


def _half_lives(settings: Settings) -> dict[str, float]:
    out = {"drone": 3.0, "call": 2.0, "patrol": 3.0, "waze": 1.0, "alert": 12.0}
    out.update({k: float(v) for k, v in settings.half_life_hours.items()})
    return out


def horizon(settings: Settings) -> timedelta:
    """Return how far back evidence is read: 6 of the longest observed-source half-lives."""
    hl = _half_lives(settings)
    longest = max(v for k, v in hl.items() if k != "alert")
    return timedelta(hours=HORIZON_HALF_LIVES * longest)


# ---------------------------------------------------------------------- evidence


def evidence_frame(reports: pd.DataFrame, settings: Settings, now: datetime) -> pd.DataFrame:
    """Turn report rows into evidence rows (one per report that says something).

    Parameters
    ----------
    reports
        Columns ``id``, ``kind``, ``subtype``, ``confidence``, ``observed_at``, ``segment_id``,
        ``attributes``; rows without a segment are dropped.
    settings
        For the half-lives.
    now
        The fusion clock.

    Returns
    -------
    pandas.DataFrame
        ``report_id, segment_id, source, condition, incident, clear, weight, base,
        observed_at``; ``base = reliability * confidence``, ``weight = base * decay``.
    """
    cols = ["report_id", "segment_id", "source", "condition", "incident", "clear", "weight"]
    if len(reports) == 0:
        return pd.DataFrame({c: [] for c in [*cols, "base", "observed_at"]})
    rep = reports[reports["segment_id"].notna()]
    kinds = rep["kind"].to_numpy(dtype=object)
    subs = rep["subtype"].to_numpy(dtype=object)
    attrs = rep["attributes"].to_numpy(dtype=object)
    cls = [
        classify(str(k), s, a if isinstance(a, Mapping) else None)
        for k, s, a in zip(kinds, subs, attrs, strict=True)
    ]
    # a caller who gave only a place name is not on the road the town's point snaps to: such a
    # report can make an incident but says nothing about a particular segment's condition
    place_only = np.array(
        [isinstance(a, Mapping) and a.get("location_method") == "place" for a in attrs], dtype=bool
    )
    cond = np.array(
        [None if po else c.condition for c, po in zip(cls, place_only, strict=True)], dtype=object
    )
    inc = np.array([c.incident for c in cls], dtype=object)
    clear = np.array([c.clear for c in cls], dtype=bool)
    source = np.array([report_source(str(k)) for k in kinds], dtype=object)
    hl = _half_lives(settings)
    half = np.array([hl.get(s, 3.0) for s in source])
    rel = np.array([SOURCE_RELIABILITY.get(s, 0.5) for s in source])
    conf = pd.to_numeric(rep["confidence"], errors="coerce").fillna(1.0).clip(0, 1).to_numpy()
    obs = pd.to_datetime(rep["observed_at"], utc=True)
    age_h = (pd.Timestamp(now) - obs).dt.total_seconds().to_numpy() / 3600.0
    base = rel * conf
    weight = base * decay(age_h, half)
    out = pd.DataFrame(
        {
            "report_id": rep["id"].to_numpy(),
            "segment_id": rep["segment_id"].to_numpy(dtype=object),
            "source": source,
            "condition": cond,
            "incident": inc,
            "clear": clear,
            "weight": weight,
            "base": base,
            "observed_at": obs.to_numpy(),
        }
    )
    keep = (out["condition"].notna() | out["incident"].notna() | out["clear"]) & (age_h >= -0.25)
    return out[keep].reset_index(drop=True)


def _track_clear_evidence(
    tracks: pd.DataFrame,
    detections: pd.DataFrame,
    region: Region,
    settings: Settings,
    now: datetime,
) -> pd.DataFrame:
    """Clear observations: a drone track over a segment where its flight detected nothing."""
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    if len(detections):
        flights = detections["attributes"].map(
            lambda a: str(a.get("flight_id")) if isinstance(a, Mapping) else None
        )
        seen = set(zip(flights, detections["segment_id"], strict=True))
    hl = _half_lives(settings)["drone"]
    for t in tracks.itertuples(index=False):
        attrs = t.attributes if isinstance(t.attributes, Mapping) else {}
        segs = list(attrs.get("segment_ids") or []) or _track_segments(t.geometry, region, settings)
        ended = attrs.get("ended_at")
        when = pd.Timestamp(ended) if ended else pd.Timestamp(t.observed_at)
        if when.tzinfo is None:
            when = when.tz_localize("UTC")
        flight = str(attrs.get("flight_id"))
        age = (pd.Timestamp(now) - when).total_seconds() / 3600.0
        w = SOURCE_RELIABILITY["drone"] * float(decay(age, hl))
        for sid in segs:
            if (flight, sid) in seen:
                continue
            rows.append(
                {
                    "report_id": t.id,
                    "segment_id": sid,
                    "source": "drone",
                    "condition": None,
                    "incident": None,
                    "clear": True,
                    "weight": w,
                    "base": SOURCE_RELIABILITY["drone"],
                    "observed_at": when,
                }
            )
    return pd.DataFrame(rows)


def _track_segments(
    geom: Any, region: Region, settings: Settings, step_m: float = 100.0
) -> list[str]:
    if geom is None or geom.is_empty:
        return []
    line = to_metric(geom)
    n = max(2, int(line.length // step_m) + 1)
    pts = shapely.line_interpolate_point(line, np.linspace(0, line.length, n))
    xy = shapely.get_coordinates(pts)
    lon, lat = from_metric_xy(xy[:, 0], xy[:, 1])
    snapped = region.network.snap(lon, lat, tolerance_m=settings.snap_tolerance_m)
    return sorted({s for s in snapped["segment_id"] if s is not None})


def _report_frame(session: Session, stmt: Any) -> pd.DataFrame:
    res = session.execute(stmt)
    return pd.DataFrame(res.fetchall(), columns=list(res.keys()))


def _manual_clear_evidence(
    session: Session, settings: Settings, now: datetime, since: datetime
) -> pd.DataFrame:
    """Clear observations from hazards a person cleared (road chief, patrol lead, dispatcher).

    Each gets ``report_id = -hazard_id`` (not a report: a clearance recorded on the hazard).
    """
    rows = session.execute(
        select(Hazard.id, Hazard.segment_id, Hazard.cleared_at).where(
            Hazard.state == HazardState.CLEARED.value,
            Hazard.segment_id.is_not(None),
            Hazard.cleared_at.is_not(None),
            Hazard.cleared_at >= since,
            Hazard.cleared_at <= now,
        )
    ).all()
    if not rows:
        return pd.DataFrame()
    hl = _half_lives(settings)["patrol"]
    rel = SOURCE_RELIABILITY["patrol"]
    out = pd.DataFrame(rows, columns=["hazard_id", "segment_id", "observed_at"])
    age = (pd.Timestamp(now) - pd.to_datetime(out["observed_at"], utc=True)).dt.total_seconds()
    return pd.DataFrame(
        {
            "report_id": -out["hazard_id"].astype(int),
            "segment_id": out["segment_id"].astype(str),
            "source": "patrol",
            "condition": None,
            "incident": None,
            "clear": True,
            "weight": rel * decay(age.to_numpy() / 3600.0, hl),
            "base": rel,
            "observed_at": pd.to_datetime(out["observed_at"], utc=True),
        }
    )


def load_evidence(
    session: Session,
    region: Region,
    settings: Settings,
    now: datetime,
    segment_ids: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Read the evidence within the horizon from the database (optionally only some segments).

    Includes clear observations from drone tracks. See :func:`evidence_frame` for columns.
    """
    since = now - horizon(settings)
    cols = (
        Report.id,
        Report.kind,
        Report.subtype,
        Report.confidence,
        Report.observed_at,
        Report.segment_id,
        Report.attributes,
    )
    stmt = select(*cols).where(
        Report.kind.in_(POINT_KINDS),
        Report.segment_id.is_not(None),
        Report.observed_at >= since,
        Report.observed_at <= now + timedelta(minutes=15),
    )
    wanted = None if segment_ids is None else sorted(set(segment_ids))
    if wanted is not None and len(wanted) < 5000:
        stmt = stmt.where(Report.segment_id.in_(wanted))
    reports = _report_frame(session, stmt)
    ev = evidence_frame(reports, settings, now)
    tracks = _report_frame(
        session,
        select(Report.id, Report.observed_at, Report.attributes, Report.geometry).where(
            Report.kind == "drone_track", Report.observed_at >= since, Report.observed_at <= now
        ),
    )
    if len(tracks):
        dets = reports[reports["kind"] == "drone_detection"] if len(reports) else reports
        extra = _track_clear_evidence(tracks, dets, region, settings, now)
        if len(extra):
            ev = pd.concat([ev, extra], ignore_index=True) if len(ev) else extra
    manual = _manual_clear_evidence(session, settings, now, since)
    if len(manual):
        ev = pd.concat([ev, manual], ignore_index=True) if len(ev) else manual
    if wanted is not None and len(ev):
        ev = ev[ev["segment_id"].isin(wanted)].reset_index(drop=True)
    return ev


# ---------------------------------------------------------------------- states


def standing_mask_cleared(ev: pd.DataFrame, last_clear: pd.Series) -> pd.Series:
    """True for evidence rows observed at or before their segment's latest clear observation."""
    if len(last_clear) == 0:
        return pd.Series(False, index=ev.index)
    lc = pd.to_datetime(ev["segment_id"].map(last_clear), utc=True)
    return lc.notna() & (ev["observed_at"] <= lc)


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
        best["rank"] = best["condition"].map(_SEVERITY_RANK)
        best = best.sort_values(["segment_id", "confidence", "rank"], ascending=[True, False, True])
        best = best.groupby("segment_id").head(1).set_index("segment_id")
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


_COVER_CACHE: dict[tuple[str, str], np.ndarray] = {}
_COVER_CACHE_SIZE = 256


def _covered(segs: gpd.GeoDataFrame, key: str, alert: Alert) -> np.ndarray:
    """Boolean mask of the segments an alert's area covers (cached: an alert row's area is
    never edited; an Update is a new row)."""
    ck = (key, f"{alert.sender}|{alert.identifier}|{alert.sent.isoformat()}|{alert.id}")
    hit = _COVER_CACHE.get(ck)
    if hit is None:
        hit = np.asarray(segs.geometry.intersects(alert.area).to_numpy(), dtype=bool)
        if len(_COVER_CACHE) >= _COVER_CACHE_SIZE:
            _COVER_CACHE.pop(next(iter(_COVER_CACHE)))
        _COVER_CACHE[ck] = hit
    return hit


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
    hl = _half_lives(settings)["alert"]
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
                    "rank": _SEVERITY_RANK[cond],
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


# ---------------------------------------------------------------------- snapping


def snap_new_reports(session: Session, region: Region, settings: Settings) -> pd.DataFrame:
    """Snap every not-yet-fused point report, writing ``segment_id`` or ``off_road_reason`` once.

    Returns
    -------
    pandas.DataFrame
        The newly fused reports: ``id, kind, subtype, confidence, observed_at, road_code, km,
        attributes, geometry (shapely), segment_id, snap_road, snap_km, off_road_reason``.
    """
    stmt = (
        select(
            Report.id,
            Report.kind,
            Report.subtype,
            Report.confidence,
            Report.observed_at,
            Report.road_code,
            Report.km,
            Report.attributes,
            Report.geometry,
        )
        .where(
            Report.kind.in_(POINT_KINDS),
            Report.segment_id.is_(None),
            Report.off_road_reason.is_(None),
        )
        .order_by(Report.observed_at, Report.id)
    )
    new = _report_frame(session, stmt)
    if len(new) == 0:
        for c in ("segment_id", "snap_road", "snap_km", "off_road_reason"):
            new[c] = []
        return new
    geoms = new["geometry"].to_numpy(dtype=object)
    is_pt = np.array([g is not None and not g.is_empty and g.geom_type == "Point" for g in geoms])
    lon = np.array([g.x if ok else np.nan for g, ok in zip(geoms, is_pt, strict=True)])
    lat = np.array([g.y if ok else np.nan for g, ok in zip(geoms, is_pt, strict=True)])
    seg = np.full(len(new), None, dtype=object)
    road = np.full(len(new), None, dtype=object)
    km = np.full(len(new), np.nan)
    reason = np.full(len(new), None, dtype=object)
    tol = settings.snap_tolerance_m
    if is_pt.any():
        snapped = region.network.snap(lon[is_pt], lat[is_pt], tolerance_m=tol)
        seg[is_pt] = snapped["segment_id"].to_numpy(dtype=object)
        road[is_pt] = snapped["road_code"].to_numpy(dtype=object)
        km[is_pt] = snapped["km"].to_numpy(dtype=float)
    far = is_pt & np.array([s is None for s in seg])
    if far.any():
        wide = region.network.snap(lon[far], lat[far], tolerance_m=_OFF_ROAD_SEARCH_M)
        msgs = []
        for d, rc, k in zip(wide["distance_m"], wide["road_code"], wide["km"], strict=True):
            if rc is None:
                msgs.append(
                    f"no road within {_OFF_ROAD_SEARCH_M / 1000:.0f} km (snap tolerance {tol:.0f} m)"
                )
            else:
                msgs.append(
                    f"{d:.0f} m from the nearest road ({rc} {format_stake(float(k))}),"
                    f" beyond the {tol:.0f} m snap tolerance"
                )
        reason[far] = np.array(msgs, dtype=object)
    reason[~is_pt] = "no point location"
    new["segment_id"] = seg
    new["snap_road"] = road
    new["snap_km"] = km
    new["off_road_reason"] = reason
    rows = [
        {"b_id": int(i), "b_seg": s, "b_reason": r}
        for i, s, r in zip(new["id"], seg, reason, strict=True)
    ]
    stmt_u = (
        update(Report)
        .where(
            and_(
                Report.id == bindparam("b_id"),
                Report.segment_id.is_(None),
                Report.off_road_reason.is_(None),
            )
        )
        .values(segment_id=bindparam("b_seg"), off_road_reason=bindparam("b_reason"))
    )
    session.connection().execute(stmt_u, rows)
    return new


# ---------------------------------------------------------------------- history


@dataclass
class ConditionSummary:
    """What :func:`update_conditions` changed."""

    segments_evaluated: int = 0
    opened: int = 0
    closed: int = 0
    updated: int = 0
    states: pd.DataFrame = field(default_factory=pd.DataFrame)


def current_conditions(
    session: Session, segment_ids: Iterable[str] | None = None
) -> dict[str, SegmentCondition]:
    """Return the current (``valid_to`` NULL) condition row of each segment."""
    stmt = select(SegmentCondition).where(SegmentCondition.valid_to.is_(None))
    ids = None if segment_ids is None else sorted(set(segment_ids))
    if ids is not None and len(ids) < 5000:
        stmt = stmt.where(SegmentCondition.segment_id.in_(ids))
    rows = list(session.scalars(stmt))
    if ids is not None:
        wanted = set(ids)
        rows = [r for r in rows if r.segment_id in wanted]
    return {r.segment_id: r for r in rows}


def desired_states(
    evidence: pd.DataFrame,
    forecast: pd.DataFrame,
    segment_ids: Iterable[str],
) -> dict[str, dict[str, Any]]:
    """Decide the state of each of `segment_ids` from observed evidence and forecasts.

    Returns a mapping segment_id -> ``{condition, observed, confidence, source, report_ids,
    cleared_by}``; segments with nothing to say are absent.
    """
    obs = segment_states(evidence).to_dict("index")
    fc = forecast.to_dict("index")
    out: dict[str, dict[str, Any]] = {}
    for sid in segment_ids:
        o: dict[str, Any] = obs.get(sid) or {}
        f: dict[str, Any] | None = fc.get(sid)
        cond = o.get("condition")
        cond = cond if isinstance(cond, str) else None
        if cond is not None and cond != Condition.CLEAR.value:
            out[sid] = {
                "condition": cond,
                "observed": True,
                "confidence": float(o["confidence"]),
                "source": str(o["source"]),
                "report_ids": list(o["report_ids"] or []),
                "cleared_by": None,
            }
            continue
        clear_conf = float(o["confidence"]) if cond == Condition.CLEAR.value else 0.0
        if f is not None and float(f["confidence"]) > clear_conf:
            out[sid] = {
                "condition": str(f["condition"]),
                "observed": False,
                "confidence": float(f["confidence"]),
                "source": "alert",
                "report_ids": list(f["report_ids"] or []),
                "cleared_by": None,
            }
        elif cond == Condition.CLEAR.value:
            ids = [int(i) for i in o["report_ids"] or []]
            by = str(o["source"])
            if ids and ids[0] < 0:  # a hazard cleared by hand (see _manual_clear_evidence)
                cleared_by = f"hazard {-ids[0]} cleared by hand"
                ids = []
            else:
                cleared_by = f"{by} report {ids[0]}" if ids else by
            out[sid] = {
                "condition": Condition.CLEAR.value,
                "observed": True,
                "confidence": clear_conf,
                "source": by,
                "report_ids": ids,
                "cleared_by": cleared_by,
            }
    return out


def update_conditions(
    session: Session,
    region: Region,
    settings: Settings,
    now: datetime,
    touched: Iterable[str] = (),
) -> ConditionSummary:
    """Recompute the condition of the touched segments, those with a current row and those
    under a live alert, and write the history (see the module docstring).

    Parameters
    ----------
    touched
        Segment ids that have new evidence.
    """
    alerts = live_alerts(session, now)
    forecast = forecast_states(alerts, region, settings, now)
    current = current_conditions(session)
    evidence = load_evidence(session, region, settings, now)
    todo = set(touched) | set(current) | set(forecast.index)
    if len(evidence):
        todo |= set(evidence["segment_id"])
    desired = desired_states(evidence, forecast, sorted(todo))
    summary = ConditionSummary(segments_evaluated=len(todo))
    inserts: list[dict[str, Any]] = []
    for sid in sorted(todo):
        want = desired.get(sid)
        cur = current.get(sid)
        if (
            cur is not None
            and want is not None
            and cur.condition == want["condition"]
            and cur.observed == want["observed"]
        ):
            if (
                abs(cur.confidence - want["confidence"]) > CONFIDENCE_STEP
                or list(cur.report_ids or []) != want["report_ids"]
            ):
                cur.confidence = want["confidence"]
                cur.report_ids = want["report_ids"]
                cur.source = want["source"]
                summary.updated += 1
            continue
        if cur is not None:
            cur.valid_to = now
            summary.closed += 1
        if want is None:
            continue
        if want["condition"] == Condition.CLEAR.value and (cur is None or not cur.observed):
            # a clear pass is recorded only when it replaces an observed hazard
            continue
        inserts.append(
            {
                "segment_id": sid,
                "condition": want["condition"],
                "observed": want["observed"],
                "confidence": want["confidence"],
                "source": want["source"],
                "report_ids": want["report_ids"],
                "valid_from": now,
                "valid_to": None,
                "cleared_by": want["cleared_by"],
            }
        )
        summary.opened += 1
    session.flush()
    if inserts:  # one multi-row INSERT (closing rows were flushed first)
        session.execute(insert(SegmentCondition), inserts)
    states = pd.DataFrame.from_dict(desired, orient="index")
    states.index.name = "segment_id"
    summary.states = states
    return summary


def observed_hazard_segments(states: pd.DataFrame) -> pd.DataFrame:
    """Rows of `states` that are observed hazards (not clear, not forecast)."""
    if len(states) == 0:
        return states
    mask = states["observed"].astype(bool) & (states["condition"] != Condition.CLEAR.value)
    return states[mask]


def to_segments_frame(region: Region, segment_ids: Sequence[str]) -> gpd.GeoDataFrame:
    """The region's segment rows for `segment_ids`, in that order."""
    segs = region.network.segments.set_index("segment_id")
    return gpd.GeoDataFrame(
        segs.loc[list(segment_ids)].reset_index(), crs=region.network.segments.crs
    )
