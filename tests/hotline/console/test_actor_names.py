"""How the case page names who did each thing in the history, read back from the stored
actor: a user or member by name, a caller by (masked) number, anything else as stored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from hotline.bootstrap import Services
from tests.factories import new_case
from tests.hotline.console.conftest import Login
from ticketing.cases import intake
from ticketing.models.accounts import User
from ticketing.models.cases import TicketEvent
from ticketing.vocabulary.events import EventKind

pytestmark = pytest.mark.functional

CALLER = "+8613812345678"
MASKED = "+86138****5678"
NOW = datetime(2026, 11, 27, 2, tzinfo=UTC)


def _case_with_history(services: Services, caller: str | None, *actors: str) -> str:
    """A case whose history also holds a note stored by each of `actors`, as old rows are."""
    with services.uow() as uow:
        new = new_case(description="lamp out", caller=caller)
        _, ticket = intake.open_case_uncommitted(uow, new, NOW, services.settings.timezone)
        for actor in actors:
            ticket.events.append(
                TicketEvent(at=NOW, kind=EventKind.NOTE.value, actor=actor, note="n", data={})
            )
        uow.commit()
        return ticket.number


def _by(page: str) -> list[str]:
    marker = '<span class="event-actor muted">by '
    return [part.split("</span>", 1)[0] for part in page.split(marker)[1:]]


def test_each_stored_actor_reads_as_a_name_a_caller_or_as_stored(
    services: Services, client: FlaskClient, login: Login
) -> None:
    with services.uow() as uow:
        agent = uow.session.scalars(select(User).where(User.username == "agent")).one()
        agent_id, agent_name = agent.id, agent.display_name
    number = _case_with_history(
        services, CALLER, f"user:{agent_id}", "robot:7", "staff:dispatcher", "user:"
    )
    login(client, "agent")
    page = client.get(f"/console/cases/{number}").get_data(as_text=True)
    by = _by(page)
    assert f"caller {CALLER}" in by  # the "created" event
    assert "system" in by  # routing's assignment
    assert agent_name in by
    for stored in ("robot:7", "staff:dispatcher", "user:"):
        assert stored in by


def test_a_callers_number_is_masked_and_a_missing_one_said(
    services: Services, client: FlaskClient, login: Login
) -> None:
    with_number = _case_with_history(services, CALLER)
    without = _case_with_history(services, None)
    login(client, "supervisor")
    page = client.get(f"/console/cases/{with_number}").get_data(as_text=True)
    assert f"caller {MASKED}" in _by(page)
    page = client.get(f"/console/cases/{without}").get_data(as_text=True)
    assert "caller (no number)" in _by(page)
