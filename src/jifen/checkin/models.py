"""Tables of the checkin domain: the days a member checked in, their running totals, settings."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.kit.db import Base, BigIntPK, UTCDateTime


class CheckInDay(Base):
    """One local day a member checked in on, or made up (补签). At most one row per day: the
    unique key is what makes a check-in pay once."""

    __tablename__ = "checkin_days"
    __table_args__ = (UniqueConstraint("program_id", "member_id", "day"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[int] = mapped_column(BigInteger)
    # The day in the program's time zone.
    day: Mapped[date] = mapped_column(Date)
    # ``check_in`` (on the day itself) or ``makeup`` (a missed day, paid for later).
    kind: Mapped[str] = mapped_column(String(16))
    # Days in a row ending on ``day`` when it was recorded (what the earning engine saw).
    streak: Mapped[int] = mapped_column(Integer)
    # Points the make-up cost (0 for a check-in).
    cost: Mapped[int] = mapped_column(BigInteger, default=0)
    event_client_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The first answer, returned again when the same day is checked in twice.
    result: Mapped[dict[str, Any]] = mapped_column(JSON)


class CheckInStats(Base):
    """A member's running totals, updated with each check-in under the member's lock."""

    __tablename__ = "checkin_stats"
    __table_args__ = (UniqueConstraint("program_id", "member_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[int] = mapped_column(BigInteger)
    cumulative_days: Mapped[int] = mapped_column(Integer)
    best_streak: Mapped[int] = mapped_column(Integer)
    last_day: Mapped[date] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CheckInSettings(Base):
    """A program's check-in settings (validated by ``jifen.checkin.schemas.CheckInSettingsIn``)."""

    __tablename__ = "checkin_settings"
    __table_args__ = (UniqueConstraint("program_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
