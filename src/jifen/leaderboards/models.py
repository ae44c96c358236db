"""Tables of the leaderboards domain: boards, scores per period, periods and their payouts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.kit.db import Base, BigIntPK, UTCDateTime


class LeaderboardRow(Base):
    """A board as the operator saved it (``definition`` is a validated ``LeaderboardDefinition``)."""

    __tablename__ = "leaderboards"
    __table_args__ = (UniqueConstraint("program_id", "board_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    board_id: Mapped[str] = mapped_column(String(80))
    enabled: Mapped[bool]
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LeaderboardScore(Base):
    """A member's score on a board in one period: the source of truth for ranks and payouts.

    ``reached_at`` is when the member reached this score (the latest counted event's
    ``occurred_at``, to the second): among equal scores, the earlier one ranks higher.
    ``mirrored`` is false until the score has been copied into the Redis sorted set (when Redis
    is configured), which therefore only ever holds committed scores."""

    __tablename__ = "leaderboard_scores"
    __table_args__ = (
        UniqueConstraint("program_id", "board_id", "period", "member_id"),
        Index("ix_leaderboard_scores_rank", "program_id", "board_id", "period", "score"),
        Index("ix_leaderboard_scores_mirror", "program_id", "board_id", "period", "mirrored"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    board_id: Mapped[str] = mapped_column(String(80))
    period: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[int] = mapped_column(BigInteger)
    score: Mapped[int] = mapped_column(BigInteger)
    reached_at: Mapped[datetime] = mapped_column(UTCDateTime)
    mirrored: Mapped[bool]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LeaderboardPeriod(Base):
    """A period of a board that has scores; ``settled_at`` is set once, by the job run that pays
    its top-N rewards, and from then on the period's scores no longer change."""

    __tablename__ = "leaderboard_periods"
    __table_args__ = (
        UniqueConstraint("program_id", "board_id", "period"),
        Index("ix_leaderboard_periods_due", "program_id", "ends_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    board_id: Mapped[str] = mapped_column(String(80))
    period: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LeaderboardPayout(Base):
    """The reward paid for one rank of one closed period (one row per rank, so once)."""

    __tablename__ = "leaderboard_payouts"
    __table_args__ = (UniqueConstraint("program_id", "board_id", "period", "rank"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    board_id: Mapped[str] = mapped_column(String(80))
    period: Mapped[str] = mapped_column(String(16))
    rank: Mapped[int] = mapped_column(Integer)
    member_id: Mapped[int] = mapped_column(BigInteger)
    score: Mapped[int] = mapped_column(BigInteger)
    # {"transactions": [{asset, amount, transaction_id}], "coupon": ...}
    paid: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
