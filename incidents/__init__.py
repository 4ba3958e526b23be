"""winterops incidents layer: everything between the feeds and the screen.

One subpackage per room, in the order the data flows:

* ``store``: the ORM model, engines, Alembic migrations, the sink for ingested frames, change
  counters, runtime settings, the region in the database;
* ``live``: reports -> incidents (store, then fuse what changed), feeds kept in the database,
  the long-running worker;
* ``fusion``: road conditions (hazards), incident merging, tasks, hotspots, coverage, priority;
* ``dispatch``: unit positions, travel times on the road graph, the solver, recommendations,
  staging;
* ``service``: what people do (each write role-checked and audited): lifecycle, actions,
  hazards, users and log-in sessions, roles, the audit log;
* ``queries``: the read model (GeoDataFrames) for the dashboard and the exports, one module per
  concern; ``console_reads`` and ``patrol_routes`` are the reads of the dispatcher's workflows
  and of the patrol tablet's routes;
* ``exports``: one module per exchange format and a registry;
* ``replay``: storm scenarios, the demo storm, whole-storm simulation and its metrics;
* ``cli``: the ``winterops`` command, one thin module per command group;

plus ``clock`` (the operational "now"), ``settings`` (the frozen Settings), ``errors`` (the
error tree) and ``review`` (the after-action review of the real response). :data:`__all__`
lists them; importing the package imports none of them (``from incidents.fusion import fuse``).
"""

__all__ = [
    "cli",
    "clock",
    "console_reads",
    "dispatch",
    "errors",
    "exports",
    "fusion",
    "live",
    "patrol_routes",
    "queries",
    "replay",
    "review",
    "service",
    "settings",
    "store",
]
