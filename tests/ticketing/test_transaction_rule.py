"""The transaction rule on the real database: a use case commits the unit of work it is
given, a step or a query leaves it as it was, and a refused use case keeps nothing.

"Kept" is checked from a second unit of work: what the first did not commit is rolled back
when it closes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from hotline.bootstrap import Services
from tests.conftest import FixedClock
from tests.factories import CALLER, new_case
from ticketing.admin import queries, schedules
from ticketing.cases import console_moves, intake, transcripts
from ticketing.cases.console_moves import Mover
from ticketing.exceptions import InvalidInput, MoveNotAllowed, NotFound
from ticketing.models.accounts import User
from ticketing.models.calls import Call
from ticketing.models.cases import Ticket, TicketEvent
from ticketing.models.sms import SmsDirection
from ticketing.notices import outbox
from ticketing.people import accounts
from ticketing.people.visibility import visible_number
from ticketing.vocabulary.events import Actor

pytestmark = pytest.mark.integration

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime.combine(date(2026, 11, 27), time(10, 30), tzinfo=SH).astimezone(UTC)


def _new(where: str = "1101", caller: str | None = CALLER) -> intake.NewCase:
    return new_case(where=where, description="lamp out", caller=caller)


def _user(services: Services, username: str) -> User:
    with services.uow() as uow:
        return uow.session.scalars(select(User).where(User.username == username)).one()


def _kept(services: Services, number: str) -> bool:
    with services.uow() as uow:
        found = uow.session.scalar(select(Ticket.id).where(Ticket.number == number))
    return found is not None


def _events(services: Services, number: str, kind: str) -> int:
    with services.uow() as uow:
        query = (
            select(func.count(TicketEvent.id))
            .join(Ticket, Ticket.id == TicketEvent.ticket_id)
            .where(Ticket.number == number, TicketEvent.kind == kind)
        )
        return int(uow.session.scalar(query) or 0)


def test_open_case_commits_and_its_uncommitted_form_leaves_that_to_the_caller(
    services: Services,
) -> None:
    with services.uow() as uow:
        opened = intake.open_case(uow, _new(), NOW, SH).number
    assert _kept(services, opened)
    with services.uow() as uow:
        summary, _ = intake.open_case_uncommitted(uow, _new(), NOW, SH)
    assert not _kept(services, summary.number)  # nobody committed it: rolled back


def test_account_changes_commit_themselves(services: Services, clock: FixedClock) -> None:
    with services.uow() as uow:
        accounts.add_user(
            uow,
            username="new.agent",
            password="long-enough-pw",
            role="agent",
            actor=Actor.cli("t"),
            now=NOW,
        )
    with services.uow() as uow:
        result = accounts.authenticate(uow, "new.agent", "wrong-password", NOW)
    assert not result.ok
    with services.uow() as uow:
        user = accounts.get_user(uow.session, "new.agent")
        assert user.failed_logins == 1  # the refusal's count stuck with no caller's commit
    with services.uow() as uow:
        accounts.set_active(uow, "new.agent", False, Actor.cli("t"), NOW)
    with services.uow() as uow:
        assert not accounts.get_user(uow.session, "new.agent").active


def test_the_demo_loader_adds_accounts_uncommitted(services: Services) -> None:
    with services.uow() as uow:
        accounts.add_user_uncommitted(
            uow,
            username="not.kept",
            password="long-enough-pw",
            role="agent",
            actor=Actor.cli("t"),
            now=NOW,
        )
        assert accounts.find_user(uow.session, "not.kept") is not None
    with services.uow() as uow:
        assert accounts.find_user(uow.session, "not.kept") is None


def test_a_console_move_commits_and_a_refused_one_keeps_nothing(services: Services) -> None:
    with services.uow() as uow:
        number = intake.open_case(uow, _new(), NOW, SH).number
    agent = Mover(_user(services, "agent"), Actor.user(1), NOW, SH)
    with services.uow() as uow:
        console_moves.add_note(uow, agent, number, "the caller rang again")
    assert _events(services, number, "note") == 1
    with services.uow() as uow, pytest.raises(InvalidInput, match="reason"):
        console_moves.cancel_case(uow, agent, number, "   ")
    assert _events(services, number, "cancelled") == 0
    with services.uow() as uow:
        into = intake.open_case(uow, _new(where="1102"), NOW, SH).number
    with services.uow() as uow:
        assert console_moves.merge_case(uow, agent, number, into) == into
    assert _events(services, number, "merged") == 1


def test_a_case_out_of_sight_is_not_found_before_the_role_is_asked(services: Services) -> None:
    with services.uow() as uow:
        mine = intake.open_case(uow, _new("1101"), NOW, SH).number
        elsewhere = intake.open_case(uow, _new("2101"), NOW, SH).number
    member = Mover(_user(services, "grid_member"), Actor.user(5), NOW, SH)
    with services.uow() as uow, pytest.raises(NotFound):
        console_moves.cancel_case(uow, member, elsewhere, "not mine")  # nor may it cancel
    with services.uow() as uow, pytest.raises(MoveNotAllowed):
        console_moves.cancel_case(uow, member, mine, "a prank")
    with services.uow() as uow:
        assert visible_number(uow.session, member.user, mine) == mine
        assert visible_number(uow.session, member.user, elsewhere) is None
    assert _events(services, mine, "cancelled") == 0


def test_an_assignment_goes_by_employee_number_or_department_code(services: Services) -> None:
    with services.uow() as uow:
        number = intake.open_case(uow, _new(), NOW, SH).number
    agent = Mover(_user(services, "agent"), Actor.user(1), NOW, SH)
    with services.uow() as uow, pytest.raises(InvalidInput, match="GM9999"):
        console_moves.assign_case(uow, agent, number, "GM9999", "", "typo")
    with services.uow() as uow, pytest.raises(InvalidInput, match="no department"):
        console_moves.assign_case(uow, agent, number, "", "nowhere", "typo")
    with services.uow() as uow:
        held = console_moves.assign_case(uow, agent, number, "", "water_utility", "a leak")
    assert held == "water_utility"
    with services.uow() as uow:
        ticket = uow.session.scalars(select(Ticket).where(Ticket.number == number)).one()
        assert ticket.assignee_id is None
        assert ticket.department is not None
        assert ticket.department.code == "water_utility"


def test_the_transcription_job_reads_a_recording_once(services: Services) -> None:
    with services.uow() as uow:
        summary, ticket = intake.open_case_uncommitted(uow, _new(), NOW, SH)
        ticket.recording_url = "https://api.twilio.com/recordings/RE1"
        uow.commit()
        ticket_id = ticket.id
    with services.uow() as uow:
        recording = transcripts.recording_to_transcribe(uow, ticket_id)
    assert recording == transcripts.Recording(
        "https://api.twilio.com/recordings/RE1", summary.number, "zh-CN"
    )
    with services.uow() as uow:
        transcripts.note_transcription_failure(uow, ticket_id, "silence", NOW)
    with services.uow() as uow:
        assert transcripts.recording_to_transcribe(uow, ticket_id) is None  # a repeated job
        assert transcripts.recording_to_transcribe(uow, -1) is None


def test_a_call_is_read_with_the_case_it_opened(services: Services) -> None:
    with services.uow() as uow, pytest.raises(NotFound):
        intake.get_call(uow, "CA-none")
    with services.uow() as uow:
        number = intake.open_case(uow, _new(), NOW, SH).number
        ticket = uow.session.scalars(select(Ticket).where(Ticket.number == number)).one()
        for sid, ticket_id in (("CA-with", ticket.id), ("CA-without", None)):
            uow.session.add(
                Call(
                    call_sid=sid,
                    from_number=CALLER,
                    to_number="+8637112345",
                    status="completed",
                    flow="hotline",
                    state={},
                    started_at=NOW,
                    ticket_id=ticket_id,
                )
            )
        uow.commit()
    with services.uow() as uow:
        with_case = intake.get_call(uow, "CA-with")
        without = intake.get_call(uow, "CA-without")
    assert with_case.case is not None
    assert with_case.case.number == number
    assert (without.status, without.case) == ("completed", None)


def test_the_outbox_lists_the_newest_outgoing_first(services: Services) -> None:
    with services.uow() as uow:
        intake.open_case(uow, _new(), NOW, SH)
        intake.open_case(uow, _new(caller="+8613812340000"), NOW, SH)
    with services.uow() as uow:
        newest = outbox.newest_outbound(uow.session, None, 3)
        to_caller = outbox.newest_outbound(uow.session, CALLER, 10)
    assert [m.id for m in newest] == sorted((m.id for m in newest), reverse=True)
    assert all(m.direction is SmsDirection.OUTBOUND for m in newest)
    assert to_caller
    assert {m.to_number for m in to_caller} == {CALLER}


def test_a_roster_row_removed_from_a_members_page_must_be_theirs(
    services: Services, clock: FixedClock
) -> None:
    with services.uow() as uow:
        shift = schedules.add_shift(uow, Actor.user(1), clock(), "GM0001", 5, "09:00", "12:00")
        shift_id = shift.id
    with services.uow() as uow, pytest.raises(InvalidInput, match="GM0002 has no such entry"):
        schedules.remove_shift(uow, Actor.user(1), clock(), shift_id, of_member="GM0002")
    with services.uow() as uow:
        assert [s.id for s in queries.roster(uow.session, "GM0001").shifts] == [shift_id]
        with pytest.raises(NotFound):
            queries.roster(uow.session, "GM9999")
    with services.uow() as uow:
        schedules.remove_shift(uow, Actor.user(1), clock(), shift_id, of_member="GM0001")
    with services.uow() as uow:
        assert queries.roster(uow.session, "GM0001").shifts == []


def test_a_policy_s_working_day_follows_its_calendar(services: Services) -> None:
    with services.uow() as uow:
        assert queries.policy_working_day(uow.session, "no_such_policy", None) is None
        day = queries.policy_working_day(uow.session, "general", None)
        always = queries.policy_working_day(uow.session, "general", "24x7")
    assert day is not None
    assert day < timedelta(days=1)  # office hours
    assert always == timedelta(days=1)
