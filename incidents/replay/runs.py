"""Storm replays started by a person (the review page): permission, progress, storage, audit.

:func:`run_replays` checks that the actor may run replays (dispatchers and admins; a patrol
lead or a wall display is refused and the refusal audited), replays the scenario with each
policy (:func:`incidents.replay.simulate.simulate` on its own temporary database: the live
database is never touched by the replay), stores each result as a ``SimulationRun`` row and
audits ``replay.run`` with the headline figures. ``progress(fraction, policy, message)`` is
called as the replay advances (the message is the storm time reached, ISO 8601, or
``start`` / ``stored``), for a progress bar.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from geo.region import Region
from incidents.dispatch import POLICIES
from incidents.errors import PermissionDenied
from incidents.replay.simulate import simulate, store_run
from incidents.service.audit import audit_committed
from incidents.service.roles import Actor, actor_of, require_dispatcher
from incidents.settings import Settings
from incidents.store.engine import session_scope
from incidents.store.models import User

__all__ = ["Progress", "run_replays"]

Progress = Callable[[float, str, str], Any]


def _may_replay(factory: sessionmaker[Session], actor: User | Actor | str, target: str) -> str:
    """Return the actor's name when they may run replays; refuse (audited) otherwise."""
    with session_scope(factory) as session:
        who = actor_of(session, actor)
    try:
        with session_scope(factory) as session:
            require_dispatcher(session, who, "replay.run", target)
    except PermissionDenied as e:  # its audit row went with the rollback: keep one
        audit_committed(factory, who.name, "replay.run", target, "denied", {"error": str(e)})
        raise
    return who.name


def run_replays(
    factory: sessionmaker[Session],
    actor: User | Actor | str,
    scenario_path: str | Path,
    policies: Sequence[str] = POLICIES,
    *,
    settings: Settings | None = None,
    region: Region | None = None,
    step_minutes: float = 5.0,
    progress: Progress | None = None,
) -> list[int]:
    """Replay `scenario_path` with each of `policies`, store and audit each run.

    Parameters
    ----------
    factory
        Session factory of the live database (only the results are written there).
    actor
        Who asked (a user, an actor or a user name).
    scenario_path
        Scenario folder or manifest.
    policies
        Dispatch policies to replay, in order.
    settings, region, step_minutes
        Passed to :func:`~incidents.replay.simulate.simulate`.
    progress
        Called with (fraction done 0..1, policy, message) as the replays advance.

    Returns
    -------
    list of int
        The stored ``SimulationRun`` ids, one per policy.

    Raises
    ------
    PermissionDenied
        The actor may not run replays (audited).
    """
    name = _may_replay(factory, actor, f"scenario:{Path(scenario_path).name}")
    ids: list[int] = []
    share = 1.0 / len(policies)
    for i, policy in enumerate(policies):

        def step(fraction: float, message: str, i: int = i, policy: str = policy) -> None:
            if progress is not None:
                progress(min(1.0, (i + fraction) * share), policy, message)

        step(0.0, "start")
        result = simulate(
            scenario_path,
            policy,
            settings=settings,
            region=region,
            step_minutes=step_minutes,
            progress=step,
        )
        run_id = store_run(factory, result)
        audit_committed(
            factory,
            name,
            "replay.run",
            f"simulation_run:{run_id}",
            details={"scenario": result.scenario, "policy": policy, **_headline(result.metrics)},
        )
        ids.append(run_id)
        step(1.0, "stored")
    return ids


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    keys = ("incidents", "ttfu_p50_min", "cold_exposure_person_hours")
    return {k: metrics.get(k) for k in keys}
