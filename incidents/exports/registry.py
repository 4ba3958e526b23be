"""Export kind -> writer: a new format is one module and one line in :data:`WRITERS`.

Every writer renders the whole export as bytes (UTF-8 JSON, XML or CSV; a GeoPackage file's
bytes), so a caller can write it to a file or to standard output alike.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from incidents.errors import UnknownExportError
from incidents.exports.cap import cap_notice
from incidents.exports.csv import csv_layer
from incidents.exports.eido import eido_documents
from incidents.exports.geojson import geojson_layer
from incidents.exports.gpkg import write_gpkg
from incidents.exports.open511 import open511_events
from incidents.exports.wzdx import wzdx_feed

__all__ = ["EXPORT_KINDS", "WRITERS", "ExportWriter", "render", "writer_for"]


@dataclass(frozen=True)
class ExportWriter:
    """One export format.

    Attributes
    ----------
    kind
        The name users type (``winterops export KIND``).
    suffix
        The usual file suffix.
    media_type
        The MIME type of the rendered bytes.
    layered
        Whether the format exports one layer (``--layer``) rather than everything.
    render
        ``render(session, layer) -> bytes``.
    """

    kind: str
    suffix: str
    media_type: str
    layered: bool
    render: Callable[[Session, str], bytes]


def _json(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")


def _gpkg_bytes(session: Session, _layer: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="winterops-gpkg-") as tmp:
        path = Path(tmp) / "export.gpkg"
        write_gpkg(session, path)
        return path.read_bytes()


WRITERS: dict[str, ExportWriter] = {
    w.kind: w
    for w in (
        ExportWriter(
            "eido", ".json", "application/json", False, lambda s, _: _json(eido_documents(s))
        ),
        ExportWriter(
            "open511", ".json", "application/json", False, lambda s, _: _json(open511_events(s))
        ),
        ExportWriter(
            "wzdx", ".geojson", "application/geo+json", False, lambda s, _: _json(wzdx_feed(s))
        ),
        ExportWriter("cap", ".xml", "application/cap+xml", False, lambda s, _: cap_notice(s)),
        ExportWriter(
            "geojson",
            ".geojson",
            "application/geo+json",
            True,
            lambda s, layer: _json(geojson_layer(s, layer)),
        ),
        ExportWriter("gpkg", ".gpkg", "application/geopackage+sqlite3", False, _gpkg_bytes),
        ExportWriter(
            "csv", ".csv", "text/csv", True, lambda s, layer: csv_layer(s, layer).encode("utf-8")
        ),
    )
}
EXPORT_KINDS = tuple(WRITERS)


def writer_for(kind: str) -> ExportWriter:
    """Return the writer of an export kind.

    Raises
    ------
    UnknownExportError
        No writer is registered for `kind`.
    """
    try:
        return WRITERS[kind]
    except KeyError:
        msg = f"unknown export {kind!r}; expected one of {', '.join(EXPORT_KINDS)}"
        raise UnknownExportError(msg) from None


def render(session: Session, kind: str, layer: str = "incidents") -> bytes:
    """Render export `kind` (one of :data:`EXPORT_KINDS`) as bytes; `layer` for layered kinds."""
    return writer_for(kind).render(session, layer)
