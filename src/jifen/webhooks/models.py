"""Tables of the webhooks domain: endpoints, one delivery per (endpoint, message), attempts."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, String, Text, UniqueConstraint, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from jifen.kit.db import Base, BigIntPK, UTCDateTime


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_program", "program_id", "status"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    program_id: Mapped[str] = mapped_column(String(40))
    url: Mapped[str] = mapped_column(String(2000))
    # Event type patterns: ``points.credited``, ``points.*``, ``*``.
    events: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The signing secret; shown once when the endpoint is created, never returned again.
    secret: Mapped[str] = mapped_column(String(100))
    max_attempts: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))  # active | deleted
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebhookDelivery(Base):
    """One outbox message to one endpoint. The body is rendered once, so every retry and replay
    sends the same bytes under the same ``Jifen-Message-Id``."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("program_id", "endpoint_id", "message_id"),
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_webhook_deliveries_endpoint", "program_id", "endpoint_id", "created_at"),
        Index("ix_webhook_deliveries_status", "program_id", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    program_id: Mapped[str] = mapped_column(String(40))
    endpoint_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    message_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    member_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    event_type: Mapped[str] = mapped_column(String(60))
    body: Mapped[str] = mapped_column(Text)
    # pending | delivered | dead | cancelled
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int]  # every attempt ever made
    failures: Mapped[int]  # failed attempts since creation or the last replay
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set while a dispatcher holds the delivery; its results count only under the same lease.
    lease_token: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    dead_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebhookAttempt(Base):
    """The log: one row per HTTP attempt."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "program_id", "delivery_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    delivery_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    attempt: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(nullable=True)
    latency_ms: Mapped[int]
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    ok: Mapped[bool]
