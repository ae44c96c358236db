"""Campaign and budget definitions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from jifen.rules.conditions import ConditionError, validate_member_condition
from jifen.rules.schemas import AssetCode, EventType, Multiplier, RuleId

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")]


class Audience(BaseModel):
    """Who a campaign is for: members in any of ``tiers``, with all of ``tags``, in any of
    ``regions`` and in the ``segment`` (each left empty: everyone).

    ``segment`` is a CEL condition over ``member`` alone, e.g.
    ``member.attributes.rfm == "champion" || member.days_since_joined < 30``."""

    model_config = ConfigDict(extra="forbid")

    tiers: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list, max_length=50)
    tags: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=50)
    regions: list[Annotated[str, Field(max_length=100)]] = Field(
        default_factory=list, max_length=200
    )
    segment: Annotated[str, Field(max_length=2000)] = ""

    @field_validator("segment")
    @classmethod
    def _segment(cls, value: str) -> str:
        if value.strip():
            try:
                validate_member_condition(value)
            except ConditionError as exc:
                at = f" (at {exc.position})" if exc.position is not None else ""
                raise ValueError(f"{exc.message}{at}") from exc
        return value.strip()


class CampaignDefinition(BaseModel):
    """A multiplier on rule payouts for a time window and an audience.

    When several campaigns apply to one payout, the one with the highest multiplier wins.
    ``stacking`` says how the campaign multiplier combines with the member's tier multiplier:
    ``multiply`` (1.5 × 2 = 3), ``add`` (1.5 + 2 − 1 = 2.5) or ``max`` (2).
    """

    model_config = ConfigDict(extra="forbid")

    id: Slug
    name: Annotated[str, Field(min_length=1, max_length=200)]
    starts_at: datetime
    ends_at: datetime
    multiplier: Multiplier
    triggers: list[EventType] = Field(default_factory=list, max_length=50)
    rules: list[RuleId] = Field(default_factory=list, max_length=200)
    assets: list[AssetCode] = Field(default_factory=lambda: ["points"], min_length=1)
    audience: Audience = Field(default_factory=Audience)
    stacking: Literal["multiply", "add", "max"] = "multiply"
    # A budget that caps what this campaign adds on top of the rules' own payouts.
    budget: Slug | None = None
    enabled: bool = True

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must include a time zone offset")
        return value

    @model_validator(mode="after")
    def _window(self) -> CampaignDefinition:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class BudgetIn(BaseModel):
    """At most ``limit`` of ``asset`` paid against this budget in each ``window``."""

    model_config = ConfigDict(extra="forbid")

    id: Slug
    name: Annotated[str, Field(min_length=1, max_length=200)]
    asset: AssetCode = "points"
    limit: Annotated[int, Field(ge=0, le=10**15)]
    window: Literal["total", "day", "week", "month"] = "total"


class BudgetUse(BaseModel):
    id: str
    name: str
    asset: str
    window: str
    limit: int
    period: str
    spent: int
    remaining: int
