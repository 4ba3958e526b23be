"""The winterops domain model (SQLAlchemy 2 declarative), as in the design's glossary.

Geometry columns use :class:`GeometryType`: PostGIS ``geometry(…, 4326)`` with a spatial index
on PostgreSQL, WKB bytes on SQLite (no SpatiaLite needed). Python values are shapely geometries
in WGS84 lon/lat. Every time is a timezone-aware UTC ``datetime``. The vocabularies (string
enums) live in :mod:`incidents.store.enums`, the base and column types in
:mod:`incidents.store.models_base`, users and sessions in :mod:`incidents.store.models_people`
and the audit log with its hash chain in :mod:`incidents.store.models_audit`; every name is
importable from here too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from incidents.store.enums import (
    AlertState,
    AssignmentState,
    Condition,
    HazardState,
    IncidentKind,
    IncidentStatus,
    ReportKind,
    Role,
    TaskKind,
    TaskStatus,
    UnitStatus,
    VehicleClass,
)
from incidents.store.models_audit import AuditEvent, AuditLink
from incidents.store.models_base import Base, GeometryType, UTCDateTime, utcnow
from incidents.store.models_console import OverdueMark
from incidents.store.models_people import PasswordHistory, User, UserSession

__all__ = [
    "Alert",
    "AlertState",
    "Assignment",
    "AssignmentState",
    "AuditEvent",
    "AuditLink",
    "Base",
    "ChangeCounter",
    "Condition",
    "DutyPoint",
    "FeedStatus",
    "GeometryType",
    "Hazard",
    "HazardState",
    "Incident",
    "OverdueMark",
    "PasswordHistory",
    "Place",
    "IncidentKind",
    "IncidentStatus",
    "Quarantine",
    "RawPayload",
    "RegionHistory",
    "RegionImport",
    "Report",
    "ReportKind",
    "RoadChief",
    "RoadSection",
    "Role",
    "Segment",
    "SegmentCondition",
    "Setting",
    "SimulationRun",
    "Task",
    "TaskKind",
    "TaskStatus",
    "UTCDateTime",
    "Unit",
    "UnitStatus",
    "User",
    "UserSession",
    "VehicleClass",
    "WorkerLease",
    "utcnow",
]


# --------------------------------------------------------------------------------------------
# Ingested observations
# --------------------------------------------------------------------------------------------


class RawPayload(Base):
    """The exact bytes of one fetch, recorded before parsing (content kept on disk by sha256)."""

    __tablename__ = "raw_payloads"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    feed: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)


class Report(Base):
    """One immutable observation from one source; never edited after insert."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("kind", "natural_key", name="uq_reports_natural_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    natural_key: Mapped[str] = mapped_column(String(512))
    source: Mapped[str] = mapped_column(Text)
    raw_sha256: Mapped[str | None] = mapped_column(String(64))
    observed_at: Mapped[datetime] = mapped_column(index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    geometry: Mapped[BaseGeometry | None] = mapped_column(GeometryType())
    # type of observation: black_ice, stranded_vehicle, WEATHERHAZARD, call, ...
    subtype: Mapped[str | None] = mapped_column(String(64))
    confidence: Mapped[float | None] = mapped_column(Float)
    road_code: Mapped[str | None] = mapped_column(String(16))
    km: Mapped[float | None] = mapped_column(Float)
    segment_id: Mapped[str | None] = mapped_column(String(64), index=True)
    off_road_reason: Mapped[str | None] = mapped_column(Text)
    flags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Quarantine(Base):
    """A record that could not be used, with a reason a person can read."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(primary_key=True)
    feed: Mapped[str] = mapped_column(String(32), index=True)
    source: Mapped[str] = mapped_column(Text)
    record: Mapped[str] = mapped_column(Text)  # the record's text or its position in the payload
    reason: Mapped[str] = mapped_column(Text)
    raw_sha256: Mapped[str | None] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)  # re-ingest adds nothing
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Alert(Base):
    """A weather warning with an area, severity, onset, expiry and a state."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("sender", "identifier", "sent", name="uq_alerts_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    sender: Mapped[str] = mapped_column(String(255))
    identifier: Mapped[str] = mapped_column(String(255))
    sent: Mapped[datetime]
    msg_type: Mapped[str] = mapped_column(String(16))  # Alert / Update / Cancel
    status: Mapped[str] = mapped_column(String(16))  # Actual / Test / Exercise / Draft / System
    state: Mapped[str] = mapped_column(String(16), default=AlertState.ACTUAL.value, index=True)
    references: Mapped[list[Any]] = mapped_column(JSON, default=list)
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))
    event: Mapped[str | None] = mapped_column(Text)
    hazard_class: Mapped[str | None] = mapped_column(String(32))  # blizzard, cold_wave, ...
    severity: Mapped[str | None] = mapped_column(String(16))  # Extreme/Severe/Moderate/Minor
    colour: Mapped[str | None] = mapped_column(String(8))  # blue/yellow/orange/red
    onset: Mapped[datetime | None]
    expires: Mapped[datetime | None]
    headline: Mapped[str | None] = mapped_column(Text)  # preferred language (zh-CN, then en)
    description: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    infos: Mapped[list[Any]] = mapped_column(JSON, default=list)  # every info block kept
    temperature_c: Mapped[float | None] = mapped_column(Float)
    wind_kmh: Mapped[float | None] = mapped_column(Float)
    area: Mapped[BaseGeometry | None] = mapped_column(GeometryType())
    area_codes: Mapped[list[Any]] = mapped_column(JSON, default=list)


# --------------------------------------------------------------------------------------------
# Road network, conditions, hazards
# --------------------------------------------------------------------------------------------


class RoadChief(Base):
    """The official responsible for a maintenance section (路长制)."""

    __tablename__ = "road_chiefs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str | None] = mapped_column(String(128))
    title: Mapped[str | None] = mapped_column(String(128))
    phone: Mapped[str | None] = mapped_column(String(32))
    section_id: Mapped[str | None] = mapped_column(String(64), index=True)


class Segment(Base):
    """A ~1 km road segment: the unit that conditions attach to."""

    __tablename__ = "segments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # e.g. "G331:1520"
    road_code: Mapped[str] = mapped_column(String(16), index=True)
    road_name: Mapped[str | None] = mapped_column(String(128))
    road_class: Mapped[str | None] = mapped_column(String(16))
    km_from: Mapped[float] = mapped_column(Float)
    km_to: Mapped[float] = mapped_column(Float)
    section_id: Mapped[str | None] = mapped_column(String(64))
    admin_code: Mapped[str | None] = mapped_column(String(12))
    geometry: Mapped[BaseGeometry] = mapped_column(GeometryType("LINESTRING"))


class SegmentCondition(Base):
    """One condition state of a segment over a time span (history kept, never overwritten)."""

    __tablename__ = "segment_conditions"
    __table_args__ = (Index("ix_segcond_segment_time", "segment_id", "valid_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    segment_id: Mapped[str] = mapped_column(String(64))
    condition: Mapped[str] = mapped_column(String(32))
    observed: Mapped[bool] = mapped_column(Boolean)  # False = forecast (from an alert)
    confidence: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(32))
    report_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    valid_from: Mapped[datetime]
    valid_to: Mapped[datetime | None]  # None = current
    cleared_by: Mapped[str | None] = mapped_column(String(128))


class Hazard(Base):
    """A condition on a road segment that someone has to clear."""

    __tablename__ = "hazards"

    id: Mapped[int] = mapped_column(primary_key=True)
    segment_id: Mapped[str | None] = mapped_column(String(64), index=True)
    condition: Mapped[str] = mapped_column(String(32))
    observed: Mapped[bool] = mapped_column(Boolean, default=True)
    confidence: Mapped[float] = mapped_column(Float, default=1.0)
    state: Mapped[str] = mapped_column(String(16), default=HazardState.OPEN.value, index=True)
    geometry: Mapped[BaseGeometry | None] = mapped_column(GeometryType())
    road_code: Mapped[str | None] = mapped_column(String(16))
    km: Mapped[float | None] = mapped_column(Float)
    section_id: Mapped[str | None] = mapped_column(String(64))
    road_chief_id: Mapped[str | None] = mapped_column(ForeignKey("road_chiefs.id"))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    handed_at: Mapped[datetime | None]
    cleared_at: Mapped[datetime | None]
    cleared_by: Mapped[str | None] = mapped_column(String(128))
    report_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)


# --------------------------------------------------------------------------------------------
# Incidents, tasks, units, assignments
# --------------------------------------------------------------------------------------------


class Incident(Base):
    """A situation needing a response; can say which reports it came from."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=IncidentStatus.OPEN.value, index=True)
    title: Mapped[str | None] = mapped_column(Text)
    geometry: Mapped[BaseGeometry | None] = mapped_column(GeometryType("POINT"))
    road_code: Mapped[str | None] = mapped_column(String(16))
    km: Mapped[float | None] = mapped_column(Float)
    segment_id: Mapped[str | None] = mapped_column(String(64))
    admin_code: Mapped[str | None] = mapped_column(String(12))
    vehicles: Mapped[int] = mapped_column(Integer, default=0)
    people: Mapped[int] = mapped_column(Integer, default=0)
    vulnerable: Mapped[int] = mapped_column(Integer, default=0)
    vehicle_class: Mapped[str | None] = mapped_column(String(32))
    needs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    fuel_low: Mapped[bool] = mapped_column(Boolean, default=False)
    first_report_at: Mapped[datetime]
    last_report_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    priority: Mapped[float] = mapped_column(Float, default=0.0)
    report_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    merge_log: Mapped[list[Any]] = mapped_column(JSON, default=list)  # why reports were merged
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    notes: Mapped[str | None] = mapped_column(Text)  # from outside: escape before display
    version: Mapped[int] = mapped_column(Integer, default=1)

    tasks: Mapped[list[Task]] = relationship(back_populates="incident")


class Task(Base):
    """Work an incident or hotspot needs, requiring one capability."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    hazard_id: Mapped[int | None] = mapped_column(ForeignKey("hazards.id"))
    kind: Mapped[str] = mapped_column(String(32))
    capability: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=TaskStatus.OPEN.value, index=True)
    priority: Mapped[float] = mapped_column(Float, default=0.0)
    geometry: Mapped[BaseGeometry | None] = mapped_column(GeometryType("POINT"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    incident: Mapped[Incident | None] = relationship(back_populates="tasks")


class Unit(Base):
    """A patrol car, plow, grit spreader, heavy tow, rescue vehicle or ambulance."""

    __tablename__ = "units"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # e.g. "XL-ABG-PC1"
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str | None] = mapped_column(String(128))
    vehicle_class: Mapped[str] = mapped_column(String(32))
    capabilities: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default=UnitStatus.AVAILABLE.value)
    brigade: Mapped[str | None] = mapped_column(String(128))
    home_base: Mapped[str | None] = mapped_column(String(128))
    geometry: Mapped[BaseGeometry | None] = mapped_column(GeometryType("POINT"))
    position_at: Mapped[datetime | None]
    # where the position came from: base / avl / tablet / on_scene (None = never set)
    position_source: Mapped[str | None] = mapped_column(String(16))
    crew_hours: Mapped[float] = mapped_column(Float, default=0.0)
    crew_hour_limit: Mapped[float] = mapped_column(Float, default=12.0)
    fuel: Mapped[float] = mapped_column(Float, default=1.0)  # 0..1
    version: Mapped[int] = mapped_column(Integer, default=1)
    crew: Mapped[int | None] = mapped_column(Integer)  # crew size from the roster (issue 11)


class Assignment(Base):
    """A unit on a task, with a timestamp for each lifecycle stage."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id"), index=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default=AssignmentState.RECOMMENDED.value)
    version: Mapped[int] = mapped_column(Integer, default=1)
    eta_s: Mapped[float | None] = mapped_column(Float)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recommended_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    en_route_at: Mapped[datetime | None]
    on_scene_at: Mapped[datetime | None]
    cleared_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    reassigned_at: Mapped[datetime | None]
    confirmed_by: Mapped[str | None] = mapped_column(String(64))
    route: Mapped[BaseGeometry | None] = mapped_column(GeometryType("LINESTRING"))


class DutyPoint(Base):
    """A staging place on a key road section, a duty station, or a warming point."""

    __tablename__ = "duty_points"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # duty_point / duty_station / warming_point
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str | None] = mapped_column(String(128))
    road_code: Mapped[str | None] = mapped_column(String(16))
    km: Mapped[float | None] = mapped_column(Float)
    admin_code: Mapped[str | None] = mapped_column(String(12))
    hours: Mapped[str | None] = mapped_column(String(32))
    geometry: Mapped[BaseGeometry] = mapped_column(GeometryType("POINT"))
    capacity: Mapped[int | None] = mapped_column(Integer)  # warming points: people (issue 11)


# --------------------------------------------------------------------------------------------
# Feeds, settings, live operations (people and audit: models_people, models_audit)
# --------------------------------------------------------------------------------------------


class FeedStatus(Base):
    """Health of one configured feed, for the feeds page and the stale banner."""

    __tablename__ = "feed_status"

    feed: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(Text)
    interval_s: Mapped[float] = mapped_column(Float, default=300.0)
    last_attempt: Mapped[datetime | None]
    last_success: Mapped[datetime | None]
    last_change: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_sha256: Mapped[str | None] = mapped_column(String(64))
    etag: Mapped[str | None] = mapped_column(String(255))
    last_modified: Mapped[str | None] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # zones, mapping, ...


class SimulationRun(Base):
    """Stored result of a storm replay, for the review page."""

    __tablename__ = "simulation_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    scenario: Mapped[str] = mapped_column(String(128))
    policy: Mapped[str] = mapped_column(String(32))
    ran_at: Mapped[datetime] = mapped_column(default=utcnow)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    series: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Setting(Base):
    """Key/value settings an admin changes in the dashboard (tile URL, feed list, ...)."""

    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ChangeCounter(Base):
    """One counter per topic, bumped in the transaction that changes it (live refresh)."""

    __tablename__ = "change_counters"

    topic: Mapped[str] = mapped_column(String(32), primary_key=True)  # incidents, units, ...
    version: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkerLease(Base):
    """A named lease a worker holds while it fuses (two workers never double-fuse)."""

    __tablename__ = "worker_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # where it left off


# --------------------------------------------------------------------------------------------
# Region import (issue 11)
# --------------------------------------------------------------------------------------------


class RegionImport(Base):
    """One ``winterops region import``: who, when, which files (sha256) and what changed."""

    __tablename__ = "region_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))  # of every file's sha256, in name order
    files: Mapped[list[Any]] = mapped_column(JSON, default=list)  # name, kind, sha256, rows
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # table -> added, ...


class RegionHistory(Base):
    """A region row as it was before an import changed it (superseded values are kept)."""

    __tablename__ = "region_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("region_imports.id"), index=True)
    table_name: Mapped[str] = mapped_column(String(32))
    row_id: Mapped[str] = mapped_column(String(64), index=True)
    change: Mapped[str] = mapped_column(String(16))  # updated / absent
    before: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Place(Base):
    """A gazetteer entry: province, league, banner (admin codes) or township-level place."""

    __tablename__ = "places"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # admin code or town key
    level: Mapped[str] = mapped_column(String(32))  # province/league/banner/township/town/...
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str | None] = mapped_column(String(128))
    admin_code: Mapped[str | None] = mapped_column(String(12), index=True)
    parent_code: Mapped[str | None] = mapped_column(String(12))
    geometry: Mapped[BaseGeometry | None] = mapped_column(GeometryType("POINT"))  # seat


class RoadSection(Base):
    """A maintenance section of a road and the road chief who answers for it."""

    __tablename__ = "road_sections"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    road_code: Mapped[str] = mapped_column(String(16))
    km_from: Mapped[float] = mapped_column(Float)
    km_to: Mapped[float] = mapped_column(Float)
    name: Mapped[str | None] = mapped_column(String(128))
    name_en: Mapped[str | None] = mapped_column(String(128))
    maintainer: Mapped[str | None] = mapped_column(String(255))
    road_chief_id: Mapped[str | None] = mapped_column(String(64))
