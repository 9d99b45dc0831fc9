"""Keeping each case's SLA columns true, and the sweep that fires escalations.

`refresh_deadlines` runs inside every service that changes what the SLA depends on
(assignment, acceptance, resolution, pauses, category or priority), so the indexed
`next_escalation_at` column is always the next moment anything can fire. The sweep
reads only rows whose moment has come, so its cost follows the due cases, not the open
ones; each rung it fires is a unique row, so a second sweeper or a retry fires nothing.
"""

from __future__ import annotations

import gc
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ticketing import messages
from ticketing.business_time import (
    BusinessCalendar,
    Window,
    WorkingDays,
    official_china_workday,
    weekdays,
)
from ticketing.case_records import case_facts, queue_sms, record_event
from ticketing.catalogue import Priority
from ticketing.escalation import Clock, Level, RunningClock, Step, due, next_time, schedule
from ticketing.exceptions import InvalidInput, NotFound
from ticketing.lifecycle import OPEN_STATUSES, TicketStatus
from ticketing.models import (
    CalendarRow,
    Escalation,
    GridAssignment,
    Region,
    SlaPolicyRow,
    SlaRuleRow,
    Staff,
    StaffRole,
    Ticket,
    TicketEvent,
)
from ticketing.routing import AssignmentRole
from ticketing.sla import PolicyRule, SlaPolicy, choose_policy, deadlines, pauses
from ticketing.unit_of_work import UnitOfWork

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
    reopened = [e.at for e in ticket.events if e.kind == "reopened"]
    return max(reopened, default=ticket.created_at)


def pause_history(ticket: Ticket) -> list[tuple[datetime, str]]:
    """The facts pauses are derived from: every 'paused' and 'resumed' event."""
    return [(e.at, e.kind) for e in ticket.events if e.kind in ("paused", "resumed")]


# The events deadlines are computed from (pauses, and a reopening restarting the clock).
CLOCK_EVENTS = ("paused", "resumed", "reopened")


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


def _schedule(session: Session, ticket: Ticket, catalog: PolicyCatalog) -> list[Step]:
    assert ticket.sla_policy_id is not None
    policy = catalog.policies[ticket.sla_policy_id]
    return schedule(
        catalog.calendar_of(ticket.sla_policy_id),
        _clocks(ticket, policy),
        pauses(pause_history(ticket)),
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
    ticket.next_escalation_at = next_time(_schedule(session, ticket, catalog), fired)


def sweep(uow: UnitOfWork, now: datetime, limit: int = 1000) -> int:
    """Fire every escalation due by `now` (at most `limit` cases); return how many fired."""
    return sweep_batch(uow, now, limit)[1]


def sweep_batch(uow: UnitOfWork, now: datetime, limit: int = 1000) -> tuple[int, int]:
    """One batch of the sweep: returns (cases taken, rungs fired); call again while the
    batch was full.

    Rows are taken with FOR UPDATE SKIP LOCKED, so concurrent sweepers share the work
    instead of repeating it. What every case needs (policies, who to notify, what fired
    before) is read once for the batch, and nothing is flushed until the commit.
    """
    # A batch makes thousands of short-lived ORM objects and frees them all at the end;
    # the cyclic collector scanning them midway cost a third of the time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _sweep_batch(uow, now, limit)
    finally:
        if collecting:
            gc.enable()


def _sweep_batch(uow: UnitOfWork, now: datetime, limit: int) -> tuple[int, int]:
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
    with session.no_autoflush:
        fired = sum(
            _fire_due(uow, t, catalog, directory, fired_before.get(t.id, set()), now)
            for t in tickets
        )
    uow.commit()
    return len(tickets), fired


def _fired_many(session: Session, tickets: Sequence[Ticket]) -> dict[int, set[tuple[Clock, Level]]]:
    """The rungs already fired for the current deadline versions of a batch of cases."""
    versions = {
        t.id: {Clock.ACCEPT: t.assignment_version, Clock.RESOLVE: t.deadline_version}
        for t in tickets
    }
    found: dict[int, set[tuple[Clock, Level]]] = defaultdict(set)
    rows = session.execute(
        select(
            Escalation.ticket_id, Escalation.clock, Escalation.level, Escalation.deadline_version
        ).where(Escalation.ticket_id.in_(versions))
    )
    for ticket_id, clock, level, version in rows:
        if versions[ticket_id][Clock(clock)] == version:
            found[ticket_id].add((Clock(clock), Level(level)))
    return found


def _fire_due(
    uow: UnitOfWork,
    ticket: Ticket,
    catalog: PolicyCatalog,
    directory: Directory,
    fired: set[tuple[Clock, Level]],
    now: datetime,
) -> int:
    session = uow.session
    if ticket.status not in OPEN_STATUSES or ticket.sla_policy_id is None:
        ticket.next_escalation_at = None
        return 0
    calendar = catalog.calendar_of(ticket.sla_policy_id)
    if not calendar.always_open and not calendar.is_open(now):
        ticket.next_escalation_at = calendar.next_open(now)  # no SMS at night
        return 0
    steps = _schedule(session, ticket, catalog)
    to_fire = due(steps, fired, now)
    for step in to_fire:
        version = (
            ticket.assignment_version if step.clock is Clock.ACCEPT else ticket.deadline_version
        )
        session.add(
            Escalation(
                ticket_id=ticket.id,
                clock=step.clock.value,
                deadline_version=version,
                level=step.level.value,
                due_at=step.at,
                fired_at=now,
            )
        )
        fired.add((step.clock, step.level))
        _notify(uow, ticket, step, calendar, directory.recipients(ticket, step.level), now)
    ticket.next_escalation_at = next_time(steps, fired)
    return len(to_fire)


def _ancestor(region: Region | None, levels: int) -> Region | None:
    for _ in range(levels):
        region = region.parent if region is not None else None
    return region


class Directory:
    """Who to notify, read once per sweep batch instead of a few queries per rung."""

    def __init__(self, session: Session) -> None:
        self.supervisors: dict[int | None, list[Staff]] = defaultdict(list)
        self.dispatchers: dict[int | None, list[Staff]] = defaultdict(list)
        self.backups: dict[int, list[Staff]] = defaultdict(list)
        people = session.scalars(
            select(Staff)
            .where(
                Staff.active.is_(True),
                Staff.role.in_([StaffRole.SUPERVISOR, StaffRole.DISPATCHER]),
            )
            .order_by(Staff.id)
        )
        for person in people:
            if person.role is StaffRole.SUPERVISOR:
                self.supervisors[person.region_id].append(person)
            else:
                self.dispatchers[person.department_id].append(person)
        backups = session.execute(
            select(GridAssignment.grid_id, Staff)
            .join(Staff, Staff.id == GridAssignment.staff_id)
            .where(GridAssignment.role == AssignmentRole.BACKUP, Staff.active.is_(True))
        )
        for grid_id, person in backups:
            self.backups[grid_id].append(person)

    def _responsible(self, ticket: Ticket) -> list[Staff]:
        if ticket.assignee is not None:
            return [ticket.assignee]
        return list(self.dispatchers.get(ticket.department_id, [])) if ticket.department_id else []

    def recipients(self, ticket: Ticket, level: Level) -> list[Staff]:
        """Who hears of a rung: the assignee first, then each level up the region
        hierarchy (community, street, district, city), starting from the case's community."""
        community = ticket.community
        if level is Level.REMINDER:
            people = self._responsible(ticket)
        elif level is Level.BREACH:
            backups = self.backups.get(ticket.grid_id, []) if ticket.grid_id else []
            local = self.supervisors.get(community.id, []) if community else []
            people = [*backups, *local] or self._responsible(ticket)
        else:
            up = {Level.STREET: 1, Level.DISTRICT: 2, Level.CITY: 3}[level]
            region = _ancestor(community, up)
            people = self.supervisors.get(region.id, []) if region else []
        unique = {person.id: person for person in people}
        return list(unique.values())


def _notify(
    uow: UnitOfWork,
    ticket: Ticket,
    step: Step,
    calendar: BusinessCalendar,
    people: list[Staff],
    now: datetime,
) -> None:
    record_event(
        ticket,
        "escalated",
        "system",
        now,
        note=f"{step.clock} {step.level}",
        data={
            "clock": step.clock.value,
            "level": step.level.value,
            "due_at": step.at.isoformat(),
            "notified": [p.id for p in people],
        },
    )
    local_due = step.at.astimezone(calendar.zone).strftime("%m-%d %H:%M")
    for person in people:
        body = messages.escalation(
            case_facts(ticket), step.clock.value, step.level.value, local_due, person.language
        )
        queue_sms(uow, ticket, person.phone, body, f"escalation:{step.level.value}", now, person)


def new_policy_version(
    uow: UnitOfWork,
    code: str,
    *,
    accept_within: timedelta | None = None,
    resolve_within: timedelta | None = None,
    calendar: str | None = None,
    name: str | None = None,
) -> SlaPolicyRow:
    """Change a policy by adding a version; cases keep theirs until recomputed."""
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
    uow.commit()
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
