"""The dashboard's assessment kept and refreshed behind the page, on PostgreSQL with real
connections: the worker threads read through their own units of work, so these tests
commit (and clean up after themselves) instead of rolling back one shared transaction."""

from __future__ import annotations

import re
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from hotline.app import create_app
from hotline.bootstrap import Services, bootstrap
from hotline.console.figure_cache import FigureCache
from hotline.jobs.queue import JobQueue
from hotline.settings import Settings
from tests.conftest import FixedClock
from tests.factories import new_case
from tests.hotline.console.test_dashboard_pages import PASSWORD, dashboard, export
from ticketing.cases import intake
from ticketing.models.accounts import AuditEntry, User, UserRole
from ticketing.models.cases import CaseSequence, Ticket, TicketEvent
from ticketing.models.sla import Escalation
from ticketing.models.sms import SmsMessage
from ticketing.people import accounts
from ticketing.vocabulary.events import Actor

pytestmark = pytest.mark.functional

SH = ZoneInfo("Asia/Shanghai")
WAIT = 10.0
ROW_CASES = re.compile(r"<tr><td>[^<]*</td><td class=\"num\">(\d+)</td>")


@pytest.fixture
def committed(db_engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions that really commit; what the test added is deleted after it."""
    if db_engine.dialect.name == "sqlite":
        pytest.skip("SQLite computes the assessment in the request's thread (no workers)")
    factory = sessionmaker(db_engine, expire_on_commit=False)
    with factory() as session:
        last_case = session.scalar(select(func.max(Ticket.id))) or 0
        last_user = session.scalar(select(func.max(User.id))) or 0
        last_audit = session.scalar(select(func.max(AuditEntry.id))) or 0
    yield factory
    with factory.begin() as session:
        ids = select(Ticket.id).where(Ticket.id > last_case)
        for table in (Escalation, SmsMessage, TicketEvent):
            session.execute(delete(table).where(table.ticket_id.in_(ids)))
        session.execute(delete(Ticket).where(Ticket.id > last_case))
        session.execute(delete(CaseSequence).where(CaseSequence.day == "261127"))
        session.execute(delete(AuditEntry).where(AuditEntry.id > last_audit))
        session.execute(delete(User).where(User.id > last_user))


@pytest.fixture
def live_app(
    settings: Settings,
    db_engine: Engine,
    committed: sessionmaker[Session],
    job_queue: JobQueue,
    clock: FixedClock,
) -> Iterator[Flask]:
    services = bootstrap(
        settings, engine=db_engine, session_factory=committed, jobs=job_queue, clock=clock
    )
    assert services.parallel_reads
    with services.uow() as uow:
        accounts.add_user(
            uow,
            username="agent1",
            password=PASSWORD,
            role=UserRole.AGENT,
            area=accounts.Area(),
            actor=Actor.cli("test"),
            now=clock(),
        )
    app = create_app(services=services)
    yield app
    services.figures.shutdown()


def register(app: Flask, category: str, grid: str, clock: FixedClock) -> None:
    services: Services = app.extensions["hotline"]
    with services.uow() as uow:
        new = new_case(category=category, where=grid)
        intake.open_case_uncommitted(uow, new, clock(), SH)
        uow.commit()


def assessed(app: Flask) -> int:
    """Cases in the assessment table, as the CSV export gives them."""
    header, *rows = export(app, "agent1", "assessment")
    column = header.index("cases")
    return sum(int(row[column]) for row in rows)


def cases_on_page(html: str) -> int:
    """Cases in the page's assessment table (its second column)."""
    section = html.split('id="assessment"', 1)[1].split("</section>", 1)[0]
    return sum(int(n) for n in ROW_CASES.findall(section))


def kept(app: Flask) -> FigureCache[object]:
    services: Services = app.extensions["hotline"]
    cache: FigureCache[object] = services.figures  # type: ignore[assignment]  # any figures
    return cache


def test_the_assessment_is_computed_in_a_worker_and_served_stale_while_refreshed(
    live_app: Flask, clock: FixedClock
) -> None:
    register(live_app, "street_light", "1101", clock)
    figures, _, html = dashboard(live_app, "agent1")  # the first view: computed in a worker
    assert figures["open"] == 1
    assert cases_on_page(html) == 1
    assert assessed(live_app) == 1
    register(live_app, "garbage", "2101", clock)
    live_app.config["DASHBOARD_ASSESSMENT_CACHE_SECONDS"] = 0.001  # every figure is stale
    figures, _, html = dashboard(live_app, "agent1")
    assert figures["open"] == 2  # counts are live...
    assert cases_on_page(html) == 1  # ...the assessment shown is the one kept...
    kept(live_app).settle(WAIT)  # ...the refresh this view started has run behind it
    live_app.config["DASHBOARD_ASSESSMENT_CACHE_SECONDS"] = 60
    assert assessed(live_app) == 2


def test_with_nothing_kept_the_page_still_gets_fresh_figures(
    live_app: Flask, clock: FixedClock
) -> None:
    live_app.config["DASHBOARD_ASSESSMENT_CACHE_SECONDS"] = 0
    register(live_app, "street_light", "1101", clock)
    assert assessed(live_app) == 1
    register(live_app, "water_leak", "1102", clock)
    assert assessed(live_app) == 2
