"""API shapes of gifting and donations."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from jifen.ledger.schemas import Amount, AssetCode, IdempotencyKey
from jifen.members.schemas import ExternalId

# Also names the pool's ledger account ``donation:<id>`` (at most 32 characters in all).
PoolId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,22}$")]


class GiftSettingsIn(BaseModel):
    """Gifting rules of a program."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    asset: AssetCode = "points"
    min_amount: int = Field(default=1, ge=1)
    max_amount: int | None = Field(default=None, ge=1)
    # What one member may give in a day of the program's time zone (fees not counted).
    daily_limit: int | None = Field(default=None, ge=1)
    # The sender's tier must be one of these (e.g. silver and above); None: anyone may give.
    eligible_tiers: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = None
    # Paid by the sender on top of the gift: amount × rate, rounded down; 0: no fee.
    fee_rate: Decimal = Field(default=Decimal(0), ge=0, le=1, max_digits=6, decimal_places=4)
    # Where fees go: their own ``fee`` account (reported apart) or ``redemption``.
    fee_account: Literal["fee", "redemption"] = "fee"


class GiftIn(BaseModel):
    """A member's own gift (``/v1/me/gifts``)."""

    model_config = ConfigDict(extra="forbid")

    to: ExternalId
    amount: Amount
    message: str | None = Field(default=None, max_length=200)
    idempotency_key: IdempotencyKey | None = None


class ServerGiftIn(GiftIn):
    """A gift on a member's behalf, sent by the merchant's backend (``/v1/gifts``)."""

    from_member: ExternalId


class GiftOut(BaseModel):
    id: int
    from_member: str
    to: str
    asset: str
    amount: int
    fee: int
    message: str | None
    transaction_id: str
    fee_transaction_id: str | None
    created_at: datetime


class PoolIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    asset: AssetCode = "points"
    goal: int | None = Field(default=None, ge=1)
    active: bool = True


class Donor(BaseModel):
    # The member's name (or id) when their consent ``public_donor`` is true, else null.
    name: str | None
    anonymous: bool
    amount: int
    donations: int


class PoolOut(BaseModel):
    id: str
    name: str
    description: str | None
    asset: str
    goal: int | None
    active: bool
    total: int
    donations: int
    donors: int
    top_donors: list[Donor]


class DonationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pool: PoolId
    amount: Amount
    idempotency_key: IdempotencyKey | None = None


class ServerDonationIn(DonationIn):
    member: ExternalId


class DonationOut(BaseModel):
    id: int
    pool: str
    member: str
    asset: str
    amount: int
    transaction_id: str
    pool_total: int
    created_at: datetime
