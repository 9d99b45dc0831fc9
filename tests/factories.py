"""Test data, built the way the product builds it: one place opens a case, finds a grid
member and places a call, instead of a helper per test file.

Plain functions over a unit of work, the services or the call simulator, on the demo city
that conftest loads (grid 1101's primary member is Wang Lei). No mocks: a case is opened by
the real intake, so it is numbered, routed and its SMS queued as a caller's would be.

    with services.uow() as uow:
        ticket = open_case(uow, category="water_leak", where="1102")
        member = grid_member(uow.session, "1102", AssignmentRole.BACKUP)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline.bootstrap import Services
from hotline.simulator.caller import Simulator
from ticketing.cases import intake
from ticketing.models.cases import Ticket
from ticketing.models.people import GridAssignment, Staff
from ticketing.models.places import Grid
from ticketing.models.sms import SmsDirection, SmsMessage, SmsStatus
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.roles import AssignmentRole

SH = ZoneInfo("Asia/Shanghai")  # the demo city's zone, and the settings' default
NOW = datetime(2026, 11, 27, 2, 30, tzinfo=UTC)  # Friday 10:30 in Shanghai; the clock fixture's
CALLER = "+8613812345678"  # a resident's mobile

# A whole call by keypad: language, "report a problem", category, confirm, place.
EN_STREET_LIGHT_IN_1101 = ("2", "1", "1", "1", "1101#")  # grid 1101's member reads English
ZH_STREET_LIGHT_IN_1102 = ("1", "1", "1", "1", "1102#")  # grid 1102's member reads Chinese
EN_GAS_SMELL_IN_1101 = ("2", "1", "4", "1", "1101#")  # urgent: the fire department's queue


def new_case(
    *,
    category: str = "street_light",
    where: str | None = "1101",
    description: str = "",
    caller: str | None = CALLER,
    language: str = "zh-CN",
    source: str = "phone",
) -> intake.NewCase:
    """What a caller reports: by default a street light out in grid 1101, by phone."""
    return intake.NewCase(category, where, description, caller, language, source)


def open_case(
    uow: UnitOfWork,
    at: datetime = NOW,
    *,
    category: str = "street_light",
    where: str | None = "1101",
    description: str = "",
    caller: str | None = CALLER,
    language: str = "zh-CN",
    source: str = "phone",
    tz: ZoneInfo = SH,
) -> Ticket:
    """Open a case through the real intake at `at` and commit it; the case, still in the
    unit of work's session. `where` is a grid or community code, None when not known."""
    new = new_case(
        category=category,
        where=where,
        description=description,
        caller=caller,
        language=language,
        source=source,
    )
    _, ticket = intake.open_case_uncommitted(uow, new, at, tz)
    uow.commit()
    return ticket


def register_case(
    services: Services,
    at: datetime | None = None,
    *,
    category: str = "street_light",
    where: str | None = "1101",
    description: str = "",
    caller: str | None = CALLER,
    language: str = "zh-CN",
    source: str = "phone",
) -> intake.CaseSummary:
    """`open_case` in a unit of work of the services' own, as a webhook opens one: its SMS
    go to the job queue after the commit. At the services' clock unless `at` is given."""
    new = new_case(
        category=category,
        where=where,
        description=description,
        caller=caller,
        language=language,
        source=source,
    )
    with services.uow() as uow:
        return intake.open_case(uow, new, at or services.clock(), services.settings.timezone)


def grid_member(
    session: Session, grid: str = "1101", role: AssignmentRole = AssignmentRole.PRIMARY
) -> Staff:
    """The demo city's member of `grid` in `role` (each grid has one of each)."""
    return session.scalars(
        select(Staff)
        .join(GridAssignment, GridAssignment.staff_id == Staff.id)
        .join(Grid, Grid.id == GridAssignment.grid_id)
        .where(Grid.code == grid, GridAssignment.role == role)
    ).one()


def report_by_phone(
    simulator: Simulator, keys: Sequence[str] = EN_STREET_LIGHT_IN_1101, caller: str = CALLER
) -> tuple[str, str]:
    """Call the hotline through its webhooks and report by keypad; the new case's number
    and its assignee's phone (the member who gets the SMS)."""
    case = simulator.call(caller, keys).as_json()
    return case["case_number"], case["assignee_phone"]


def queued_receipt(
    session_factory: sessionmaker[Session],
    now: datetime,
    *,
    body: str = "您的工单已受理",
    status: SmsStatus = SmsStatus.QUEUED,
) -> int:
    """A caller's receipt put straight in the outbox (no outbox hook): the row waits, and
    no job runs until the test runs one. Returns its id."""
    with UnitOfWork(session_factory) as uow:
        message = SmsMessage(
            direction=SmsDirection.OUTBOUND,
            to_number=CALLER,
            from_number="",
            body=body,
            status=status,
            purpose="caller_receipt",
            created_at=now,
            updated_at=now,
        )
        uow.session.add(message)
        uow.commit()
        return message.id
