"""Words for condition, incident and source kinds, used in reasons and hotspot text."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from incidents.store.models import (
    Report,
)
from ingest.registry import EVIDENCE

__all__ = [
    'KIND_LABEL',
    'SOURCE_LABEL',
    'count_phrase',
    'hotspot_reason_parts',
    'kinds_of',
    'title_parts',
]


KIND_LABEL = {
    "stranded": "stranded vehicles",
    "crash": "crash",
    "vehicle_in_ditch": "vehicle in a ditch",
    "road_blocked": "road blocked",
    "black_ice": "black ice",
    "drifting_snow": "drifting snow",
    "snow_packed": "snow-packed road",
    "poor_visibility": "poor visibility",
    "closed": "road closed",
}


SOURCE_LABEL = {  # report kind -> English label, from each source's registry line
    kind: en for ev in EVIDENCE.values() for kind, (_zh, en) in ev.labels.items()
}


def count_phrase(kinds: Iterable[str]) -> str:
    """``"2 calls, 1 drone detection"``: how many of each source, most first."""
    counts = Counter(kinds)
    parts = []
    for k, n in counts.most_common():
        label = SOURCE_LABEL.get(k, k)
        parts.append(f"{n} {label}{'s' if n != 1 else ''}")
    return ", ".join(parts)


def _whole(value: object) -> int:
    """Return `value` as a count (0 for None, NaN or anything not a number)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0
    return int(number) if number == number else 0  # NaN is not equal to itself


def title_parts(
    kind: object, road_code: object, km: object, vehicles: object = None, people: object = None
) -> dict[str, object]:
    """Return the language-free parts of an incident's title, for the interface to word.

    The stored ``Incident.title`` is English text made at fusion time; a page derives its own
    title from the same facts in its language: the kind code, the road and kilometre post (only
    when both are known, as the stored title does), and the vehicle and people counts (0: not
    stated).

    Parameters
    ----------
    kind
        The incident kind code (``stranded``, ``crash``...).
    road_code, km
        Road code and kilometre post; the place is left out unless both are given.
    vehicles, people
        Counts reported; None or NaN count as 0.

    Returns
    -------
    dict
        ``{"kind": str, "road": str | None, "km": float | None, "vehicles": int,
        "people": int}``.
    """
    road = str(road_code) if road_code not in (None, "") else None
    try:
        place_km: float | None = float(km)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        place_km = None
    if place_km is not None and place_km != place_km:  # NaN
        place_km = None
    if road is None or place_km is None:
        road, place_km = None, None
    return {
        "kind": str(kind or ""),
        "road": road,
        "km": place_km,
        "vehicles": _whole(vehicles),
        "people": _whole(people),
    }


def hotspot_reason_parts(
    condition: object, road: object, admin_name: object, report_ids: object, z: object
) -> dict[str, object]:
    """Return the language-free parts of a hotspot's reason, for the interface to word.

    A hotspot's stored ``reason`` is English text; these are the facts it is made of that a
    hotspot row keeps (main kind code, road stretch, banner, how many reports, peak Gi* z).

    Returns
    -------
    dict
        ``{"kind": str, "stretch": str, "admin": str | None, "reports": int, "z": float}``.
    """
    try:
        reports = 0 if isinstance(report_ids, str) else len(report_ids)  # type: ignore[arg-type]
    except TypeError:
        reports = _whole(report_ids)
    try:
        zmax = float(z)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        zmax = float("nan")
    admin = str(admin_name) if admin_name not in (None, "") and admin_name == admin_name else None
    return {
        "kind": str(condition or "hazard"),
        "stretch": str(road or ""),
        "admin": admin,
        "reports": reports,
        "z": zmax,
    }


def kinds_of(session: Session, ids: Iterable[int]) -> dict[int, str]:
    """Report id -> report kind for `ids` (chunked query)."""
    ids = sorted({int(i) for i in ids})
    if not ids:
        return {}
    out: dict[int, str] = {}
    for chunk in range(0, len(ids), 900):
        part = ids[chunk : chunk + 900]
        out.update(
            dict(session.execute(select(Report.id, Report.kind).where(Report.id.in_(part))).all())
        )
    return out
