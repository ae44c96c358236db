"""Coupon templates, carts and coupons as the API and other domains see them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from jifen.members.schemas import ExternalId

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")]
Fen = Annotated[int, Field(ge=0, le=10**12, strict=True, description="Money in fen (分)")]
Label = Annotated[str, Field(min_length=1, max_length=80)]
CouponStatus = Literal["available", "used", "expired", "void"]


class TemplateIn(BaseModel):
    """A coupon template.

    ``kind``:
    - ``fixed`` (满减): ``discount_fen`` off when the in-scope subtotal reaches ``threshold_fen``;
    - ``percent``: the in-scope subtotal times ``1 - percent`` off (``percent`` is the price
      factor, "0.9" = 九折 = 10% off; or give ``percent_off``, "10" = 10% off), rounded down to
      the fen and capped at ``max_discount_fen``, from ``threshold_fen`` (default 0);
    - ``no_threshold`` (无门槛): ``discount_fen`` off any in-scope purchase.

    A discount never exceeds the in-scope subtotal. Validity is a fixed window
    (``valid_from``/``valid_until``), or ``valid_days`` after issue, or both (the earlier end).
    """

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)]
    kind: Literal["fixed", "percent", "no_threshold"]
    discount_fen: Annotated[int, Field(gt=0, le=10**12, strict=True)] | None = None
    threshold_fen: Fen = 0
    percent: Annotated[Decimal, Field(gt=0, lt=1, max_digits=6)] | None = None
    percent_off: Annotated[Decimal, Field(gt=0, lt=100, max_digits=6)] | None = None
    max_discount_fen: Annotated[int, Field(gt=0, le=10**12, strict=True)] | None = None
    scope: Literal["all", "categories", "products"] = "all"
    categories: list[Label] = Field(default_factory=list, max_length=200)
    product_ids: list[Label] = Field(default_factory=list, max_length=1000)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    valid_days: Annotated[int, Field(ge=1, le=3660)] | None = None
    per_member_limit: Annotated[int, Field(ge=1, le=10**6)] | None = None
    total_quantity: Annotated[int, Field(ge=0, le=10**12)] | None = None
    active: bool = True

    @field_validator("valid_from", "valid_until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a time zone offset")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TemplateIn:
        if self.kind in ("fixed", "no_threshold"):
            if self.discount_fen is None:
                raise ValueError(f"a {self.kind} coupon needs discount_fen")
            if self.percent is not None or self.percent_off is not None:
                raise ValueError(f"a {self.kind} coupon takes no percent")
        if self.kind == "no_threshold" and self.threshold_fen:
            raise ValueError("a no_threshold coupon has no threshold_fen")
        if self.kind == "percent":
            if (self.percent is None) == (self.percent_off is None):
                raise ValueError("a percent coupon needs exactly one of percent, percent_off")
            if self.discount_fen is not None:
                raise ValueError("a percent coupon takes max_discount_fen, not discount_fen")
        if self.scope == "categories" and not self.categories:
            raise ValueError("scope categories needs a categories list")
        if self.scope == "products" and not self.product_ids:
            raise ValueError("scope products needs a product_ids list")
        if self.valid_until is None and self.valid_days is None:
            raise ValueError("give valid_until, valid_days or both")
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self

    def price_factor(self) -> Decimal:
        """The share of the price the member pays under a percent coupon (0.9 for 10% off)."""
        if self.percent is not None:
            return self.percent
        assert self.percent_off is not None
        return 1 - self.percent_off / 100


class TemplateOut(TemplateIn):
    id: str
    issued: int
    remaining: int | None


class CartLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: Label
    category: Label | None = None
    # The unit price; the line counts amount_fen × quantity.
    amount_fen: Fen
    quantity: Annotated[int, Field(ge=1, le=10**6)] = 1


class Lines(BaseModel):
    """A cart as the member's own page sends it (the member is the token's)."""

    model_config = ConfigDict(extra="forbid")

    lines: list[CartLine] = Field(min_length=1, max_length=500)


class Cart(Lines):
    member: ExternalId


class ValidateIn(Cart):
    code: Annotated[str, Field(min_length=1, max_length=32)]


class RedeemIn(Cart):
    order_id: Annotated[str, Field(min_length=1, max_length=200)]
    idempotency_key: str | None = None


class VoidIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(max_length=500)] | None = None
    idempotency_key: str | None = None


class RestoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: Annotated[str, Field(min_length=1, max_length=200)]
    reason: Annotated[str, Field(max_length=500)] | None = None
    idempotency_key: str | None = None


class IssueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template_id: Slug
    reason: Annotated[str, Field(max_length=500)] | None = None
    operator: Annotated[str, Field(min_length=1, max_length=200)] = "api"
    idempotency_key: str | None = None


class BulkIssueIn(BaseModel):
    """Issue one coupon to each member; ``reference`` names the campaign (idempotent per member)."""

    model_config = ConfigDict(extra="forbid")

    members: list[ExternalId] = Field(min_length=1, max_length=1000)
    reference: Annotated[str, Field(min_length=1, max_length=120)]
    operator: Annotated[str, Field(min_length=1, max_length=200)] = "api"


class CouponOut(BaseModel):
    id: int
    code: str
    template_id: str
    name: str
    kind: str
    member: str | None = None
    status: CouponStatus
    valid_from: datetime
    valid_until: datetime
    source: str
    source_ref: str
    issued_at: datetime
    used_at: datetime | None = None
    order_id: str | None = None
    discount_fen: int | None = None


class BulkIssueItem(BaseModel):
    member: str
    status: int
    coupon: CouponOut | None = None
    code: str | None = None
    detail: str | None = None


class BulkIssueOut(BaseModel):
    issued: int
    failed: int
    results: list[BulkIssueItem]


class ValidateOut(BaseModel):
    code: str
    template_id: str
    discount_fen: int
    eligible_fen: int
    total_fen: int
    payable_fen: int
    valid_until: datetime


class RedeemOut(ValidateOut):
    order_id: str
    used_at: datetime


class Candidate(BaseModel):
    code: str
    template_id: str
    valid_until: datetime
    discount_fen: int
    # None when the coupon applies; otherwise the stable reason code it does not.
    reason: str | None


class BestOut(BaseModel):
    best: Candidate | None
    candidates: list[Candidate]
