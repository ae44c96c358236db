"""Rules as data: what operators write (JSON or YAML), validated before anything is stored."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from jifen.kit.periods import Window

RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$", examples=["checkin-daily"])]
EventType = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.]{0,63}$", examples=["check_in"])]
AssetCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")]
Multiplier = Annotated[Decimal, Field(gt=0, le=1000, max_digits=10, decimal_places=4)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PerUnit(_Strict):
    """``rate`` of the asset for every ``unit`` of an event attribute: 1 point per yuan is
    ``{"attribute": "amount_fen", "unit": 100, "rate": "1"}``."""

    attribute: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
    unit: Annotated[int, Field(gt=0, le=10**9)] = 1
    rate: Annotated[Decimal, Field(ge=0, le=10**6, max_digits=14, decimal_places=6)] = Decimal(1)


class LadderStep(_Strict):
    """Pay ``amount`` for the ``from``-th to ``to``-th qualifying event (``to`` open = and on)."""

    from_n: Annotated[int, Field(alias="from", ge=1)]
    to_n: Annotated[int | None, Field(alias="to", ge=1)] = None
    amount: Annotated[int, Field(ge=0, le=10**12)]


class Amount(_Strict):
    """Exactly one way of computing the base amount."""

    fixed: Annotated[int, Field(ge=0, le=10**12)] | None = None
    per_unit: PerUnit | None = None
    ladder: list[LadderStep] | None = Field(default=None, min_length=1, max_length=50)
    # Which count the ladder follows: the member's n-th qualifying event over this window.
    ladder_window: Window = "lifetime"

    @model_validator(mode="after")
    def _exactly_one(self) -> Amount:
        given = [k for k in ("fixed", "per_unit", "ladder") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of fixed, per_unit, ladder")
        if self.ladder is not None:
            _check_ladder(self.ladder)
        return self


def _check_ladder(steps: list[LadderStep]) -> None:
    ordered = sorted(steps, key=lambda s: s.from_n)
    for i, step in enumerate(ordered):
        if step.to_n is not None and step.to_n < step.from_n:
            raise ValueError(f"ladder step {i}: to ({step.to_n}) is before from ({step.from_n})")
        if i + 1 < len(ordered):
            nxt = ordered[i + 1]
            if step.to_n is None or step.to_n >= nxt.from_n:
                raise ValueError(
                    f"ladder brackets overlap: {step.from_n}-{step.to_n or '∞'} and "
                    f"{nxt.from_n}-{nxt.to_n or '∞'}"
                )


GrantId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")]


class Effect(_Strict):
    """What a rule gives: an ``amount`` of an ``asset``, or a coupon of a template, or a badge."""

    asset: AssetCode = "points"
    amount: Amount | None = None
    # Instead of an amount: issue a coupon of this template, or award this badge. Limits with
    # ``max_count`` count them; multipliers, amount limits and budgets do not apply.
    coupon: GrantId | None = None
    badge: GrantId | None = None
    # always: every qualifying event; first: only the member's first qualifying event;
    # milestone: only when the qualifying count reaches one of ``at`` (e.g. the 10th invite).
    when: Literal["always", "first", "milestone"] = "always"
    at: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list, max_length=50)
    # Tier and campaign multipliers apply to this effect.
    multiply: bool = True
    # Lot expiry override, in days from the event (else the program's policy).
    expires_in_days: Annotated[int, Field(ge=1, le=3650)] | None = None

    @model_validator(mode="after")
    def _milestones(self) -> Effect:
        given = [k for k in ("amount", "coupon", "badge") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("an effect gives exactly one of amount, coupon, badge")
        if self.when == "milestone" and not self.at:
            raise ValueError("a milestone effect needs at (e.g. [10])")
        return self


class Limit(_Strict):
    """At most ``max_count`` paid events and/or ``max_amount`` of ``asset`` per member per window."""

    window: Window
    max_count: Annotated[int, Field(ge=0)] | None = None
    max_amount: Annotated[int, Field(ge=0)] | None = None
    asset: AssetCode = "points"

    @model_validator(mode="after")
    def _something(self) -> Limit:
        if self.max_count is None and self.max_amount is None:
            raise ValueError("a limit needs max_count or max_amount")
        return self


class ExperimentArm(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")]
    group: Literal["control", "treatment"]


class RuleDefinition(_Strict):
    id: RuleId
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=2000)] = ""
    trigger: EventType
    # A CEL expression over event, member, counts, hits and streak; true when omitted.
    condition: Annotated[str, Field(max_length=4000)] = "true"
    effects: list[Effect] = Field(min_length=1, max_length=10)
    limits: list[Limit] = Field(default_factory=list, max_length=10)
    # Member tier → multiplier (tiers not listed get 1).
    tier_multipliers: dict[Annotated[str, Field(max_length=40)], Multiplier] = Field(
        default_factory=dict
    )
    # Send the reward to manual review instead of paying it.
    review: bool = False
    budget: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")] | None = None
    experiment: ExperimentArm | None = None
    enabled: bool = True
    priority: Annotated[int, Field(ge=0, le=10000)] = 100
    # When this version takes effect; now when omitted.
    effective_from: datetime | None = None

    @field_validator("effective_from")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a time zone offset")
        return value

    @model_validator(mode="after")
    def _review_pays_amounts(self) -> RuleDefinition:
        if self.review and any(e.amount is None for e in self.effects):
            raise ValueError("a rule sent to review may only pay amounts, not coupons or badges")
        return self


class RuleSet(_Strict):
    rules: list[RuleDefinition] = Field(max_length=500)


class RuleOut(BaseModel):
    id: str
    version: int
    enabled: bool
    effective_from: datetime
    created_by: str
    created_at: datetime
    definition: dict[str, Any]


class ValidationProblem(BaseModel):
    rule: str
    field: str
    message: str
    position: int | None = None
