"""Tables of gifting and donations: settings, gifts, donation pools and donations."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from jifen.kit.db import Base, BigIntPK, UTCDateTime


class GiftSettings(Base):
    __tablename__ = "gift_settings"

    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    # Validated by jifen.transfers.schemas.GiftSettingsIn.
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Gift(Base):
    """Points one member gave another (``member_id`` is the sender)."""

    __tablename__ = "gifts"
    __table_args__ = (Index("ix_gifts_sender", "program_id", "member_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("members.id"))
    to_member_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("members.id"))
    asset: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)
    message: Mapped[str | None] = mapped_column(String(200), nullable=True)
    transaction_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    fee_transaction_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DonationPool(Base):
    __tablename__ = "donation_pools"
    __table_args__ = (UniqueConstraint("program_id", "pool_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    pool_id: Mapped[str] = mapped_column(String(23))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    asset: Mapped[str] = mapped_column(String(32))
    goal: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    active: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Donation(Base):
    __tablename__ = "donations"
    __table_args__ = (
        Index("ix_donations_pool", "program_id", "pool_id", "id"),
        Index("ix_donations_member", "program_id", "member_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    pool_id: Mapped[str] = mapped_column(String(23))
    member_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("members.id"))
    asset: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    transaction_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
