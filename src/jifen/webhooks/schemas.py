"""Inputs and outputs of the webhooks API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from jifen.ledger.schemas import IdempotencyKey

# ``points.credited``, ``points.*``, ``coupon.issued``, ``ledger.balance_changed`` or ``*``.
EventPattern = Annotated[
    str, Field(pattern=r"^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$", max_length=60)
]
Url = Annotated[str, Field(pattern=r"^https?://[^\s/?#]+[^\s]*$", max_length=2000)]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url
    events: list[EventPattern] = Field(min_length=1, max_length=50)
    description: str | None = Field(default=None, max_length=200)
    # Attempts before a delivery goes to the dead letters (back-off 10s, 30s, 2m, 10m, 1h, ...).
    max_attempts: int = Field(default=8, ge=1, le=20)
    idempotency_key: IdempotencyKey | None = None


class WebhookOut(BaseModel):
    id: uuid.UUID
    url: str
    events: list[str]
    description: str | None
    max_attempts: int
    status: str
    created_at: datetime


class WebhookCreated(WebhookOut):
    # Shown once: keep it to verify signatures (jifen.webhooks.signing.verify).
    secret: str


class AttemptOut(BaseModel):
    attempt: int
    started_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None
    ok: bool


class DeliveryOut(BaseModel):
    id: uuid.UUID
    endpoint_id: uuid.UUID
    message_id: uuid.UUID
    type: str
    status: str
    attempts: int
    failures: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    dead_at: datetime | None
    log: list[AttemptOut] = Field(default_factory=list)


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None = None


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    idempotency_key: IdempotencyKey | None = None
