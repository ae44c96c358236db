"""Event input and the result of ingesting one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from jifen.members.schemas import ExternalId
from jifen.rules.schemas import EventType

ClientId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")]


class EventIn(BaseModel):
    """Something a member did. ``client_id`` is the event's idempotency key."""

    model_config = ConfigDict(extra="forbid")

    client_id: ClientId
    type: EventType
    member: ExternalId
    occurred_at: datetime
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must include a time zone offset")
        return value.astimezone(UTC)


class EventBatch(BaseModel):
    events: list[EventIn] = Field(min_length=1, max_length=1000)


class PostingCaused(BaseModel):
    transaction_id: str
    rule_id: str | None
    rule_version: int | None
    asset: str
    amount: int
    campaign_id: str | None = None
    # How the amount came about: base, multipliers, limits, budget (see /explain).
    explanation: dict[str, Any] = Field(default_factory=dict)


class ReviewCaused(BaseModel):
    id: int
    rule_id: str
    asset: str
    amount: int


class ReversalCaused(BaseModel):
    transaction_id: str
    reverses: str
    asset: str
    amount: int


class GrantCaused(BaseModel):
    """A coupon issued or a badge awarded by a rule's effect."""

    rule_id: str
    rule_version: int
    kind: Literal["coupon", "badge"]
    target: str  # the coupon template id or the badge id
    coupon_code: str | None = None
    awarded: bool | None = None  # a badge: False when the member already had it


class TierChangeCaused(BaseModel):
    """The member's tier moved because of this event (an immediate upgrade)."""

    from_tier: str
    to_tier: str


class SkipOut(BaseModel):
    rule_id: str | None
    reason: str
    detail: str = ""


class EventResult(BaseModel):
    client_id: str
    status: Literal["processed", "duplicate", "refused"]
    event_id: int | None = None
    type: str
    member: str
    postings: list[PostingCaused] = Field(default_factory=list)
    reviews: list[ReviewCaused] = Field(default_factory=list)
    reversals: list[ReversalCaused] = Field(default_factory=list)
    grants: list[GrantCaused] = Field(default_factory=list)
    tier_changes: list[TierChangeCaused] = Field(default_factory=list)
    skipped: list[SkipOut] = Field(default_factory=list)
    error: dict[str, Any] | None = None


class EventBatchResult(BaseModel):
    results: list[EventResult]
