"""Notifications: the outbox (a message per change, written in the same transaction as the
change), the programs' templates and settings, and what reminders and gifts were sent."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, Index, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from jifen.kit.db import Base, UTCDateTime


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index(
            "ix_outbox_messages_pending",
            "available_at",
            postgresql_where=text("dispatched_at IS NULL"),
            sqlite_where=text("dispatched_at IS NULL"),
        ),
        Index("ix_outbox_messages_member", "program_id", "member_id", "created_at"),
    )

    # Stable message id: receivers de-duplicate on it.
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    program_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    topic: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(default=0)


class NotificationTemplate(Base):
    """A program's own wording for one topic in one language (the built-in default otherwise)."""

    __tablename__ = "notification_templates"

    program_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    topic: Mapped[str] = mapped_column(String(60), primary_key=True)
    locale: Mapped[str] = mapped_column(String(16), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NotificationSettings(Base):
    """Reminders and birthday/anniversary gifts of one program (defaults when there is no row)."""

    __tablename__ = "notification_settings"

    program_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    reminders_enabled: Mapped[bool]
    reminder_days: Mapped[int]
    birthday_points: Mapped[int] = mapped_column(BigInteger)
    anniversary_points: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ExpiryReminder(Base):
    """One ``points.expiring`` message sent for a member's points expiring on a local day."""

    __tablename__ = "expiry_reminders"

    program_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    member_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    asset: Mapped[str] = mapped_column(String(32), primary_key=True)
    expires_on: Mapped[date] = mapped_column(Date, primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MemberGift(Base):
    """A birthday or anniversary gift given (or refused by the ledger) for one year."""

    __tablename__ = "member_gifts"

    program_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    member_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # birthday | anniversary
    year: Mapped[int] = mapped_column(primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    # ``paid``, or the ledger's refusal code (say ``member_frozen``).
    status: Mapped[str] = mapped_column(String(40))
    transaction_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
