"""Tables of the checkout domain: the program's deduction settings and each order's deduction."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Integer, Numeric, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from jifen.kit.db import Base, BigIntPK, UTCDateTime


class CheckoutSettings(Base):
    __tablename__ = "checkout_settings"
    __table_args__ = (UniqueConstraint("program_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    # Fen one point is worth at checkout; NULL: the program's ``point_value_fen``.
    point_value_fen: Mapped[Decimal | None] = mapped_column(Numeric(16, 4), nullable=True)
    # The largest share of an order's amount that points may pay (0.5 = 50%).
    max_share: Mapped[Decimal] = mapped_column(Numeric(6, 4))
    min_points: Mapped[int] = mapped_column(BigInteger)
    step: Mapped[int] = mapped_column(BigInteger)
    enabled: Mapped[bool]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Deduction(Base):
    """Points applied to one merchant order: a ledger hold, captured when paid, voided when not,
    reversed in proportion to what is refunded."""

    __tablename__ = "checkout_deductions"
    __table_args__ = (UniqueConstraint("program_id", "order_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    program_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    order_id: Mapped[str] = mapped_column(String(128))
    order_amount_fen: Mapped[int] = mapped_column(BigInteger)
    points: Mapped[int] = mapped_column(BigInteger)
    fen: Mapped[int] = mapped_column(BigInteger)
    # held | captured | voided
    status: Mapped[str] = mapped_column(String(16))
    hold_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    # When the hold lapses if neither captured nor voided.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    capture_transaction_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_points: Mapped[int] = mapped_column(BigInteger, default=0)
    refunds: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
