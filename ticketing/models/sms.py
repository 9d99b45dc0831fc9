"""Every SMS sent or received, with its delivery state: the outbox and the inbox."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.db import Base, enum_column, utcnow

if TYPE_CHECKING:
    from ticketing.models.cases import Ticket


class SmsDirection(enum.StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class SmsStatus(enum.StrEnum):
    """Delivery states; `rank` orders them so callbacks only ever move a message forward."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    LOGGED = "logged"  # no SMS provider configured: written to the log instead
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    READ = "read"
    RECEIVED = "received"

    @property
    def rank(self) -> int:
        return _SMS_RANK[self]


_SMS_RANK = {
    SmsStatus.QUEUED: 0,
    SmsStatus.SENDING: 1,
    SmsStatus.SENT: 2,
    SmsStatus.LOGGED: 3,
    SmsStatus.DELIVERED: 3,
    SmsStatus.UNDELIVERED: 3,
    SmsStatus.FAILED: 3,
    SmsStatus.READ: 4,
    SmsStatus.RECEIVED: 4,
}


class SmsMessage(Base):
    """Outbox and inbox in one table: every SMS we send or receive, with its delivery state."""

    __tablename__ = "sms_messages"
    __table_args__ = (Index("ix_sms_messages_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[SmsDirection] = mapped_column(enum_column(SmsDirection))
    to_number: Mapped[str] = mapped_column(String(40), index=True)
    from_number: Mapped[str] = mapped_column(String(40), index=True)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[SmsStatus] = mapped_column(enum_column(SmsStatus))
    purpose: Mapped[str] = mapped_column(String(40))
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    error: Mapped[str | None] = mapped_column(String(300))
    reply: Mapped[str | None] = mapped_column(Text)  # what we answered an inbound SMS
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket | None] = relationship()
