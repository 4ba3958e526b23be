"""Exports: standard exchange formats (EIDO, Open511, WZDx, CAP, GeoJSON, GeoPackage, CSV)."""

from incidents.exports.core import (
    EXPORT_KINDS,
    LAYERS,
    cap_notice,
    csv_layer,
    eido_documents,
    geojson_layer,
    open511_events,
    safe_cell,
    write_gpkg,
    wzdx_feed,
)

__all__ = [
    "EXPORT_KINDS",
    "LAYERS",
    "cap_notice",
    "csv_layer",
    "eido_documents",
    "geojson_layer",
    "open511_events",
    "safe_cell",
    "write_gpkg",
    "wzdx_feed",
]
