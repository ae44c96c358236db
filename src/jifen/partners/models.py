"""Tables of the partner exchange: partner programs and each exchange out or in."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index, Numeric, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from jifen.kit.db import Base, BigIntPK, UTCDateTime


class Partner(Base):
    """A partner program and its rates, in points per partner unit, each way."""

    __tablename__ = "partners"
    __table_args__ = (UniqueConstraint("program_id", "partner_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    partner_id: Mapped[str] = mapped_column(String(23))
    name: Mapped[str] = mapped_column(String(200))
    rate_out: Mapped[Decimal] = mapped_column(Numeric(18, 6))
    rate_in: Mapped[Decimal] = mapped_column(Numeric(18, 6))
    min_units_out: Mapped[int] = mapped_column(BigInteger)
    min_units_in: Mapped[int] = mapped_column(BigInteger)
    daily_units_out: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    daily_units_in: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    active: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PartnerExchange(Base):
    """One exchange: ``out`` (member points → partner units owed) or ``in`` (partner units
    received → member points)."""

    __tablename__ = "partner_exchanges"
    __table_args__ = (
        Index("ix_partner_exchanges_partner", "program_id", "partner_id", "created_at"),
        Index("ix_partner_exchanges_member", "program_id", "member_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    partner_id: Mapped[str] = mapped_column(String(23))
    member_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("members.id"))
    direction: Mapped[str] = mapped_column(String(3))
    units: Mapped[int] = mapped_column(BigInteger)
    points: Mapped[int] = mapped_column(BigInteger)
    rate: Mapped[Decimal] = mapped_column(Numeric(18, 6))
    partner_reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    transaction_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
