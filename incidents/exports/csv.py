"""One layer as CSV (RFC 4180), safe against formula injection.

A text cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return is prefixed with
``'``. Records end with CRLF, so a cell holding a carriage return or a line feed is quoted and
cannot start a new row (whose first cell would escape the prefix).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from incidents.exports.layers import layer_frame

__all__ = ['CSV_DANGEROUS', 'safe_cell', 'csv_layer']


CSV_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Neutralise a text cell a spreadsheet would run as a formula (prefix ``'``)."""
    if isinstance(value, str) and value.startswith(CSV_DANGEROUS):
        return "'" + value
    return value


def _plain(v: Any) -> Any:
    if isinstance(v, list | dict):
        return json.dumps(v, ensure_ascii=False)
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return ""
    return v


def csv_layer(session: Session, layer: str = "incidents") -> str:
    """One layer as CSV (geometry as WKT), safe against formula injection.

    Raises
    ------
    UnknownLayerError
        `layer` is not one of :data:`incidents.exports.layers.LAYERS`.
    """
    gdf = layer_frame(session, layer)
    buf = io.StringIO()
    cols = [c for c in gdf.columns if c != "geometry"]
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([*cols, "wkt"])
    for row in gdf.itertuples(index=False):
        d = row._asdict()
        geom = d.get("geometry")
        cells = [_plain(d[c]) for c in cols]
        w.writerow([safe_cell(v) for v in cells] + [geom.wkt if geom is not None else ""])
    return buf.getvalue()
