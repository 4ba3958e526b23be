"""The patrol tablet's route read (:mod:`incidents.patrol_routes`) on SQLite and PostGIS.

A confirmed unit's card gets the road route from where the unit is now (35 km along the main
road and up the spur on the tiny region), its length, a thinned copy of the line and an ETA
that includes the off-road legs; the ETA follows the unit as it drives; on scene: no route.
"""

from __future__ import annotations

from datetime import timedelta

from shapely.geometry import Point

from geo.region import Region
from incidents.patrol_routes import MAX_POINTS, incident_caller_notes, incident_needs, unit_routes
from incidents.service import actions as service
from incidents.store.engine import session_scope
from incidents.store.models import Incident, Report, Task, Unit
from tests.test_dispatch import LAT0, NOW, lon_at
from tests.test_dispatch import tiny as tiny  # noqa: F401 - the fixture
from tests.test_map_routes import SPUR_END, _task_on_the_spur


def test_a_confirmed_units_card_route_length_and_eta(tiny: Region, session_factory):  # noqa: F811
    task_id = _task_on_the_spur(session_factory)
    with session_factory() as s:
        assert unit_routes(s, tiny, "U1") == {}, "nothing confirmed, no route"
    with session_scope(session_factory) as s:
        a = service.confirm(s, "disp", task_id, "U1", NOW)
        a_id, version = a.id, a.version
        s.get(Incident, s.get(Task, task_id).incident_id).needs = ["fuel", "medical"]
    with session_factory() as s:
        routes = unit_routes(s, tiny, "U1")
        needs = incident_needs(s, [s.get(Task, task_id).incident_id])
    assert set(routes) == {a_id}
    first = routes[a_id]
    assert first["on_network"] and 34.0 < first["km"] < 36.0
    assert first["coords"][0] == (lon_at(10), LAT0) and first["coords"][-1] == SPUR_END
    assert 2 <= len(first["coords"]) <= MAX_POINTS
    assert 0 < first["eta_s"] < 3 * 3600
    assert list(needs.values()) == [["fuel", "medical"]]
    # the unit drives on: a shorter route, a sooner ETA (read again, nothing stored)
    with session_scope(session_factory) as s:
        a = service.set_status(s, "disp", a_id, "en_route", version, NOW + timedelta(minutes=1))
        version = a.version
        s.get(Unit, "U1").geometry = Point(lon_at(25), LAT0)
    with session_factory() as s:
        later = unit_routes(s, tiny, "U1")[a_id]
    assert 19.0 < later["km"] < 21.0 and 0 < later["eta_s"] < first["eta_s"]
    with session_scope(session_factory) as s:
        service.set_status(s, "disp", a_id, "on_scene", version, NOW + timedelta(minutes=30))
    with session_factory() as s:
        assert unit_routes(s, tiny, "U1") == {}, "on scene: no route"


def test_a_unit_beside_its_task_is_not_zero_minutes_away(
    tiny: Region, session_factory  # noqa: F811
):
    """Both ends snap to one road node: the road time is 0, the walk to the road is not."""
    task_id = _task_on_the_spur(session_factory)
    with session_scope(session_factory) as s:
        service.confirm(s, "disp", task_id, "U1", NOW)
        s.get(Unit, "U1").geometry = Point(SPUR_END[0] + 0.004, SPUR_END[1])  # ~300 m east
    with session_factory() as s:
        (route,) = unit_routes(s, tiny, "U1").values()
    assert 0.2 < route["km"] < 0.8
    assert route["eta_s"] > 20, route


def test_the_card_gets_what_the_callers_said(tiny: Region, session_factory):  # noqa: F811
    """Fusion keeps no notes on the incident: the tablet reads its call reports' notes."""
    task_id = _task_on_the_spur(session_factory)
    with session_scope(session_factory) as s:
        iid = s.get(Task, task_id).incident_id
        said = ["two cars, engine off", "", "two cars, engine off", "child with asthma"]
        reports = [Report(kind="call", natural_key=f"c{i}", source="test", observed_at=NOW,
                          attributes={"notes": text}) for i, text in enumerate(said)]
        s.add_all(reports)
        s.flush()
        s.get(Incident, iid).report_ids = [r.id for r in reports]
    with session_factory() as s:
        notes = incident_caller_notes(s, [iid, 999_999])
    assert notes == {iid: "two cars, engine off / child with asthma"}
