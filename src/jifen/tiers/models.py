"""Tables of the tiers domain: the scheme, each member's tier, its history and evaluation runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.kit.db import Base, BigIntPK, UTCDateTime


class TierScheme(Base):
    """A program's ordered tiers, how they are qualified and re-evaluated (one per program)."""

    __tablename__ = "tier_schemes"

    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    # Validated by jifen.tiers.schemas.TierSchemeIn.
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MemberTier(Base):
    """A member's current tier, as a rank (position in the scheme, 0 = the lowest tier).

    A member without a row is at rank 0. ``prior_rank`` and ``last_run`` let one set-based
    statement find what the statement before it changed.
    """

    __tablename__ = "member_tiers"

    program_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    member_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, default=0)
    prior_rank: Mapped[int] = mapped_column(Integer, default=0)
    # The qualifying value at the last evaluation or upgrade.
    metric_value: Mapped[int] = mapped_column(BigInteger, default=0)
    # Consecutive evaluated periods below the current tier's minimum.
    below_periods: Mapped[int] = mapped_column(Integer, default=0)
    since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    protected_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The period key (``m:2026-04``) of the last scheduled evaluation, "" before the first.
    evaluated_period: Mapped[str] = mapped_column(String(16), default="")
    # The statement (a random token) that last wrote the row.
    last_run: Mapped[str] = mapped_column(String(32), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TierHistory(Base):
    __tablename__ = "tier_history"
    __table_args__ = (Index("ix_tier_history_member", "program_id", "member_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[int] = mapped_column(BigInteger)
    from_tier: Mapped[str | None] = mapped_column(String(40), nullable=True)
    to_tier: Mapped[str] = mapped_column(String(40))
    from_rank: Mapped[int] = mapped_column(Integer)
    to_rank: Mapped[int] = mapped_column(Integer)
    # upgrade | downgrade
    direction: Mapped[str] = mapped_column(String(12))
    # event | evaluation
    source: Mapped[str] = mapped_column(String(16))
    period: Mapped[str | None] = mapped_column(String(16), nullable=True)
    metric_value: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TierRun(Base):
    """One scheduled re-evaluation of a program for a period; its row is the run's lock and
    cursor, so a second run (or a re-run) only finds the members that are left."""

    __tablename__ = "tier_runs"
    __table_args__ = (UniqueConstraint("program_id", "period"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    period: Mapped[str] = mapped_column(String(16))
    # Members with ids up to this one are done.
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    # running | done
    status: Mapped[str] = mapped_column(String(12))
    evaluated: Mapped[int] = mapped_column(BigInteger, default=0)
    upgraded: Mapped[int] = mapped_column(BigInteger, default=0)
    downgraded: Mapped[int] = mapped_column(BigInteger, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
