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

Modules: :mod:`~incidents.fusion.conditions.kinds` (classification, reliabilities, decay),
:mod:`~incidents.fusion.conditions.evidence`, :mod:`~incidents.fusion.conditions.states`,
:mod:`~incidents.fusion.conditions.snapping`, :mod:`~incidents.fusion.conditions.history`.
"""

from incidents.fusion.conditions.evidence import (
    evidence_frame,
    load_evidence,
    manual_clear_evidence,
    report_frame,
)
from incidents.fusion.conditions.history import (
    ConditionSummary,
    current_conditions,
    desired_states,
    observed_hazard_segments,
    to_segments_frame,
    update_conditions,
)
from incidents.fusion.conditions.kinds import (
    CONDITION_ORDER,
    CONFIDENCE_STEP,
    HORIZON_HALF_LIVES,
    INCIDENT_KINDS,
    OBSERVED_THRESHOLD,
    OFF_ROAD_SEARCH_M,
    POINT_KINDS,
    SEVERITY_RANK,
    SOURCE_RELIABILITY,
    Classified,
    classify,
    decay,
    half_lives,
    horizon,
    report_source,
)
from incidents.fusion.conditions.snapping import (
    snap_new_reports,
)
from incidents.fusion.conditions.states import (
    alert_condition,
    forecast_states,
    live_alerts,
    segment_states,
    standing_mask_cleared,
)

__all__ = [
    "CONDITION_ORDER",
    "CONFIDENCE_STEP",
    "Classified",
    "ConditionSummary",
    "HORIZON_HALF_LIVES",
    "INCIDENT_KINDS",
    "OBSERVED_THRESHOLD",
    "OFF_ROAD_SEARCH_M",
    "POINT_KINDS",
    "SEVERITY_RANK",
    "SOURCE_RELIABILITY",
    "alert_condition",
    "classify",
    "current_conditions",
    "decay",
    "desired_states",
    "evidence_frame",
    "forecast_states",
    "half_lives",
    "horizon",
    "live_alerts",
    "load_evidence",
    "manual_clear_evidence",
    "observed_hazard_segments",
    "report_frame",
    "report_source",
    "segment_states",
    "snap_new_reports",
    "standing_mask_cleared",
    "to_segments_frame",
    "update_conditions",
]
