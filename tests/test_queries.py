"""The read model (incidents.queries) on SQLite and PostGIS: frames the dashboard shows."""

from __future__ import annotations

from datetime import timedelta

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry import Point

from geo.region import Region
from incidents import queries
from incidents.service import actions as service
from incidents.service.users import create_user
from incidents.store.engine import session_scope
from incidents.store.models import Alert, FeedStatus, Unit
from tests.test_dispatch import LAT0, NOW, add_task, add_unit, lon_at
from tests.test_dispatch import tiny as tiny  # noqa: F401 - the fixture


def test_an_overridden_task_is_no_longer_recommended(
    tiny: Region,  # noqa: F811 - the fixture imported above
    session_factory,
    settings,
):
    with session_scope(session_factory) as s:
        create_user(s, "disp", "dispatch-password-1", "dispatcher")
        add_unit(s, "NEAR", 11)
        add_unit(s, "FAR", 0)
        task_id = add_task(s, 12, 50.0, NOW - timedelta(minutes=10)).id
    with session_factory() as s:
        before = queries.recommendations(s, tiny, settings, NOW)
    assert list(before["task_id"]) == [task_id] and before.loc[0, "unit_id"] == "NEAR"
    with session_scope(session_factory) as s:
        service.override(s, "disp", task_id, "FAR", NOW, recommended_unit_id="NEAR",
                         reason="NEAR is iced in")
    with session_factory() as s:
        after = queries.recommendations(s, tiny, settings, NOW)
        active = queries.assignments(s)
    plain = after[after["action"] == "assign"] if len(after) else after
    assert task_id not in set(plain.get("task_id", [])), "the replaced recommendation is retired"
    assert list(active["unit_id"]) == ["FAR"] and list(active["task_id"]) == [task_id]


def test_units_carry_how_far_their_position_is_trusted(session_factory, settings):
    with session_scope(session_factory) as s:
        add_unit(s, "FRESH", 1, position_source="avl")
        add_unit(s, "OLD", 2, position_source="avl")
        add_unit(s, "NEVER", 3)
    with session_scope(session_factory) as s:
        s.get(Unit, "OLD").position_at = NOW - timedelta(hours=3)
        s.get(Unit, "NEVER").position_at = None
    with session_factory() as s:
        units = queries.units(s, NOW, settings)
    assert isinstance(units, gpd.GeoDataFrame)
    state = dict(zip(units["id"], units["position_state"], strict=True))
    assert state == {"FRESH": "live", "OLD": "stale", "NEVER": "unknown"}
    table = queries.points_xy(units)
    assert table.set_index("id").loc["FRESH", "lon"] == lon_at(1)


def test_points_xy_leaves_lines_without_lon_lat():
    gdf = gpd.GeoDataFrame(
        {"id": [1, 2]},
        geometry=[Point(115.0, LAT0), shapely.LineString([(115, 44), (116, 45)])],
        crs=4326,
    )
    table = queries.points_xy(gdf)
    assert table.loc[0, "lon"] == 115.0 and pd.isna(table.loc[1, "lon"])


def test_live_alerts_and_stale_feeds(session_factory):
    with session_scope(session_factory) as s:
        for ident, expires in (("live", NOW + timedelta(hours=2)), ("old", NOW - timedelta(hours=1))):
            s.add(Alert(sender="nmc", identifier=ident, sent=NOW, msg_type="Alert",
                        status="Actual", state="actual", references=[], event="暴雪",
                        hazard_class="blizzard", severity="Severe", colour="orange",
                        onset=NOW - timedelta(hours=3), expires=expires, headline=ident,
                        infos=[], area_codes=[], area=shapely.box(115, 44, 116, 45)))
        s.add(FeedStatus(feed="calls", kind="calls", source="x", interval_s=60.0,
                         last_attempt=NOW, last_success=NOW - timedelta(minutes=5)))
        s.add(FeedStatus(feed="avl", kind="avl", source="y", interval_s=60.0,
                         last_attempt=NOW, last_success=NOW - timedelta(seconds=30)))
    with session_factory() as s:
        alerts = queries.alerts(s, NOW)
        feeds = queries.feed_status(s)
    assert list(alerts["headline"]) == ["live"]
    assert alerts.geometry.iloc[0].geom_type == "Polygon"
    assert queries.stale_feeds(feeds, NOW) == ["calls"]
