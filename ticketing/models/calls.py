"""Phone calls: where each stands in its flow, and the answers given to Twilio's steps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ticketing.db import Base, utcnow


class Call(Base):
    """A phone call and where it stands in its flow, keyed by Twilio's CallSid."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_number: Mapped[str] = mapped_column(String(40))
    to_number: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    flow: Mapped[str] = mapped_column(String(60))
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]


class WebhookReply(Base):
    """The answer given to one step of a call, replayed verbatim when Twilio retries it."""

    __tablename__ = "webhook_replies"
    __table_args__ = (UniqueConstraint("call_sid", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64))
    step: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
