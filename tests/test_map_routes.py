"""Map reads from the database: route lines, incident popups, drone patrol coverage.

On SQLite and PostGIS: a confirmed or en-route assignment gets a line from where its unit is
now, along the roads, to its task (:func:`incidents.queries.routes_to_tasks`, issue 10); an
incident's popup carries what its callers said (:func:`incidents.queries.incidents_with_notes`),
escaped by the layer; each recent drone flight draws the road stretches it patrolled
(:func:`incidents.queries.drone_coverage`, issue 11).
"""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import shapely
from shapely.geometry import Point

from dashboard import escape
from dashboard.layers import drone_coverage as drone_layer
from dashboard.layers import incidents as incident_layer
from dashboard.layers import routes as route_layer
from dashboard.mappayload import MapLayers
from geo.region import Region
from incidents import queries
from incidents.service import actions as service
from incidents.service.users import create_user
from incidents.store.engine import session_scope
from incidents.store.models import Incident, Report, Segment, Task, Unit
from tests.test_dispatch import LAT0, NOW, add_task, add_unit, lon_at
from tests.test_dispatch import tiny as tiny  # noqa: F401 - the fixture

HOSTILE = "<img src=x onerror=alert(1)>${alert(2)}`</script>"
SPUR_KM = 15.0
JUNCTION = (lon_at(30), LAT0)
SPUR_END = (lon_at(30), LAT0 + SPUR_KM / 111.2)


def _km(line: shapely.LineString) -> float:
    xy = np.asarray(line.coords)
    dx = np.diff(xy[:, 0]) * 111.32 * np.cos(np.radians(LAT0))
    dy = np.diff(xy[:, 1]) * 111.2
    return float(np.hypot(dx, dy).sum())


def _task_on_the_spur(session_factory) -> int:
    with session_scope(session_factory) as s:
        create_user(s, "disp", "dispatch-password-1", "dispatcher")
        add_unit(s, "U1", 10)
        add_unit(s, "U2", 50)
        task = add_task(s, 30, 80.0, NOW - timedelta(minutes=10))
        task.geometry = Point(*SPUR_END)
        s.get(Incident, task.incident_id).geometry = Point(*SPUR_END)
        return task.id


def test_a_confirmed_unit_gets_a_road_route_to_its_task(tiny: Region, session_factory):  # noqa: F811
    task_id = _task_on_the_spur(session_factory)
    with session_factory() as s:
        assert len(queries.routes_to_tasks(s, tiny)) == 0, "nothing confirmed, no line"
    with session_scope(session_factory) as s:
        service.confirm(s, "disp", task_id, "U1", NOW)
    with session_factory() as s:
        routes = queries.routes_to_tasks(s, tiny)
    assert list(routes["unit_id"]) == ["U1"] and list(routes["state"]) == ["confirmed"]
    line = routes.geometry.iloc[0]
    assert bool(routes["on_network"].iloc[0])
    assert line.coords[0] == (lon_at(10), LAT0), "starts where the unit is"
    assert line.coords[-1] == SPUR_END, "ends at the task"
    # along the main road to the junction, then up the spur: not the 25 km straight line
    assert line.distance(Point(*JUNCTION)) < 1e-4
    assert 34.0 < _km(line) < 36.0
    assert 0 < routes["eta_s"].iloc[0] < 3 * 3600
    # the layer draws it with the translated state and the ETA in minutes
    payload = route_layer.build(MapLayers(routes=routes), "en")
    props = dict(zip(*(json.loads(payload.data_json)[k] for k in ("p", "v")), strict=True))
    assert payload.count == 1 and props["state"] == ["confirmed"]
    assert props["eta"] == [round(routes["eta_s"].iloc[0] / 60.0)]


def test_the_route_follows_the_unit_and_ends_on_scene(tiny: Region, session_factory):  # noqa: F811
    task_id = _task_on_the_spur(session_factory)
    with session_scope(session_factory) as s:
        a = service.confirm(s, "disp", task_id, "U1", NOW)
        a_id, version = a.id, a.version
    with session_scope(session_factory) as s:
        a = service.set_status(s, "disp", a_id, "en_route", version, NOW + timedelta(minutes=1))
        version = a.version
        s.get(Unit, "U1").geometry = Point(lon_at(25), LAT0)  # an AVL fix on the way
    with session_factory() as s:
        routes = queries.routes_to_tasks(s, tiny)
        mine = queries.routes_to_tasks(s, tiny, unit_id="U1")
        other = queries.routes_to_tasks(s, tiny, unit_id="U2")
    assert list(routes["state"]) == ["en_route"]
    assert routes.geometry.iloc[0].coords[0] == (lon_at(25), LAT0), "from where it is now"
    assert 19.0 < _km(routes.geometry.iloc[0]) < 21.0
    assert len(mine) == 1 and len(other) == 0
    with session_scope(session_factory) as s:
        service.set_status(s, "disp", a_id, "on_scene", version, NOW + timedelta(minutes=30))
    with session_factory() as s:
        assert len(queries.routes_to_tasks(s, tiny)) == 0, "on scene: no line left"


def test_without_a_region_the_stored_route_is_drawn(tiny: Region, session_factory):  # noqa: F811
    task_id = _task_on_the_spur(session_factory)
    stored = shapely.LineString([(lon_at(10), LAT0), JUNCTION, SPUR_END])
    with session_scope(session_factory) as s:
        a = service.confirm(s, "disp", task_id, "U1", NOW)
        a.route = stored
        a.eta_s = 1800.0
    with session_scope(session_factory) as s:
        s.get(Task, task_id).geometry = None  # a task without a position cannot be routed
    with session_factory() as s:
        routes = queries.routes_to_tasks(s, None)
        again = queries.routes_to_tasks(s, tiny)
    for frame in (routes, again):
        assert len(frame) == 1 and not bool(frame["on_network"].iloc[0])
        assert frame.geometry.iloc[0].equals(stored) and frame["eta_s"].iloc[0] == 1800.0


def test_incident_popup_shows_what_callers_said_escaped(session_factory):
    with session_scope(session_factory) as s:
        ids = []
        for i, note in enumerate([HOSTILE, "车辆被困，雪太大", "车辆被困，雪太大", None]):
            rep = Report(kind="call", natural_key=f"c{i}", source="test", observed_at=NOW,
                         received_at=NOW, geometry=Point(116.0, 44.0),
                         attributes={"notes": note} if note is not None else {})
            s.add(rep)
            s.flush()
            ids.append(rep.id)
        s.add(Incident(kind="stranded", geometry=Point(116.0, 44.0), people=5, vulnerable=2,
                       first_report_at=NOW, last_report_at=NOW, priority=300.0,
                       report_ids=ids, title="Stranded vehicles"))
        s.add(Incident(kind="crash", geometry=Point(116.1, 44.0), people=1,
                       first_report_at=NOW, last_report_at=NOW, priority=10.0, report_ids=[]))
    with session_factory() as s:
        frame = queries.incidents_with_notes(s)
    said = dict(zip(frame["kind"], frame["caller_notes"], strict=True))
    assert said == {"stranded": f"{HOSTILE} / 车辆被困，雪太大", "crash": ""}
    payload = incident_layer.build(MapLayers(incidents=frame), "zh")
    props = dict(zip(*(json.loads(payload.data_json)[k] for k in ("p", "v")), strict=True))
    assert props["said"][0] == escape.escape_text(f"{HOSTILE} / 车辆被困，雪太大")
    assert "<img" not in payload.data_json
    assert ("said", "报警人描述") in payload.popup and ("vuln", "老幼病弱") in payload.popup



def _track(key: str, start, attrs: dict, line: shapely.LineString) -> Report:
    return Report(kind="drone_track", natural_key=key, source="test.gpx", observed_at=start,
                  received_at=start, geometry=line, subtype="track", attributes=attrs)


def test_drone_coverage_draws_the_patrolled_road_per_recent_flight(session_factory):
    segs = {f"G999:{k}.0": shapely.LineString([(lon_at(k), LAT0), (lon_at(k + 1), LAT0)])
            for k in range(3)}
    flown = shapely.LineString([(lon_at(0), LAT0 + 0.001), (lon_at(2), LAT0 + 0.001)])
    with session_scope(session_factory) as s:
        for sid, geom in segs.items():
            km = float(sid.split(":")[1])
            s.add(Segment(id=sid, road_code="G999", km_from=km, km_to=km + 1, geometry=geom))
        s.add(_track("recent", NOW - timedelta(hours=2), {
            "flight_id": HOSTILE, "road_km": 2.0, "segment_ids": ["G999:0.0", "G999:1.0", "X:9"],
            "ended_at": (NOW - timedelta(hours=1, minutes=25)).isoformat()}, flown))
        s.add(_track("old", NOW - timedelta(hours=30), {
            "flight_id": "F-old", "road_km": 3.0, "segment_ids": ["G999:2.0"],
            "ended_at": (NOW - timedelta(hours=29)).isoformat()}, flown))
        s.add(_track("offroad", NOW - timedelta(hours=3), {
            "flight_id": "F-field", "road_km": None, "segment_ids": []}, flown))
        s.add(_track("unmeasured", NOW - timedelta(hours=4), {
            "flight_id": "F-no-km", "segment_ids": ["G999:2.0"]}, flown))
    with session_factory() as s:
        cover = queries.drone_coverage(s, NOW)
    assert list(cover["flight_id"]) == [HOSTILE, "F-field", "F-no-km"], "newest first, 24 h"
    recent, field, unmeasured = (cover.iloc[i] for i in range(3))
    assert recent["on_roads"] and recent["segments"] == 2 and recent["road_km"] == 2.0
    expected = shapely.line_merge(shapely.union_all([segs["G999:0.0"], segs["G999:1.0"]]))
    assert recent.geometry.equals(expected), "the road stretches, not the flown track"
    assert not field["on_roads"] and field.geometry.equals(flown) and np.isnan(field["road_km"])
    assert abs(unmeasured["road_km"] - 1.0) < 0.02, "no stored figure: the segments' length"
    payload = drone_layer.build(MapLayers(drone_coverage=cover), "zh")
    props = dict(zip(*(json.loads(payload.data_json)[k] for k in ("p", "v")), strict=True))
    assert payload.count == 3 and props["km"][0] == 2.0
    assert props["flight"][0] == escape.escape_text(HOSTILE) and "<img" not in payload.data_json
