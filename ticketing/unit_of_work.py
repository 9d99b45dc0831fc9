"""The transaction boundary of every service call.

Outbox messages are rows written in the same transaction as the change that caused them;
only once that transaction has committed are their ids handed to `on_outbox` (which
enqueues the send job). A rollback therefore never leaves an SMS promising a case that
does not exist, and a failure to enqueue loses nothing: the row stays queued for the
outbox drain.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker

from ticketing.cases.links import CaseLinks
from ticketing.models.sms import SmsMessage

log = logging.getLogger(__name__)

OutboxHook = Callable[[int], None]


class UnitOfWork:
    """Open with `with uow:`; nothing is kept unless `commit()` is called inside."""

    session: Session

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        on_outbox: OutboxHook | None = None,
        links: CaseLinks | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._on_outbox = on_outbox
        # The signed links assignment SMS carry; None when the site has no public address.
        self.links = links
        self._outbox: list[SmsMessage] = []
        self._outbox_ids: list[int] = []

    def __enter__(self) -> UnitOfWork:
        self.session = self._session_factory()
        self._outbox = []
        self._outbox_ids = []
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back whatever was not committed and detaches the objects without
        # expiring them, so values read inside the block stay readable after it.
        self.session.close()

    def add_outbound(self, message: SmsMessage) -> None:
        """Queue an SMS in this transaction; it is handed to the sender after commit."""
        self.session.add(message)
        self._outbox.append(message)

    def add_outbound_ids(self, ids: Sequence[int]) -> None:
        """SMS rows this transaction already inserted in bulk (the SLA sweep writes
        thousands with one statement); handed to the sender after commit like the rest."""
        self._outbox_ids.extend(ids)

    def commit(self) -> None:
        """Commit, then hand each new outbox row to the sender hook."""
        self.session.commit()
        ids = [m.id for m in self._outbox] + self._outbox_ids
        self._outbox, self._outbox_ids = [], []
        if self._on_outbox is None:
            return
        for message_id in ids:
            try:
                self._on_outbox(message_id)
            except Exception:
                # Redis down, say: the message is safe in the outbox and the drain resends.
                log.exception("could not enqueue SMS %s; it stays queued", message_id)
