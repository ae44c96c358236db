"""Inputs and outputs of ledger operations (API bodies and the embedded Python API alike)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from jifen.members.schemas import ExternalId

MAX_AMOUNT = 10**15

Amount = Annotated[int, Field(gt=0, le=MAX_AMOUNT, strict=True, description="Minor units")]
AssetCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")]
IdempotencyKey = Annotated[
    str,
    Field(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$", description="Unique per write"),
]
Text = Annotated[str, Field(max_length=500)]
# The system account on the other side of a credit or debit: where points come from or go to.
# Partner exchanges and donation pools each have their own (``partner:<id>``, ``donation:<id>``)
# so that a report can sum what went to each; ``fee`` collects transfer fees.
CounterAccount = Annotated[
    str,
    Field(
        pattern=r"^(issuance|redemption|fee|(partner|donation):[a-z0-9][a-z0-9_.-]{0,22})$",
        description="System account on the other side of the posting",
    ),
]
Reference = Annotated[str, Field(max_length=200)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")

    idempotency_key: IdempotencyKey


class CreditIn(_In):
    member: ExternalId
    asset: AssetCode = "points"
    amount: Amount
    reason: Text | None = None
    reference: Reference | None = None
    # Defaults to the program's expiry policy applied to occurred_at.
    expires_at: datetime | None = None
    occurred_at: datetime | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    # Where the points come from: ``issuance`` (earned), or ``partner:<id>`` (exchanged in).
    source: CounterAccount = "issuance"
    # Set by the earning engine; named in every posting.
    rule_id: str | None = Field(default=None, max_length=80)
    rule_version: int | None = None
    campaign_id: str | None = Field(default=None, max_length=80)

    @field_validator("expires_at", "occurred_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a time zone offset")
        return value.astimezone(UTC) if value is not None else None


class DebitIn(_In):
    member: ExternalId
    asset: AssetCode = "points"
    amount: Amount
    reason: Text | None = None
    reference: Reference | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    # The system account the points go to.
    counter: CounterAccount = "redemption"


class HoldIn(_In):
    member: ExternalId
    asset: AssetCode = "points"
    amount: Amount
    timeout_seconds: int | None = Field(default=None, ge=1, le=30 * 24 * 3600)
    reason: Text | None = None
    reference: Reference | None = None


class CaptureIn(_In):
    # Captures the whole hold when omitted; the rest of a partial capture is released.
    amount: Amount | None = None
    reason: Text | None = None
    reference: Reference | None = None


class VoidIn(_In):
    reason: Text | None = None


class ReverseIn(_In):
    # Reverses what is left of the transaction when omitted.
    amount: Amount | None = None
    reason: Text | None = None


class AdjustIn(_In):
    member: ExternalId
    asset: AssetCode = "points"
    amount: Annotated[int, Field(strict=True, ge=-MAX_AMOUNT, le=MAX_AMOUNT)]
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    operator: Annotated[str, Field(min_length=1, max_length=200)]
    expires_at: datetime | None = None

    @field_validator("amount")
    @classmethod
    def _nonzero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("an adjustment must change the balance")
        return value


class TransferIn(_In):
    from_member: ExternalId
    to_member: ExternalId
    asset: AssetCode = "points"
    amount: Amount
    reason: Text | None = None
    reference: Reference | None = None


class TransactionOut(BaseModel):
    id: uuid.UUID
    kind: str
    asset: str
    amount: int
    member: str | None
    balance: int | None = Field(description="The member's balance after this transaction")
    available: int | None
    reverses_id: uuid.UUID | None = None
    hold_id: uuid.UUID | None = None
    reason: str | None = None
    reference: str | None = None
    occurred_at: datetime
    created_at: datetime
    lot_expires_at: datetime | None = None


class HoldOut(BaseModel):
    id: uuid.UUID
    member: str
    asset: str
    amount: int
    captured: int
    status: str
    expires_at: datetime
    reason: str | None = None
    reference: str | None = None
    capture_transaction_id: uuid.UUID | None = None
    created_at: datetime
    resolved_at: datetime | None = None
    available: int | None = None


class BalanceOut(BaseModel):
    asset: str
    balance: int
    held: int
    available: int


class ExpiringOut(BaseModel):
    expires_at: datetime
    amount: int


class MemberBalancesOut(BaseModel):
    member: str
    balances: list[BalanceOut]
    expiring: list[ExpiringOut] = Field(description="Points soonest to expire, by expiry time")


class StatementEntry(BaseModel):
    transaction_id: uuid.UUID
    kind: str
    asset: str
    amount: int
    balance_after: int | None
    reason: str | None
    reference: str | None
    rule_id: str | None
    rule_version: int | None
    campaign_id: str | None
    reverses_id: uuid.UUID | None
    occurred_at: datetime
    created_at: datetime


class StatementPage(BaseModel):
    items: list[StatementEntry]
    next_cursor: str | None


class LotOut(BaseModel):
    id: uuid.UUID
    asset: str
    amount: int
    remaining: int
    held: int
    expired: int
    earned_at: datetime
    expires_at: datetime | None
    transaction_id: uuid.UUID


class BatchItemResult(BaseModel):
    status: int
    body: dict[str, Any]
