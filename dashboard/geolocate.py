"""A one-button Streamlit component: the browser's location (``navigator.geolocation``).

The component is a single local HTML file (``components/geolocate/index.html``, served by
Streamlit itself: nothing from outside) speaking Streamlit's component protocol. Browsers allow
geolocation only in a secure context (HTTPS, or http://localhost): on a plain-HTTP intranet the
button reports that it failed and the patrol lead taps the map instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit.components.v1 as components

__all__ = ["browser_location"]

_COMPONENT = components.declare_component(
    "wo_geolocate", path=str(Path(__file__).resolve().parent / "components" / "geolocate")
)


def browser_location(
    key: str, label: str, failed: str, waiting: str, dark: bool = False
) -> dict[str, float] | None:
    """Show the button; return ``{"lat", "lon", "accuracy_m", "at_ms"}`` once the browser answered.

    ``at_ms`` is the browser's clock when it answered, which tells one answer from the next.
    """
    value: Any = _COMPONENT(
        key=key, label=label, failed=failed, waiting=waiting, dark=dark, default=None
    )
    if not isinstance(value, dict):
        return None
    try:
        lat, lon = float(value["lat"]), float(value["lon"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    try:
        at_ms = float(value.get("at") or 0.0)
    except (TypeError, ValueError):
        at_ms = 0.0
    return {
        "lat": lat,
        "lon": lon,
        "accuracy_m": float(value.get("accuracy_m") or 0.0),
        "at_ms": at_ms,
    }
