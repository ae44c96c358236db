"""API shapes of the cash wallet: settings, withdrawal requests, finance decisions, payables."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from jifen.ledger.schemas import Amount, IdempotencyKey

WithdrawalStatus = Literal["requested", "approved", "rejected", "paid", "expired"]


class WalletSettingsIn(BaseModel):
    """Withdrawal rules of a program, all amounts in fen of the ``cash`` asset."""

    model_config = ConfigDict(extra="forbid")

    min_amount: int = Field(default=100, ge=1)
    max_amount: int | None = Field(default=None, ge=1)
    # Per member per day in the program's time zone (requests not rejected or expired).
    daily_limit: int | None = Field(default=None, ge=1)
    # How long a request's hold waits for finance; after it the request expires (ledger maximum).
    hold_days: int = Field(default=30, ge=1, le=30)


class WithdrawalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Amount
    # Where to pay: the merchant's own reference to the member's payout account.
    payee: str | None = Field(default=None, max_length=200)
    idempotency_key: IdempotencyKey | None = None


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operator: str = Field(min_length=1, max_length=200)
    idempotency_key: IdempotencyKey | None = None


class RejectIn(DecisionIn):
    reason: str = Field(min_length=1, max_length=500)


class PaidIn(DecisionIn):
    payout_reference: str = Field(min_length=1, max_length=200)


class WithdrawalOut(BaseModel):
    id: int
    member: str
    asset: str
    amount: int
    status: WithdrawalStatus
    payee: str | None
    hold_id: str
    capture_transaction_id: str | None
    reason: str | None
    decided_by: str | None
    payout_reference: str | None
    requested_at: datetime
    decided_at: datetime | None
    paid_at: datetime | None


class WithdrawalPage(BaseModel):
    items: list[WithdrawalOut]
    next_cursor: str | None


class PayableTotal(BaseModel):
    count: int
    amount: int


class PayableReport(BaseModel):
    """What finance owes members: approved but not yet paid, and requests still pending."""

    asset: str
    approved_unpaid: PayableTotal
    pending: PayableTotal
    items: list[WithdrawalOut]
