"""Every layer in one OGC GeoPackage file.

Written by GDAL (pyogrio): ``application_id`` 'GPKG', ``user_version`` of GeoPackage 1.2+, the
required tables ``gpkg_spatial_ref_sys``, ``gpkg_contents`` and ``gpkg_geometry_columns``; every
layer a feature table in EPSG:4326, an empty one too (checked in
``tests/test_export_schemas.py``).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from incidents.exports.layers import layers

__all__ = ['write_gpkg']


def write_gpkg(session: Session, path: Path) -> dict[str, int]:
    """Write every layer (empty ones included) into one GeoPackage; returns rows per layer."""
    counts = {}
    path.unlink(missing_ok=True)
    for name, gdf in layers(session).items():
        counts[name] = len(gdf)
        gdf.to_file(path, layer=name, driver="GPKG", engine="pyogrio")
    return counts
