"""The transaction boundary of every service call, and what happens once it has committed.

A service opens a unit of work (or receives one), changes rows through its session and
commits it; nothing is kept unless it does. Whatever must react to the change (handing an
SMS to the sender, counting a registered case, telling another system) reacts after the
commit and never inside it, so a rollback never leaves an SMS promising a case that does
not exist, and a failing reaction never undoes the change.

Two ways to react, both run only after a successful `commit()`, in order, each failure
logged and the rest still run:
- `after_commit(fn)`: a one-off hook a service or the edge registers in this transaction.
- subscribers, given when the unit of work is built (the composition root does it): each
  receives every domain event of the transaction. The events are collected here, not by
  every service: each case history row added through the session is published as a
  `CaseEvent`, each SMS added to the outbox as an `SmsQueued`; bulk writers that bypass the
  ORM (the SLA sweep) `publish()` theirs, and the outbox publishes an `SmsStatusChanged`
  for each move of a message's delivery state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from types import TracebackType
from typing import Any, Protocol

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, UOWTransaction, sessionmaker

from ticketing.models.cases import TicketEvent
from ticketing.models.sms import SmsMessage, SmsStatus
from ticketing.vocabulary.events import Actor, EventKind
from ticketing.vocabulary.lifecycle import TicketStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaseEvent:
    """A row of a case's history, committed: what happened to which case, who did it."""

    kind: EventKind
    actor: Actor
    case_id: int
    case_number: str
    channel: str  # the case's source: phone, sms, console, ...
    category: str  # the category's code
    at: datetime
    from_status: TicketStatus | None = None
    to_status: TicketStatus | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SmsQueued:
    """An SMS row committed to the outbox, waiting for the sender."""

    message_id: int


@dataclass(frozen=True)
class SmsStatusChanged:
    """An outgoing SMS moved to another delivery state (claimed, sent, failed, put back in
    the queue, or as the provider's callback reported), committed."""

    message_id: int
    status: SmsStatus


class LinkSigner(Protocol):
    """Signs the links assignment SMS carry (`ticketing.cases.links.CaseLinks`)."""

    def url(self, number: str, staff_id: int, now: datetime) -> str: ...


DomainEvent = CaseEvent | SmsQueued | SmsStatusChanged
Subscriber = Callable[[DomainEvent], None]
AfterCommit = Callable[[], None]


class UnitOfWork:
    """Open with `with uow:`; nothing is kept unless `commit()` is called inside."""

    session: Session

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        subscribers: Sequence[Subscriber] = (),
        links: LinkSigner | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._subscribers = tuple(subscribers)
        # Not a hook but a port the case services need while they write an assignment
        # SMS; None when the site has no public address to link to.
        self.links = links
        self._reset()

    def _reset(self) -> None:
        self._hooks: list[AfterCommit] = []
        self._published: list[DomainEvent] = []
        self._outbox: list[SmsMessage] = []
        self._history: list[TicketEvent] = []

    def __enter__(self) -> UnitOfWork:
        self.session = self._session_factory()
        self._reset()
        event.listen(self.session, "after_flush", self._collect)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        event.remove(self.session, "after_flush", self._collect)
        # close() rolls back whatever was not committed and detaches the objects without
        # expiring them, so values read inside the block stay readable after it.
        self.session.close()

    def _collect(self, session: Session, _flush: UOWTransaction) -> None:
        # after_flush still sees the flushed objects as new; only references are taken
        # here (no attribute is loaded inside a flush).
        self._history.extend(o for o in session.new if isinstance(o, TicketEvent))

    def after_commit(self, hook: AfterCommit) -> None:
        """Run `hook` once this transaction has committed (never if it rolls back)."""
        self._hooks.append(hook)

    def publish(self, happened: DomainEvent) -> None:
        """A domain event of this transaction, for the subscribers after commit."""
        self._published.append(happened)

    def add_outbound(self, message: SmsMessage) -> None:
        """Queue an SMS in this transaction; it is handed to the sender after commit."""
        self.session.add(message)
        self._outbox.append(message)

    def add_outbound_ids(self, ids: Sequence[int]) -> None:
        """SMS rows this transaction already inserted in bulk (the SLA sweep writes
        thousands with one statement); handed to the sender after commit like the rest."""
        self._published.extend(SmsQueued(message_id) for message_id in ids)

    def commit(self) -> None:
        """Commit, then run the after-commit hooks and hand the events to subscribers."""
        self.session.flush()
        happened = self._case_events() if self._subscribers else []
        happened += self._published
        happened += [SmsQueued(m.id) for m in self._outbox if inspect(m).persistent]
        hooks = self._hooks
        self.session.commit()
        self._reset()
        for hook in hooks:
            self._run(hook)
        for subscriber in self._subscribers:
            for one in happened:
                self._run(partial(subscriber, one))

    def _case_events(self) -> list[DomainEvent]:
        """The history rows flushed in this transaction that are still in it (rolling back
        a savepoint takes its rows out of the session)."""
        rows = [r for r in self._history if inspect(r).persistent]
        return [_case_event(row) for row in rows]

    @staticmethod
    def _run(hook: AfterCommit) -> None:
        try:
            hook()
        except Exception:
            # Redis down, say: the change is committed; an SMS stays queued for the drain.
            log.exception("an after-commit hook failed; the transaction stays committed")


def _case_event(row: TicketEvent) -> CaseEvent:
    ticket = row.ticket
    return CaseEvent(
        kind=EventKind(row.kind),
        actor=Actor.parse(row.actor),
        case_id=ticket.id,
        case_number=ticket.number,
        channel=ticket.source,
        category=ticket.category.code,
        at=row.at,
        from_status=row.from_status,
        to_status=row.to_status,
        data=dict(row.data or {}),
    )


def on_sms_queued(send: Callable[[int], None]) -> Subscriber:
    """A subscriber handing each committed outbox row's id to `send` (the SMS job)."""

    def subscriber(happened: DomainEvent) -> None:
        if isinstance(happened, SmsQueued):
            send(happened.message_id)

    return subscriber
