"""Program settings and API shapes for programs, assets and API keys."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ProgramId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,39}$", examples=["acme-club"])]
AssetCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,31}$", examples=["points"])]


class ExpiryPolicy(BaseModel):
    """When points earned at a given time expire.

    - ``none``: never.
    - ``rolling``: ``months`` after the day they were earned, at the end of that day in the
      program's time zone (earned 2026-03-15 with 24 months: usable through 2028-03-15).
    - ``fixed``: at the end of the year ``years_after`` years after the year they were earned
      (``years_after=1``: everything earned in 2026 expires at the end of 2027).
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["none", "rolling", "fixed"] = "none"
    months: int | None = Field(default=None, ge=1, le=600)
    years_after: int = Field(default=1, ge=0, le=50)
    # Days before expiry on which members are reminded.
    reminder_days: list[Annotated[int, Field(ge=1, le=365)]] = Field(
        default_factory=lambda: [30, 7]
    )

    @model_validator(mode="after")
    def _months_for_rolling(self) -> ExpiryPolicy:
        if self.kind == "rolling" and self.months is None:
            raise ValueError("a rolling expiry policy needs months")
        return self


class ProgramSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str = "Asia/Shanghai"
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    locale: Literal["zh-CN", "en"] = "zh-CN"
    # The cash value of one point in fen (minor currency units): 10 means 1 point = 0.1 yuan.
    point_value_fen: Decimal = Field(default=Decimal(10), ge=0, max_digits=12, decimal_places=4)
    # How amounts computed from rates are rounded to whole units.
    rounding: Literal["down", "up", "half_up", "half_even"] = "down"
    expiry: ExpiryPolicy = Field(default_factory=ExpiryPolicy)
    # When a reversal needs more than the member has: let the balance go negative (the member
    # owes it, and future credits pay it back first) or write the shortfall off to ``loss``.
    negative_balance: Literal["allow", "loss"] = "allow"
    hold_timeout_seconds: int = Field(default=900, ge=1, le=30 * 24 * 3600)
    # Events and credits for an unknown member create it instead of failing.
    auto_create_members: bool = True
    # Events older than this are refused (``event_too_old``): late events inside it are
    # evaluated at their occurred_at, older ones would rewrite closed periods.
    max_event_age_days: int = Field(default=30, ge=1, le=3650)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class ProgramCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: ProgramId
    name: str = Field(min_length=1, max_length=200)
    settings: ProgramSettings = Field(default_factory=ProgramSettings)


class ProgramUpdate(BaseModel):
    """A partial change: only the settings sent are changed (``expiry`` as a whole object)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    settings: dict[str, Any] | None = None
    reason: str | None = Field(default=None, max_length=500)


class ProgramOut(BaseModel):
    id: str
    name: str
    settings: ProgramSettings
    settings_version: int
    created_at: datetime
    updated_at: datetime


class AssetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: AssetCode
    name: str = Field(min_length=1, max_length=100)
    expires: bool = False


class AssetOut(BaseModel):
    code: str
    name: str
    kind: str
    expires: bool


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="default", min_length=1, max_length=200)


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    # Shown once, at creation; only a hash is stored.
    key: str
