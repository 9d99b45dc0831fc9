"""The audit trail of administrative changes, written in the same transaction as the change."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketing.models.accounts import AuditEntry
from ticketing.vocabulary.events import Actor

SOURCE_LENGTH = 45  # the longest text form of an IPv6 address (with an IPv4 tail)


def record_change(
    session: Session,
    actor: Actor,
    action: str,
    now: datetime,
    target: str = "",
    data: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit row; it commits (or rolls back) with the change it describes. The
    actor's source address, when it came over the network, is kept with it."""
    entry = AuditEntry(
        at=now,
        actor=str(actor),
        action=action,
        target=target,
        data=dict(data or {}),
        source_ip=actor.source[:SOURCE_LENGTH],
    )
    session.add(entry)
    return entry


def recent_changes(
    session: Session, limit: int = 100, *, before: int | None = None
) -> list[AuditEntry]:
    """The newest changes first (older than entry `before`, for the next page), for the
    administration page and `hotline audit`."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before:
        query = query.where(AuditEntry.id < before)
    return list(session.scalars(query))


def every_change(session: Session) -> Iterator[AuditEntry]:
    """The whole audit log, newest first, read as it is written out (the CSV export)."""
    return iter(session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())))
