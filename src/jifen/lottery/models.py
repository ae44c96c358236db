"""Tables of the lottery domain: pools, prizes with stock, committed seeds and draws."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.kit.db import Base, BigIntPK, UTCDateTime


class LotteryPool(Base):
    """A prize pool; ``budget_spent`` only grows, by a guarded single statement."""

    __tablename__ = "lottery_pools"
    __table_args__ = (UniqueConstraint("program_id", "pool_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    pool_id: Mapped[str] = mapped_column(String(80))
    # Validated by jifen.lottery.schemas.PoolIn.
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    active: Mapped[bool]
    cost_points: Mapped[int] = mapped_column(BigInteger)
    daily_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Points that points prizes may pay in all; None: no budget.
    budget_points: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    budget_spent: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LotteryPrize(Base):
    """A prize of a pool; ``stock`` (None: unlimited) is decremented by a guarded UPDATE."""

    __tablename__ = "lottery_prizes"
    __table_args__ = (UniqueConstraint("program_id", "pool_id", "prize_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    pool_id: Mapped[str] = mapped_column(String(80))
    prize_id: Mapped[str] = mapped_column(String(80))
    # points | coupon | item | nothing
    kind: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(200))
    weight: Mapped[int] = mapped_column(BigInteger)
    position: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    points: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    template_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    won: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LotterySeed(Base):
    """The secret seed of one pool and draw period (a local day): its sha256 is published before
    the period, the seed itself after it ends. ``draws`` hands out the draws' sequence numbers."""

    __tablename__ = "lottery_seeds"
    __table_args__ = (UniqueConstraint("program_id", "pool_id", "period"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    pool_id: Mapped[str] = mapped_column(String(80))
    period: Mapped[str] = mapped_column(String(10))
    seed: Mapped[str] = mapped_column(String(64))
    commitment: Mapped[str] = mapped_column(String(64))
    draws: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LotteryDraw(Base):
    """One paid draw: its sequence, the weights table it used and what it won."""

    __tablename__ = "lottery_draws"
    __table_args__ = (
        UniqueConstraint("program_id", "pool_id", "period", "sequence"),
        UniqueConstraint("program_id", "ref"),
        Index("ix_lottery_draws_member", "program_id", "member_id", "pool_id", "period"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    ref: Mapped[str] = mapped_column(String(32))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    pool_id: Mapped[str] = mapped_column(String(80))
    period: Mapped[str] = mapped_column(String(10))
    sequence: Mapped[int] = mapped_column(BigInteger)
    # [[prize_id, weight, available], ...] in the pool's order, as it stood at the draw.
    weights: Mapped[list[Any]] = mapped_column(JSON)
    consolation_prize: Mapped[str | None] = mapped_column(String(80), nullable=True)
    number: Mapped[str] = mapped_column(String(40))
    selected_prize_id: Mapped[str] = mapped_column(String(80))
    # What the member got; None when nothing (the selected prize was gone and no consolation).
    prize_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    prize_kind: Mapped[str] = mapped_column(String(12))
    fallback: Mapped[str | None] = mapped_column(String(20), nullable=True)
    cost_points: Mapped[int] = mapped_column(BigInteger)
    points_awarded: Mapped[int] = mapped_column(BigInteger, default=0)
    coupon_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    item_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
