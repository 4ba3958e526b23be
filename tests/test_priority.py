"""Priority: wind chill, the frostbite clock, and monotonicity in every factor."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incidents.fusion.priority import (
    exposure_stage,
    frostbite_minutes,
    hazard_priority,
    highest_class,
    priority,
    wind_chill,
)

# Environment Canada's published wind chill table (rounded to whole degrees)
EC_TABLE = [(-20, 30, -33), (-30, 50, -49), (-10, 20, -18), (-40, 10, -51), (-25, 60, -43)]


@pytest.mark.parametrize(("t", "v", "expected"), EC_TABLE)
def test_wind_chill_matches_published_table(t, v, expected):
    assert round(wind_chill(t, v)) == expected


def test_wind_chill_outside_validity_is_air_temperature():
    assert wind_chill(12.0, 30.0) == 12.0
    assert wind_chill(-20.0, 3.0) == -20.0
    arr = wind_chill(np.array([-20.0, 12.0]), np.array([30.0, 30.0]))
    assert isinstance(arr, np.ndarray) and arr[1] == 12.0


def test_frostbite_table():
    assert math.isinf(frostbite_minutes(-20.0))
    assert math.isinf(frostbite_minutes(None))
    assert frostbite_minutes(-28.0) == 10
    assert frostbite_minutes(-41.0) == 5
    assert frostbite_minutes(-50.0) == 2
    assert frostbite_minutes(-60.0) == 1
    # the clock escalates: a stage at the frostbite time, more later, capped
    assert exposure_stage(-30.0, 10.0) == pytest.approx(1.0)
    assert exposure_stage(-30.0, 30.0) == pytest.approx(2.0)
    assert exposure_stage(-45.0, 10.0) > exposure_stage(-30.0, 10.0)
    assert exposure_stage(-20.0, 600.0) == 0.0
    assert exposure_stage(-60.0, 10_000.0) == 6.0


def test_vehicle_class_order_two_passenger_one_hazardous():
    base = dict(people=10, wind_chill_c=-30.0, minutes_since_first_call=60.0)
    coach = priority(vehicle_class="coach", **base)
    hazmat = priority(vehicle_class="hazmat", **base)
    truck = priority(vehicle_class="heavy_truck", **base)
    car = priority(vehicle_class="car", **base)
    assert coach == hazmat > truck > car
    assert highest_class(["car", None, "heavy_truck", "coach"]) == "coach"


factor_values = {
    "people": st.integers(0, 200),
    "vulnerable": st.integers(0, 20),
    "wind_chill_c": st.floats(-70, 10),
    "minutes_since_first_call": st.floats(0, 3000),
    "fuel": st.floats(0, 1),
}


@settings(max_examples=150, deadline=None)
@given(
    base=st.fixed_dictionaries(factor_values),
    factor=st.sampled_from(sorted(factor_values)),
    other=st.data(),
)
def test_priority_monotonic_in_each_factor(base, factor, other):
    value2 = other.draw(factor_values[factor])
    lo, hi = sorted([base[factor], value2])
    a = dict(base, **{factor: lo})
    b = dict(base, **{factor: hi})
    pa, pb = priority(**a), priority(**b)
    if factor in ("wind_chill_c", "fuel"):
        # colder (lower wind chill) and emptier tank are more urgent
        assert pa >= pb - 1e-9
    else:
        assert pb >= pa - 1e-9


def test_priority_strictly_grows_where_it_should():
    p = priority(people=5, wind_chill_c=-35.0, minutes_since_first_call=30.0)
    assert priority(people=6, wind_chill_c=-35.0, minutes_since_first_call=30.0) > p
    assert priority(people=5, vulnerable=1, wind_chill_c=-35.0, minutes_since_first_call=30.0) > p
    assert priority(people=5, wind_chill_c=-45.0, minutes_since_first_call=30.0) > p
    assert priority(people=5, wind_chill_c=-35.0, minutes_since_first_call=90.0) > p
    assert priority(people=5, wind_chill_c=-35.0, minutes_since_first_call=30.0, fuel_low=True) > p


def test_hazard_priority_monotonic_and_below_people():
    assert hazard_priority("black_ice", 0.9, "national") > hazard_priority(
        "black_ice", 0.5, "national"
    )
    assert hazard_priority("black_ice", 0.9, "national") > hazard_priority(
        "snow_packed", 0.9, "national"
    )
    assert hazard_priority("black_ice", 0.9, "national") > hazard_priority(
        "black_ice", 0.9, "township"
    )
    assert hazard_priority("closed", 1.0, "expressway") <= priority(people=1)
