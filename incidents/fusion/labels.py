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

__all__ = ['KIND_LABEL', 'SOURCE_LABEL', 'count_phrase', 'kinds_of']


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
