"""dashboard.wording.stake_text: a stake from a road and a km, never "nan"."""

from __future__ import annotations

import math

import pytest

from dashboard.wording import stake_text


@pytest.mark.parametrize(
    ("road", "km", "want"),
    [
        ("G331", 1520.3, "G331 K1520+300"),
        ("G331", None, "G331"),
        (math.nan, math.nan, ""),  # a frame's missing road and km
        (None, 3.0, "K3+000"),
        ("S101", -1.0, "S101"),
        ("S101", "x", "S101"),
    ],
)
def test_stake_text(road: object, km: object, want: str) -> None:
    assert stake_text(road, km) == want
