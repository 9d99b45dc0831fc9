"""Keeping each case's SLA columns true: the policy catalogue, deadlines, policy versions.

`refresh_deadlines` runs inside every service that changes what the SLA depends on
(assignment, acceptance, resolution, pauses, category or priority), so the indexed
`next_escalation_at` column is always the next moment anything can fire. The sweep that
fires the rungs when that moment comes lives in `ticketing.sla.sweep`, which builds on the
catalogue and ladders here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ticketing.exceptions import InvalidInput, NotFound
from ticketing.models.cases import Ticket
from ticketing.models.sla import CalendarRow, Escalation, SlaPolicyRow, SlaRuleRow
from ticketing.sla.business_time import (
    BusinessCalendar,
    Window,
    WorkingDays,
    official_china_workday,
    weekdays,
)
from ticketing.sla.ladder import Clock, Level, RunningClock, Step, Timelines, next_time, schedule
from ticketing.sla.policies import PolicyRule, SlaPolicy, choose_policy, deadlines, pauses
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.catalogue import Priority
from ticketing.vocabulary.events import EventKind
from ticketing.vocabulary.lifecycle import OPEN_STATUSES, TicketStatus

log = logging.getLogger(__name__)

_OFFICIAL: dict[str, Callable[[date], bool]] = {
    "cn": official_china_workday,
    "weekdays": weekdays,
}


@dataclass(frozen=True)
class PolicyCatalog:
    rules: tuple[PolicyRule, ...]
    current: dict[str, int]  # policy code -> id of its current version
    policies: dict[int, SlaPolicy]
    calendars: dict[str, BusinessCalendar]

    def calendar_of(self, policy_id: int) -> BusinessCalendar:
        return self.calendars[self.policies[policy_id].calendar]


def calendar_from_row(row: CalendarRow) -> BusinessCalendar:
    return BusinessCalendar(
        row.code,
        ZoneInfo(row.zone),
        tuple(Window(time.fromisoformat(a), time.fromisoformat(b)) for a, b in row.windows),
        WorkingDays(
            official=_OFFICIAL[row.official],
            extra_holidays=frozenset(date.fromisoformat(d) for d in row.extra_holidays),
            extra_workdays=frozenset(date.fromisoformat(d) for d in row.extra_workdays),
        ),
    )


def load_catalog(session: Session) -> PolicyCatalog:
    """The rules, policies and calendars, read once per service call or sweep."""
    rows = session.scalars(select(SlaPolicyRow)).all()
    rules = tuple(
        PolicyRule(
            r.policy_code,
            frozenset(r.categories) if r.categories is not None else None,
            frozenset(Priority(p) for p in r.priorities) if r.priorities is not None else None,
        )
        for r in session.scalars(select(SlaRuleRow).order_by(SlaRuleRow.position))
    )
    return PolicyCatalog(
        rules=rules,
        current={r.code: r.id for r in rows if r.current},
        policies={
            r.id: SlaPolicy(
                r.code,
                r.version,
                r.name,
                r.calendar_code,
                timedelta(minutes=r.accept_minutes),
                timedelta(minutes=r.resolve_minutes),
                timedelta(minutes=r.update_minutes) if r.update_minutes else None,
            )
            for r in rows
        },
        calendars={c.code: calendar_from_row(c) for c in session.scalars(select(CalendarRow))},
    )


def _clocks(ticket: Ticket, policy: SlaPolicy) -> list[RunningClock]:
    running = [RunningClock(Clock.RESOLVE, resolve_clock_start(ticket), policy.resolve_within)]
    if ticket.status is TicketStatus.ASSIGNED and ticket.assigned_at is not None:
        running.append(RunningClock(Clock.ACCEPT, ticket.assigned_at, policy.accept_within))
    return running


def resolve_clock_start(ticket: Ticket) -> datetime:
    """Registration, or the last reopening: a reopened case gets the policy's full time
    again, rather than an old deadline that would escalate to the city at once."""
    reopened = [e.at for e in ticket.events if e.kind == EventKind.REOPENED]
    return max(reopened, default=ticket.created_at)


def pause_history(ticket: Ticket) -> list[tuple[datetime, str]]:
    """The facts pauses are derived from: every 'paused' and 'resumed' event."""
    return [
        (e.at, e.kind) for e in ticket.events if e.kind in (EventKind.PAUSED, EventKind.RESUMED)
    ]


# The events deadlines are computed from (pauses, and a reopening restarting the clock).
CLOCK_EVENTS = (EventKind.PAUSED, EventKind.RESUMED, EventKind.REOPENED)


def _fired(session: Session, ticket: Ticket) -> set[tuple[Clock, Level]]:
    if ticket.id is None:
        return set()
    rows = session.execute(
        select(Escalation.clock, Escalation.level, Escalation.deadline_version).where(
            Escalation.ticket_id == ticket.id
        )
    ).all()
    versions = {Clock.ACCEPT: ticket.assignment_version, Clock.RESOLVE: ticket.deadline_version}
    return {
        (Clock(clock), Level(level))
        for clock, level, version in rows
        if versions[Clock(clock)] == version
    }


def escalation_steps(
    ticket: Ticket, catalog: PolicyCatalog, timelines: Timelines | None = None
) -> list[Step]:
    """Every rung of the case's running clocks, from its policy, calendar and pauses
    (`timelines` lets many cases share the calendar walk; see `escalation.schedule`)."""
    assert ticket.sla_policy_id is not None
    policy = catalog.policies[ticket.sla_policy_id]
    return schedule(
        catalog.calendar_of(ticket.sla_policy_id),
        _clocks(ticket, policy),
        pauses(pause_history(ticket)),
        timelines=timelines,
    )


def refresh_deadlines(
    session: Session,
    ticket: Ticket,
    catalog: PolicyCatalog | None = None,
    *,
    reselect: bool = False,
    fresh: bool = False,
) -> None:
    """Recompute the SLA columns; with `reselect`, choose the policy again first (a new
    case, a changed category or priority) and start a new deadline version if it changed."""
    catalog = catalog or load_catalog(session)
    if not catalog.rules:
        log.warning("no SLA rules are configured: case %s has no deadlines", ticket.number)
        return
    if ticket.status not in OPEN_STATUSES:
        ticket.accept_by = ticket.resolve_by = ticket.next_escalation_at = None
        return
    if reselect or ticket.sla_policy_id is None:
        code = choose_policy(catalog.rules, ticket.category.code, ticket.priority)
        chosen = catalog.current[code]
        if ticket.sla_policy_id not in (None, chosen):
            ticket.deadline_version += 1
        ticket.sla_policy_id = chosen
        ticket.sla_policy = session.get(SlaPolicyRow, chosen)  # keep the loaded relation true
    policy = catalog.policies[ticket.sla_policy_id]
    calendar = catalog.calendar_of(ticket.sla_policy_id)
    assigned_at = ticket.assigned_at if ticket.status is TicketStatus.ASSIGNED else None
    found = deadlines(
        policy, calendar, resolve_clock_start(ticket), assigned_at, False, pause_history(ticket)
    )
    ticket.accept_by, ticket.resolve_by = found.accept_by, found.resolve_by
    fired = set() if fresh else _fired(session, ticket)  # a new case has fired nothing
    ticket.next_escalation_at = next_time(escalation_steps(ticket, catalog), fired)


def new_policy_version_uncommitted(
    uow: UnitOfWork,
    code: str,
    *,
    accept_within: timedelta | None = None,
    resolve_within: timedelta | None = None,
    calendar: str | None = None,
    name: str | None = None,
) -> SlaPolicyRow:
    """A policy's next version, in a transaction its caller commits with the audit row
    (`admin.services.change_sla_policy`, which also checks the durations); open cases
    keep theirs until recomputed."""
    session = uow.session
    current = session.scalars(
        select(SlaPolicyRow).where(SlaPolicyRow.code == code, SlaPolicyRow.current.is_(True))
    ).one_or_none()
    if current is None:
        raise NotFound(f"no SLA policy {code!r}")
    if (
        calendar is not None
        and session.scalars(select(CalendarRow).where(CalendarRow.code == calendar)).one_or_none()
        is None
    ):
        raise InvalidInput(f"no calendar {calendar!r}")
    current.current = False
    row = SlaPolicyRow(
        code=code,
        version=current.version + 1,
        name=name or current.name,
        calendar_code=calendar or current.calendar_code,
        accept_minutes=_minutes(accept_within) if accept_within else current.accept_minutes,
        resolve_minutes=_minutes(resolve_within) if resolve_within else current.resolve_minutes,
        update_minutes=current.update_minutes,
        current=True,
    )
    session.add(row)
    return row


def _minutes(duration: timedelta) -> int:
    return int(duration.total_seconds() // 60)


def recompute_open_cases(uow: UnitOfWork, after_id: int = 0, batch: int = 500) -> tuple[int, int]:
    """Re-choose the policy and recompute deadlines for one batch of open cases (ids above
    `after_id`), committing the batch; returns how many were done and the last id.

    Batches keep each transaction short, so a policy change on a million open cases never
    holds locks the web and the sweep are waiting for.
    """
    session = uow.session
    catalog = load_catalog(session)
    tickets = session.scalars(
        select(Ticket)
        .where(Ticket.id > after_id, Ticket.status.in_(OPEN_STATUSES))
        .order_by(Ticket.id)
        .limit(batch)
        .options(selectinload(Ticket.events))
    ).all()
    for ticket in tickets:
        refresh_deadlines(session, ticket, catalog, reselect=True)
    uow.commit()
    return len(tickets), (tickets[-1].id if tickets else after_id)
