"""API shapes of checkout deduction: settings, quotes, deductions and refunds."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from jifen.ledger.schemas import IdempotencyKey
from jifen.members.schemas import ExternalId

Fen = Annotated[int, Field(ge=1, le=10**13, strict=True, description="Amount in fen")]
OrderRef = Annotated[
    str,
    Field(
        min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@\-]+$", examples=["SO-20261111-8"]
    ),
]


class CheckoutSettingsIn(BaseModel):
    """How points pay for orders at checkout (积分抵扣)."""

    model_config = ConfigDict(extra="forbid")

    # Fen one point is worth; None: the program's ``point_value_fen`` (default 10: 1 point = 0.1
    # yuan).
    point_value_fen: Decimal | None = Field(default=None, gt=0, max_digits=12, decimal_places=4)
    # The largest share of an order's amount points may pay: 0.5 = at most half.
    max_share: Decimal = Field(default=Decimal(1), gt=0, le=1, max_digits=5, decimal_places=4)
    # Fewer points than this cannot be used at all.
    min_points: int = Field(default=0, ge=0, le=10**12)
    # Points are used in multiples of this.
    step: int = Field(default=1, ge=1, le=10**9)
    enabled: bool = True


class CheckoutSettingsOut(BaseModel):
    point_value_fen: Decimal = Field(description="Effective value of one point in fen")
    point_value_from_program: bool
    max_share: Decimal
    min_points: int
    step: int
    enabled: bool
    rounding: str
    updated_at: datetime | None


class QuoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member: ExternalId
    order_amount_fen: Fen


class MyQuoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_amount_fen: Fen


class QuoteOut(BaseModel):
    member: str
    order_amount_fen: int
    available_points: int
    point_value_fen: Decimal
    # The most points this order can take, and the fen they pay.
    max_points: int
    max_fen: int
    min_points: int
    step: int
    # Why max_points is 0 when it is: checkout_disabled, no_points, below_minimum.
    reason: str | None = None


class DeductionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member: ExternalId
    order_id: OrderRef
    order_amount_fen: Fen
    points: Annotated[int, Field(ge=1, le=10**12, strict=True)]
    # How long the points stay held if the order is neither paid nor abandoned.
    timeout_seconds: int | None = Field(default=None, ge=1, le=30 * 24 * 3600)
    idempotency_key: IdempotencyKey | None = None


DeductionStatus = Literal["held", "captured", "voided", "lapsed"]


class DeductionOut(BaseModel):
    id: uuid.UUID
    order_id: str
    member: str
    order_amount_fen: int
    points: int
    fen: int
    status: DeductionStatus
    hold_id: uuid.UUID
    expires_at: datetime
    capture_transaction_id: uuid.UUID | None
    refunded_fen: int
    refunded_points: int
    created_at: datetime
    updated_at: datetime


class KeyOnly(BaseModel):
    model_config = ConfigDict(extra="forbid")

    idempotency_key: IdempotencyKey | None = None


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_fen: Fen
    idempotency_key: IdempotencyKey | None = None


class RefundOut(BaseModel):
    deduction: DeductionOut
    amount_fen: int
    points: int = Field(description="Points this refund gave back")
    transaction_id: uuid.UUID | None = Field(description="The ledger reversal, if any points")
