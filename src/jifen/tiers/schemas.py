"""Tier scheme definitions and the tier views the API returns."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

TierCode = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,39}$")]
Rate = Annotated[Decimal, Field(gt=0, le=1, max_digits=6, decimal_places=4)]
TierMultiplier = Annotated[Decimal, Field(gt=0, le=1000, max_digits=10, decimal_places=4)]
Metric = Literal["growth", "spend", "points_earned", "rfm"]
Threshold = Annotated[int, Field(ge=0, le=10**15)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Benefits(_Strict):
    """What a tier gives: the earning engine reads ``points_multiplier``; checkout, campaigns and
    the catalog read the rest through ``tiers_of`` and the comparison table."""

    # The share of the price a member pays: 0.95 is a 5% discount (95折).
    discount_rate: Rate = Decimal(1)
    # Multiplies rule payouts unless the rule lists its own multiplier for the tier.
    points_multiplier: TierMultiplier = Decimal(1)
    # Exclusive activities a member of the tier may join each month.
    exclusive_activities_per_month: Annotated[int, Field(ge=0, le=1000)] = 0
    free_returns: bool = False
    dedicated_support: bool = False
    custom: dict[str, Any] = Field(default_factory=dict)


class TierIn(_Strict):
    code: TierCode
    name: Annotated[str, Field(min_length=1, max_length=100)]
    # The qualifying value a member needs (growth, fen spent, points earned, RFM score).
    min: Threshold
    benefits: Benefits = Field(default_factory=Benefits)


class Rfm(_Strict):
    """RFM score = recency + frequency + monetary points, each weighted.

    Recency earns a point for each ``recency_days`` entry the last purchase is within; frequency a
    point for each ``frequency`` entry the purchase count in the window reaches; monetary a point
    for each ``monetary_fen`` entry the amount in the window reaches.
    """

    recency_days: list[Annotated[int, Field(ge=1, le=3660)]] = Field(
        default_factory=list, max_length=10
    )
    frequency: list[Annotated[int, Field(ge=1, le=10**9)]] = Field(
        default_factory=list, max_length=10
    )
    monetary_fen: list[Threshold] = Field(default_factory=list, max_length=10)
    weights: dict[Literal["r", "f", "m"], Annotated[int, Field(ge=0, le=100)]] = Field(
        default_factory=dict
    )

    def weight(self, key: Literal["r", "f", "m"]) -> int:
        return self.weights.get(key, 1)


class Qualification(_Strict):
    """What a tier is earned by."""

    metric: Metric = "growth"
    # spend, points_earned, rfm: the window in calendar months (program time zone) that ends at
    # the evaluation (the start of the period) or, for an immediate upgrade, now.
    window_months: Annotated[int, Field(ge=1, le=120)] = 12
    purchase_event: Annotated[str, Field(min_length=1, max_length=64)] = "purchase"
    # An integer (or a string of digits) in fen on each purchase event.
    amount_attribute: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")] = "amount_fen"
    rfm: Rfm | None = None

    @model_validator(mode="after")
    def _rfm_given(self) -> Qualification:
        if self.metric == "rfm" and self.rfm is None:
            raise ValueError("metric rfm needs an rfm section")
        if self.metric != "rfm" and self.rfm is not None:
            raise ValueError("an rfm section is only for metric rfm")
        return self


class Evaluation(_Strict):
    """Scheduled re-evaluation and the downgrade policy."""

    period: Literal["month", "quarter", "year"] = "month"
    # Drop after this many consecutive periods below the tier's minimum; null: never drop.
    downgrade_after_periods: Annotated[int, Field(ge=1, le=120)] | None = 1
    # one_step: drop one tier; to_qualified: drop straight to the tier the member qualifies for.
    downgrade_to: Literal["one_step", "to_qualified"] = "one_step"
    # After an upgrade, no downgrade (and no counting of periods below) for this many months.
    protection_months: Annotated[int, Field(ge=0, le=120)] = 0


class TierSchemeIn(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)] = "tiers"
    qualification: Qualification = Field(default_factory=Qualification)
    evaluation: Evaluation = Field(default_factory=Evaluation)
    # Lowest first; the first tier has min 0 (every member has at least it).
    tiers: list[TierIn] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _ordered(self) -> TierSchemeIn:
        if self.tiers[0].min != 0:
            raise ValueError("the first (lowest) tier must have min 0")
        codes = [t.code for t in self.tiers]
        if len(set(codes)) != len(codes):
            raise ValueError("tier codes must be unique")
        mins = [t.min for t in self.tiers]
        if any(b <= a for a, b in pairwise(mins)):
            raise ValueError("tiers must be ordered by strictly increasing min")
        return self


class TierSchemeOut(TierSchemeIn):
    version: int
    updated_at: datetime


class TierRef(BaseModel):
    code: str
    name: str
    rank: int


class Progress(BaseModel):
    """How far the member is from the next tier (``next`` null at the top)."""

    metric: Metric
    value: int
    next: str | None
    next_name: str | None
    needed: int
    text: str


class MemberTierOut(BaseModel):
    member: str
    tier: TierRef
    benefits: Benefits
    since: datetime | None
    protected_until: datetime | None
    periods_below: int
    evaluated_period: str | None
    progress: Progress


class ComparisonRow(BaseModel):
    code: str
    name: str
    rank: int
    min: int
    discount_rate: Decimal
    points_multiplier: Decimal
    exclusive_activities_per_month: int
    free_returns: bool
    dedicated_support: bool
    custom: dict[str, Any]
    current: bool = False


class Comparison(BaseModel):
    metric: Metric
    tiers: list[ComparisonRow]


class HistoryOut(BaseModel):
    id: int
    from_tier: str | None
    to_tier: str
    direction: str
    source: str
    period: str | None
    metric_value: int
    created_at: datetime


class HistoryPage(BaseModel):
    items: list[HistoryOut]
    next_cursor: str | None


class RunOut(BaseModel):
    period: str
    status: str
    evaluated: int
    upgraded: int
    downgraded: int
    started_at: datetime
    finished_at: datetime | None
