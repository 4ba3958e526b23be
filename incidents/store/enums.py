"""The vocabularies of the domain model (string enums stored as plain text columns)."""

from __future__ import annotations

import enum

__all__ = [
    "ReportKind",
    "AlertState",
    "Condition",
    "HazardState",
    "IncidentKind",
    "IncidentStatus",
    "TaskKind",
    "TaskStatus",
    "VehicleClass",
    "UnitStatus",
    "AssignmentState",
    "Role",
]


class ReportKind(enum.StrEnum):
    """What kind of observation a report is."""

    ALERT = "alert"
    DRONE_DETECTION = "drone_detection"
    DRONE_TRACK = "drone_track"
    CALL = "call"
    WAZE = "waze"
    PATROL = "patrol"
    AVL = "avl"  # a unit position fix (vehicle tracker or patrol tablet)


class AlertState(enum.StrEnum):
    """Lifecycle of a weather alert."""

    ACTUAL = "actual"
    UPDATED = "updated"  # superseded by a later Update
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    NOT_LIVE = "not_live"  # status Test / Exercise / Draft / System


class Condition(enum.StrEnum):
    """Road-segment condition states, worst first."""

    CLOSED = "closed"
    BLACK_ICE = "black_ice"
    DRIFTING_SNOW = "drifting_snow"
    SNOW_PACKED = "snow_packed"
    POOR_VISIBILITY = "poor_visibility"
    CLEAR = "clear"


class HazardState(enum.StrEnum):
    """Rolling-clearance state of a hazard (滚动式清零)."""

    OPEN = "open"
    HANDED_OVER = "handed_over"  # given to the section's road chief
    CLEARED = "cleared"


class IncidentKind(enum.StrEnum):
    """What sort of situation an incident is."""

    STRANDED = "stranded"
    CRASH = "crash"
    VEHICLE_IN_DITCH = "vehicle_in_ditch"
    ROAD_BLOCKED = "road_blocked"


class IncidentStatus(enum.StrEnum):
    """Whether an incident still needs work."""

    OPEN = "open"
    RESOLVED = "resolved"
    MERGED = "merged"  # folded into another incident (merged_into_id)


class TaskKind(enum.StrEnum):
    """Work an incident or hotspot needs; each requires one capability."""

    RESCUE = "rescue"
    HEAVY_TOW = "heavy_tow"
    PLOW = "plow"
    GRIT = "grit"
    TRAFFIC_CONTROL = "traffic_control"
    MEDICAL = "medical"


class TaskStatus(enum.StrEnum):
    """Progress of a task."""

    OPEN = "open"
    ASSIGNED = "assigned"
    DONE = "done"
    CANCELLED = "cancelled"


class VehicleClass(enum.StrEnum):
    """Unit vehicle classes; each has its own speeds and condition factors in `geo`."""

    PATROL_CAR = "patrol_car"
    PLOW = "plow"
    GRIT_SPREADER = "grit_spreader"
    HEAVY_TOW = "heavy_tow"
    RESCUE = "rescue"
    AMBULANCE = "ambulance"


class UnitStatus(enum.StrEnum):
    """Availability of a unit."""

    AVAILABLE = "available"
    ASSIGNED = "assigned"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    OUT_OF_SERVICE = "out_of_service"
    OFF_SHIFT = "off_shift"


class AssignmentState(enum.StrEnum):
    """Assignment lifecycle; legal moves are in `incidents.service.lifecycle.TRANSITIONS`."""

    RECOMMENDED = "recommended"
    CONFIRMED = "confirmed"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    CLEARED = "cleared"
    CANCELLED = "cancelled"
    REASSIGNED = "reassigned"


class Role(enum.StrEnum):
    """User roles."""

    DISPATCHER = "dispatcher"
    PATROL_LEAD = "patrol_lead"
    ADMIN = "admin"
    WALL = "wall"  # read-only wall display: watches, never acts
