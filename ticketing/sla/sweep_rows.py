"""The rows a sweep batch writes: one statement per table.

Each rung fired writes the same three things a service call would (the `escalations` row
that makes it fire once, an `escalated` event in the case's history, an SMS in the outbox
per person told), with the same content as `record_event` and `queue_sms` give them, and
changes two columns of its case. A batch writes thousands, so they are kept as plain rows
rather than ORM objects: the unit of work's per-object bookkeeping at flush time was most
of a batch's cost. The SMS ids come back from RETURNING, in the order the rows were
queued, for the unit of work's outbox hook.

On PostgreSQL each table gets one INSERT ... SELECT FROM json_to_recordset(one JSON
parameter), and the cases one UPDATE ... FROM it. A multi-row VALUES list with 11,000
parameters was split and parsed afresh by psycopg and the server for every batch, and
arrays of strings cost psycopg a regular expression per element, where the standard
library's C encoder writes a batch's rows in milliseconds (10,000 due cases: the three
INSERTs 2.2 s before, 1.0 s so). Other databases take the portable executemany.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    cast,
    column,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeDecorator, TypeEngine

from ticketing.history.recording import case_facts
from ticketing.models.cases import Ticket, TicketEvent
from ticketing.models.people import Staff
from ticketing.models.sla import Escalation
from ticketing.models.sms import SmsDirection, SmsMessage, SmsStatus
from ticketing.notices import wording
from ticketing.sla.business_time import BusinessCalendar
from ticketing.sla.ladder import Clock, Step
from ticketing.unit_of_work import CaseEvent, UnitOfWork
from ticketing.vocabulary.events import Actor, EventKind

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
        self.changed: dict[int, Ticket] = {}  # cases whose columns this batch changes
        self.published: list[CaseEvent] = []  # the events, as the unit of work publishes them

    def change(self, ticket: Ticket, column: str, value: Any) -> None:
        """Set a column of the case, written with the batch's one UPDATE, not by a flush."""
        if getattr(ticket, column) != value:
            set_committed_value(ticket, column, value)
            self.changed[ticket.id] = ticket

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
        self.change(ticket, "updated_at", now)
        self.events.append(
            {
                "ticket_id": ticket.id,
                "at": now,
                "kind": EventKind.ESCALATED.value,
                "actor": str(Actor.system()),
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
        self.published.append(_published(ticket, self.events[-1]))
        if not people:
            return
        facts = case_facts(ticket)
        local_due = step.at.astimezone(calendar.zone).strftime("%m-%d %H:%M")
        bodies: dict[str, str] = {}  # one text per language, not per person
        for person in people:
            body = bodies.get(person.language)
            if body is None:
                body = bodies[person.language] = wording.escalation(
                    facts, step.clock.value, step.level.value, local_due, person.language
                )
            self.sms.append(_sms(ticket, person, body, f"escalation:{step.level.value}", now))

    def write(self, uow: UnitOfWork) -> None:
        """Write every row and changed case in this transaction; the SMS ids go to the
        outbox hook."""
        session = uow.session
        recordset = session.get_bind().dialect.name == "postgresql"
        insert_rows = _insert_recordset if recordset else _insert_many
        insert_rows(session, _table(Escalation), self.escalations)
        insert_rows(session, _table(TicketEvent), self.events)
        for happened in self.published:  # rows the ORM never saw: published by hand
            uow.publish(happened)
        if self.sms:
            uow.add_outbound_ids(insert_rows(session, _table(SmsMessage), self.sms, returning=True))
        cases = [
            {"id": t.id, "updated_at": t.updated_at, "next_escalation_at": t.next_escalation_at}
            for t in self.changed.values()
        ]
        if cases:
            (_update_recordset if recordset else _update_many)(session, cases)


def _insert_many(
    session: Session, table: Table, rows: list[Row], *, returning: bool = False
) -> list[int]:
    if not rows:
        return []
    if not returning:
        session.execute(insert(table), rows)
        return []
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(session.scalars(statement, rows).all())


def _insert_recordset(
    session: Session, table: Table, rows: list[Row], *, returning: bool = False
) -> list[int]:
    """One INSERT ... SELECT FROM json_to_recordset, in row order; the new ids in that order."""
    if not rows:
        return []
    columns = list(rows[0])
    given = _recordset(table, columns)
    chosen = select(
        *(cast(given.c[c], JSON) if _is_json(table, c) else given.c[c] for c in columns)
    ).order_by(given.c.position)
    statement = insert(table).from_select(columns, chosen)
    params = {"rows": _document(session, table, rows)}
    if not returning:
        session.execute(statement, params)
        return []
    # The serial ids are drawn as the rows are inserted, in ORDER BY position, so ascending
    # ids are the rows' order (as SQLAlchemy's sort_by_parameter_order relies on too).
    return sorted(session.scalars(statement.returning(table.c.id), params))


def _update_recordset(session: Session, cases: list[Row]) -> None:
    tickets = _table(Ticket)
    given = _recordset(tickets, list(cases[0]))
    statement = (
        update(tickets)
        .where(tickets.c.id == given.c.id)
        .values({c: given.c[c] for c in cases[0] if c != "id"})
    )
    session.execute(statement, {"rows": _document(session, tickets, cases)})


def _recordset(table: Table, columns: list[str]) -> TableValuedAlias:
    """`given`: the rows of the :rows JSON array, typed as the table's columns (a JSON
    column as its text), and `position`, each row's place in the array."""
    types = [column(c, Text if _is_json(table, c) else table.c[c].type) for c in columns]
    rows = cast(bindparam("rows", type_=String), JSON)
    return (
        func.json_to_recordset(rows)
        .table_valued(*types, column("position", Integer))
        .render_derived(name="given", with_types=True)
    )


def _is_json(table: Table, column: str) -> bool:
    return isinstance(table.c[column].type, JSON)


def _document(session: Session, table: Table, rows: list[Row]) -> str:
    """The rows as one JSON array: a JSON column's value as the text SQLAlchemy would
    store (json.dumps), times in ISO 8601 with their offset, enums by value."""
    dialect = session.get_bind().dialect
    encoders = {c: _encoder(table.c[c].type, dialect) for c in rows[0]}
    plain = [c for c, encode in encoders.items() if encode is None]
    encoded = [(c, encode) for c, encode in encoders.items() if encode is not None]
    return json.dumps(
        [
            {
                "position": n,
                **{c: row[c] for c in plain},
                **{c: encode(row[c]) for c, encode in encoded},
            }
            for n, row in enumerate(rows)
        ],
        ensure_ascii=False,
    )


def _encoder(kind: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """How a column's value goes into the JSON document, through the column type's own
    conversion (aware UTC times, enums by value); None: as it is."""
    if isinstance(kind, JSON):
        return json.dumps
    process = kind.bind_processor(dialect)
    base = kind.impl_instance if isinstance(kind, TypeDecorator) else kind
    if not isinstance(base, DateTime):
        return process

    def timestamp(value: datetime | None) -> str | None:
        if value is None:
            return None
        return (process(value) if process else value).isoformat()

    return timestamp


def _update_many(session: Session, cases: list[Row]) -> None:
    tickets = _table(Ticket)
    statement = (
        update(tickets)
        .where(tickets.c.id == bindparam("case_id"))
        .values(updated_at=bindparam("updated_at"), next_escalation_at=bindparam("next_at"))
    )
    session.execute(
        statement,
        [
            {"case_id": c["id"], "updated_at": c["updated_at"], "next_at": c["next_escalation_at"]}
            for c in cases
        ],
    )


def _published(ticket: Ticket, row: Row) -> CaseEvent:
    return CaseEvent(
        kind=EventKind.ESCALATED,
        actor=Actor.system(),
        case_id=ticket.id,
        case_number=ticket.number,
        channel=ticket.source,
        category=ticket.category.code,
        at=row["at"],
        data=row["data"],
    )


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
