"""Lottery pools, prizes and draws as the API sees them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")]
Points = Annotated[int, Field(gt=0, le=10**12, strict=True)]


class PrizeIn(BaseModel):
    """A prize: ``points`` (paid through the ledger), ``coupon`` (a coupon of ``template_id``),
    ``item`` (a named physical or virtual prize, recorded for fulfilment) or ``nothing``
    (谢谢参与). ``weight`` is relative; ``stock`` is how many are left (None: unlimited)."""

    model_config = ConfigDict(extra="forbid")

    id: Slug
    name: Annotated[str, Field(min_length=1, max_length=200)]
    kind: Literal["points", "coupon", "item", "nothing"]
    weight: Annotated[int, Field(ge=0, le=10**9, strict=True)]
    stock: Annotated[int, Field(ge=0, le=10**12, strict=True)] | None = None
    points: Points | None = None
    template_id: Slug | None = None

    @model_validator(mode="after")
    def _kind_fields(self) -> PrizeIn:
        if (self.kind == "points") != (self.points is not None):
            raise ValueError("points prizes (and only they) need points")
        if (self.kind == "coupon") != (self.template_id is not None):
            raise ValueError("coupon prizes (and only they) need template_id")
        if self.kind == "nothing" and self.stock is not None:
            raise ValueError("a nothing prize has no stock")
        return self


class PoolIn(BaseModel):
    """A prize pool. Each draw costs ``cost_points``; a member draws at most ``daily_limit``
    times a day (program time zone); points prizes pay at most ``budget_points`` in all. With
    ``consolation_prize`` set, every draw wins something: a draw that selects a prize that is
    gone (out of stock, over budget) or a ``nothing`` prize gets the consolation prize."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)]
    cost_points: Annotated[int, Field(ge=0, le=10**12, strict=True)]
    daily_limit: Annotated[int, Field(ge=1, le=10**6)] | None = None
    budget_points: Annotated[int, Field(ge=0, le=10**15, strict=True)] | None = None
    consolation_prize: Slug | None = None
    prizes: list[PrizeIn] = Field(min_length=1, max_length=100)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    active: bool = True

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a time zone offset")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> PoolIn:
        ids = [p.id for p in self.prizes]
        if len(set(ids)) != len(ids):
            raise ValueError("prize ids must be unique")
        if sum(p.weight for p in self.prizes) <= 0:
            raise ValueError("the prizes' total weight must be positive")
        if self.consolation_prize is not None:
            found = [p for p in self.prizes if p.id == self.consolation_prize]
            if not found:
                raise ValueError("consolation_prize must be one of the prizes")
            if found[0].kind == "nothing":
                raise ValueError("the consolation prize must be something")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class PrizeOut(PrizeIn):
    won: int


class PoolOut(BaseModel):
    id: str
    name: str
    cost_points: int
    daily_limit: int | None
    budget_points: int | None
    budget_spent: int
    consolation_prize: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    active: bool
    prizes: list[PrizeOut]


class DrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    idempotency_key: str | None = None


class WonPrize(BaseModel):
    id: str
    kind: str
    name: str
    points: int | None = None
    coupon_code: str | None = None
    item: str | None = None


class DrawOut(BaseModel):
    id: str
    pool: str
    member: str
    period: str
    sequence: int
    cost_points: int
    won: bool
    prize: WonPrize | None
    selected_prize_id: str
    # Why the selected prize was not what the member got: unavailable (gone), nothing (with a
    # consolation prize); None when it was.
    fallback: str | None
    commitment: str
    created_at: datetime


class Commitment(BaseModel):
    period: str
    commitment: str
    # Revealed once the period has ended.
    seed: str | None
    starts_at: datetime
    ends_at: datetime
    draws: int


class PeriodDraw(BaseModel):
    sequence: int
    member: str
    weights: list[list[Any]]
    consolation_prize: str | None
    number: str
    selected_prize_id: str
    prize_id: str | None
    fallback: str | None
    created_at: datetime


class PeriodDraws(BaseModel):
    pool: str
    period: str
    commitment: str
    seed: str | None
    revealed: bool
    draws: list[PeriodDraw]
