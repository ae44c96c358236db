"""Tables of the referrals domain: settings, invite codes, and one referral per invitee."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.kit.db import Base, BigIntPK, UTCDateTime


class ReferralSettings(Base):
    __tablename__ = "referral_settings"

    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    # Validated by jifen.referrals.schemas.ReferralSettingsIn.
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReferralCode(Base):
    """A member's invite code (one per member, made on first ask)."""

    __tablename__ = "referral_codes"
    __table_args__ = (
        UniqueConstraint("program_id", "code"),
        UniqueConstraint("program_id", "member_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("members.id"))
    code: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Referral(Base):
    """An invitee's attribution to one inviter (first touch: unique per invitee).

    ``member_id`` is the inviter (the row belongs to the inviter's list). Status:
    ``pending`` → ``qualified`` (the invite event was paid) → ``revoked``; or ``refused``
    when an attribution from member attributes failed a check (kept so it is not retried).
    """

    __tablename__ = "referrals"
    __table_args__ = (
        UniqueConstraint("program_id", "invitee_id"),
        Index("ix_referrals_inviter", "program_id", "member_id", "id"),
        Index("ix_referrals_status", "program_id", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("members.id"))
    invitee_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("members.id"))
    code: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    device_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    refused_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # What the invite event paid the inviter, and what revocation took back, per asset.
    rewards: Mapped[dict[str, Any]] = mapped_column(JSON)
    reversed: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Ledger transactions the invite event caused (for revocation by refund or by an operator).
    transactions: Mapped[list[str]] = mapped_column(JSON)
    revoke_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    qualified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
