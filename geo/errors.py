"""Errors raised by the geo layer.

GeoError
├── CoordinateError(GeoError, ValueError)   a coordinate out of range or in an unknown datum
├── StakeError(GeoError, ValueError)        a kilometre post that cannot be parsed or is off the road
├── UnknownRoadError(GeoError, KeyError)    a road code the network does not have
├── UnknownPlaceError(GeoError, KeyError)   a place name or administrative code not in the gazetteer
├── OutsideRegionError(GeoError, ValueError) a point outside the configured region
├── NetworkFileError(GeoError, ValueError)  a road file lacking required fields or with broken geometry
├── UnreachableError(GeoError, ValueError)  no route between two points
├── UnknownVehicleClassError(GeoError, ValueError)  a vehicle class with no speeds
├── UnknownConditionError(GeoError, ValueError)     a road condition with no speed factor
└── ParameterError(GeoError, ValueError)    an argument outside its domain (segment length, weights)
"""

from __future__ import annotations

__all__ = [
    "CoordinateError",
    "GeoError",
    "NetworkFileError",
    "OutsideRegionError",
    "ParameterError",
    "StakeError",
    "UnknownConditionError",
    "UnknownPlaceError",
    "UnknownRoadError",
    "UnknownVehicleClassError",
    "UnreachableError",
]


class GeoError(Exception):
    """Base class of every geo-layer error."""


class CoordinateError(GeoError, ValueError):
    """A coordinate is out of range, (0, 0), or in an unknown datum."""


class StakeError(GeoError, ValueError):
    """A kilometre post that cannot be parsed, or lies outside the road's range."""


class UnknownRoadError(GeoError, KeyError):
    """A road code that the network does not contain."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        """Return the message."""
        return str(self.args[0]) if self.args else ""


class UnknownPlaceError(GeoError, KeyError):
    """A place name or administrative code that the gazetteer does not know."""

    def __str__(self) -> str:
        """Return the message."""
        return str(self.args[0]) if self.args else ""


class OutsideRegionError(GeoError, ValueError):
    """A point outside the configured region."""


class NetworkFileError(GeoError, ValueError):
    """A road-network file lacks required fields or has broken geometry."""


class UnreachableError(GeoError, ValueError):
    """No route exists between two points on the network."""


class UnknownVehicleClassError(GeoError, ValueError):
    """A vehicle class the speed tables do not know."""


class UnknownConditionError(GeoError, ValueError):
    """A road condition the speed-factor table does not know."""


class ParameterError(GeoError, ValueError):
    """An argument outside its domain (a non-positive segment length, unknown weights kind...)."""
