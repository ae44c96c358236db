"""Tables of the catalog domain: items (with their stock) and redemption orders."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from jifen.kit.db import Base, BigIntPK, UTCDateTime


class CatalogItem(Base):
    """A reward members may redeem. ``stock`` is decremented by one guarded UPDATE (never below
    zero); ``None`` means unlimited."""

    __tablename__ = "catalog_items"
    __table_args__ = (UniqueConstraint("program_id", "item_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    item_id: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    # virtual | physical | coupon | privilege
    kind: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(80), nullable=True)
    price_points: Mapped[int] = mapped_column(BigInteger)
    # The cash part (fen) of a points + cash price, paid through the merchant's checkout.
    cash_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    stock: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    coupon_template_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    # Tier codes that may redeem; empty: everyone.
    tiers: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Per-member limit: at most ``limit_count`` units per ``limit_window`` (day, week, month,
    # lifetime) in the program's time zone.
    limit_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    limit_window: Mapped[str | None] = mapped_column(String(8), nullable=True)
    available_from: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    available_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A limited-quantity drop: listed before, redeemable from this instant.
    drop_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    enabled: Mapped[bool]
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RedemptionOrder(Base):
    """One redemption: what was taken (points debit, stock, coupon) and its fulfilment."""

    __tablename__ = "redemption_orders"
    __table_args__ = (
        Index("ix_redemption_orders_member", "program_id", "member_id", "item_id", "created_at"),
        Index("ix_redemption_orders_created", "program_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    program_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    item_id: Mapped[str] = mapped_column(String(80))
    item_ref: Mapped[int] = mapped_column(ForeignKey("catalog_items.id"))
    kind: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(BigInteger)
    cash_fen: Mapped[int] = mapped_column(BigInteger)
    # pending | shipped | fulfilled | cancelled
    status: Mapped[str] = mapped_column(String(16))
    address: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    tracking_no: Mapped[str | None] = mapped_column(String(100), nullable=True)
    debit_transaction_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    refund_transaction_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    # The coupons issued for a coupon item (each its ``CouponOut`` as JSON), one per unit.
    coupons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    cancel_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
