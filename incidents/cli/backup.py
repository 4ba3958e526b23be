"""``winterops backup`` / ``restore`` and ``winterops db``: keep the database safe across upgrades.

::

    winterops backup FILE [--force] [--db URL]    SQLite: online backup API; PostgreSQL: pg_dump -Fc
    winterops restore FILE [--force] [--db URL]   refuses a database that holds rows (--force)
    winterops db current [--db URL]                the schema revision of the database
    winterops db upgrade [REV] [--db URL]          migrate up (default: the newest revision)
    winterops db downgrade REV [--db URL]          migrate down (the rollback of an upgrade)

SQLite is copied with :meth:`sqlite3.Connection.backup` (consistent while the dashboard and the
worker keep writing). PostgreSQL is dumped with ``pg_dump -Fc`` (the winterops schema only,
without owners or privileges) and restored with ``pg_restore --single-transaction``; both tools
must be on ``PATH`` (Debian: ``postgresql-client``). A restore checks the file first (a SQLite
database / a custom-format dump made by winterops, with a schema revision this version knows)
and never writes into a database that holds rows unless ``--force`` is given.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess  # noqa: S404 - pg_dump / pg_restore, argument lists only, never a shell
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, Table, func, inspect, select, text
from sqlalchemy.engine import URL

from incidents.cli.common import EXIT_BAD_ARGUMENTS, DbOption, die, open_engine, settings_for
from incidents.errors import StoreError
from incidents.store import migrate
from incidents.store.models import Base

__all__ = [
    "BackupError",
    "backup_database",
    "register",
    "restore_database",
    "row_counts",
]

ALEMBIC_TABLE = "alembic_version"


class BackupError(StoreError, RuntimeError):
    """A backup or restore could not be made (missing tool, unusable file, non-empty target)."""


# ------------------------------------------------------------------------------------------
# what a database holds
# ------------------------------------------------------------------------------------------


def _tables(engine: Engine) -> list[str]:
    """Return the winterops tables present in `engine`'s database (its current schema)."""
    known = set(Base.metadata.tables)
    return sorted(set(inspect(engine).get_table_names()) & known)


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per winterops table present in the database (an empty dict for an empty file)."""
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        for name in _tables(engine):
            table = Table(name, MetaData())
            counts[name] = int(conn.execute(select(func.count()).select_from(table)).scalar_one())
    return counts


def _revision_known(revision: str | None) -> bool:
    if revision is None:
        return False
    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    return any(s.revision == revision for s in scripts.walk_revisions())


def _check_target(engine: Engine, force: bool) -> None:
    held = {k: v for k, v in row_counts(engine).items() if v}
    if held and not force:
        shown = ", ".join(f"{k} {v}" for k, v in sorted(held.items())[:4])
        msg = (
            f"the database {engine.url.render_as_string(hide_password=True)} is not empty "
            f"({shown}, ...): restore would replace it; give --force to do so"
        )
        raise BackupError(msg)


# ------------------------------------------------------------------------------------------
# SQLite
# ------------------------------------------------------------------------------------------


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        msg = f"{url} is not a SQLite file: nothing to back up or restore"
        raise BackupError(msg)
    return Path(url.database)


def _sqlite_backup(url: URL, out: Path) -> None:
    src_path = _sqlite_path(url)
    if not src_path.exists():
        msg = f"no database at {src_path}"
        raise BackupError(msg)
    tmp = out.with_name(out.name + ".part")
    src = sqlite3.connect(src_path)
    try:
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)  # page by page, consistent while others write
        finally:
            dst.close()
    finally:
        src.close()
    tmp.replace(out)


def _sqlite_revision(path: Path) -> str | None:
    """Return the schema revision inside a SQLite backup; BackupError if it is not one."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            ok = conn.execute("PRAGMA quick_check").fetchone()
            if not ok or ok[0] != "ok":
                msg = f"{path} is a damaged SQLite database ({ok[0] if ok else 'no answer'})"
                raise BackupError(msg)
            row = conn.execute(f"SELECT version_num FROM {ALEMBIC_TABLE}").fetchone()  # noqa: S608
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        msg = f"{path} is not a winterops SQLite backup: {e}"
        raise BackupError(msg) from e
    return str(row[0]) if row else None


def _sqlite_restore(engine: Engine, src: Path) -> None:
    target = _sqlite_path(engine.url)
    engine.dispose()  # no pooled connection of ours may hold the file
    target.parent.mkdir(parents=True, exist_ok=True)
    bk = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            bk.backup(dst)  # replaces every page of the target in one go
        finally:
            dst.close()
    finally:
        bk.close()


# ------------------------------------------------------------------------------------------
# PostgreSQL
# ------------------------------------------------------------------------------------------


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        msg = (
            f"{name} is not on PATH: install the PostgreSQL client tools "
            "(Debian: apt-get install postgresql-client) of the server's major version"
        )
        raise BackupError(msg)
    return found


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """Return a libpq URI for `url` (without the password) and the environment with it."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        msg = f"{Path(args[0]).name} failed (exit {done.returncode}): {' | '.join(tail)}"
        raise BackupError(msg)
    return done.stdout


def _current_schema(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(text("SELECT current_schema()")).scalar_one())


def _pg_backup(engine: Engine, out: Path) -> None:
    pg_dump = _tool("pg_dump")
    uri, env = _libpq(engine.url)
    tmp = out.with_name(out.name + ".part")
    schema = _current_schema(engine)
    _run([pg_dump, "--format=custom", "--no-owner", "--no-privileges",
          f"--schema={schema}", f"--file={tmp}", uri], env)
    tmp.replace(out)


def _dump_toc(src: Path, env: dict[str, str]) -> list[str]:
    pg_restore = _tool("pg_restore")
    try:
        return _run([pg_restore, "--list", str(src)], env).splitlines()
    except BackupError as e:
        msg = f"{src} is not a winterops PostgreSQL dump ({e})"
        raise BackupError(msg) from e


def _dump_facts(toc: list[str]) -> tuple[str | None, bool]:
    """Return the schema of the dump's tables and whether it holds the Alembic version."""
    schema, has_version = None, False
    for line in toc:
        parts = line.split()
        if len(parts) >= 6 and parts[3] == "TABLE" and not line.startswith(";"):
            schema = schema or parts[4]
            has_version = has_version or parts[5] == ALEMBIC_TABLE
    return schema, has_version


def _pg_restore(engine: Engine, src: Path, force: bool) -> None:
    pg_restore = _tool("pg_restore")
    uri, env = _libpq(engine.url)
    toc = _dump_toc(src, env)
    schema, has_version = _dump_facts(toc)
    if not has_version:
        msg = f"{src} is not a winterops dump (no {ALEMBIC_TABLE} table in it)"
        raise BackupError(msg)
    here = _current_schema(engine)
    if schema != here:
        msg = f"{src} holds schema {schema!r} but the database URL points at {here!r}"
        raise BackupError(msg)
    _check_target(engine, force)
    # the schema itself already exists here: restore only what is inside it
    keep = [ln for ln in toc if not ln.startswith(";") and " SCHEMA - " not in ln]
    _clear_pg(engine)
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as listing:
        listing.write("\n".join(keep) + "\n")
    try:
        _run([pg_restore, "--no-owner", "--no-privileges", "--single-transaction",
              "--exit-on-error", f"--use-list={listing.name}", f"--dbname={uri}", str(src)], env)
    finally:
        Path(listing.name).unlink(missing_ok=True)


def _clear_pg(engine: Engine) -> None:
    """Drop the winterops tables (and their trigger function) so the dump can recreate them."""
    if migrate.current_revision(engine) is not None:
        migrate.downgrade(engine, "base")
    with engine.begin() as conn:
        conn.execute(text(f'DROP TABLE IF EXISTS "{ALEMBIC_TABLE}"'))


# ------------------------------------------------------------------------------------------
# the two operations
# ------------------------------------------------------------------------------------------


def backup_database(engine: Engine, out: Path, *, force: bool = False) -> dict[str, int]:
    """Copy `engine`'s database into `out`; returns the rows per table that were copied.

    Raises
    ------
    BackupError
        `out` exists (without `force`), the database is empty or missing, or pg_dump is
        missing or fails.
    """
    if out.exists() and not force:
        msg = f"{out} exists; give --force to overwrite it"
        raise BackupError(msg)
    counts = row_counts(engine)
    if not counts:
        msg = f"{engine.url.render_as_string(hide_password=True)} holds no winterops tables"
        raise BackupError(msg)
    out.parent.mkdir(parents=True, exist_ok=True)
    if engine.dialect.name == "sqlite":
        _sqlite_backup(engine.url, out)
    else:
        _pg_backup(engine, out)
    return counts


def restore_database(engine: Engine, src: Path, *, force: bool = False) -> dict[str, int]:
    """Replace `engine`'s database with the backup `src`; returns the rows per table restored.

    Raises
    ------
    BackupError
        `src` is missing or not a winterops backup, its schema revision is unknown to this
        version (made by a newer winterops), the database holds rows and `force` is False, or
        pg_restore is missing or fails (the target is then left as it was: one transaction).
    """
    if not src.is_file():
        msg = f"no backup file at {src}"
        raise BackupError(msg)
    if engine.dialect.name == "sqlite":
        revision = _sqlite_revision(src)
        if not _revision_known(revision):
            msg = (f"{src} is at schema revision {revision!r}, unknown to this winterops "
                   f"(newest {migrate.head_revision()!r}): restore it with the version that "
                   "made it")
            raise BackupError(msg)
        _check_target(engine, force)
        _sqlite_restore(engine, src)
    else:
        _pg_restore(engine, src, force)
        revision = migrate.current_revision(engine)
        if not _revision_known(revision):
            msg = f"restored a dump at unknown schema revision {revision!r}"
            raise BackupError(msg)
    return row_counts(engine)


# ------------------------------------------------------------------------------------------
# the commands
# ------------------------------------------------------------------------------------------

FileArg = Annotated[Path, typer.Argument(metavar="FILE", help="The backup file.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite (see the command's help).")]


def _summary(counts: dict[str, int]) -> str:
    return f"{len(counts)} tables, {sum(counts.values())} rows"


def backup(file: FileArg, force: ForceOpt = False, db: DbOption = None) -> None:
    """Back the database up into FILE (SQLite online backup, or pg_dump -Fc for PostgreSQL).

    --force overwrites an existing FILE. The dashboard and the worker may keep running.
    """
    engine = open_engine(settings_for(db), migrate=False)
    try:
        counts = backup_database(engine, file, force=force)
        revision = migrate.current_revision(engine)
    except BackupError as e:
        die(str(e))
    finally:
        engine.dispose()
    typer.echo(f"backed up {_summary(counts)} (schema revision {revision}) into {file}")


def restore(file: FileArg, force: ForceOpt = False, db: DbOption = None) -> None:
    """Replace the database with the backup FILE.

    Refuses a database that holds any row unless --force. Stop the dashboard and the worker
    first. The next winterops command migrates a restored older schema up to this version.
    """
    engine = open_engine(settings_for(db), migrate=False)
    try:
        counts = restore_database(engine, file, force=force)
        revision = migrate.current_revision(engine)
    except BackupError as e:
        die(str(e))
    finally:
        engine.dispose()
    typer.echo(f"restored {_summary(counts)} (schema revision {revision}) from {file}")


db_app = typer.Typer(
    help="The database schema: current revision, upgrade, downgrade (rollback).",
    no_args_is_help=True,
)


@db_app.command("current")
def db_current(db: DbOption = None) -> None:
    """Print the schema revision of the database and the newest one this version has."""
    engine = open_engine(settings_for(db), migrate=False)
    try:
        current, newest = migrate.current_revision(engine), migrate.head_revision()
        typer.echo(f"database: {current}  newest: {newest}")
    finally:
        engine.dispose()


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    db: DbOption = None,
) -> None:
    """Migrate the schema up to REVISION (default: the newest). Back up first."""
    engine = open_engine(settings_for(db), migrate=False)
    try:
        migrate.upgrade(engine, revision)
        typer.echo(f"schema at {migrate.current_revision(engine)}")
    except migrate.UnmanagedSchemaError as e:
        die(str(e))
    finally:
        engine.dispose()


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision (e.g. 0002), or base.")],
    db: DbOption = None,
) -> None:
    """Migrate the schema down to REVISION: the rollback of an upgrade.

    Then run the winterops version whose newest revision is REVISION (every command of a newer
    one migrates up again on start). Columns and tables added after REVISION are dropped with
    their data: restore the backup made before the upgrade when that data matters.
    """
    if not _revision_known(revision) and revision != "base":
        die(f"unknown revision {revision!r}", EXIT_BAD_ARGUMENTS)
    engine = open_engine(settings_for(db), migrate=False)
    try:
        migrate.downgrade(engine, revision)
        typer.echo(f"schema at {migrate.current_revision(engine)}")
    finally:
        engine.dispose()


def register(app: typer.Typer) -> None:
    """Add ``backup``, ``restore`` and the ``db`` group to the ``winterops`` app."""
    app.command()(backup)
    app.command()(restore)
    app.add_typer(db_app, name="db")
