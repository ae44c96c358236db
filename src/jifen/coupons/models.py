"""Tables of the coupons domain: templates and the coupons issued from them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.kit.db import Base, BigIntPK, UTCDateTime


class CouponTemplate(Base):
    """What a coupon gives and to whom; ``issued`` only grows, by a guarded single statement."""

    __tablename__ = "coupon_templates"
    __table_args__ = (UniqueConstraint("program_id", "template_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    template_id: Mapped[str] = mapped_column(String(80))
    # Validated by jifen.coupons.schemas.TemplateIn.
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    active: Mapped[bool]
    # None: unlimited.
    total_quantity: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    per_member_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    issued: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Coupon(Base):
    """One issued coupon. ``status`` is available, used, expired or void; an available coupon
    past ``valid_until`` reads as expired before the job has marked it."""

    __tablename__ = "coupons"
    __table_args__ = (
        UniqueConstraint("program_id", "code"),
        UniqueConstraint("program_id", "template_id", "source", "source_ref"),
        Index("ix_coupons_member", "program_id", "member_id", "status"),
        Index("ix_coupons_due", "program_id", "status", "valid_until"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    template_id: Mapped[str] = mapped_column(String(80))
    code: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(12))
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime)
    # manual | campaign | redemption | rule | task | lottery | checkin | ... and its reference.
    source: Mapped[str] = mapped_column(String(40))
    source_ref: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    order_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    discount_fen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    restored_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
