"""Check-in settings, requests and answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from jifen.rules.schemas import AssetCode

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")]
Month = Annotated[str, Field(pattern=r"^(19|20|21)\d{2}-(0[1-9]|1[0-2])$", examples=["2026-03"])]


class GiftPack(BaseModel):
    """What a member gets on the day the streak reaches ``streak`` (and every multiple of it
    with ``repeat``): an amount of an asset, a coupon, a badge, or several of them."""

    model_config = ConfigDict(extra="forbid")

    streak: Annotated[int, Field(ge=1, le=3650)]
    repeat: bool = False
    name: Annotated[str, Field(max_length=200)] = ""
    asset: AssetCode = "points"
    amount: Annotated[int, Field(ge=0, le=10**12)] = 0
    coupon_template_id: Annotated[str | None, Field(min_length=1, max_length=80)] = None
    badge_id: Slug | None = None

    @model_validator(mode="after")
    def _gives_something(self) -> GiftPack:
        if self.amount == 0 and self.coupon_template_id is None and self.badge_id is None:
            raise ValueError("a gift pack gives an amount, a coupon or a badge")
        return self

    def due(self, streak: int) -> bool:
        return streak == self.streak or (self.repeat and streak % self.streak == 0)


class CheckInSettingsIn(BaseModel):
    """A program's check-in settings. Make-ups are off while ``makeup_monthly_limit`` is 0."""

    model_config = ConfigDict(extra="forbid")

    makeup_cost: Annotated[int, Field(ge=0, le=10**12)] = 0
    makeup_monthly_limit: Annotated[int, Field(ge=0, le=31)] = 0
    gift_packs: list[GiftPack] = Field(default_factory=list, max_length=50)


class CheckInIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    idempotency_key: Annotated[str | None, Field(min_length=1, max_length=200)] = None


class MakeUpIn(BaseModel):
    """A make-up check-in (补签) for a missed day of the current month."""

    model_config = ConfigDict(extra="forbid")

    day: date
    idempotency_key: Annotated[str | None, Field(min_length=1, max_length=200)] = None


class PostingOut(BaseModel):
    transaction_id: str
    rule_id: str | None
    asset: str
    amount: int


class GiftOut(BaseModel):
    streak: int
    name: str
    asset: str | None = None
    amount: int = 0
    transaction_id: str | None = None
    coupon: dict[str, object] | None = None
    badge_id: str | None = None
    # False when the member already had the badge.
    badge_awarded: bool = False
    # Why a part of the gift was not given (say, a coupon template that ran out).
    errors: list[dict[str, object]] = Field(default_factory=list)


class CheckInOut(BaseModel):
    status: Literal["checked_in", "made_up", "already_checked_in"]
    member: str
    day: date
    kind: Literal["check_in", "makeup"]
    streak: int
    cumulative_days: int
    best_streak: int
    cost: int
    cost_transaction_id: str | None = None
    # Points this check-in brought (rules and gift packs), before any make-up cost.
    points: int
    postings: list[PostingOut]
    skipped: list[dict[str, object]] = Field(default_factory=list)
    gifts: list[GiftOut]
    # Badges newly awarded by this check-in (check-in criteria and gift packs).
    badges: list[str]
    event_client_id: str
    event_status: str
    created_at: datetime
    makeups_left: int


class CalendarDay(BaseModel):
    day: date
    status: Literal["checked", "made_up", "missed", "today", "future"]


class CalendarOut(BaseModel):
    member: str
    month: str
    today: date
    days: list[CalendarDay]
    checked_in_today: bool
    # Days in a row up to today (or up to yesterday while today is still open).
    streak: int
    best_streak: int
    cumulative_days: int
    checked_days_in_month: int
    makeups_used: int
    makeups_left: int
    makeup_cost: int


class CheckInStatsView(BaseModel):
    """What other domains (badges) read about a member's check-ins."""

    cumulative_days: int
    best_streak: int
    current_streak: int
