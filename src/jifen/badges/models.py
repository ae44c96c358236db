"""Tables of the badges domain: definitions and the badges members earned."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.kit.db import Base, BigIntPK, UTCDateTime


class BadgeDefinition(Base):
    __tablename__ = "badge_definitions"
    __table_args__ = (UniqueConstraint("program_id", "badge_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    badge_id: Mapped[str] = mapped_column(String(80))
    # Validated by jifen.badges.schemas.BadgeIn (name, description, image, criterion...).
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The criterion kind, kept apart so automatic evaluation loads only what it needs.
    kind: Mapped[str] = mapped_column(String(32))
    enabled: Mapped[bool] = mapped_column(Boolean)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MemberBadge(Base):
    """A badge a member earned: once per member and badge (the unique key decides races)."""

    __tablename__ = "member_badges"
    __table_args__ = (
        UniqueConstraint("program_id", "member_id", "badge_id"),
        UniqueConstraint("program_id", "share_token"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[int] = mapped_column(BigInteger)
    badge_id: Mapped[str] = mapped_column(String(80))
    awarded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # ``check_in``, ``event``, ``manual``, ``checkin_gift`` or what a caller of ``award`` says.
    source: Mapped[str] = mapped_column(String(80))
    # The random part of the public share token (the token is ``<program>.<share_token>``).
    share_token: Mapped[str] = mapped_column(String(64))
