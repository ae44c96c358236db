"""API shapes of the catalog: item definitions, redemption requests and orders."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from jifen.ledger.schemas import IdempotencyKey

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")]
ItemKind = Literal["virtual", "physical", "coupon", "privilege"]
LimitWindow = Literal["day", "week", "month", "lifetime"]
OrderStatus = Literal["pending", "shipped", "fulfilled", "cancelled"]
Points = Annotated[int, Field(ge=1, le=10**12, strict=True)]
Fen = Annotated[int, Field(ge=0, le=10**12, strict=True)]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("must include a time zone offset")
    return value.astimezone(UTC)


class MemberLimit(BaseModel):
    """At most ``count`` units per member per ``window`` (calendar periods in the program's time
    zone; ``lifetime`` never resets). Cancelled orders do not count."""

    model_config = ConfigDict(extra="forbid")

    count: Annotated[int, Field(ge=1, le=1_000_000)]
    window: LimitWindow = "lifetime"


class ItemIn(BaseModel):
    """An item of the rewards catalog (积分商城)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=2000)] | None = None
    kind: ItemKind
    category: Annotated[str, Field(max_length=80)] | None = None
    price_points: Points
    cash_fen: Fen = 0
    # None: unlimited. Setting it replaces the current stock.
    stock: Annotated[int, Field(ge=0, le=10**12)] | None = None
    coupon_template_id: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    tiers: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        default_factory=list, max_length=50
    )
    limit: MemberLimit | None = None
    available_from: datetime | None = None
    available_until: datetime | None = None
    drop_at: datetime | None = Field(
        default=None,
        description="A limited-quantity drop: listed, but redeemable only from this instant",
    )
    enabled: bool = True
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("available_from", "available_until", "drop_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return _utc(value)

    @model_validator(mode="after")
    def _consistent(self) -> ItemIn:
        if (self.kind == "coupon") != (self.coupon_template_id is not None):
            raise ValueError("coupon items (and only they) need coupon_template_id")
        if (
            self.available_from is not None
            and self.available_until is not None
            and self.available_until <= self.available_from
        ):
            raise ValueError("available_until must be after available_from")
        return self


class ItemOut(ItemIn):
    id: str
    created_at: datetime
    updated_at: datetime


class RestockIn(BaseModel):
    """Add units to (or, negative, take units from) an item's stock without overwriting what
    concurrent redemptions took meanwhile."""

    model_config = ConfigDict(extra="forbid")

    add: Annotated[int, Field(ge=-(10**12), le=10**12, strict=True)]
    idempotency_key: IdempotencyKey | None = None


class CatalogEntry(BaseModel):
    """An item as one member sees it now: whether they may redeem it, and if not, why."""

    item: ItemOut
    redeemable: bool
    # The stable code redeeming now would fail with (None when redeemable).
    reason: str | None = None
    # Units the member may still take under the item's limit in the current period.
    remaining_limit: int | None = None


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100)]
    phone: Annotated[str, Field(min_length=1, max_length=40)]
    region: Annotated[str, Field(max_length=200)] | None = None
    line: Annotated[str, Field(min_length=1, max_length=500)]
    postcode: Annotated[str, Field(max_length=20)] | None = None


class RedeemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: Slug
    quantity: Annotated[int, Field(ge=1, le=100)] = 1
    address: Address | None = None
    idempotency_key: IdempotencyKey | None = None


class OrderOut(BaseModel):
    id: uuid.UUID
    member: str
    item: str
    kind: ItemKind
    quantity: int
    points: int
    cash_fen: int
    status: OrderStatus
    address: dict[str, Any] | None = None
    tracking_no: str | None = None
    debit_transaction_id: uuid.UUID
    refund_transaction_id: uuid.UUID | None = None
    coupons: list[dict[str, Any]] = Field(default_factory=list)
    cancel_reason: str | None = None
    created_at: datetime
    updated_at: datetime
    shipped_at: datetime | None = None
    fulfilled_at: datetime | None = None
    cancelled_at: datetime | None = None


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None


class ShipIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tracking_no: Annotated[str, Field(min_length=1, max_length=100)]
    idempotency_key: IdempotencyKey | None = None


class FulfilIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    idempotency_key: IdempotencyKey | None = None


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(max_length=500)] | None = None
    idempotency_key: IdempotencyKey | None = None
