"""Storm replay metrics: one row per incident and the figures a replay is judged by.

:func:`incident_row` turns an incident, when it was first seen and when its first unit arrived
into the row the review page shows; :func:`replay_metrics` sums those rows up (time to first
unit, cold-exposure person-hours, unit utilisation, the two lower bounds and the ratios to
them). The definitions are in :mod:`incidents.replay.simulate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from incidents.store.models import Incident

__all__ = ["Seen", "incident_row", "replay_metrics"]


@dataclass
class Seen:
    """When the replay first saw an incident, its priority then and its two lower bounds."""

    known_at: datetime
    priority: float
    lower_bound_s: float
    strict_bound_s: float


def _minutes(seconds: float) -> float | None:
    return round(seconds / 60.0, 2) if math.isfinite(seconds) else None


def incident_row(
    inc: Incident, seen: Seen, first: datetime | None, end: datetime
) -> dict[str, Any]:
    """Return the review row of one incident.

    Parameters
    ----------
    inc
        The incident (not merged into another).
    seen
        When the replay first saw it (priority and lower bounds then).
    first
        When its first unit arrived on scene, None when none did.
    end
        The end of the storm: an unreached incident waits until then.
    """
    wait_s = ((first or end) - inc.first_report_at).total_seconds()
    return {
        "incident_id": inc.id,
        "kind": inc.kind,
        "title": inc.title,
        "people": int(inc.people or 0),
        "priority": round(seen.priority, 2),
        "first_report_at": inc.first_report_at.isoformat(),
        "known_at": seen.known_at.isoformat(),
        "first_unit_at": first.isoformat() if first else None,
        "ttfu_min": round(wait_s / 60.0, 2) if first else None,
        "wait_min": round(max(wait_s, 0.0) / 60.0, 2),
        "lower_bound_min": _minutes(seen.lower_bound_s),
        "strict_lower_bound_min": _minutes(seen.strict_bound_s),
    }


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> float | None:
    if values.size == 0 or float(weights.sum()) <= 0:
        return None
    return float((values * weights).sum() / weights.sum())


def _r2(v: Any) -> float | None:
    return None if v is None else round(float(v), 2)


def replay_metrics(
    rows: list[dict[str, Any]], busy_s: dict[str, float], n_units: int, duration_s: float
) -> dict[str, Any]:
    """Sum the incident rows of one replay up into its metrics.

    Parameters
    ----------
    rows
        One :func:`incident_row` per incident.
    busy_s
        Per unit, the seconds it spent assigned (from confirmation to cleared).
    n_units
        Units in service at the start.
    duration_s
        Length of the storm.
    """
    served = [r for r in rows if r["ttfu_min"] is not None]
    ttfu = np.array([r["ttfu_min"] for r in served], dtype=float)
    wait = np.array([r["wait_min"] for r in rows], dtype=float)
    w = np.array([max(r["priority"], 1e-3) for r in rows], dtype=float)
    lb = np.array(
        [r["lower_bound_min"] if r["lower_bound_min"] is not None else np.nan for r in rows]
    )
    ok = np.isfinite(lb)
    sb = np.array(
        [
            r["strict_lower_bound_min"] if r.get("strict_lower_bound_min") is not None else np.nan
            for r in rows
        ]
    )
    sok = np.isfinite(sb)
    pw_sb = _weighted_mean(sb[sok], w[sok])
    people = np.array([r["people"] for r in rows], dtype=float)
    pw = _weighted_mean(wait, w)
    pw_lb = _weighted_mean(lb[ok], w[ok])
    return {
        "incidents": len(rows),
        "incidents_served": len(served),
        "incidents_unserved": len(rows) - len(served),
        "ttfu_mean_min": _r2(ttfu.mean()) if ttfu.size else None,
        "ttfu_p50_min": _r2(np.percentile(ttfu, 50)) if ttfu.size else None,
        "ttfu_p90_min": _r2(np.percentile(ttfu, 90)) if ttfu.size else None,
        "ttfu_priority_weighted_min": _r2(pw),
        "cold_exposure_person_hours": _r2((people * wait).sum() / 60.0),
        "unit_utilisation": _r2(sum(busy_s.values()) / max(n_units * duration_s, 1.0)),
        "lower_bound_mean_min": _r2(lb[ok].mean()) if ok.any() else None,
        "lower_bound_priority_weighted_min": _r2(pw_lb),
        "lower_bound_person_hours": _r2((people[ok] * lb[ok]).sum() / 60.0),
        "ratio_to_lower_bound": _r2(pw / pw_lb) if pw is not None and pw_lb else None,
        "strict_lower_bound_priority_weighted_min": _r2(pw_sb),
        "ratio_to_strict_lower_bound": _r2(pw / pw_sb) if pw is not None and pw_sb else None,
        "units": n_units,
    }
