"""Zone files: geometries for alert geocode schemes other than Chinese admin codes.

A zone file is a GeoJSON FeatureCollection (WGS84). Each feature names its zone by one of:

- ``zone``: ``"UGC:ORZ001"`` (scheme and code),
- ``scheme`` and ``code``: ``"SAME"`` and ``"041007"``,
- ``id`` alone (api.weather.gov zone files): taken as a UGC code.

The result maps ``"SCHEME:code"`` (scheme upper-case) to a shapely geometry, the form
:func:`ingest.cap.parse_cap` and :func:`ingest.nws.parse_nws` take as ``zones``.
"""

from __future__ import annotations

import json
from pathlib import Path

from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from ingest.errors import ConfigError


def load_zones(path: Path) -> dict[str, BaseGeometry]:
    """Read a zone file.

    Raises
    ------
    ConfigError
        Unreadable file, not a FeatureCollection, or a feature without a zone name or geometry.
    """
    try:
        doc = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (OSError, ValueError) as e:
        msg = f"zone file {path} cannot be read: {e}"
        raise ConfigError(msg) from e
    feats = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(feats, list):
        msg = f"zone file {path} is not a GeoJSON FeatureCollection"
        raise ConfigError(msg)
    zones: dict[str, BaseGeometry] = {}
    for i, f in enumerate(feats):
        props = f.get("properties") if isinstance(f, dict) else None
        props = props if isinstance(props, dict) else {}
        if props.get("zone"):
            key = str(props["zone"])
        elif props.get("scheme") and props.get("code"):
            key = f"{props['scheme']}:{props['code']}"
        elif props.get("id"):
            key = f"UGC:{props['id']}"
        else:
            msg = f"zone file {path}: feature #{i + 1} has no 'zone', 'scheme'+'code' or 'id'"
            raise ConfigError(msg)
        scheme, _, code = key.partition(":")
        try:
            geom = shape(f["geometry"])
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            msg = f"zone file {path}: feature #{i + 1} ({key}) has no usable geometry"
            raise ConfigError(msg) from e
        zones[f"{scheme.upper()}:{code}"] = geom
    return zones
