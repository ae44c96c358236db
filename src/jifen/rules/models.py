"""Rule versions, per-member counters and rewards waiting for review."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.kit.db import Base, BigIntPK, UTCDateTime


class RuleVersion(Base):
    """One immutable version of a rule. The version in force for an event is the highest whose
    ``effective_from`` is at or before the event's ``occurred_at``."""

    __tablename__ = "rule_versions"
    __table_args__ = (
        UniqueConstraint("program_id", "rule_id", "version"),
        Index("ix_rule_versions_trigger", "program_id", "trigger"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    rule_id: Mapped[str] = mapped_column(String(80))
    version: Mapped[int]
    trigger: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool]
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime)
    # The validated rule as stored (jifen.rules.schemas.RuleDefinition).
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Counter(Base):
    """How many (and how much) of something a member did in a period.

    ``name`` is ``evt:<type>`` for events of a type or ``rule:<id>`` for a rule's payouts;
    ``period`` is ``d:2026-03-01``, ``w:2026-W09``, ``m:2026-03`` or ``all``, in the program's
    time zone, taken from the event's ``occurred_at`` (so late events count where they belong).
    """

    __tablename__ = "counters"
    # fillfactor 70 on PostgreSQL (migration 0011): updated by every event of its member.
    __table_args__ = (UniqueConstraint("program_id", "member_id", "name", "period"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(120))
    period: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    amount: Mapped[int] = mapped_column(BigInteger, default=0)


class PendingReward(Base):
    """A reward a rule sent to manual review instead of paying it."""

    __tablename__ = "pending_rewards"
    __table_args__ = (
        Index("ix_pending_rewards_status", "program_id", "status", "id"),
        UniqueConstraint("program_id", "event_client_id", "rule_id", "effect_index"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[int] = mapped_column(BigInteger)
    event_client_id: Mapped[str] = mapped_column(String(200))
    rule_id: Mapped[str] = mapped_column(String(80))
    rule_version: Mapped[int]
    effect_index: Mapped[int]
    asset: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending | approved | rejected
    status: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    transaction_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
