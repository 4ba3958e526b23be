"""Where a call is when it gives no coordinates: a kilometre post or a place description.

:func:`locate_described` reads the place column of a call (and the banner column, when the
export has one) as a call taker writes it:

- a kilometre post anywhere in the text (``G331 K123+500``, ``G331线K123+500处``) is put on
  the road network (uncertainty 100 m);
- otherwise the text is resolved with the gazetteer (:meth:`geo.gazetteer.Gazetteer.resolve`):
  banner + township (``阿巴嘎旗别力古台镇``), a village of a town, vague words (``附近``), and a
  direction + distance (``X镇以北约15公里``), each with an uncertainty in metres;
- a place nothing in the gazetteer matches is a :class:`~ingest.validate.RecordError` whose
  message names the text (the call is quarantined with that reason).

The location's ``original`` keeps the text; the uncertainty, how the place was resolved and
any notes (``'某某嘎查' not found in 阿巴嘎旗``) go to the report's attributes
(``location_uncertainty_m``, ``place_resolution``, ``place_notes``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from shapely.geometry import Point

from ingest.validate import Location, Locator, RecordError, locate_place, locate_stake

__all__ = ["STAKE_UNCERTAINTY_M", "Described", "locate_described"]

STAKE_UNCERTAINTY_M = 100.0
_STAKE_IN_TEXT = re.compile(
    r"(?P<road>[GSXYZ]\d{1,4})\s*(?:线|国道|省道|县道|乡道|高速公路|高速|公路)?\s*[-_/,、]?\s*"
    r"(?P<km>K\s*\d+(?:\.\d+)?(?:\s*\+\s*\d+(?:\.\d+)?)?)",
    re.I,
)


_SPACES = re.compile(r"\s+")


@dataclass
class Described:
    """A location found from a description, with what the report's attributes should say."""

    location: Location
    uncertainty_m: float | None
    resolution: str
    notes: list[str] = field(default_factory=list)


def _stake(text: str, locator: Locator | None) -> Described | None:
    m = _STAKE_IN_TEXT.search(unicodedata.normalize("NFKC", text).upper())
    if m is None:
        return None
    km = _SPACES.sub("", m["km"])
    stake = f"{m['road']} {km}"
    loc = locate_stake(stake, locator)
    loc.original = {"stake": stake, "place": text}
    return Described(loc, STAKE_UNCERTAINTY_M, "stake_in_text")


def _resolve(name: str, locator: Locator) -> Described:
    gaz: Any = locator.gazetteer
    if not callable(getattr(gaz, "resolve", None)):  # a gazetteer without descriptions
        return Described(locate_place(name, locator), None, "name")
    try:
        res = gaz.resolve(name)
    except (KeyError, ValueError) as e:
        reason = str(e.args[0]) if e.args else str(e)
        msg = f"place {name!r} not resolved: {reason}"
        raise RecordError(msg) from e
    loc = Location(
        Point(res.lon, res.lat),
        "place",
        place=str(res.place.name_zh or name),
        flags=["place_only"] + (["place_partly_resolved"] if res.notes else []),
        original={"place": name},
    )
    return Described(loc, float(res.uncertainty_m), res.method, list(res.notes))


def locate_described(place: str, admin: str | None, locator: Locator | None) -> Described:
    """Locate a call from its place text (and banner column); see the module docstring.

    Raises
    ------
    RecordError
        No region is loaded, the kilometre post is not on the network and the text names no
        place, or the text names no known place.
    """
    text = place.strip()
    if locator is None:
        msg = f"no region loaded to resolve the place name {text!r}"
        raise RecordError(msg)
    stake_error: RecordError | None = None
    try:
        found = _stake(text, locator)
    except RecordError as e:
        found, stake_error = None, e
    if found is not None:
        return found
    rest = _STAKE_IN_TEXT.sub("", text).strip(" ,，、处")
    if stake_error is not None and len(rest) < 2:
        raise stake_error
    admin = (admin or "").strip()
    if admin and not rest.startswith(admin):
        try:
            return _resolve(admin + rest, locator)
        except RecordError:
            pass
    try:
        return _resolve(rest or text, locator)
    except RecordError:
        if stake_error is not None:
            raise stake_error from None
        raise
