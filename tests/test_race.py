"""Two dispatchers confirm the same unit at the same moment: exactly one wins, on both backends."""

from __future__ import annotations

import threading

from shapely.geometry import Point
from sqlalchemy import func, select

from incidents.errors import ConflictError
from incidents.service.lifecycle import confirm_assignment
from incidents.store.engine import session_scope
from incidents.store.models import Assignment, Task, Unit

ROUNDS = 5


def _race_once(session_factory, unit_id: str, task_ids: list[int]) -> list[object]:
    barrier = threading.Barrier(len(task_ids))
    outcomes: list[object] = [None] * len(task_ids)

    def dispatcher(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            with session_scope(session_factory) as s:
                a = confirm_assignment(s, f"disp{i}", task_ids[i], unit_id)
                outcomes[i] = ("won", a.id)
        except ConflictError as exc:
            outcomes[i] = exc
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            outcomes[i] = ("crashed", repr(exc))

    threads = [threading.Thread(target=dispatcher, args=(i,)) for i in range(len(task_ids))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


def test_two_dispatchers_one_unit(session_factory):
    for rnd in range(ROUNDS):
        unit_id = f"U{rnd}"
        with session_scope(session_factory) as s:
            s.add(Unit(id=unit_id, name=unit_id, vehicle_class="heavy_tow",
                       capabilities=["heavy_tow"], geometry=Point(117.5, 43.2)))
            tasks = [Task(kind="heavy_tow", capability="heavy_tow") for _ in range(2)]
            s.add_all(tasks)
            s.flush()
            task_ids = [t.id for t in tasks]
        outcomes = _race_once(session_factory, unit_id, task_ids)
        winners = [o for o in outcomes if isinstance(o, tuple) and o[0] == "won"]
        conflicts = [o for o in outcomes if isinstance(o, ConflictError)]
        assert len(winners) == 1, f"round {rnd}: {outcomes}"
        assert len(conflicts) == 1, f"round {rnd}: {outcomes}"
        assert f"unit {unit_id} was already assigned by another dispatcher" in str(conflicts[0])
        with session_scope(session_factory) as s:
            n = s.scalar(
                select(func.count()).select_from(Assignment).where(Assignment.unit_id == unit_id)
            )
            unit = s.get(Unit, unit_id)
            statuses = sorted(s.get(Task, t).status for t in task_ids)
        assert n == 1
        assert unit.status == "assigned" and unit.version == 2
        assert statuses == ["assigned", "open"]
