"""The ``winterops`` command line: a thin face over the services (design: "Command line").

This module holds the app, ``demo``, ``serve`` and ``users``; each other command group lives in
its own module of this package (``geo``, ``ingest``, ``fusion``, ``dispatch``) with
``register(app)``.

Exit status: 0 it ran, 1 a source or input could not be used at all, 2 unusable arguments.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from incidents.cli.common import (
    EXIT_BAD_ARGUMENTS,
    DbOption,
    die,
    open_engine,
    settings_for,
)
from incidents.errors import ConflictError, NotFoundError, PermissionDenied
from incidents.settings import PROJECT_ROOT
from incidents.store.engine import session_factory, session_scope
from incidents.store.models import Role

app = typer.Typer(
    name="winterops",
    help="Winter road-incident coordination: alerts, drone reports and calls on the road network.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
users_app = typer.Typer(help="Manage the people who log in to the dashboard.", no_args_is_help=True)
app.add_typer(users_app, name="users")

DASHBOARD_APP = PROJECT_ROOT / "dashboard" / "app.py"


@app.callback()
def _root(ctx: typer.Context, db: DbOption = None) -> None:
    """Winter road-incident coordination: alerts, drone reports and calls on the road network.

    `--db URL` here applies to every command (each command also takes its own `--db`).
    """
    ctx.obj = {"db": db}
    if db:
        # the global --db becomes the default of every command's own --db (click default_map)
        ctx.default_map = _db_defaults(ctx.command, db)


def _db_defaults(command: Any, db: str) -> dict[str, Any]:
    defaults: dict[str, Any] = {"db": db}
    for name, sub in getattr(command, "commands", {}).items():
        defaults[name] = _db_defaults(sub, db)
    return defaults


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


# --------------------------------------------------------------------------------------------
# demo / serve
# --------------------------------------------------------------------------------------------


@app.command()
def demo(
    reset: Annotated[
        bool, typer.Option("--reset", help="Drop everything in the database first.")
    ] = False,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing when the database already has units.")
    ] = False,
    storm: Annotated[
        bool, typer.Option("--storm/--no-storm", help="Also load the demo storm.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    db: DbOption = None,
) -> None:
    """Load the demo region, demo users and the demo storm into the database."""
    from incidents.replay.demo import DemoError, describe_storm, load_demo
    from incidents.store.migrate import UnmanagedSchemaError

    if reset and if_empty:
        die("--reset and --if-empty contradict each other: choose one", EXIT_BAD_ARGUMENTS)
    settings = settings_for(db)
    engine = open_engine(settings, migrate=not reset)  # --reset: drop first, migrate after
    try:
        summary = load_demo(
            engine, settings, reset=reset, if_empty=if_empty, storm=storm,
            echo=None if as_json else typer.echo,
        )
    except (DemoError, UnmanagedSchemaError) as e:
        die(f"demo: {e}", 1)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False, default=str))
        return
    if summary.get("skipped"):
        typer.echo(f"demo: {summary['reason']}")
        return
    counts = ", ".join(f"{v} {k}" for k, v in summary.get("region", {}).items())
    typer.echo(f"demo loaded into {summary['database']}: {counts}")
    typer.echo("demo users (demo-only passwords, see README):")
    for user in summary.get("users", []):
        typer.echo(f"  {user['username']:<12} {user['role']:<12} {user.get('unit_id') or ''}")
    typer.echo(f"storm: {describe_storm(summary.get('storm'), summary['storm_message'])}")


DEFAULT_ADDRESS = "127.0.0.1"  # only this machine, unless the operator names an address


def serve_argv(
    port: int,
    address: str | None = None,
    certfile: Path | None = None,
    keyfile: Path | None = None,
) -> list[str]:
    """Build the Streamlit command line `winterops serve` runs.

    Parameters
    ----------
    port
        The port to listen on.
    address
        The address to listen on; :data:`DEFAULT_ADDRESS` (loopback only) when None.
    certfile, keyfile
        PEM certificate (chain) and private key: Streamlit serves HTTPS itself
        (``server.sslCertFile`` / ``server.sslKeyFile``). Both or neither.
    """
    listen = address or DEFAULT_ADDRESS
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(DASHBOARD_APP),
        "--server.headless=true",
        # air-gapped: Leaflet & co. are served by the app itself from dashboard/static/
        "--server.enableStaticServing=true",
        "--browser.gatherUsageStats=false",
        # a served dashboard does not watch its sources: a file saved under a running server
        # made Streamlit re-import the dashboard (logged-in users lost, caches rebuilt)
        "--server.fileWatcherType=none",
        # the URL to print: also keeps Streamlit from looking up an external IP address
        f"--browser.serverAddress={listen}",
        f"--server.port={port}",
        f"--server.address={listen}",
    ]
    if certfile is not None and keyfile is not None:
        cmd += [f"--server.sslCertFile={certfile}", f"--server.sslKeyFile={keyfile}"]
    return cmd


def _check_tls_files(certfile: Path | None, keyfile: Path | None) -> None:
    if (certfile is None) != (keyfile is None):
        die("serve: give --certfile and --keyfile together (or neither)", EXIT_BAD_ARGUMENTS)
    for option, path in (("--certfile", certfile), ("--keyfile", keyfile)):
        if path is not None and not path.is_file():
            die(f"serve: {option} {str(path)!r} is not a readable file", EXIT_BAD_ARGUMENTS)


@app.command()
def serve(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8501,
    address: Annotated[
        str | None,
        typer.Option("--address", help="Address to listen on (default: 127.0.0.1, this machine "
                                       "only; 0.0.0.0 for every interface)."),
    ] = None,
    certfile: Annotated[
        Path | None,
        typer.Option("--certfile", help="PEM certificate: serve HTTPS (with --keyfile)."),
    ] = None,
    keyfile: Annotated[
        Path | None, typer.Option("--keyfile", help="PEM private key of --certfile.")
    ] = None,
    db: DbOption = None,
) -> None:
    """Start the dashboard (Streamlit) on http(s)://ADDRESS:PORT (default 127.0.0.1:8501)."""
    if not DASHBOARD_APP.is_file():
        die(f"serve: dashboard entry point {DASHBOARD_APP} not found", 1)
    _check_tls_files(certfile, keyfile)
    settings = settings_for(db)
    open_engine(settings).dispose()  # the schema is current before the first page loads
    env = dict(os.environ, WINTEROPS_DATABASE_URL=settings.database_url)
    cmd = serve_argv(
        port, address,
        certfile.resolve() if certfile else None, keyfile.resolve() if keyfile else None,
    )
    scheme = "https" if certfile else "http"
    typer.echo(
        f"winterops dashboard on {scheme}://{address or DEFAULT_ADDRESS}:{port}  (Ctrl+C stops it)"
    )
    sys.stdout.flush()
    sys.stderr.flush()
    # the project's .streamlit/config.toml (theme, toolbar) applies whatever the caller's cwd
    os.chdir(PROJECT_ROOT)
    # become Streamlit: signals (Ctrl+C, a service manager's SIGTERM) reach it directly
    os.execve(sys.executable, cmd, env)  # noqa: S606 - fixed argv, no shell


# --------------------------------------------------------------------------------------------
# users
# --------------------------------------------------------------------------------------------


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            die("users: --password-stdin read an empty password", EXIT_BAD_ARGUMENTS)
        return password
    if not sys.stdin.isatty():
        die(
            "users: no terminal to ask for the password; pipe it in with --password-stdin",
            EXIT_BAD_ARGUMENTS,
        )
    prompted: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return prompted


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Log-in name.")],
    role: Annotated[Role, typer.Option("--role", help="What the user may do.")],
    unit: Annotated[
        str | None, typer.Option("--unit", metavar="ID", help="Unit a patrol lead leads.")
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from standard input."),
    ] = False,
    db: DbOption = None,
) -> None:
    """Add a user. The password is asked at a prompt, or read from standard input."""
    from incidents.service.users import check_password_strength, create_user

    password = _read_password(password_stdin)
    try:
        check_password_strength(password, name)
    except ValueError as e:
        die(f"users add: {e}", EXIT_BAD_ARGUMENTS)
    engine = open_engine(settings_for(db))
    try:
        with session_scope(session_factory(engine)) as s:
            user = create_user(s, name, password, role, unit, actor=_actor())
            username, role_value, unit_id = user.username, user.role, user.unit_id
    except (ValueError, NotFoundError, ConflictError) as e:
        die(f"users add: {e}", EXIT_BAD_ARGUMENTS)
    finally:
        engine.dispose()
    bound = f" (unit {unit_id})" if unit_id else ""
    typer.echo(f"added {role_value} {username}{bound}")


@users_app.command("passwd")
def users_passwd(
    name: Annotated[str, typer.Argument(help="Log-in name.")],
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from standard input."),
    ] = False,
    db: DbOption = None,
) -> None:
    """Set a new password for a user (and lift a lock-out)."""
    from incidents.service.users import set_password

    password = _read_password(password_stdin)
    engine = open_engine(settings_for(db))
    try:
        with session_scope(session_factory(engine)) as s:
            set_password(s, name, password, actor=_actor())
    except (ValueError, NotFoundError) as e:
        die(f"users passwd: {e}", EXIT_BAD_ARGUMENTS)
    finally:
        engine.dispose()
    typer.echo(f"password of {name} changed")


def _account_action(verb: str, name: str, db: str | None) -> None:
    from incidents.service.users import disable_user, enable_user, unlock_user

    action = {"unlock": unlock_user, "disable": disable_user, "enable": enable_user}[verb]
    engine = open_engine(settings_for(db))
    try:
        with session_scope(session_factory(engine)) as s:
            action(s, _actor(), name)
    except (NotFoundError, PermissionDenied) as e:
        die(f"users {verb}: {e}", EXIT_BAD_ARGUMENTS)
    finally:
        engine.dispose()
    typer.echo(f"{name}: {verb}ed" if verb == "unlock" else f"{name}: {verb}d")


@users_app.command("unlock")
def users_unlock(
    name: Annotated[str, typer.Argument(help="Log-in name.")], db: DbOption = None
) -> None:
    """Lift a lock-out after failed log-ins (audited)."""
    _account_action("unlock", name, db)


@users_app.command("disable")
def users_disable(
    name: Annotated[str, typer.Argument(help="Log-in name.")], db: DbOption = None
) -> None:
    """Disable an account: no log-in, its live sessions end (audited)."""
    _account_action("disable", name, db)


@users_app.command("enable")
def users_enable(
    name: Annotated[str, typer.Argument(help="Log-in name.")], db: DbOption = None
) -> None:
    """Enable a disabled account again (audited)."""
    _account_action("enable", name, db)


@users_app.command("list")
def users_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    db: DbOption = None,
) -> None:
    """List users, their roles, units and locks."""
    from incidents.service.users import list_users

    engine = open_engine(settings_for(db))
    try:
        with session_scope(session_factory(engine)) as s:
            rows: list[dict[str, Any]] = [
                {
                    "username": u.username,
                    "role": u.role,
                    "unit_id": u.unit_id,
                    "locked_until": u.locked_until.isoformat() if u.locked_until else None,
                    "disabled_at": u.disabled_at.isoformat() if u.disabled_at else None,
                    "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None,
                }
                for u in list_users(s)
            ]
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        typer.echo("no users (add one with: winterops users add NAME --role ROLE)")
        return
    for r in rows:
        lock = f"  locked until {r['locked_until']}" if r["locked_until"] else ""
        lock += f"  disabled since {r['disabled_at']}" if r["disabled_at"] else ""
        typer.echo(f"{r['username']:<16} {r['role']:<12} {r['unit_id'] or '-':<14}{lock}")


# --------------------------------------------------------------------------------------------
# commands from the other parts
# --------------------------------------------------------------------------------------------


def register_command_modules(target: typer.Typer) -> None:
    """Register the command groups of the other ``incidents.cli`` modules on ``target``."""
    from incidents.cli import (
        audit,
        backup,
        dispatch,
        fusion,
        geo,
        ingest,
        region,
        review,
        worker,
    )

    for module in (geo, ingest, fusion, dispatch, worker, backup, region, audit, review):
        module.register(target)


register_command_modules(app)


def main() -> None:
    """Console-script entry point (``winterops``)."""
    app()


if __name__ == "__main__":
    main()
