"""Kilometre-post parsing and formatting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo.errors import StakeError
from geo.stakes import Stake, format_stake, normalize_road_code, parse_stake


@pytest.mark.parametrize(
    ("text", "road", "km"),
    [
        ("G331 K1520+300", "G331", 1520.3),
        ("K1520+300m", None, 1520.3),
        ("K1520+300米", None, 1520.3),
        ("1520.3km", None, 1520.3),
        ("1520.3 KM", None, 1520.3),
        ("G331线K1520+300", "G331", 1520.3),
        ("G331国道1520公里300米", "G331", 1520.3),
        ("S307省道12公里", "S307", 12.0),
        ("S307 K12+050", "S307", 12.05),
        ("s307 k12+050", "S307", 12.05),
        ("g331 k1520+300m", "G331", 1520.3),
        ("Ｇ３３１　Ｋ１５２０＋３００", "G331", 1520.3),  # full-width letters, digits, ＋, space
        ("G331ｋ1520＋300", "G331", 1520.3),
        ("  G331   K1520 + 300  ", "G331", 1520.3),
        ("G331K1520+300", "G331", 1520.3),
        ("G331-K1520+300", "G331", 1520.3),
        ("G331 1520.3km", "G331", 1520.3),
        ("K1520", None, 1520.0),
        ("K1520.3", None, 1520.3),
        ("Y001 K0+000", "Y001", 0.0),
        ("X123 K7+5", "X123", 7.005),
        ("Z001 K3+999.5", "Z001", 3.9995),
        ("G16 K818+697", "G16", 818.697),
        ("G1013 K5+100", "G1013", 5.1),
    ],
)
def test_parse_every_format(text, road, km):
    s = parse_stake(text)
    assert s == Stake(road, pytest.approx(km, abs=1e-9))
    assert s.road_code == road
    assert s.km == pytest.approx(km, abs=1e-9)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "G331",
        "G331 K",
        "K+300",
        "A331 K1520+300",  # not a Chinese road-code letter
        "G33111 K1",  # too many digits
        "G331 K1520+300 north",
        "K1520-300",
        "1520",  # bare number: ambiguous
        "G331 K1520.5+300",  # decimal km and metres
        "G331 K1520+1000",  # metres must be < 1000
        "阿巴嘎旗",
    ],
)
def test_malformed_raise_stake_error_naming_input(text):
    with pytest.raises(StakeError) as ei:
        parse_stake(text)
    assert repr(text) in str(ei.value)


def test_non_text_raises():
    with pytest.raises(StakeError, match="1520"):
        parse_stake(1520)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("km", "text"),
    [
        (1520.3, "K1520+300"),
        (12.05, "K12+050"),
        (0.0, "K0+000"),
        (7.0004, "K7+000"),
        (1520.9996, "K1521+000"),  # rounding carries into the kilometre
        (818.697, "K818+697"),
    ],
)
def test_format_stake(km, text):
    assert format_stake(km) == text


@pytest.mark.parametrize("km", [-0.1, float("nan"), float("inf")])
def test_format_rejects_bad_km(km):
    with pytest.raises(StakeError):
        format_stake(km)


@given(st.integers(min_value=0, max_value=5_000_000))
def test_format_parse_round_trip_to_the_metre(metres):
    km = metres / 1000
    assert parse_stake(format_stake(km)).km == pytest.approx(km, abs=1e-9)
    assert parse_stake("G331 " + format_stake(km)) == Stake("G331", pytest.approx(km, abs=1e-9))


def test_str_and_road_code_normalisation():
    assert str(parse_stake("g331线k1520+300")) == "G331 K1520+300"
    assert str(Stake(None, 12.05)) == "K12+050"
    assert normalize_road_code(" ｇ３３１ ") == "G331"
    with pytest.raises(StakeError, match="'K12'"):
        normalize_road_code("K12")
