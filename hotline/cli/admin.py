"""`hotline report` and `hotline sla`: the supervisors' and administrators' commands."""

from __future__ import annotations

import csv
import re
import sys
from datetime import timedelta
from pathlib import Path

import click

from hotline.bootstrap import bootstrap
from hotline.cli.users import cli_actor
from ticketing.admin.queries import policy_working_day
from ticketing.admin.services import change_sla_policy
from ticketing.exceptions import DomainError
from ticketing.reporting.assessment import COLUMNS, Level, cells, month_bounds
from ticketing.reporting.outcomes import assessment
from ticketing.sla.services import load_catalog, recompute_open_cases


@click.group()
def report() -> None:
    """Reports for leaders and assessors."""


@report.command("assessment")
@click.option("--period", required=True, help="A month, YYYY-MM (local time).")
@click.option(
    "--level", type=click.Choice([lvl.value for lvl in Level]), default="street", show_default=True
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the table to this CSV file.",
)
def report_assessment(period: str, level: str, csv_path: Path | None) -> None:
    """Response, on-time resolution, satisfaction and reopen rates by unit."""
    services = bootstrap()
    try:
        start, end = month_bounds(period, services.settings.timezone)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--period") from exc
    with services.uow() as uow:
        rows = assessment(uow.session, Level(level), start, end, services.clock())
    table = [list(COLUMNS), *(cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    for line in table:
        click.echo(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
        )
    if not rows:
        click.echo(f"(no cases registered in {period})")
    if csv_path:
        with csv_path.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(table)
        click.echo(f"wrote {csv_path}", err=True)


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([mhd])$")


def _duration(text: str | None, working_day: timedelta) -> timedelta | None:
    """'30m', '4h', or '7d' (working days on the policy's calendar)."""
    if text is None:
        return None
    match = _DURATION.match(text.strip())
    if match is None:
        raise click.BadParameter(f"{text!r}: use 30m, 4h or 7d")
    value, unit = float(match.group(1)), match.group(2)
    return {"m": timedelta(minutes=value), "h": timedelta(hours=value), "d": working_day * value}[
        unit
    ]


def _say(duration: timedelta, working_day: timedelta) -> str:
    """Business time as people state SLAs: hours, or working days on that calendar."""
    if duration >= working_day and working_day < timedelta(days=1):
        return f"{duration / working_day:g} working day(s)"
    return f"{duration / timedelta(hours=1):g} h"


@click.group()
def sla() -> None:
    """SLA policies: list, change (a new version), recompute open cases."""


@sla.command("list")
def sla_list() -> None:
    """The current policies and the rule list that picks them."""
    services = bootstrap()
    with services.uow() as uow:
        catalog = load_catalog(uow.session)
        for code, policy_id in sorted(catalog.current.items()):
            p = catalog.policies[policy_id]
            day = catalog.calendars[p.calendar].working_day_length
            click.echo(
                f"{code} v{p.version} on {p.calendar}: accept {_say(p.accept_within, day)}, "
                f"resolve {_say(p.resolve_within, day)}  ({p.name})"
            )
        for n, rule in enumerate(catalog.rules, start=1):
            cats = ",".join(sorted(rule.categories)) if rule.categories else "any category"
            prios = ",".join(sorted(rule.priorities)) if rule.priorities else "any priority"
            click.echo(f"rule {n}: {cats}; {prios} -> {rule.policy}")


@sla.command("set")
@click.argument("code")
@click.option("--accept", help="Time to accept: 30m, 4h, 1d.")
@click.option("--resolve", help="Time to resolve: 2h, 24h, 7d (working days).")
@click.option("--calendar", help="Calendar code, e.g. 24x7 or office_hours_cn.")
@click.option("--name", help="A new display name, e.g. 'General: 5 working days'.")
def sla_set(
    code: str, accept: str | None, resolve: str | None, calendar: str | None, name: str | None
) -> None:
    """Make a new version of a policy, then recompute the open cases in batches."""
    services = bootstrap()
    with services.uow() as uow:
        day = policy_working_day(uow.session, code, calendar)
        if day is None:
            raise click.BadParameter(f"no policy {code!r}", param_hint="CODE")
        try:
            row = change_sla_policy(
                uow,
                cli_actor(),
                services.clock(),
                code,
                accept_within=_duration(accept, day),
                resolve_within=_duration(resolve, day),
                calendar=calendar,
                name=name,
            )
        except DomainError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"{code} is now version {row.version}")
    _recompute()


@sla.command("recompute")
def sla_recompute() -> None:
    """Choose policies again and recompute deadlines for every open case."""
    bootstrap()
    _recompute()


def _recompute(batch: int = 500) -> None:
    services = bootstrap()
    last, total = 0, 0
    while True:
        with services.uow() as uow:
            done, last = recompute_open_cases(uow, after_id=last, batch=batch)
        if not done:
            break
        total += done
        print(f"\rrecomputed {total} open case(s)...", end="", file=sys.stderr)
    click.echo(f"\nrecomputed {total} open case(s)", err=True)
