"""Campaigns and budgets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.kit.db import Base, BigIntPK, UTCDateTime


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (UniqueConstraint("program_id", "campaign_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    campaign_id: Mapped[str] = mapped_column(String(80))
    # Validated by jifen.campaigns.schemas.CampaignDefinition.
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    enabled: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Budget(Base):
    """A cap on what a campaign or rule may pay, per period; ``spent`` only grows under a lock."""

    __tablename__ = "budgets"
    __table_args__ = (UniqueConstraint("program_id", "budget_id", "period"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    budget_id: Mapped[str] = mapped_column(String(80))
    # ``all`` for a total budget, or the period key (``d:…``, ``w:…``, ``m:…``).
    period: Mapped[str] = mapped_column(String(16))
    asset: Mapped[str] = mapped_column(String(32))
    limit: Mapped[int] = mapped_column(BigInteger)
    spent: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BudgetDefinition(Base):
    __tablename__ = "budget_definitions"
    __table_args__ = (UniqueConstraint("program_id", "budget_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    budget_id: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(200))
    asset: Mapped[str] = mapped_column(String(32))
    limit: Mapped[int] = mapped_column(BigInteger)
    # total | day | week | month
    window: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
