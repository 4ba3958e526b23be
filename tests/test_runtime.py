"""Runtime settings (incidents.store.runtime): typed keys over app_settings, on both databases."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from incidents.errors import SettingValueError
from incidents.fusion import configured_observation
from incidents.store import runtime
from incidents.store.engine import session_scope
from incidents.store.models import Setting

NOW = datetime(2025, 12, 14, 3, 0, tzinfo=UTC)


def test_missing_keys_read_as_their_defaults(session_factory):
    with session_scope(session_factory) as s:
        assert runtime.observation(s) == (None, None)
        assert runtime.clock_setting(s) is None
        assert runtime.legacy_feeds(s) == []
        assert configured_observation(s) == (None, None)


def test_typed_pairs_round_trip_through_the_table(session_factory):
    with session_scope(session_factory) as s:
        runtime.set_observation(s, -32, 25.5)
        runtime.set_clock_setting(s, NOW, NOW)
        runtime.set_legacy_feeds(s, [{"name": "nws", "kind": "nws"}])
    with session_scope(session_factory) as s:
        assert s.get(Setting, "observations").value == {"temperature_c": -32.0, "wind_kmh": 25.5}
        assert runtime.observation(s) == runtime.Observation(-32.0, 25.5)
        assert configured_observation(s) == (-32.0, 25.5)
        assert runtime.clock_setting(s) == runtime.ClockSetting(NOW, NOW)
        assert runtime.legacy_feeds(s) == [{"name": "nws", "kind": "nws"}]
        runtime.set_observation(s, -10, None)  # overwrite: the wind is left out
    with session_scope(session_factory) as s:
        assert runtime.observation(s) == (-10.0, None)
        runtime.clear_setting(s, runtime.OBSERVATIONS)
    with session_scope(session_factory) as s:
        assert s.get(Setting, "observations") is None
        assert runtime.observation(s) == (None, None)


def test_malformed_rows_read_leniently(session_factory):
    with session_scope(session_factory) as s:
        s.add(Setting(key="observations", value={"temperature_c": "cold", "wind_kmh": "inf"}))
        s.add(Setting(key="clock", value={"now": "not a time"}))
        s.add(Setting(key="feeds", value={"feeds": ["junk", {"name": "ok"}]}))
    with session_scope(session_factory) as s:
        assert runtime.observation(s) == (None, None)
        assert runtime.clock_setting(s) is None
        assert runtime.legacy_feeds(s) == [{"name": "ok"}]


@pytest.mark.parametrize(
    ("temperature", "wind", "named"),
    [(-120, 10, "-120"), (-20, -5, "-5"), (math.nan, 10, "nan"), ("warm", 3, "'warm'")],
)
def test_bad_values_are_refused_naming_the_value(session_factory, temperature, wind, named):
    with session_scope(session_factory) as s:
        with pytest.raises(SettingValueError, match=named) as err:
            runtime.set_observation(s, temperature, wind)
        assert isinstance(err.value, ValueError)
        assert s.get(Setting, "observations") is None


def test_every_key_is_registered_with_its_own_name():
    assert set(runtime.KEYS) == {"observations", "clock", "feeds", "audit_verification"}
    for name, key in runtime.KEYS.items():
        assert key.name == name
        assert key.read({}) == key.default
