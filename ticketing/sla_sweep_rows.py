"""The rows a sweep batch adds, written with one multi-row INSERT per table.

Each rung fired writes the same three things a service call would (the `escalations` row
that makes it fire once, an `escalated` event in the case's history, an SMS in the outbox
per person told), with the same content as `record_event` and `queue_sms` give them. A
batch writes thousands, so they are kept as plain rows rather than ORM objects: the
unit of work's per-object bookkeeping at flush time was most of a batch's cost, where a
Core INSERT with many VALUES rows sends them in a few statements. The SMS ids come back
from RETURNING, in the order the rows were queued, for the unit of work's outbox hook.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert

from ticketing import messages
from ticketing.business_time import BusinessCalendar
from ticketing.case_records import case_facts
from ticketing.escalation import Clock, Step
from ticketing.models import (
    Escalation,
    SmsDirection,
    SmsMessage,
    SmsStatus,
    Staff,
    Ticket,
    TicketEvent,
)
from ticketing.unit_of_work import UnitOfWork

Row = dict[str, Any]


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


class SweepRows:
    """Escalations, history events and outbox SMS of one batch, in the order they fired."""

    def __init__(self) -> None:
        self.escalations: list[Row] = []
        self.events: list[Row] = []
        self.sms: list[Row] = []

    def fire(
        self,
        ticket: Ticket,
        step: Step,
        calendar: BusinessCalendar,
        people: Sequence[Staff],
        now: datetime,
    ) -> None:
        """One rung: its unique row, its event, and an SMS to each person told."""
        version = (
            ticket.assignment_version if step.clock is Clock.ACCEPT else ticket.deadline_version
        )
        self.escalations.append(
            {
                "ticket_id": ticket.id,
                "clock": step.clock.value,
                "deadline_version": version,
                "level": step.level.value,
                "due_at": step.at,
                "fired_at": now,
            }
        )
        # As record_event writes it (no status change), and it touches the case the same way.
        ticket.updated_at = now
        self.events.append(
            {
                "ticket_id": ticket.id,
                "at": now,
                "kind": "escalated",
                "actor": "system",
                "from_status": None,
                "to_status": None,
                "note": f"{step.clock} {step.level}",
                "data": {
                    "clock": step.clock.value,
                    "level": step.level.value,
                    "due_at": step.at.isoformat(),
                    "notified": [p.id for p in people],
                },
            }
        )
        if not people:
            return
        facts = case_facts(ticket)
        local_due = step.at.astimezone(calendar.zone).strftime("%m-%d %H:%M")
        bodies: dict[str, str] = {}  # one text per language, not per person
        for person in people:
            body = bodies.get(person.language)
            if body is None:
                body = bodies[person.language] = messages.escalation(
                    facts, step.clock.value, step.level.value, local_due, person.language
                )
            self.sms.append(_sms(ticket, person, body, f"escalation:{step.level.value}", now))

    def write(self, uow: UnitOfWork) -> None:
        """Insert every row in this transaction; the SMS ids go to the outbox hook."""
        session = uow.session
        if self.escalations:
            session.execute(insert(_table(Escalation)), self.escalations)
        if self.events:
            session.execute(insert(_table(TicketEvent)), self.events)
        if self.sms:
            sms = _table(SmsMessage)
            ids = session.scalars(
                insert(sms).returning(sms.c.id, sort_by_parameter_order=True), self.sms
            ).all()
            uow.add_outbound_ids(ids)


def _sms(ticket: Ticket, person: Staff, body: str, purpose: str, now: datetime) -> Row:
    """The outbox row `queue_sms` would add, as a plain row."""
    return {
        "direction": SmsDirection.OUTBOUND,
        "to_number": person.phone,
        "from_number": "",
        "body": body,
        "status": SmsStatus.QUEUED,
        "purpose": purpose,
        "ticket_id": ticket.id,
        "staff_id": person.id,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }
