"""The console's reads (ticketing.reporting.queues) on the demo city and the real DB: the
triage queue and its filters, keyset pages, the change stamp, and one case's details."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from hotline.bootstrap import Services
from tests.factories import SH, open_case
from ticketing.cases import agent_moves as moves
from ticketing.cases import services as cases
from ticketing.cases import transcripts
from ticketing.models.accounts import User, UserRole
from ticketing.models.cases import Ticket
from ticketing.models.places import Grid, Region
from ticketing.people.visibility import case_filter
from ticketing.reporting import queues as qq
from ticketing.sla.ladder import Level
from ticketing.sla.sweep import sweep
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.events import Actor
from ticketing.vocabulary.lifecycle import TicketStatus

pytestmark = pytest.mark.integration

AGENT = Actor.user(1)
ALL = true()


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(date(2026, 11, day), time(hour, minute), tzinfo=SH).astimezone(UTC)


NOW = local(27, 16)


def _returned(
    uow: UnitOfWork,
    at: datetime,
    where: str = "1101",
    category: str = "street_light",
    source: str = "phone",
) -> Ticket:
    """A case its member sent back: waiting for an agent again."""
    ticket = open_case(uow, at, where=where, category=category, source=source)
    assert ticket.assignee is not None
    cases.send_back(uow, ticket, ticket.assignee, "not my grid", at + timedelta(minutes=5))
    uow.commit()
    return ticket


def _numbers(
    session: Session,
    filters: qq.QueueFilters | None = None,
    *,
    visible: ColumnElement[bool] = ALL,
    now: datetime = NOW,
) -> list[str]:
    page = qq.queue_page(session, filters or qq.QueueFilters(), visible, now)
    return [row.number for row in page.rows]


def test_the_queue_holds_the_cases_waiting_for_an_agent_oldest_first(
    services: Services,
) -> None:
    with services.uow() as uow:
        late = open_case(uow, local(27, 11), where=None)  # nobody to route to
        early = _returned(uow, local(27, 9))
        open_case(uow, local(27, 8))  # assigned at once: not waiting
        cancelled = open_case(uow, local(27, 7), where=None)
        cases.cancel(uow, cancelled, AGENT, "prank", local(27, 7, 5))
        uow.commit()
        page = qq.queue_page(uow.session, qq.QueueFilters(), ALL, NOW)
        assert [r.number for r in page.rows] == [early.number, late.number]
        assert [r.status for r in page.rows] == [TicketStatus.RETURNED, TicketStatus.NEW]
        assert page.rows[0].triage_reason == "returned: not my grid"
        assert page.rows[1].place == "place unknown"
        assert page.rows[0].resolve_by == early.resolve_by
        assert page.next_cursor is None
        assert qq.count_capped(uow.session, qq.QueueFilters(), ALL, NOW) == 2


def test_filters_narrow_the_queue(services: Services) -> None:
    with services.uow() as uow:
        s1 = _returned(uow, local(27, 9), "1101")
        s2 = _returned(uow, local(27, 9, 10), "2101", category="garbage", source="sms")
        assigned = open_case(uow, local(27, 9, 20), where="1102")
        session = uow.session
        assert _numbers(session, qq.QueueFilters(category="garbage")) == [s2.number]
        assert _numbers(session, qq.QueueFilters(category="no_such")) == []
        assert _numbers(session, qq.QueueFilters(area="S1")) == [s1.number]
        assert _numbers(session, qq.QueueFilters(area="21")) == [s2.number]
        assert _numbers(session, qq.QueueFilters(area="410105")) == [s1.number, s2.number]
        assert _numbers(session, qq.QueueFilters(area="nowhere")) == []
        assert _numbers(session, qq.QueueFilters(channel="sms")) == [s2.number]
        assert _numbers(session, qq.QueueFilters(view="assigned")) == [assigned.number]
        assert _numbers(session, qq.QueueFilters(view="open")) == [
            s1.number,
            s2.number,
            assigned.number,
        ]
        due = assigned.accept_by
        assert due is not None
        minute = timedelta(minutes=1)
        assert _numbers(session, qq.QueueFilters(view="overdue"), now=due - minute) == []
        assert _numbers(session, qq.QueueFilters(view="overdue"), now=due + minute) == [
            assigned.number
        ]
        overdue_waiting = qq.QueueFilters(overdue=True)
        assert _numbers(session, overdue_waiting, now=due + minute) == []


def test_pages_follow_each_other_without_gaps_or_repeats(services: Services) -> None:
    with services.uow() as uow:
        made = [open_case(uow, local(27, 9), where=None).number for _ in range(5)]  # same time
        seen: list[str] = []
        cursor = None
        while True:
            page = qq.queue_page(uow.session, qq.QueueFilters(), ALL, NOW, after=cursor, limit=2)
            seen += [r.number for r in page.rows]
            if page.next_cursor is None:
                break
            token = page.next_cursor.token()
            cursor = qq.Cursor.parse(token)
            assert cursor == page.next_cursor
        assert seen == made
        assert qq.Cursor.parse("garbage") is None
        assert qq.Cursor.parse("2026-11-27T01:00:00_x") is None
        assert qq.Cursor.parse("2026-11-27T01:00:00_3") is None  # naive: refused


def test_the_queue_shows_only_what_the_user_may_see(services: Services) -> None:
    with services.uow() as uow:
        mine = _returned(uow, local(27, 9), "1101")
        _returned(uow, local(27, 9, 10), "2101")
        region = uow.session.scalars(select(Region.id).where(Region.code == "S1")).one()
        supervisor = User(role=UserRole.SUPERVISOR, region_id=region, active=True)
        visible = case_filter(uow.session, supervisor)
        assert _numbers(uow.session, visible=visible) == [mine.number]
        assert qq.case_detail(uow.session, mine.number, visible, NOW) is not None
        other = open_case(uow, local(27, 9, 20), where="2102")
        assert qq.case_detail(uow.session, other.number, visible, NOW) is None


def test_the_change_stamp_moves_only_when_the_page_does(services: Services) -> None:
    with services.uow() as uow:
        session = uow.session
        first = _returned(uow, local(27, 9), "1101")
        elsewhere = open_case(uow, local(27, 9, 10), where="2101")  # assigned: not on the page

        def stamp() -> str:
            filters = qq.QueueFilters()
            page = qq.queue_page(session, filters, ALL, NOW)
            total = qq.count_capped(session, filters, ALL, NOW)
            return qq.change_stamp(page, total, qq.last_event_id(session))

        before = stamp()
        assert qq.unchanged_since(session, before)
        assert stamp() == before
        moves.add_note(uow, elsewhere, AGENT, "called the caller", local(27, 10))
        uow.commit()
        assert not qq.unchanged_since(session, before)  # something, somewhere, changed...
        after_note = stamp()
        assert after_note.split("-")[1] == before.split("-")[1]  # ...but not this page
        moves.add_note(uow, first, AGENT, "asked the member again", local(27, 10, 5))
        uow.commit()
        assert stamp().split("-")[1] != after_note.split("-")[1]
        late = open_case(uow, local(27, 11), where=None)
        assert late.number in _numbers(session)
        assert stamp() != after_note
        assert not qq.unchanged_since(session, "not-a-stamp")


def test_the_count_stops_at_its_cap(services: Services) -> None:
    with services.uow() as uow:
        for minute in range(4):
            open_case(uow, local(27, 9, minute), where=None)
        assert qq.count_capped(uow.session, qq.QueueFilters(), ALL, NOW, cap=2) == 3
        assert qq.count_capped(uow.session, qq.QueueFilters(), ALL, NOW, cap=10) == 4


def test_the_case_detail_gathers_transcript_callback_escalation_and_merges(
    services: Services,
) -> None:
    with services.uow() as uow:
        ticket = open_case(uow, local(27, 9))
        duplicate = open_case(uow, local(27, 9, 30))
        transcripts.attach_transcript(
            uow, ticket.id, "the lamp is out", 0.91, "vosk", local(27, 9, 1)
        )
        moves.request_callback(uow, ticket, AGENT, "", "which lamp?", local(27, 9, 40))
        cases.merge(uow, duplicate, ticket, AGENT, local(27, 9, 45))
        uow.commit()
        detail = qq.case_detail(uow.session, ticket.number, ALL, NOW)
        assert detail is not None
        assert detail.transcript is not None
        assert (detail.transcript.text, detail.transcript.confidence) == ("the lamp is out", 0.91)
        assert detail.callback is not None
        assert detail.callback.data["phone"] == "+8613812345678"
        assert detail.merged_in == [duplicate.number]
        assert detail.polygon is not None
        assert detail.polygon["type"] == "Polygon"
        assert detail.escalation is None
        assert detail.ticket.events[0].kind == "created"
        moves.add_note(uow, ticket, AGENT, "called back: lamp 3", local(27, 10))
        due = ticket.accept_by
        assert due is not None
        assert sweep(uow, due + timedelta(minutes=1)) == 2  # the reminder and the breach
        detail = qq.case_detail(uow.session, ticket.number, ALL, due)
        assert detail is not None
        assert detail.callback is None  # the note after it answered it
        assert detail.escalation is Level.BREACH
        assert detail.escalations
        assert qq.case_detail(uow.session, "261127999999", ALL, NOW) is None


def test_likely_duplicates_are_the_same_category_near_by(services: Services) -> None:
    with services.uow() as uow:
        first = open_case(uow, local(27, 9), where="1101")
        second = open_case(uow, local(27, 10), where="1101")
        neighbour_grid = open_case(uow, local(27, 10, 30), where="1102")
        other_kind = open_case(uow, local(27, 11), where="1101", category="garbage")
        assert second.possible_duplicate_of_id == first.id
        one = uow.session.scalars(select(Grid).where(Grid.code == "1101")).one()
        # The neighbour case was reported 100 m east of the first's point.
        first.lat, first.lon = one.centre_lat, one.centre_lon
        neighbour_grid.lat, neighbour_grid.lon = one.centre_lat, one.centre_lon + 0.0011
        uow.commit()
        detail = qq.case_detail(uow.session, first.number, ALL, NOW)
        assert detail is not None
        found = {d.number: d.why for d in detail.duplicates}
        assert found == {
            second.number: "flagged this case as its duplicate",
            neighbour_grid.number: "within 300 m",
        }
        assert other_kind.number not in found
        detail = qq.case_detail(uow.session, second.number, ALL, NOW)
        assert detail is not None
        assert {d.number: d.why for d in detail.duplicates}[first.number] == (
            "flagged at registration"
        )
        far = local(27, 9) + timedelta(days=4)
        later = open_case(uow, far, where="1101")
        detail = qq.case_detail(uow.session, later.number, ALL, far)
        assert detail is not None
        assert first.number not in {d.number for d in detail.duplicates}
