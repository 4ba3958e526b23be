"""Bad arguments raise leaves of the error trees (also the built-in), naming the value."""

from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import numpy as np
import pytest
from scipy import sparse
from shapely.geometry import LineString, Point
from sqlalchemy.exc import StatementError

from geo.errors import GeoError, ParameterError, UnknownConditionError, UnknownVehicleClassError
from geo.hotspots import gi_star, segment_weights
from geo.roads import segment_roads, validate_roads
from geo.speeds import speed_factor
from incidents.errors import DatabaseUrlError, NaiveDatetimeError, StoreError, WinteropsError
from incidents.store.connect import make_engine
from incidents.store.engine import session_scope
from incidents.store.models import Report


def _roads() -> gpd.GeoDataFrame:
    return validate_roads(
        gpd.GeoDataFrame(
            {"road_code": ["G1"], "km_start": [0.0], "km_end": [2.0]},
            geometry=[LineString([(115.0, 44.0), (115.02, 44.0)])],
            crs="EPSG:4326",
        )
    )


@pytest.mark.parametrize(
    ("call", "leaf", "named"),
    [
        (lambda: speed_factor("hovercraft", "clear"), UnknownVehicleClassError, "'hovercraft'"),
        (lambda: speed_factor("plow", "lava"), UnknownConditionError, "'lava'"),
        (lambda: segment_roads(_roads(), length_m=0), ParameterError, "0"),
        (lambda: segment_weights(segment_roads(_roads()), kind="cosine"), ParameterError, "'cosine'"),
        (lambda: gi_star(np.ones(3), sparse.eye(2)), ParameterError, r"\(2, 2\)"),
    ],
)
def test_geo_leaves(call, leaf, named):
    with pytest.raises(leaf, match=named) as err:
        call()
    assert isinstance(err.value, GeoError) and isinstance(err.value, ValueError)


def test_unsupported_database_url_names_it():
    with pytest.raises(DatabaseUrlError, match="'mysql://x/y'") as err:
        make_engine("mysql://x/y")
    assert isinstance(err.value, StoreError) and isinstance(err.value, ValueError)
    assert isinstance(err.value, WinteropsError)


def test_naive_datetime_is_refused_on_both_databases(session_factory):
    naive = datetime(2025, 12, 14, 3, 0)
    with pytest.raises(StatementError, match="2025, 12, 14, 3, 0") as err:
        with session_scope(session_factory) as s:
            s.add(
                Report(
                    kind="call",
                    natural_key="naive-1",
                    source="test",
                    observed_at=naive,
                    geometry=Point(115.0, 44.0),
                )
            )
    assert isinstance(err.value.orig, NaiveDatetimeError)  # SQLAlchemy wraps bind errors
    assert isinstance(err.value.orig, ValueError)
    with session_scope(session_factory) as s:
        assert s.query(Report).count() == 0
