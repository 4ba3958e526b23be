"""``winterops review``: the after-action review of the real response.

Reads only (:func:`incidents.review.response_review`): per incident the time to the first
confirmed unit and to the first unit on scene, people waiting and their cold exposure; who did
what from the audit log. ``--at`` ends the period (default: the operational clock, the demo
storm's clock on a demo database); ``--since`` starts it.

Exit status: 0 it ran (an empty period included), 1 the database cannot be used, 2 unusable
arguments.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from incidents.cli.common import DbOption, open_engine, parse_at, settings_for
from incidents.clock import operational_now
from incidents.review import response_review
from incidents.store.engine import session_factory, session_scope

__all__ = ["register", "review"]


def review(
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    at: Annotated[
        str | None,
        typer.Option("--at", help="end of the period (ISO 8601; naive = Asia/Shanghai)"),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="start of the period (ISO 8601; naive = Asia/Shanghai)"),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="incidents listed")] = 15,
    db: DbOption = None,
) -> None:
    """Print the real response: time to first unit, exposure, who did what."""
    settings = settings_for(db)
    start = parse_at(since) if since else None
    end = parse_at(at) if at else None
    engine = open_engine(settings)
    try:
        with session_scope(session_factory(engine)) as s:
            if end is None:
                end = operational_now(s)[0]
            result = response_review(s, end, start)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False, default=str))
        return
    sm = result.summary
    typer.echo(f"real response up to {end.isoformat()}")
    typer.echo(
        f"incidents {sm['incidents']}, reached {sm['reached']}, waiting {sm['waiting']}, "
        f"people {sm['people']}; first unit on scene p50 {sm['first_unit_p50_min']} min, "
        f"p90 {sm['first_unit_p90_min']} min; exposure {sm['exposure_person_h']} person-h; "
        f"confirmations {sm['confirmations']}, overrides {sm['overrides']}, "
        f"refusals {sm['refusals']}"
    )
    typer.echo(f"{'incident':>8} {'people':>6} {'waited min':>10} {'person-h':>8}  kind")
    for row in result.incidents.head(limit).itertuples(index=False):
        typer.echo(
            f"{row.incident_id:>8} {row.people:>6} {row.waiting_min:>10.0f} "
            f"{row.exposure_person_h:>8.1f}  {row.kind}"
        )


def register(app: typer.Typer) -> None:
    """Add the ``review`` command to the ``winterops`` app."""
    app.command("review")(review)
