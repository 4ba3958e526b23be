"""The read model: every table the dashboard and the exports show, as (Geo)DataFrames.

Each function takes an open session (reads only) and returns a frame; nothing here writes.
Point layers come back as GeoDataFrames in EPSG:4326; :func:`points_xy` adds ``lon``/``lat``
columns for tables. The dashboard wraps these in caches (``dashboard/data.py``); it reaches
the database only through :func:`open_engine`, :func:`write_sessions` and
:func:`read_sessions` (it never imports ``incidents.store.models`` or ``.engine``).

One module per concern, every public name re-exported here (``queries.units(...)``):

* :mod:`~incidents.queries.core`: the engine door, the operational :func:`now`, frame helpers;
* :mod:`~incidents.queries.work`: incidents, tasks, units, assignments, recommendations,
  staging, coverage, overdue;
* :mod:`~incidents.queries.map_layers`: hazards, alerts, hazardous segments, hotspots, routes,
  incident popups;
* :mod:`~incidents.queries.drones`: drone flights and the roads they patrolled;
* :mod:`~incidents.queries.admin`: reports, feeds, quarantine, users, audit, workers, replays;
* :mod:`~incidents.queries.exports`: the reads of :mod:`incidents.exports`;
* :mod:`~incidents.queries.view`: the features inside one map view, at its zoom's detail
  (import it as ``incidents.queries.view``; not re-exported).

A new read goes in the module of its concern (or a new module here), with its name added to
the module's ``__all__`` and re-exported below.
"""

from incidents.queries.admin import (
    audit_tail,
    feed_config,
    feed_status,
    quarantine,
    reports,
    simulation_runs,
    stale_feeds,
    users,
    workers,
)
from incidents.queries.core import (
    ACTIVE_STATES,
    CONDITION_ORDER,
    now,
    open_engine,
    points_xy,
    read_sessions,
    write_sessions,
)
from incidents.queries.drones import (
    DRONE_COVERAGE_COLUMNS,
    DRONE_FLIGHT_COLUMNS,
    drone_coverage,
    drone_flights,
)
from incidents.queries.exports import (
    EXPORT_TABLES,
    export_table,
    incident_assignments,
    incidents_listed,
    reports_listed,
)
from incidents.queries.map_layers import (
    ROUTE_COLUMNS,
    ROUTE_STATES,
    alerts,
    caller_notes,
    hazards_by_age,
    hazards_open,
    hotspots,
    incidents_with_notes,
    routes,
    routes_to_tasks,
    segments_hazardous,
)
from incidents.queries.work import (
    REC_COLUMNS,
    assignments,
    coverage_share,
    duty_points,
    incidents_open,
    overdue,
    position_states,
    recommendations,
    recommended,
    staging,
    tasks_open,
    units,
)

__all__ = [
    "ACTIVE_STATES",
    "CONDITION_ORDER",
    "DRONE_COVERAGE_COLUMNS",
    "DRONE_FLIGHT_COLUMNS",
    "EXPORT_TABLES",
    "REC_COLUMNS",
    "ROUTE_COLUMNS",
    "ROUTE_STATES",
    "alerts",
    "assignments",
    "audit_tail",
    "coverage_share",
    "drone_coverage",
    "drone_flights",
    "duty_points",
    "export_table",
    "feed_config",
    "feed_status",
    "hazards_by_age",
    "hazards_open",
    "hotspots",
    "incident_assignments",
    "incidents_listed",
    "incidents_open",
    "caller_notes",
    "incidents_with_notes",
    "now",
    "open_engine",
    "overdue",
    "points_xy",
    "position_states",
    "quarantine",
    "read_sessions",
    "recommendations",
    "recommended",
    "reports",
    "reports_listed",
    "routes",
    "routes_to_tasks",
    "segments_hazardous",
    "simulation_runs",
    "staging",
    "stale_feeds",
    "tasks_open",
    "units",
    "users",
    "workers",
    "write_sessions",
]
