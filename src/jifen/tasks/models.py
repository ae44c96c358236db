"""Tables of the tasks domain: definitions, groups, progress, completions, submissions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.kit.db import Base, BigIntPK, UTCDateTime


class TaskDefinitionRow(Base):
    """A task as the operator saved it (``definition`` is a validated ``TaskDefinition``)."""

    __tablename__ = "task_definitions"
    __table_args__ = (
        UniqueConstraint("program_id", "task_id"),
        # The events listener looks tasks up by the event types of a batch.
        Index("ix_task_definitions_trigger", "program_id", "trigger"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    task_id: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(16))
    # The event type that completes the task; NULL for tasks completed by a submission.
    trigger: Mapped[str | None] = mapped_column(String(64), nullable=True)
    group_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    enabled: Mapped[bool]
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TaskGroupRow(Base):
    """Tasks that belong together (newbie steps); completing all of them pays ``bonus`` once."""

    __tablename__ = "task_groups"
    __table_args__ = (UniqueConstraint("program_id", "group_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    group_id: Mapped[str] = mapped_column(String(80))
    enabled: Mapped[bool]
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TaskProgress(Base):
    """Qualifying events a member has sent towards a task in one period (``all`` for one-time
    tasks, ``2026-03-01`` / ``2026-W10`` / ``2026-03`` for repeating ones)."""

    __tablename__ = "task_progress"
    __table_args__ = (UniqueConstraint("program_id", "member_id", "task_id", "period"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[int] = mapped_column(BigInteger)
    task_id: Mapped[str] = mapped_column(String(80))
    period: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TaskCompletion(Base):
    """A task done by a member in a period: at most one per period, and its reward is paid
    under ledger keys derived from this row's id, so it is paid exactly once."""

    __tablename__ = "task_completions"
    __table_args__ = (UniqueConstraint("program_id", "member_id", "task_id", "period"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[int] = mapped_column(BigInteger)
    task_id: Mapped[str] = mapped_column(String(80))
    period: Mapped[str] = mapped_column(String(16))
    # event | submission
    source: Mapped[str] = mapped_column(String(16))
    event_client_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    submission_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # What was paid: {"transactions": [{asset, amount, transaction_id}], "coupon": ...}.
    paid: Mapped[dict[str, Any]] = mapped_column(JSON)
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TaskSubmission(Base):
    """A member's proof (screenshot URL, text) waiting for, or decided by, a reviewer."""

    __tablename__ = "task_submissions"
    __table_args__ = (
        Index("ix_task_submissions_queue", "program_id", "status", "id"),
        Index("ix_task_submissions_member", "program_id", "member_id", "task_id", "period"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[int] = mapped_column(BigInteger)
    task_id: Mapped[str] = mapped_column(String(80))
    period: Mapped[str] = mapped_column(String(16))
    proof_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    proof_text: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    # pending | approved | rejected
    status: Mapped[str] = mapped_column(String(16))
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    completion_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TaskGroupBonus(Base):
    """A group bonus paid to a member: one row per member and group, so it is paid once."""

    __tablename__ = "task_group_bonuses"
    __table_args__ = (UniqueConstraint("program_id", "member_id", "group_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[int] = mapped_column(BigInteger)
    group_id: Mapped[str] = mapped_column(String(80))
    paid: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
