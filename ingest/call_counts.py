"""Counts as call takers write them: exact, approximate or a range; never a reason to quarantine.

:func:`parse_count` reads ``"20"``, ``"20人"``, ``"两辆"``, and approximate counts: ``"约20"``,
``"20左右"``, ``"30余人"``, ``"二十多"``, ``"十几辆"``, ``"数十"``, ``"几"``, ``"二三十"``, ``"20-30"``,
``"20至30"``, ``"至少20"``, ``"不到10"``, ``"several"``, ``"a few"``, ``"about 20"``, ``"20+"``.

An approximate count gives a :class:`Count` with ``estimated=True``, a ``(low, high)`` range and
a ``value`` (the middle of the range, rounded) that the rest of the system uses as the count.
Text that holds no count at all (``"不详"``, ``"unknown"``, ``"?"``) gives ``value=None`` and
``unknown=True``; a count that cannot be true (negative, over 10 000) gives ``value=None`` and
``implausible=True``. None of these raises: a call is never dropped for how its counts are
written.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from dataclasses import dataclass

from geo.gazetteer import zh_number

__all__ = ["MAX_COUNT", "Count", "parse_count", "zh_number"]

MAX_COUNT = 10_000

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "四": 4, "五": 5}
_DIGITS |= {"六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_ZH = "零〇一二三四五六七八九两俩十百千万"
_NUM = rf"(?:\d+(?:\.\d+)?|[{_ZH}]+)"
# measure words (dropped wherever they are: 20人左右) and English nouns after a count
_MEASURE = re.compile(r"[个名位口人辆台部]|(?<=\d)车")
_TAIL = re.compile(r"\s*(?:people|persons?|pax|vehicles?|cars?|trucks?)$")
_UNKNOWN = re.compile(
    r"^(?:不详|不清楚|不知道|未知|不明|待核实|待查|无法确定|unknown|n/?a|\?+|？+|-+)$"
)
_NONE = re.compile(r"^(?:无|没有|none|no|0)$")
_RANGE = re.compile(rf"^({_NUM})\s*(?:-|~|～|—|–|至|到|or|to)\s*({_NUM})$")
_ABOUT = re.compile(
    rf"^(?:约|大约|大概|估计|预计|差不多|近|将近|接近|about|around|approx\.?|approximately|ca\.?|~)"
    rf"\s*({_NUM})$|^({_NUM})\s*(?:左右|上下|许|来)$"
)
_MORE = re.compile(rf"^({_NUM})\s*(?:余|多|几|\+|plus)$|^(?:over|more than|超过|多于)\s*({_NUM})$")
_AT_LEAST = re.compile(rf"^(?:至少|最少|不少于|at least)\s*({_NUM})$|^({_NUM})\s*以上$")
_AT_MOST = re.compile(
    rf"^(?:不到|不足|少于|最多|至多|less than|under|up to)\s*({_NUM})$|^({_NUM})\s*(?:以内|以下)$"
)
_ZH_PAIR = re.compile(r"^([一二两三四五六七八九])([二三四五六七八九])(十|百|千)?$")
_FIRST_NUMBER = re.compile(r"\d+")
# words with a fixed range: (low, high)
_WORDS: dict[str, tuple[int, int]] = {
    "几": (2, 9),
    "数": (2, 9),
    "若干": (2, 9),
    "好几": (3, 9),
    "一些": (2, 9),
    "一批": (5, 20),
    "多": (2, 9),
    "十几": (11, 19),
    "十多": (11, 19),
    "十余": (11, 19),
    "几十": (20, 90),
    "数十": (20, 90),
    "几百": (200, 900),
    "数百": (200, 900),
    "上百": (100, 200),
    "近百": (80, 100),
    "成百": (100, 900),
    "few": (2, 5),
    "a few": (2, 5),
    "a couple": (2, 3),
    "a couple of": (2, 3),
    "several": (3, 9),
    "some": (2, 9),
    "many": (10, 50),
    "a dozen": (10, 14),
    "dozen": (10, 14),
    "dozens": (24, 99),
    "dozens of": (24, 99),
    "a lot": (10, 50),
}


@dataclass(frozen=True)
class Count:
    """A count read from text.

    Attributes
    ----------
    value
        The count to use (an estimate's middle), or None when the text gives none.
    low, high
        The range the text allows (equal for an exact count), or None.
    estimated
        The text gave an approximate count or a range.
    unknown
        The text says the count is not known (``不详``), or holds no number.
    implausible
        A number that cannot be a count of people or vehicles (negative, fractional, > 10 000).
    """

    value: int | None
    low: int | None = None
    high: int | None = None
    estimated: bool = False
    unknown: bool = False
    implausible: bool = False

    @classmethod
    def exact(cls, n: int) -> Count:
        """Make an exact count."""
        return cls(n, n, n)

    @classmethod
    def between(cls, low: int, high: int) -> Count:
        """Make an estimate in ``[low, high]``; the value is the middle (rounded half up)."""
        low, high = sorted((max(0, low), max(0, high)))
        if high > MAX_COUNT:
            return cls(None, low, high, True, implausible=True)
        return cls(int(math.floor((low + high) / 2 + 0.5)), low, high, True)


def _num(text: str) -> float | None:
    if text and text[0].isdigit():
        return float(text)
    n = zh_number(text)
    return None if n is None else float(n)


def _exact(n: float) -> Count:
    if n < 0 or n != int(n) or n > MAX_COUNT:
        return Count(None, estimated=False, implausible=True)
    return Count.exact(int(n))


def _more_than(n: int) -> Count:
    """``N余`` / ``N多``: 30余 is 31..39, 100多 is 101..199, 5多 is 5..6."""
    step = 10 ** max(0, len(str(n)) - 1) if n >= 10 and n % 10 == 0 else 1
    return Count.between(n + 1 if step > 1 else n, n + step - 1 if step > 1 else n + 1)


def _about(n: int) -> Count:
    spread = max(1, round(n * 0.2))
    return Count.between(n - spread, n + spread)


def _pair(m: re.Match[str]) -> Count:
    """``二三十`` 20..30, ``三五`` 3..5, ``七八百`` 700..800."""
    unit = _UNITS.get(m.group(3) or "", 1)
    return Count.between(_DIGITS[m.group(1)] * unit, _DIGITS[m.group(2)] * unit)


def _approximate(s: str) -> Count | None:
    if s in _WORDS:
        return Count.between(*_WORDS[s])
    pair = _ZH_PAIR.match(s)
    if pair:
        return _pair(pair)
    for pattern, make in (
        (_RANGE, None),
        (_ABOUT, _about),
        (_MORE, _more_than),
        (_AT_LEAST, lambda n: Count.between(n, max(n + 1, math.ceil(n * 1.5)))),
        (_AT_MOST, lambda n: Count.between(max(1, n // 2), n)),
    ):
        m = pattern.match(s)
        if m is None:
            continue
        nums = [_num(g) for g in m.groups() if g]
        if any(n is None for n in nums):
            return None
        ints = [int(n) for n in nums if n is not None]
        return Count.between(ints[0], ints[1]) if make is None else make(ints[0])
    return None


def _strip(text: str) -> str:
    s = unicodedata.normalize("NFKC", text).strip().lower()
    s = _MEASURE.sub("", re.sub(r"\s+", " ", s))
    return _TAIL.sub("", s).strip()


@functools.lru_cache(maxsize=8192)
def parse_count(text: str) -> Count:
    """Read a count (see the module docstring); empty text is an exact 0."""
    s = _strip(text)
    if s == "" or _NONE.match(s):
        return Count.exact(0)
    try:
        return _exact(float(s))
    except ValueError:
        pass
    n = zh_number(s)
    if n is not None:
        return _exact(n)
    if _UNKNOWN.match(s):
        return Count(None, unknown=True)
    approx = _approximate(s)
    if approx is not None:
        return approx
    first = _FIRST_NUMBER.search(s)
    if first is None:
        return Count(None, unknown=True)
    # "3 (2 adults, 1 child)", "20人被困": the first number, said to be an estimate
    n = int(first.group())
    return Count(n, n, n, True) if n <= MAX_COUNT else Count(None, implausible=True)
