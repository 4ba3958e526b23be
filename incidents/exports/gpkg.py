"""Every layer into one GeoPackage (pyogrio)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from incidents.exports.layers import layers

__all__ = ['write_gpkg']


def write_gpkg(session: Session, path: Path) -> dict[str, int]:
    """Write every layer into one GeoPackage; returns rows per layer."""
    counts = {}
    path.unlink(missing_ok=True)
    for name, gdf in layers(session).items():
        counts[name] = len(gdf)
        if gdf.empty:
            continue
        gdf.to_file(path, layer=name, driver="GPKG", engine="pyogrio")
    return counts
