"""The writes of the workflow panels: each one audited service call, then the caches cleared.

Through :func:`incidents.service.actions.act` (its own transaction; a refusal or a lost race
is audited after the rollback), on the operational clock (:func:`dashboard.data.clock`). No
Streamlit widgets here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dashboard import data
from dashboard.actions import SessionUser, retiring, run_action
from incidents.service import actions as service
from incidents.service import incident_edit, overdue, units

__all__ = ["acknowledge", "escalate", "merge", "override", "set_readiness", "split"]


# the override retires the recommendations it made moot, in its own transaction
_override_and_retire = retiring(service.override)


def override(url: str, user: SessionUser, task_id: int, unit_id: str,
             recommended_unit_id: str | None, reason: str, eta_s: float | None = None) -> int:
    """Send `unit_id` instead of the recommended unit, saying why; return the assignment id."""
    a = run_action(url, _override_and_retire, user, task_id, unit_id,
                   recommended_unit_id=recommended_unit_id, reason=reason, eta_s=eta_s)
    return int(a.id)


def acknowledge(url: str, user: SessionUser, task_id: int, note: str | None = None) -> None:
    """Acknowledge overdue task `task_id` (its row folds away until it gets worse)."""
    run_action(url, overdue.acknowledge, user, task_id, note=note)


def escalate(url: str, user: SessionUser, task_id: int, note: str | None = None) -> None:
    """Escalate overdue task `task_id` to the duty chief."""
    run_action(url, overdue.escalate, user, task_id, note=note)


def set_readiness(url: str, user: SessionUser, unit_id: str, **changes: Any) -> None:
    """Change a unit's readiness (``in_service``, ``fuel``, ``crew_hours``, ``reason``)."""
    run_action(url, units.set_readiness, user, unit_id, **changes)


def merge(url: str, region_dir: str, user: SessionUser, keep_id: int, other_id: int,
          note: str | None = None) -> int:
    """Fold incident `other_id` into `keep_id`; return the kept incident's id."""
    inc = run_action(url, incident_edit.merge, user, keep_id, other_id,
                     region=data.region(region_dir), note=note)
    return int(inc.id)


def split(url: str, region_dir: str, user: SessionUser, incident_id: int,
          report_ids: Sequence[int], note: str | None = None) -> int:
    """Move `report_ids` out of `incident_id` into a new incident; return the new id."""
    inc = run_action(url, incident_edit.split, user, incident_id, list(report_ids),
                     region=data.region(region_dir), note=note)
    return int(inc.id)
