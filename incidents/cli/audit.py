"""``winterops audit verify``: walk the audit hash chain and name the first broken link.

The result is recorded for the admin page ("chain last verified") and audited. Exit status:
0 the chain is intact, 1 it is broken (the first broken link is printed), 2 unusable arguments.
"""

from __future__ import annotations

import getpass
import json
from typing import Annotated

import typer

from incidents.cli.common import EXIT_UNUSABLE_INPUT, DbOption, die, open_engine, settings_for
from incidents.service.audit import verify_audit_chain
from incidents.store.engine import session_factory, session_scope

__all__ = ["cli_actor", "register", "verify"]

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


def cli_actor() -> str:
    """Return who acts from the command line, for the audit log (``cli:<login name>``)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@audit_app.command("verify")
def verify(
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    db: DbOption = None,
) -> None:
    """Check every link of the audit hash chain; exit 1 naming the first broken one."""
    engine = open_engine(settings_for(db))
    try:
        with session_scope(session_factory(engine)) as s:
            report = verify_audit_chain(s, cli_actor())
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False))
    elif report.ok:
        typer.echo(
            f"audit chain intact: {report.checked} links, head {report.head_seq} "
            f"sha256 {report.head_hash}"
        )
    if not report.ok:
        where = f" (link {report.broken_seq})" if report.broken_seq is not None else ""
        die(f"audit chain broken{where}: {report.problem}", EXIT_UNUSABLE_INPUT)


def register(app: typer.Typer) -> None:
    """Add the ``audit`` command group to `app`."""
    app.add_typer(audit_app, name="audit")
