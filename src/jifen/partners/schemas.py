"""API shapes of the partner exchange."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from jifen.ledger.schemas import Amount, IdempotencyKey
from jifen.members.schemas import ExternalId

# Also names the partner's ledger account ``partner:<id>`` (at most 32 characters in all).
PartnerId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,22}$")]
Rate = Annotated[Decimal, Field(gt=0, le=10**9, max_digits=18, decimal_places=6)]


class PartnerIn(BaseModel):
    """A partner program. Rates are points per partner unit: with ``rate_out`` 10 a member pays
    10 points for 1 partner unit (a mile, a partner point); with ``rate_in`` 8 one unit
    received from the partner gives 8 points. Points are rounded by the program's policy."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    rate_out: Rate
    rate_in: Rate
    min_units_out: int = Field(default=1, ge=1)
    min_units_in: int = Field(default=1, ge=1)
    # Per member per day of the program's time zone, in partner units; None: no limit.
    daily_units_out: int | None = Field(default=None, ge=1)
    daily_units_in: int | None = Field(default=None, ge=1)
    active: bool = True


class PartnerOut(PartnerIn):
    id: str
    created_at: datetime
    updated_at: datetime


class ExchangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member: ExternalId
    units: Amount
    # The partner's own reference for this exchange (their transaction id).
    partner_reference: str | None = Field(default=None, max_length=200)
    idempotency_key: IdempotencyKey | None = None


class MyExchangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    units: Amount
    idempotency_key: IdempotencyKey | None = None


class ExchangeOut(BaseModel):
    id: int
    partner: str
    member: str
    direction: Literal["out", "in"]
    units: int
    points: int
    rate: Decimal
    partner_reference: str | None
    transaction_id: str
    # The member's points balance after the exchange.
    balance: int | None
    created_at: datetime


class SettlementOut(BaseModel):
    """What moved with a partner between two local dates (``to`` included).

    ``net_units`` = out − in: positive, the program owes the partner that many units' worth
    (its members took units there); negative, the partner owes the program."""

    partner: str
    from_date: date
    to_date: date
    timezone: str
    exchanges_out: int
    units_out: int
    points_out: int
    exchanges_in: int
    units_in: int
    points_in: int
    net_units: int
    net_points: int
