"""Exports: standard exchange formats (EIDO, Open511, WZDx, CAP, GeoJSON, GeoPackage, CSV).

One module per format (:mod:`~incidents.exports.eido`, :mod:`~incidents.exports.open511`,
:mod:`~incidents.exports.wzdx`, :mod:`~incidents.exports.cap`, :mod:`~incidents.exports.geojson`,
:mod:`~incidents.exports.gpkg`, :mod:`~incidents.exports.csv`), the layers they share
(:mod:`~incidents.exports.layers`) and :mod:`~incidents.exports.registry` mapping an export kind
to its writer. Free text from outside (caller notes, reasons) is exported as data, never
interpreted.
"""

from incidents.exports.cap import cap_notice
from incidents.exports.csv import CSV_DANGEROUS, csv_layer, safe_cell
from incidents.exports.eido import eido_documents
from incidents.exports.geojson import geojson_layer
from incidents.exports.gpkg import write_gpkg
from incidents.exports.layers import LAYERS, layer_frame, layers
from incidents.exports.open511 import open511_events
from incidents.exports.registry import EXPORT_KINDS, WRITERS, ExportWriter, render, writer_for
from incidents.exports.wzdx import wzdx_feed

__all__ = [
    "CSV_DANGEROUS",
    "EXPORT_KINDS",
    "LAYERS",
    "WRITERS",
    "ExportWriter",
    "cap_notice",
    "csv_layer",
    "eido_documents",
    "geojson_layer",
    "layer_frame",
    "layers",
    "open511_events",
    "render",
    "safe_cell",
    "write_gpkg",
    "writer_for",
    "wzdx_feed",
]
