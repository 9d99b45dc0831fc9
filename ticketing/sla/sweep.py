"""The sweep that fires escalations: each rung once, however many sweepers run.

`refresh_deadlines` (in `ticketing.sla.services`) keeps the indexed `next_escalation_at`
column at the next moment anything can fire, so the sweep reads only rows whose moment has
come and its cost follows the due cases, not the open ones. Rows are taken with FOR UPDATE
SKIP LOCKED, so concurrent sweepers share the work instead of repeating it, and each rung
it fires is a unique row, so a retry fires nothing.

A batch of a thousand due cases writes thousands of rows (the rung, its history event,
an SMS per person told) and changes two columns of each case. They are collected as plain
rows and written with one statement per table (`ticketing.sla.sweep_rows`): as ORM
objects, their bookkeeping at commit was most of the batch's time.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ticketing.models.cases import Ticket, TicketEvent
from ticketing.models.sla import Escalation
from ticketing.sla.ladder import Clock, Level, Timelines, due, next_time
from ticketing.sla.services import CLOCK_EVENTS, PolicyCatalog, escalation_steps, load_catalog
from ticketing.sla.sweep_directory import Directory
from ticketing.sla.sweep_rows import SweepRows
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.lifecycle import OPEN_STATUSES

__all__ = ["Directory", "sweep", "sweep_batch"]


def sweep(uow: UnitOfWork, now: datetime, limit: int = 1000) -> int:
    """Fire every escalation due by `now` (at most `limit` cases); return how many fired."""
    return sweep_batch(uow, now, limit)[1]


def sweep_batch(uow: UnitOfWork, now: datetime, limit: int = 1000) -> tuple[int, int]:
    """One batch of the sweep: returns (cases taken, rungs fired); call again while the
    batch was full.

    What every case needs (policies, who to notify, what fired before) is read once for
    the batch, nothing is flushed case by case, and the new rows and the cases' changed
    columns go in with one statement a table just before the commit.
    """
    # A batch makes thousands of short-lived objects and frees them all at the end; the
    # cyclic collector scanning them midway cost a third of the time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        taken, fired = _fire_batch(uow, now, limit)
        if taken:
            uow.commit()
        return taken, fired
    finally:
        if collecting:
            gc.enable()


def _fire_batch(uow: UnitOfWork, now: datetime, limit: int) -> tuple[int, int]:
    """Take the due cases and write what fires, for `sweep_batch` to commit."""
    session = uow.session
    catalog = load_catalog(session)
    tickets = session.scalars(
        select(Ticket)
        .where(Ticket.next_escalation_at <= now)
        .order_by(Ticket.next_escalation_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Ticket)
        .options(
            # Only the events deadlines depend on: a case's whole history is not needed.
            selectinload(Ticket.events.and_(TicketEvent.kind.in_(CLOCK_EVENTS))),
            selectinload(Ticket.category),
            selectinload(Ticket.grid),
            selectinload(Ticket.community),
            selectinload(Ticket.assignee),
        )
    ).all()
    if not tickets:
        return 0, 0
    directory = Directory(session)
    fired_before = _fired_many(session, tickets)
    rows, timelines = SweepRows(), Timelines()
    with session.no_autoflush:
        fired = sum(
            _fire_due(t, catalog, directory, fired_before.get(t.id, set()), now, rows, timelines)
            for t in tickets
        )
        rows.write(uow)
    return len(tickets), fired


def _fired_many(session: Session, tickets: Sequence[Ticket]) -> dict[int, set[tuple[Clock, Level]]]:
    """The rungs already fired for the current deadline versions of a batch of cases."""
    versions = {
        t.id: {Clock.ACCEPT: t.assignment_version, Clock.RESOLVE: t.deadline_version}
        for t in tickets
    }
    found: dict[int, set[tuple[Clock, Level]]] = defaultdict(set)
    result = session.execute(
        select(
            Escalation.ticket_id, Escalation.clock, Escalation.level, Escalation.deadline_version
        ).where(Escalation.ticket_id.in_(versions))
    )
    for ticket_id, clock, level, version in result:
        if versions[ticket_id][Clock(clock)] == version:
            found[ticket_id].add((Clock(clock), Level(level)))
    return found


def _fire_due(
    ticket: Ticket,
    catalog: PolicyCatalog,
    directory: Directory,
    fired: set[tuple[Clock, Level]],
    now: datetime,
    rows: SweepRows,
    timelines: Timelines,
) -> int:
    if ticket.status not in OPEN_STATUSES or ticket.sla_policy_id is None:
        rows.change(ticket, "next_escalation_at", None)
        return 0
    calendar = catalog.calendar_of(ticket.sla_policy_id)
    if not calendar.always_open and not calendar.is_open(now):
        rows.change(ticket, "next_escalation_at", calendar.next_open(now))  # no SMS at night
        return 0
    steps = escalation_steps(ticket, catalog, timelines)
    to_fire = due(steps, fired, now)
    for step in to_fire:
        rows.fire(ticket, step, calendar, directory.recipients(ticket, step.level), now)
        fired.add((step.clock, step.level))
    rows.change(ticket, "next_escalation_at", next_time(steps, fired))
    return len(to_fire)
