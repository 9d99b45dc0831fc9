"""Deadlines and escalations on the real database: exact instants, each rung once."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from hotline.bootstrap import Services
from tests.conftest import FixedClock
from tests.factories import SH, open_case
from ticketing.cases import services as cases
from ticketing.models.cases import CaseSequence, Ticket, TicketEvent
from ticketing.models.people import Staff, StaffRole
from ticketing.models.sla import Escalation
from ticketing.models.sms import SmsMessage
from ticketing.sla.business_time import OFFICE_HOURS, TWENTY_FOUR_SEVEN, BusinessCalendar, Window
from ticketing.sla.ladder import Clock, RunningClock, Timelines, schedule
from ticketing.sla.sweep import sweep
from ticketing.unit_of_work import CaseEvent, DomainEvent, SmsQueued, UnitOfWork, on_sms_queued
from ticketing.vocabulary.events import Actor, EventKind
from ticketing.vocabulary.lifecycle import TicketStatus

pytestmark = pytest.mark.integration


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(date(2026, 11, day), time(hour, minute), tzinfo=SH).astimezone(UTC)


def _ticket(uow: UnitOfWork, number: str) -> Ticket:
    return uow.session.scalars(select(Ticket).where(Ticket.number == number)).one()


def _sms_purposes(uow: UnitOfWork, number: str) -> list[tuple[str, str]]:
    ticket = _ticket(uow, number)
    rows = uow.session.execute(
        select(SmsMessage.purpose, Staff.role)
        .join(Staff, Staff.id == SmsMessage.staff_id)
        .where(SmsMessage.ticket_id == ticket.id, SmsMessage.purpose.like("escalation:%"))
        .order_by(SmsMessage.id)
    ).all()
    return [(purpose, role.value) for purpose, role in rows]


@pytest.fixture
def friday_case(services: Services, clock: FixedClock) -> str:
    clock.now = at(27, 10, 30)  # Friday 10:30 in Shanghai
    with services.uow() as uow:
        return open_case(uow, clock(), language="en-US").number


def test_a_new_case_carries_its_policy_and_deadlines(services: Services, friday_case: str) -> None:
    with services.uow() as uow:
        ticket = _ticket(uow, friday_case)
        assert ticket.sla_policy is not None
        assert (ticket.sla_policy.code, ticket.sla_policy.version) == ("general", 1)
        assert ticket.accept_by == at(27, 16)  # 4 working hours, lunch skipped
        # 52.5 working hours: Friday 5.5, the next week 37.5, Monday 7.5, Tuesday 2.
        assert ticket.resolve_by == datetime(2026, 12, 8, 10, 30, tzinfo=SH)
        assert ticket.next_escalation_at == at(27, 15)  # the reminder, at 75%


def test_sweep_fires_each_rung_once_up_the_hierarchy(
    services: Services, clock: FixedClock, friday_case: str
) -> None:
    def run(now: datetime) -> int:
        with services.uow() as uow:
            return sweep(uow, now)

    assert run(at(27, 14, 59)) == 0
    assert run(at(27, 15)) == 1  # accept reminder
    assert run(at(27, 15, 1)) == 0  # nothing re-fires on the next sweep
    assert run(at(27, 16)) == 1  # accept breach
    assert run(at(27, 17)) == 1  # the street office, at 125%
    with services.uow() as uow:
        assert _sms_purposes(uow, friday_case) == [
            ("escalation:reminder", "grid_member"),  # the assignee
            ("escalation:breach", "grid_member"),  # the backup member
            ("escalation:breach", "supervisor"),  # the community supervisor
            ("escalation:street", "supervisor"),
        ]
        ticket = _ticket(uow, friday_case)
        escalated = [e.data["level"] for e in ticket.events if e.kind == "escalated"]
        assert escalated == ["reminder", "breach", "street"]


def test_nothing_fires_outside_working_hours(services: Services, friday_case: str) -> None:
    with services.uow() as uow:
        assert sweep(uow, at(27, 19)) == 0  # Friday evening: reminder and breach wait
        assert _ticket(uow, friday_case).next_escalation_at == at(30, 8, 30)
    with services.uow() as uow:
        assert sweep(uow, at(28, 10)) == 0  # Saturday: still nothing, no re-check storm
    with services.uow() as uow:
        # Monday morning: reminder, breach and street came due at once; the district (150%)
        # is due at 09:00.
        assert sweep(uow, at(30, 8, 30)) == 3


def test_accepting_stops_the_accept_clock(
    services: Services, clock: FixedClock, friday_case: str
) -> None:
    with services.uow() as uow:
        ticket = _ticket(uow, friday_case)
        assert ticket.assignee is not None
        cases.accept(uow, ticket, ticket.assignee, "", at(27, 11))
        uow.commit()
        assert ticket.status is TicketStatus.ACCEPTED
        assert ticket.accept_by is None
        assert ticket.next_escalation_at is not None
        assert ticket.next_escalation_at > at(30, 0)  # now the resolve reminder, days away
    with services.uow() as uow:
        assert sweep(uow, at(27, 17)) == 0


def test_waiting_on_the_resident_stops_the_clock_and_resuming_adds_the_time(
    services: Services, friday_case: str
) -> None:
    with services.uow() as uow:
        ticket = _ticket(uow, friday_case)
        before = ticket.resolve_by
        cases.pause(uow, ticket, Actor.user(1), "resident away until Monday", at(27, 11))
        uow.commit()
        assert (ticket.accept_by, ticket.resolve_by, ticket.next_escalation_at) == (None,) * 3
    with services.uow() as uow:
        assert sweep(uow, at(27, 17)) == 0
        ticket = _ticket(uow, friday_case)
        cases.resume(uow, ticket, Actor.user(1), "resident back", at(30, 9))
        uow.commit()
        # Paused 11:00-17:30 Friday and 08:30-09:00 Monday: 6 working hours in all.
        assert before is not None
        assert ticket.resolve_by is not None
        assert ticket.resolve_by - before > timedelta(hours=6)  # lunch and a night included
        with pytest.raises(Exception, match="not waiting"):
            cases.resume(uow, ticket, Actor.user(1), "again", at(30, 10))


def test_urgent_case_escalates_round_the_clock_to_the_city_office(
    services: Services, clock: FixedClock
) -> None:
    clock.now = at(28, 2)  # Saturday 02:00
    with services.uow() as uow:
        number = open_case(uow, clock(), category="gas_smell", language="en-US").number
        assert _ticket(uow, number).sla_policy.code == "urgent"  # type: ignore[union-attr]
    with services.uow() as uow:
        assert sweep(uow, at(28, 6)) == 10  # both ladders (accept 15 min, resolve 2 h), all rungs
    with services.uow() as uow:
        roles = {role for purpose, role in _sms_purposes(uow, number) if purpose.endswith("city")}
        assert roles == {"supervisor"}
        city = uow.session.scalars(
            select(Staff).where(Staff.role == StaffRole.SUPERVISOR, Staff.employee_no == "SV14")
        ).one()
        assert city.region is not None
        assert city.region.level == "city"


def test_a_fired_rung_writes_its_row_event_and_sms_and_hands_the_sms_to_the_sender(
    services: Services, session_factory: sessionmaker[Session], friday_case: str
) -> None:
    handed: list[int] = []
    with UnitOfWork(session_factory, [on_sms_queued(handed.append)]) as uow:
        assert sweep(uow, at(27, 16)) == 2  # the accept reminder (15:00) and breach (16:00)
    with services.uow() as uow:
        ticket = _ticket(uow, friday_case)
        assert ticket.updated_at == at(27, 16)
        assert ticket.next_escalation_at == at(27, 17)  # the street office, at 125%
        rungs = uow.session.scalars(
            select(Escalation).where(Escalation.ticket_id == ticket.id).order_by(Escalation.id)
        ).all()
        assert [(r.clock, r.level, r.deadline_version, r.due_at, r.fired_at) for r in rungs] == [
            ("accept", "reminder", ticket.assignment_version, at(27, 15), at(27, 16)),
            ("accept", "breach", ticket.assignment_version, at(27, 16), at(27, 16)),
        ]
        sms = uow.session.scalars(
            select(SmsMessage)
            .where(SmsMessage.ticket_id == ticket.id, SmsMessage.purpose.like("escalation:%"))
            .order_by(SmsMessage.id)
        ).all()
        assert handed == [m.id for m in sms]  # every row, in order, once committed
        assert ticket.assignee is not None
        reminder = sms[0]
        assert (reminder.to_number, reminder.staff_id) == (
            ticket.assignee.phone,
            ticket.assignee.id,
        )
        assert (reminder.direction.value, reminder.status.value, reminder.from_number) == (
            "outbound",
            "queued",
            "",
        )
        assert (reminder.attempts, reminder.created_at, reminder.updated_at) == (
            0,
            at(27, 16),
            at(27, 16),
        )
        assert ticket.number in reminder.body
        events = [e for e in ticket.events if e.kind == "escalated"]
        assert [(e.actor, e.note, e.at, e.from_status, e.to_status) for e in events] == [
            ("system", "accept reminder", at(27, 16), None, None),
            ("system", "accept breach", at(27, 16), None, None),
        ]
        assert events[0].data == {
            "clock": "accept",
            "level": "reminder",
            "due_at": at(27, 15).isoformat(),
            "notified": [ticket.assignee.id],
        }
        assert events[1].data["notified"] == [m.staff_id for m in sms[1:]]


def test_the_sweeps_bulk_rows_are_published_as_domain_events_once_committed(
    services: Services, session_factory: sessionmaker[Session], friday_case: str
) -> None:
    heard: list[DomainEvent] = []
    with UnitOfWork(session_factory, [heard.append]) as uow:
        assert sweep(uow, at(27, 16)) == 2
    escalated = [e for e in heard if isinstance(e, CaseEvent)]
    assert [(e.kind, e.actor, e.case_number, e.at) for e in escalated] == [
        (EventKind.ESCALATED, Actor.system(), friday_case, at(27, 16)),
        (EventKind.ESCALATED, Actor.system(), friday_case, at(27, 16)),
    ]
    assert [e.data["level"] for e in escalated] == ["reminder", "breach"]
    assert len([e for e in heard if isinstance(e, SmsQueued)]) >= 2


def test_ladders_from_shared_timelines_equal_the_calendar_walk() -> None:
    """The sweep shares each calendar's working intervals between the cases of a batch;
    every rung must fall exactly where the calendar alone puts it, whatever the order of
    the starts, on window edges, and on a calendar whose windows are listed out of order."""
    out_of_order = BusinessCalendar(
        "odd", SH, (Window(time(13, 30), time(17, 30)), Window(time(8, 30), time(12)))
    )
    new_york = BusinessCalendar(
        "ny",
        ZoneInfo("America/New_York"),
        (Window(time(0, 30), time(2)), Window(time(9), time(17))),
    )
    rng = random.Random(27)
    for calendar in (OFFICE_HOURS, new_york, out_of_order, TWENTY_FOUR_SEVEN):
        timelines = Timelines()
        for _ in range(300):
            start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(500_000))
            if rng.random() < 0.3 and calendar.windows:  # exactly on a window's edge
                edge = rng.choice([w.start for w in calendar.windows] + [calendar.windows[0].end])
                local = datetime.combine(start.astimezone(calendar.zone).date(), edge)
                start = local.replace(tzinfo=calendar.zone).astimezone(UTC)
            # 210 and 240 minutes fill office hours' windows exactly from their starts.
            clocks = [
                RunningClock(
                    Clock.RESOLVE, start, timedelta(minutes=rng.choice([120, 3150, 9999]))
                ),
                RunningClock(Clock.ACCEPT, start, timedelta(minutes=rng.choice([15, 210, 240]))),
            ]
            assert schedule(calendar, clocks, [], timelines=timelines) == schedule(
                calendar, clocks, []
            )


@pytest.fixture
def committed(db_engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions that really commit, for tests of concurrent transactions; cleaned after."""
    factory = sessionmaker(db_engine, expire_on_commit=False)
    with factory() as session:
        first = session.scalar(select(func.max(Ticket.id))) or 0
    yield factory
    with factory.begin() as session:
        ids = select(Ticket.id).where(Ticket.id > first)
        session.execute(delete(Escalation).where(Escalation.ticket_id.in_(ids)))
        session.execute(delete(SmsMessage).where(SmsMessage.ticket_id.in_(ids)))
        session.execute(delete(TicketEvent).where(TicketEvent.ticket_id.in_(ids)))
        session.execute(delete(Ticket).where(Ticket.id > first))
        session.execute(delete(CaseSequence).where(CaseSequence.day == "261127"))


def test_two_sweepers_at_once_fire_every_escalation_exactly_once(
    committed: sessionmaker[Session],
) -> None:
    clock = FixedClock(at(27, 10, 30))
    with UnitOfWork(committed) as uow:
        for n in range(40):
            open_case(uow, clock(), where=f"11{n % 23 + 1:02d}", language="en-US")
    fired: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def sweeper() -> None:
        start.wait()
        try:
            for now in (at(27, 15), at(27, 16), at(27, 17)):
                with UnitOfWork(committed) as uow:
                    fired.append(sweep(uow, now, limit=7))  # small batches: the two interleave
        except BaseException as exc:  # a duplicate would surface here as IntegrityError
            errors.append(exc)

    threads = [threading.Thread(target=sweeper) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with UnitOfWork(committed) as uow:
        while n := sweep(uow, at(27, 17)):  # what the small batches left for the next minute
            fired.append(n)
        keys = uow.session.execute(
            select(Escalation.ticket_id, Escalation.clock, Escalation.level, func.count()).group_by(
                Escalation.ticket_id, Escalation.clock, Escalation.level
            )
        ).all()
    assert len(keys) == 40 * 3  # reminder, breach and street for each case
    assert {n for *_, n in keys} == {1}
    assert sum(fired) == 40 * 3  # and each sweeper counted only what it fired
