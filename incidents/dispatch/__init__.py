"""Dispatch: which unit goes where, with ETAs, reasons and a baseline to beat.

Modules, in the order the data flows:

- :mod:`~incidents.dispatch.positions`: where each unit is (AVL and tablet fixes, the
  on-scene rule) and how far to trust it (``live`` / ``stale`` / ``unknown``).
- :mod:`~incidents.dispatch.traveltime`: condition-aware ETA matrices on the road graph
  (:func:`eta_matrix`, :class:`TravelCache`, :func:`current_conditions`).
- :mod:`~incidents.dispatch.solver`: the assignment problem on arrays (:func:`feasible_mask`,
  :func:`solve` with the ``optimized`` and ``closest`` policies, :func:`runner_up`).
- :mod:`~incidents.dispatch.recommend`: from the database to explained recommendations
  (:func:`load_state`, :func:`build_recommendations`, :func:`recommend`).
- :mod:`~incidents.dispatch.staging`: pre-positioning at duty points before a forecast onset
  (:func:`greedy_mclp`, :func:`preposition`).

Callers import from the package: ``from incidents.dispatch import recommend``.
"""

from incidents.dispatch.positions import (
    PositionCounts,
    PositionState,
    apply_avl_fixes,
    apply_position_reports,
    follow_assignment,
    position_state,
    read_avl,
    record_tablet_fix,
)
from incidents.dispatch.recommend import (
    DispatchState,
    Recommendation,
    build_recommendations,
    load_state,
    recommend,
)
from incidents.dispatch.solver import POLICIES, Candidate, feasible_mask, runner_up, solve
from incidents.dispatch.staging import StagingSuggestion, greedy_mclp, preposition
from incidents.dispatch.traveltime import TravelCache, current_conditions, eta_matrix

__all__ = [
    "POLICIES",
    "apply_avl_fixes",
    "apply_position_reports",
    "build_recommendations",
    "Candidate",
    "current_conditions",
    "DispatchState",
    "eta_matrix",
    "feasible_mask",
    "follow_assignment",
    "greedy_mclp",
    "load_state",
    "PositionCounts",
    "PositionState",
    "position_state",
    "preposition",
    "read_avl",
    "recommend",
    "Recommendation",
    "record_tablet_fix",
    "runner_up",
    "solve",
    "StagingSuggestion",
    "TravelCache",
]
