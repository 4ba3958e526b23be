"""Kilometre posts (里程桩号): parse the ways callers and patrols write them, and format them.

Accepted forms (case, spaces and full-width characters such as ``Ｇ３３１``/``＋`` ignored)::

    G331 K1520+300      G331K1520+300m     G331线K1520+300     G331-K1520+300
    K1520+300m          K1520               K1520.3             1520.3km
    G331国道1520公里300米  S307 1520公里      G331 1520.3km       S307 K12+050

Road codes are the Chinese ones: a letter G (national), S (provincial), X (county), Y (township)
or Z (special) followed by 1-4 digits. The metres after ``+`` must be below 1000.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

from geo.errors import StakeError

__all__ = ["ROAD_CODE_RE", "Stake", "format_stake", "normalize_road_code", "parse_stake"]

ROAD_CODE_RE = re.compile(r"^[GSXYZ]\d{1,4}$")

_NUM = r"\d+(?:\.\d+)?"
_ROAD = r"(?P<road>[GSXYZ]\d{1,4})"
# words that may follow a road code: 线 (line), 国道/省道/县道/乡道/专用公路, 公路, 高速(公路)
_ROAD_WORD = r"(?:\s*(?:线|国道|省道|县道|乡道|专用道|专用公路|高速公路|高速|公路))?"
_SEP = r"\s*[-_/,;:、，]?\s*"
_KM = (
    rf"(?:K\s*(?P<k1>{_NUM})(?:\s*\+\s*(?P<m1>{_NUM})\s*(?:M|米)?)?"
    rf"|(?P<k2>{_NUM})\s*KM"
    rf"|(?P<k3>{_NUM})\s*(?:公里|千米)(?:\s*(?P<m3>{_NUM})\s*(?:米|M))?)"
)
_STAKE_RE = re.compile(rf"^(?:{_ROAD}{_ROAD_WORD}{_SEP})?{_KM}$")


@dataclass(frozen=True)
class Stake:
    """A parsed kilometre post.

    Attributes
    ----------
    road_code
        Upper-case road code such as ``"G331"``, or None when the text gave none.
    km
        Kilometre post as a float (``K1520+300`` -> 1520.3).
    """

    road_code: str | None
    km: float

    def __str__(self) -> str:
        """Return the message."""
        post = format_stake(self.km)
        return f"{self.road_code} {post}" if self.road_code else post


def _normalize(text: str) -> str:
    s = unicodedata.normalize("NFKC", text).upper()
    return re.sub(r"\s+", " ", s).strip()


def normalize_road_code(code: str) -> str:
    """Return the canonical upper-case road code, or raise :class:`StakeError`.

    Parameters
    ----------
    code
        Road code in any case or width, e.g. ``"g331"``, ``"Ｇ３３１"``.
    """
    s = _normalize(str(code)).replace(" ", "")
    if not ROAD_CODE_RE.match(s):
        msg = f"{code!r} is not a road code (expected G/S/X/Y/Z and 1-4 digits, e.g. G331)"
        raise StakeError(msg)
    return s


def parse_stake(text: str) -> Stake:
    """Parse a kilometre post, with or without a road code.

    Parameters
    ----------
    text
        For example ``"G331 K1520+300"``, ``"1520.3km"``, ``"G331国道1520公里300米"``.

    Returns
    -------
    Stake
        The road code (None when absent) and the kilometre as a float.

    Raises
    ------
    StakeError
        The text is not a kilometre post; the message quotes it.
    """
    if not isinstance(text, str):
        msg = f"kilometre post must be text, got {text!r}"
        raise StakeError(msg)
    m = _STAKE_RE.match(_normalize(text))
    if m is None:
        msg = (
            f"cannot read kilometre post {text!r} "
            "(expected e.g. 'G331 K1520+300', 'K1520+300m', '1520.3km' or 'G331国道1520公里300米')"
        )
        raise StakeError(msg)
    km_text = m["k1"] or m["k2"] or m["k3"]
    metres_text = m["m1"] or m["m3"]
    km = float(km_text)
    if metres_text is not None:
        metres = float(metres_text)
        if metres >= 1000:
            msg = (
                f"kilometre post {text!r} has {metres_text} m after the kilometre (must be < 1000)"
            )
            raise StakeError(msg)
        if km != math.floor(km):
            msg = f"kilometre post {text!r} has both a decimal kilometre and metres"
            raise StakeError(msg)
        km += metres / 1000.0
    return Stake(road_code=m["road"], km=round(km, 6))


def format_stake(km: float) -> str:
    """Format a kilometre as a post: ``1520.3 -> "K1520+300"`` (rounded to the metre).

    Parameters
    ----------
    km
        Non-negative kilometre.

    Raises
    ------
    StakeError
        Negative or non-finite km.
    """
    if not math.isfinite(km) or km < 0:
        msg = f"cannot format kilometre {km!r} as a post (needs a finite km >= 0)"
        raise StakeError(msg)
    whole, metres = divmod(round(km * 1000), 1000)
    return f"K{whole}+{metres:03d}"
