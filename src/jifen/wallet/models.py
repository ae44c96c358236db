"""Tables of the cash wallet: withdrawal settings and requests."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from jifen.kit.db import Base, BigIntPK, UTCDateTime


class WalletSettings(Base):
    __tablename__ = "wallet_settings"

    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    # Validated by jifen.wallet.schemas.WalletSettingsIn.
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Withdrawal(Base):
    """A member's request to take cash out: ``requested`` (held) → ``approved`` (captured) →
    ``paid``; or ``rejected`` (voided), or ``expired`` (the hold lapsed before a decision)."""

    __tablename__ = "withdrawals"
    __table_args__ = (
        Index("ix_withdrawals_member", "program_id", "member_id", "requested_at"),
        Index("ix_withdrawals_status", "program_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("members.id"))
    asset: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    payee: Mapped[str | None] = mapped_column(String(200), nullable=True)
    hold_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    capture_transaction_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    payout_reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
