"""Runtime settings: the one owner of the ``app_settings`` table.

Every key has a :class:`RuntimeKey` in :data:`KEYS`: its name, its default, how a stored JSON
value is read (leniently: a malformed row reads as the default, never an exception on a page
render) and how a new value is checked before it is written (strictly:
:class:`~incidents.errors.SettingValueError` naming the value). Code reads and writes settings
through :func:`get_setting` / :func:`set_setting` or the typed pairs below, never through the
``Setting`` model.

========================= ================================================ ==================
key                       value                                            typed pair
========================= ================================================ ==================
``observations``          ``{"temperature_c": -32, "wind_kmh": 25}``       :func:`observation`
``clock``                 ``{"now": ISO, "set_at": ISO (optional)}``       :func:`clock_setting`
``feeds`` (legacy)        ``{"feeds": [{...}, ...]}``                      :func:`legacy_feeds`
``audit_verification``    ``{"at", "ok", "checked", "head_seq", ...}``     :func:`audit_check`
========================= ================================================ ==================
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy.orm import Session

from incidents.errors import SettingValueError
from incidents.store.models import Setting

__all__ = [
    "AUDIT_CHECK",
    "CLOCK",
    "KEYS",
    "LEGACY_FEEDS",
    "OBSERVATIONS",
    "AuditCheck",
    "ClockSetting",
    "Observation",
    "RuntimeKey",
    "audit_check",
    "clear_setting",
    "clock_setting",
    "get_setting",
    "legacy_feeds",
    "observation",
    "set_audit_check",
    "set_clock_setting",
    "set_legacy_feeds",
    "set_observation",
    "set_setting",
]

T = TypeVar("T")
TEMPERATURE_RANGE_C = (-90.0, 60.0)
WIND_RANGE_KMH = (0.0, 400.0)


@dataclass(frozen=True)
class RuntimeKey(Generic[T]):
    """One ``app_settings`` key: name, default, reader and writer.

    Attributes
    ----------
    name
        The primary key in ``app_settings``.
    default
        What :func:`get_setting` returns when the row is missing or malformed.
    read
        Stored JSON object -> typed value; raises ``ValueError``/``TypeError``/``KeyError`` on a
        malformed row (then the default is returned).
    write
        Typed value -> JSON object to store; raises :class:`SettingValueError` on a bad value.
    """

    name: str
    default: T
    read: Callable[[Mapping[str, Any]], T]
    write: Callable[[T], dict[str, Any]]


class Observation(NamedTuple):
    """Temperature (°C) and wind (km/h) an admin configured; None where not given."""

    temperature_c: float | None
    wind_kmh: float | None


class ClockSetting(NamedTuple):
    """An operational clock: starts at `now`, runs on from wall time `set_at` when given.

    Times are as stored (an aware time, or a naive one an operator typed).
    """

    now: datetime
    set_at: datetime | None


def _number(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _read_observation(value: Mapping[str, Any]) -> Observation:
    return Observation(_number(value.get("temperature_c")), _number(value.get("wind_kmh")))


def _checked(name: str, value: float | None, bounds: tuple[float, float]) -> float | None:
    if value is None:
        return None
    v = _number(value)
    if v is None or not bounds[0] <= v <= bounds[1]:
        msg = f"{name} must be a number in [{bounds[0]:g}, {bounds[1]:g}], not {value!r}"
        raise SettingValueError(msg)
    return v


def _write_observation(value: Observation) -> dict[str, Any]:
    out: dict[str, Any] = {}
    t = _checked("temperature_c", value.temperature_c, TEMPERATURE_RANGE_C)
    w = _checked("wind_kmh", value.wind_kmh, WIND_RANGE_KMH)
    if t is not None:
        out["temperature_c"] = t
    if w is not None:
        out["wind_kmh"] = w
    return out


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _read_clock(value: Mapping[str, Any]) -> ClockSetting | None:
    if not value.get("now"):
        return None
    set_at = None if value.get("frozen") else value.get("set_at")
    return ClockSetting(_time(value["now"]), _time(set_at) if set_at else None)


def _write_clock(value: ClockSetting | None) -> dict[str, Any]:
    if value is None:
        return {}
    for name, ts in (("now", value.now), ("set_at", value.set_at)):
        if ts is not None and not isinstance(ts, datetime):
            msg = f"clock {name} must be a datetime, not {ts!r}"
            raise SettingValueError(msg)
    out: dict[str, Any] = {"now": value.now.isoformat()}
    if value.set_at is not None:
        out["set_at"] = value.set_at.isoformat()
    else:
        out["frozen"] = True  # a stopped clock, said in so many words
    return out


def _read_feeds(value: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [dict(f) for f in value.get("feeds", []) if isinstance(f, Mapping)]


def _write_feeds(value: list[dict[str, Any]]) -> dict[str, Any]:
    bad = [f for f in value if not isinstance(f, Mapping)]
    if bad:
        msg = f"every legacy feed must be a mapping, not {bad[0]!r}"
        raise SettingValueError(msg)
    return {"feeds": [dict(f) for f in value]}


OBSERVATIONS: RuntimeKey[Observation] = RuntimeKey(
    "observations", Observation(None, None), _read_observation, _write_observation
)
CLOCK: RuntimeKey[ClockSetting | None] = RuntimeKey("clock", None, _read_clock, _write_clock)
LEGACY_FEEDS: RuntimeKey[list[dict[str, Any]]] = RuntimeKey("feeds", [], _read_feeds, _write_feeds)


def get_setting(session: Session, key: RuntimeKey[T]) -> T:
    """Return the typed value of `key` (its default when the row is missing or malformed)."""
    row = session.get(Setting, key.name)
    if row is None or not isinstance(row.value, Mapping):
        return key.default
    try:
        return key.read(row.value)
    except (KeyError, TypeError, ValueError):
        return key.default


def set_setting(session: Session, key: RuntimeKey[T], value: T) -> None:
    """Check `value` and write it (in the caller's transaction).

    Raises
    ------
    SettingValueError
        The value is of the wrong type or out of range (a ``ValueError``).
    """
    stored = key.write(value)
    row = session.get(Setting, key.name)
    if row is None:
        session.add(Setting(key=key.name, value=stored))
    else:
        row.value = stored


def clear_setting(session: Session, key: RuntimeKey[Any]) -> None:
    """Remove `key`'s row (it reads as its default again)."""
    row = session.get(Setting, key.name)
    if row is not None:
        session.delete(row)


def observation(session: Session) -> Observation:
    """Return the configured temperature and wind (``observations``)."""
    return get_setting(session, OBSERVATIONS)


def set_observation(
    session: Session, temperature_c: float | None, wind_kmh: float | None
) -> None:
    """Configure the temperature (°C, -90..60) and wind (km/h, 0..400); None leaves one out."""
    set_setting(session, OBSERVATIONS, Observation(temperature_c, wind_kmh))


def clock_setting(session: Session) -> ClockSetting | None:
    """Return the operational clock set in ``app_settings`` (None when not set)."""
    return get_setting(session, CLOCK)


def set_clock_setting(session: Session, now: datetime, set_at: datetime | None = None) -> None:
    """Set the operational clock (see :func:`incidents.clock.set_clock`)."""
    set_setting(session, CLOCK, ClockSetting(now, set_at))


def legacy_feeds(session: Session) -> list[dict[str, Any]]:
    """Return the feeds an older admin page kept in ``app_settings["feeds"]`` (usable ones)."""
    return get_setting(session, LEGACY_FEEDS)


def set_legacy_feeds(session: Session, feeds: list[dict[str, Any]]) -> None:
    """Replace the legacy feed list."""
    set_setting(session, LEGACY_FEEDS, feeds)


# --------------------------------------------------------------------------------------------
# The last verification of the audit hash chain (``winterops audit verify``, the admin page)
# --------------------------------------------------------------------------------------------


class AuditCheck(NamedTuple):
    """The outcome of the last audit-chain verification.

    ``head_seq``/``head_hash`` are the last link seen, so the next verification notices a chain
    cut back or rewritten since; ``problem`` names the first broken link (None when intact).
    """

    at: datetime
    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    problem: str | None = None
    broken_seq: int | None = None


def _read_audit_check(value: Mapping[str, Any]) -> AuditCheck | None:
    if not value.get("at"):
        return None
    broken = value.get("broken_seq")
    return AuditCheck(
        _time(value["at"]), bool(value["ok"]), int(value["checked"]), int(value["head_seq"]),
        str(value["head_hash"]), value.get("problem"), None if broken is None else int(broken),
    )


def _write_audit_check(value: AuditCheck | None) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value.at, datetime) or value.at.tzinfo is None:
        msg = f"audit check time must be a timezone-aware datetime, not {value.at!r}"
        raise SettingValueError(msg)
    if value.checked < 0 or value.head_seq < 0:
        msg = f"audit check counts must not be negative: {value.checked}, {value.head_seq}"
        raise SettingValueError(msg)
    return {
        "at": value.at.isoformat(), "ok": bool(value.ok), "checked": int(value.checked),
        "head_seq": int(value.head_seq), "head_hash": str(value.head_hash),
        "problem": value.problem, "broken_seq": value.broken_seq,
    }


AUDIT_CHECK: RuntimeKey[AuditCheck | None] = RuntimeKey(
    "audit_verification", None, _read_audit_check, _write_audit_check
)
KEYS: Mapping[str, RuntimeKey[Any]] = {
    k.name: k for k in (OBSERVATIONS, CLOCK, LEGACY_FEEDS, AUDIT_CHECK)
}
"""Every runtime key by name."""


def audit_check(session: Session) -> AuditCheck | None:
    """Return the last audit-chain verification (None when never verified)."""
    return get_setting(session, AUDIT_CHECK)


def set_audit_check(session: Session, check: AuditCheck) -> None:
    """Record an audit-chain verification (in the caller's transaction)."""
    set_setting(session, AUDIT_CHECK, check)
