"""``winterops demo``: the demo region, one demo user per role and the demo storm, in one call.

The region goes in through the same import as ``winterops region import data/region``
(:func:`incidents.store.region_import.import_region`); the users are the demo's own.

The demo passwords are for the demo only (they are printed in the README):

=============  ==============  ===========  =========================================
user           password        role         notes
=============  ==============  ===========  =========================================
dispatcher     winter-dispatch dispatcher
patrol         winter-patrol   patrol_lead  leads a patrol car of Abag Banner (阿巴嘎旗)
admin          winter-admin    admin
=============  ==============  ===========  =========================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from geo.errors import GeoError
from geo.region import Region, load_region
from incidents.errors import RegionImportError, WinteropsError
from incidents.service.audit import audit
from incidents.service.users import create_user
from incidents.settings import Settings
from incidents.store.engine import init_db, session_factory, session_scope
from incidents.store.migrate import current_revision, downgrade
from incidents.store.models import Base, Report, Role, Unit, User
from incidents.store.region_import import ImportSummary, import_region

ABAG_BANNER_CODE = "152522"  # 阿巴嘎旗, Xilingol League


@dataclass(frozen=True)
class DemoUser:
    """A demo account (demo-only password)."""

    username: str
    password: str
    role: Role


DEMO_USERS = (
    DemoUser("dispatcher", "winter-dispatch", Role.DISPATCHER),
    DemoUser("patrol", "winter-patrol", Role.PATROL_LEAD),
    DemoUser("admin", "winter-admin", Role.ADMIN),
)


class DemoError(WinteropsError, RuntimeError):
    """The demo cannot be loaded (region data unreadable, no patrol unit, ...)."""


def _say(echo: Callable[[str], Any] | None, message: str) -> None:
    if echo is not None:
        echo(message)


def reset_database(engine: Engine) -> None:
    """Drop everything: delete a SQLite file, or downgrade a PostgreSQL schema to base.

    Tables left by a database the migrations did not make are dropped too.
    """
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        engine.dispose()
        base = Path(url.database)
        for path in (base, base.with_name(base.name + "-wal"), base.with_name(base.name + "-shm")):
            path.unlink(missing_ok=True)
        return
    if current_revision(engine) is not None:
        downgrade(engine, "base")
    with engine.begin() as conn:
        Base.metadata.drop_all(conn, checkfirst=True)
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP FUNCTION IF EXISTS audit_events_append_only() CASCADE"))


def patrol_unit_for_demo(region: Region) -> str:
    """Return the patrol car the demo patrol lead leads: the first one in Abag Banner."""
    units = region.units
    cars = units[units["vehicle_class"].astype(str) == "patrol_car"]
    for row in cars.itertuples():
        place = region.admin_at(row.geometry.x, row.geometry.y)
        if place is not None and str(place.admin_code).startswith(ABAG_BANNER_CODE):
            return str(row.unit_id)
    by_name = cars[cars["unit_id"].astype(str).str.contains("-ABG-")]
    if len(by_name):
        return str(by_name["unit_id"].iloc[0])
    if len(cars):
        return str(cars["unit_id"].iloc[0])
    msg = "the region has no patrol_car unit to bind the demo patrol lead to"
    raise DemoError(msg)


def _seed_storm(
    factory: Any, region: Region, settings: Settings, echo: Callable[[str], Any] | None
) -> tuple[Any, str]:
    from incidents.replay import storm

    summary = storm.seed_demo_storm(factory, region, settings)
    return summary, "loaded"


def _already_loaded(factory: sessionmaker[Session], database: str) -> dict[str, Any] | None:
    """Return the ``skipped`` summary when the database already holds the demo, else None.

    A database holding only an imported region (no users, no reports) still gets the demo.
    """
    with session_scope(factory) as s:
        n_units = s.scalar(select(func.count()).select_from(Unit)) or 0
        n_people = s.scalar(select(func.count()).select_from(User)) or 0
        n_reports = s.scalar(select(func.count()).select_from(Report)) or 0
    if not (n_units and (n_people or n_reports)):
        return None
    return {
        "database": database,
        "skipped": True,
        "reason": f"{database} already holds {n_units} units; nothing loaded "
        "(winterops demo --reset starts over)",
    }


def _import_demo_region(s: Session, settings: Settings) -> ImportSummary:
    """Import the region the way ``winterops region import data/region`` does (no users)."""
    try:
        return import_region(s, [settings.region_dir], actor="demo")
    except RegionImportError as e:
        msg = f"cannot import the region from {str(settings.region_dir)!r}: {e}"
        raise DemoError(msg) from e


def _add_demo_users(s: Session, patrol_unit: str) -> list[dict[str, Any]]:
    """Create the demo users that are missing; return one summary row per demo user."""
    users: list[dict[str, Any]] = []
    for demo_user in DEMO_USERS:
        unit_id = patrol_unit if demo_user.role is Role.PATROL_LEAD else None
        exists = s.scalars(select(User).where(User.username == demo_user.username)).first()
        if exists is None:
            create_user(s, demo_user.username, demo_user.password, demo_user.role, unit_id,
                        display_name=f"demo {demo_user.role.value}", actor="demo")
        users.append({"username": demo_user.username, "role": demo_user.role.value,
                      "unit_id": unit_id, "created": exists is None})
    return users


def load_demo(
    engine: Engine,
    settings: Settings,
    *,
    reset: bool = False,
    if_empty: bool = False,
    storm: bool = True,
    echo: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """Load the demo into `engine`'s database and return a summary.

    Parameters
    ----------
    engine
        Database to load into (schema brought to the newest version here).
    settings
        Where the region data is (``settings.region_dir``) and the rest of the configuration.
    reset
        Drop everything first (SQLite: delete the file; PostgreSQL: downgrade to base).
    if_empty
        Load nothing when the database already holds units and users or reports
        (``make run``); a database with only ``winterops region import`` done still loads.
    storm
        Also load the demo storm (``incidents.replay.storm.seed_demo_storm``) when it is available.
    echo
        Called with progress messages, if given.

    Returns
    -------
    dict
        ``database``, ``region`` (rows added per table), ``region_import`` (the import's
        summary: files, sha256, counts), ``users`` (username, role, unit_id,
        created), ``storm`` (the storm loader's summary or None), ``storm_message``; or
        ``skipped`` and ``reason`` when `if_empty` found data.
    """
    database = make_url(settings.database_url).render_as_string(hide_password=True)
    if reset:
        _say(echo, f"resetting {database}")
        reset_database(engine)
    init_db(engine)
    factory = session_factory(engine)
    if if_empty:
        skipped = _already_loaded(factory, database)
        if skipped is not None:
            return skipped
    try:
        region = load_region(settings.region_dir)
    except (GeoError, OSError) as e:
        msg = f"cannot load the region from {str(settings.region_dir)!r}: {e}"
        raise DemoError(msg) from e
    patrol_unit = patrol_unit_for_demo(region)
    with session_scope(factory) as s:
        imported = _import_demo_region(s, settings)
        added = {table: int(c["added"]) for table, c in imported.counts.items()}
        _say(echo, "region: " + ", ".join(f"{v} {k}" for k, v in added.items()))
        users = _add_demo_users(s, patrol_unit)
        audit(s, "demo", "demo.load", database, details={"region": added})
    storm_summary, storm_message = (
        _seed_storm(factory, region, settings, echo) if storm else (None, "not requested")
    )
    return {
        "database": database,
        "skipped": False,
        "region": added,
        "region_import": imported.to_dict(),
        "users": users,
        "storm": storm_summary,
        "storm_message": storm_message,
    }


def describe_storm(summary: dict[str, Any] | None, message: str) -> str:
    """One line about the loaded storm, for the command line."""
    if not summary:
        return message
    parts = [f"{summary.get('scenario', 'demo storm')} at {summary.get('moment', '?')}"]
    for key in ("open_incidents", "open_tasks"):
        if key in summary:
            parts.append(f"{summary[key]} {key.replace('_', ' ')}")
    assignments = summary.get("assignments")
    if isinstance(assignments, dict):
        parts.append(", ".join(f"{v} {k.replace('_', ' ')}" for k, v in assignments.items()))
    return "; ".join(parts)
