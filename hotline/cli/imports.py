"""`hotline import`, `hotline calendar`, `hotline roster` and `hotline audit`: the
administrator's commands. Each change goes through one `ticketing` service, which checks
it, audits it and commits; a refused change exits with status 1 and the reason."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from hotline.bootstrap import Services, bootstrap
from hotline.jobs.admin import recompute_all
from ticketing.admin import queries
from ticketing.admin.grid_import import import_grids
from ticketing.admin.imports import ImportResult, Progress
from ticketing.admin.schedules import (
    HOLIDAY,
    WORKDAY,
    add_leave,
    add_shift,
    custom_dates,
    remove_custom_date,
    remove_leave,
    remove_shift,
    set_custom_date,
)
from ticketing.admin.services import parse_day, parse_weekday
from ticketing.admin.staff_import import HEADER, import_staff
from ticketing.exceptions import DomainError
from ticketing.people.audit import recent_changes
from ticketing.people.rosters import WEEKDAYS
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.events import Actor

Importer = Callable[..., ImportResult]


def cli_actor() -> Actor:
    """How audit rows name whoever ran the command: "cli:<login>"."""
    try:
        return Actor.cli(getpass.getuser())
    except (KeyError, OSError):
        return Actor.cli(None)


@contextmanager
def _refusals() -> Iterator[None]:
    """A refused change (bad date, unknown member) becomes a one-line error, exit 1."""
    try:
        yield
    except DomainError as exc:
        raise click.ClickException(str(exc)) from exc


# ---------------------------------------------------------------- imports


@click.group("import")
def import_() -> None:
    """Import grids (GeoJSON) or staff (CSV): all rows or none."""


@import_.command("grids")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_grids_command(path: Path) -> None:
    """Grids from a GeoJSON FeatureCollection (properties: code, name, community)."""
    _run_import(import_grids, path, "grids")


@import_.command("staff")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_staff_command(path: Path) -> None:
    """Staff from CSV; columns: employee_no,name,phone,role,employment_type,region,
    department,language,grids (grids: 1101:primary;1102:backup)."""
    _run_import(import_staff, path, "staff")


def _run_import(importer: Importer, path: Path, kind: str) -> None:
    services = bootstrap()
    with _ProgressBar(f"{kind}: checking, then writing") as progress, services.uow() as uow:
        result = importer(
            uow,
            path.read_bytes(),
            cli_actor(),
            services.clock(),
            filename=path.name,
            on_progress=progress,
        )
    if not result.ok:
        for rejection in result.rejected:
            click.echo(str(rejection), err=True)
        if any(r.field == "header" for r in result.rejected) and kind == "staff":
            click.echo(f"expected header: {','.join(HEADER)}", err=True)
        raise click.ClickException(result.summary())
    click.echo(result.summary())


class _ProgressBar:
    """A click progress bar made on the first report, when the total is known."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.done = 0

    def __enter__(self) -> Progress:
        return self

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


# ---------------------------------------------------------------- calendars


@click.group()
def calendar() -> None:
    """A city's own holidays and worked days, over the official calendar."""


def _calendar_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--calendar", "calendar_code", help="One calendar (default: all).")(f)


@calendar.command("add-holiday")
@click.argument("day")
@click.option("--name", default="", help="What the day is, e.g. 'City founding day'.")
@_calendar_option
def calendar_add_holiday(day: str, name: str, calendar_code: str | None) -> None:
    """Make DAY (YYYY-MM-DD) a holiday; open cases' deadlines are recomputed."""
    _custom_date(day, HOLIDAY, name, calendar_code)


@calendar.command("add-workday")
@click.argument("day")
@click.option("--name", default="", help="Why it is worked, e.g. 'Make-up day'.")
@_calendar_option
def calendar_add_workday(day: str, name: str, calendar_code: str | None) -> None:
    """Make DAY (YYYY-MM-DD) a working day; open cases' deadlines are recomputed."""
    _custom_date(day, WORKDAY, name, calendar_code)


def _custom_date(day: str, kind: str, name: str, calendar_code: str | None) -> None:
    services = bootstrap()
    with _refusals(), services.uow() as uow:
        changed = set_custom_date(
            uow,
            cli_actor(),
            services.clock(),
            parse_day(day),
            kind,
            calendar=calendar_code,
            name=name,
        )
    click.echo(f"{day} is now a {kind} on {', '.join(changed)}")
    recompute(services)


@calendar.command("remove")
@click.argument("day")
@_calendar_option
def calendar_remove(day: str, calendar_code: str | None) -> None:
    """Give DAY back to the official calendar."""
    services = bootstrap()
    with _refusals(), services.uow() as uow:
        changed = remove_custom_date(
            uow, cli_actor(), services.clock(), parse_day(day), calendar=calendar_code
        )
    click.echo(f"{day} follows the official calendar again on {', '.join(changed)}")
    recompute(services)


@calendar.command("list")
def calendar_list() -> None:
    """The custom dates, newest first."""
    services = bootstrap()
    with services.uow() as uow:
        dates = custom_dates(uow.session)
    for d in dates:
        name = f"  {d.name}" if d.name else ""
        click.echo(f"{d.day}  {d.kind:<7}  {','.join(d.calendars)}{name}")
    if not dates:
        click.echo("no custom dates: the official calendar applies")


def recompute(services: Services) -> int:
    """Recompute open cases' deadlines in batches, after a calendar or policy change."""
    total = recompute_all(services)
    click.echo(f"recomputed the deadlines of {total} open case(s)", err=True)
    return total


# ---------------------------------------------------------------- rosters


@click.group()
def roster() -> None:
    """Weekly shifts and leave of staff members."""


@roster.command("show")
@click.argument("employee_no")
def roster_show(employee_no: str) -> None:
    """A member's shifts and leave, with the ids to remove them by."""
    services = bootstrap()
    with _refusals(), services.uow() as uow:
        found = queries.roster(uow.session, employee_no)
    member = found.member
    click.echo(f"{member.employee_no} {member.name} ({member.role.value})")
    for s in found.shifts:
        click.echo(f"  shift #{s.id}: {WEEKDAYS[s.weekday]} {s.start}-{s.end}")
    if not found.shifts:
        click.echo("  no shifts: on call at any time")
    for leave in found.leaves:
        line = f"  leave #{leave.id}: {leave.first_day} to {leave.last_day} {leave.reason}"
        click.echo(line.rstrip())


@roster.command("add-shift")
@click.argument("employee_no")
@click.argument("weekday")
@click.argument("start")
@click.argument("end")
def roster_add_shift(employee_no: str, weekday: str, start: str, end: str) -> None:
    """A weekly shift: WEEKDAY is 0-6 (0 = Monday) or Mon..Sun; START and END are HH:MM."""
    services = bootstrap()
    with _refusals(), services.uow() as uow:
        shift = add_shift(
            uow, cli_actor(), services.clock(), employee_no, parse_weekday(weekday), start, end
        )
        click.echo(
            f"shift #{shift.id} for {employee_no}: {WEEKDAYS[shift.weekday]} "
            f"{shift.start}-{shift.end}"
        )


@roster.command("remove-shift")
@click.argument("shift_id", type=int)
def roster_remove_shift(shift_id: int) -> None:
    """Delete a shift (its id is in `hotline roster show`)."""
    _change(lambda uow, now: remove_shift(uow, cli_actor(), now, shift_id))
    click.echo(f"shift #{shift_id} removed")


@roster.command("add-leave")
@click.argument("employee_no")
@click.argument("first")
@click.argument("last")
@click.option("--reason", default="", help="e.g. 'annual leave'.")
def roster_add_leave(employee_no: str, first: str, last: str, reason: str) -> None:
    """Leave from FIRST to LAST (YYYY-MM-DD, both included); routing passes the member over."""
    services = bootstrap()
    with _refusals(), services.uow() as uow:
        leave = add_leave(
            uow,
            cli_actor(),
            services.clock(),
            employee_no,
            parse_day(first, "first day"),
            parse_day(last, "last day"),
            reason,
        )
        click.echo(f"leave #{leave.id} for {employee_no}: {leave.first_day} to {leave.last_day}")


@roster.command("remove-leave")
@click.argument("leave_id", type=int)
def roster_remove_leave(leave_id: int) -> None:
    """Delete a leave period (its id is in `hotline roster show`)."""
    _change(lambda uow, now: remove_leave(uow, cli_actor(), now, leave_id))
    click.echo(f"leave #{leave_id} removed")


def _change(change: Callable[[UnitOfWork, datetime], object]) -> None:
    services = bootstrap()
    with _refusals(), services.uow() as uow:
        change(uow, services.clock())


# ---------------------------------------------------------------- audit


@click.command()
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
def audit(limit: int) -> None:
    """The newest administrative changes: when, who, from where, what, on what."""
    services = bootstrap()
    with services.uow() as uow:
        entries = recent_changes(uow.session, limit)
    for entry in entries:
        data = ", ".join(f"{k}={v}" for k, v in entry.data.items())
        source = entry.source_ip or "-"
        click.echo(
            f"{entry.at:%Y-%m-%d %H:%M}Z  {entry.actor:<14} {source:<15} {entry.action:<22} "
            f"{entry.target}  {data}".rstrip()
        )
    if not entries:
        click.echo("no changes recorded yet")


COMMANDS: tuple[click.Command, ...] = (import_, calendar, roster, audit)
