"""Stored events: the audit trail, the idempotency record of ingestion and the dry-run input."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from jifen.kit.db import Base, BigIntPK, UTCDateTime


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("program_id", "client_id"),
        Index("ix_events_program_time", "program_id", "occurred_at"),
        Index("ix_events_member", "program_id", "member_id", "occurred_at"),
        Index(
            "ix_events_subject",
            "program_id",
            "type",
            "subject",
            postgresql_where=text("subject IS NOT NULL"),
            sqlite_where=text("subject IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    client_id: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[int] = mapped_column(BigInteger)
    # What the event is about, for reversals: the order of a purchase, the invitee of an invite.
    subject: Mapped[str | None] = mapped_column(String(200), nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON)
    request_hash: Mapped[str] = mapped_column(String(64))
    # What the event caused (postings, reviews, reversals) or why nothing.
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
