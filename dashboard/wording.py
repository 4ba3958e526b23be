"""Stored codes and English facts worded in the interface language, at display time.

The database keeps an incident's title and a hotspot's reason as English text made at fusion
time. Pages do not show that text: they derive the wording from the facts the row keeps (kind
code, road, kilometre post, counts; a hotspot's main kind, stretch, banner, reports and z) with
:func:`incidents.fusion.labels.title_parts` and :func:`~incidents.fusion.labels.hotspot_reason_parts`
and the ``look.*`` keys of the catalogue. Codes (capabilities, audit actions) become words the
same way. No Streamlit here: the map layers may use these too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from dashboard.i18n import t
from geo.stakes import format_stake
from incidents.fusion.labels import hotspot_reason_parts, title_parts

__all__ = [
    "admin_names",
    "audit_action",
    "code_list",
    "hotspot_reason",
    "hotspot_reasons",
    "incident_title",
    "incident_titles",
    "kind_word",
    "reason_words",
    "stake_text",
    "zoned",
]

# the English recommendation reason opens with "UNIT (vehicle_class, capability) reaches ..."
_REASON_CODES = re.compile(r"^(\S+) \(([a-z_]+), ([a-z_]+)\)")


def kind_word(code: str, lang: str) -> str:
    """Return an incident kind or a road condition code as a word (the code when unknown)."""
    return t(f"kind.{code}", lang, default=t(f"condition.{code}", lang, default=code))


def _get(row: Mapping[str, Any] | Any, name: str) -> Any:
    if isinstance(row, Mapping):
        return row.get(name)
    return getattr(row, name, None)


def incident_title(row: Mapping[str, Any] | Any, lang: str, *, counts: bool = True) -> str:
    """Word an incident's title in `lang` from its kind, road, km post, vehicles and people.

    Parameters
    ----------
    row
        A mapping or a row object with ``kind``, ``road_code``, ``km`` and optionally
        ``vehicles`` and ``people``.
    lang
        "zh" or "en".
    counts
        Whether to add the vehicle and people counts (a table with its own columns leaves them).

    Returns
    -------
    str
        E.g. "车辆被困，G331 K1520+300（3 辆车、12 人）" or
        "stranded on G331 K1520+300 (3 vehicles, 12 people)".
    """
    parts = title_parts(
        _get(row, "kind"), _get(row, "road_code"), _get(row, "km"),
        _get(row, "vehicles"), _get(row, "people"),
    )
    kind = kind_word(str(parts["kind"]), lang)
    title = kind
    if parts["road"] is not None and isinstance(parts["km"], float):
        title = t("look.title.at", lang, kind=kind, road=parts["road"],
                  stake=format_stake(parts["km"]))
    said = []
    vehicles, people = int(str(parts["vehicles"])), int(str(parts["people"]))
    if vehicles and counts:
        key = "look.title.vehicle" if vehicles == 1 else "look.title.vehicles"
        said.append(t(key, lang, n=vehicles))
    if people and counts:
        said.append(t("look.title.people", lang, n=people))
    if said:
        counts_text = t("look.list_sep", lang).join(said)
        title = t("look.title.counts", lang, title=title, counts=counts_text)
    return title[:1].upper() + title[1:] if lang == "en" else title


def incident_titles(frame: pd.DataFrame, lang: str, *, counts: bool = True) -> pd.Series:
    """Return :func:`incident_title` of every row of `frame` (same index)."""
    rows = frame.to_dict("records")
    return pd.Series(
        [incident_title(r, lang, counts=counts) for r in rows], index=frame.index, dtype=object
    )


def admin_names(places: pd.DataFrame) -> dict[str, str]:
    """Return English -> Chinese banner names from a gazetteer's ``places`` (``name_en``, ``name_zh``).

    A hotspot row names its banner in English; give this to :func:`hotspot_reason` for Chinese.
    """
    if not {"name_en", "name_zh"} <= set(places.columns):
        return {}
    pairs = places[["name_en", "name_zh"]].dropna()
    return {str(en): str(zh) for en, zh in zip(pairs["name_en"], pairs["name_zh"], strict=True)}


def hotspot_reason(
    row: Mapping[str, Any] | Any, lang: str, names: Mapping[str, str] | None = None
) -> str:
    """Word a hotspot's reason in `lang` from its kind, stretch, banner, reports and z.

    `names` (:func:`admin_names`) turns the row's English banner name into Chinese for "zh".
    """
    parts = hotspot_reason_parts(
        _get(row, "condition"), _get(row, "road"), _get(row, "admin_name"),
        _get(row, "report_ids"), _get(row, "z"),
    )
    code = str(parts["kind"])
    kind = t("look.hotspot.hazard", lang) if code == "hazard" else kind_word(code, lang)
    place = parts["admin"]
    if place and lang == "zh" and names:
        place = names.get(str(place), place)
    admin = t("look.hotspot.admin", lang, admin=place) if place else ""
    z = parts["z"]
    return t(
        "look.hotspot.reason",
        lang,
        kind=kind,
        stretch=parts["stretch"],
        admin=admin,
        n=parts["reports"],
        z="—" if not isinstance(z, float) or z != z else f"{z:.1f}",
    )


def hotspot_reasons(
    frame: pd.DataFrame, lang: str, names: Mapping[str, str] | None = None
) -> pd.Series:
    """Return :func:`hotspot_reason` of every row of `frame` (same index)."""
    rows = frame.to_dict("records")
    return pd.Series(
        [hotspot_reason(r, lang, names) for r in rows], index=frame.index, dtype=object
    )


def code_list(codes: Iterable[object] | None, lang: str, prefix: str = "look.cap") -> str:
    """Word a list of codes (e.g. a unit's capabilities) joined in `lang`; unknown codes stay."""
    if codes is None or isinstance(codes, str | bytes) or (
        not isinstance(codes, Iterable)
    ):
        return "" if codes is None else str(codes)
    words = [t(f"{prefix}.{c}", lang, default=str(c)) for c in codes if c not in (None, "")]
    return t("look.list_sep", lang).join(words)


def audit_action(code: object, lang: str) -> str:
    """Word an audit event's action code (``assignment.confirm``...); unknown codes stay."""
    plain = str(code or "")
    return t(f"look.action.{code}", lang, default=t(f"action.{code}", lang, default=plain))


def stake_text(road: object, km: object) -> str:
    """Return ``"G331 K1520+300"`` from a road code and a kilometre; missing parts left out.

    A missing road or km (None or NaN, as a frame gives them) is left out, never shown as "nan".
    """
    road_s = "" if road is None or (isinstance(road, float) and road != road) else str(road)
    try:
        k = float(km)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return road_s
    if k != k or k < 0 or k == float("inf"):
        return road_s
    return f"{road_s} {format_stake(k)}".strip()


def zoned(header: str, lang: str) -> str:
    """Return a time column's header with its zone (times are shown in Asia/Shanghai)."""
    return t("look.zoned", lang, header=header)


def reason_words(reason: str, lang: str) -> str:
    """Word the codes a recommendation's English reason opens with ("(patrol_car, traffic_control)").

    The Chinese reason is already worded; other text is left as it is.
    """
    def words(match: re.Match[str]) -> str:
        vehicle = t(f"vehicle_class.{match.group(2)}", lang, default=match.group(2))
        capability = t(f"look.cap.{match.group(3)}", lang, default=match.group(3))
        return f"{match.group(1)} ({vehicle}, {capability})"

    return _REASON_CODES.sub(words, reason, count=1)
