"""Experiments and the stored assignment of members to groups."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.kit.db import Base, BigIntPK, UTCDateTime


class Experiment(Base):
    __tablename__ = "experiments"
    __table_args__ = (UniqueConstraint("program_id", "experiment_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    experiment_id: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(200))
    # Share of members in the treatment group, in basis points (1000 = 10%).
    treatment_bp: Mapped[int]
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Assignment(Base):
    __tablename__ = "experiment_assignments"
    __table_args__ = (UniqueConstraint("program_id", "experiment_id", "member_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    experiment_id: Mapped[str] = mapped_column(String(80))
    member_id: Mapped[int] = mapped_column(BigInteger)
    # control | treatment
    group: Mapped[str] = mapped_column(String(16))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime)
