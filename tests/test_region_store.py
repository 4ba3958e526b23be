"""The region's segments, units, duty points and road chiefs go into the database once."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from incidents.store.engine import read_gdf, session_scope
from incidents.store.models import DutyPoint, RoadChief, Segment, Unit
from incidents.store.region import load_region_into_db
from tests.conftest import REPO_ROOT

REGION_DIR = REPO_ROOT / "data" / "region"


@pytest.fixture(scope="module")
def region():
    if not (REGION_DIR / "roads.geojson").exists():
        pytest.skip("data/region not present")
    from geo.region import load_region

    return load_region(REGION_DIR)


def _count(s, model):
    return s.scalar(select(func.count()).select_from(model))


def test_region_copied_once(session_factory, region):
    with session_scope(session_factory) as s:
        added = load_region_into_db(s, region)
    assert added == {
        "road_chiefs": region.chiefs["road_chief_id"].nunique(),
        "segments": len(region.network.segments),
        "units": len(region.units),
        "duty_points": len(region.duty_points),
    }
    with session_scope(session_factory) as s:  # and again: nothing new
        assert set(load_region_into_db(s, region).values()) == {0}
        assert _count(s, Segment) == len(region.network.segments)
        assert _count(s, RoadChief) == added["road_chiefs"]
        assert _count(s, DutyPoint) == len(region.duty_points)


def test_rows_carry_the_region_facts(session_factory, region):
    with session_scope(session_factory) as s:
        load_region_into_db(s, region)
    src = region.units.iloc[0]
    with session_scope(session_factory) as s:
        unit = s.get(Unit, str(src["unit_id"]))
        segments = read_gdf(s, Segment)
        duty = read_gdf(s, DutyPoint)
    assert unit is not None
    assert unit.status == "available" and unit.version == 1
    assert unit.capabilities == [c for c in str(src["capabilities"]).split(";") if c]
    assert unit.geometry.distance(src.geometry) < 1e-9
    assert unit.name == src["name_zh"]
    seg_src = region.network.segments.set_index("segment_id")
    some = segments.iloc[len(segments) // 2]
    assert some["km_from"] == pytest.approx(seg_src.loc[some["id"], "km_from"])
    assert some.geometry.equals_exact(seg_src.loc[some["id"], "geometry"], 1e-9)
    # banners come from the gazetteer: nearly every segment lies in one
    assert segments["admin_code"].notna().mean() > 0.9
    assert segments["admin_code"].dropna().str.len().eq(6).all()
    assert set(duty["kind"]) <= {"duty_point", "duty_station", "warming_point"}


def test_reload_keeps_live_unit_status(session_factory, region):
    with session_scope(session_factory) as s:
        load_region_into_db(s, region)
    uid = str(region.units["unit_id"].iloc[0])
    with session_scope(session_factory) as s:
        s.get(Unit, uid).status = "on_scene"
    with session_scope(session_factory) as s:
        load_region_into_db(s, region)
    with session_scope(session_factory) as s:
        assert s.get(Unit, uid).status == "on_scene"
