"""catalog, redemption orders and checkout deduction

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 15:40:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "catalog_items",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("item_id", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=80), nullable=True),
        sa.Column("price_points", sa.BigInteger(), nullable=False),
        sa.Column("cash_fen", sa.BigInteger(), nullable=False),
        sa.Column("stock", sa.BigInteger(), nullable=True),
        sa.Column("coupon_template_id", sa.String(length=80), nullable=True),
        sa.Column("tiers", sa.JSON(), nullable=False),
        sa.Column("limit_count", sa.Integer(), nullable=True),
        sa.Column("limit_window", sa.String(length=8), nullable=True),
        sa.Column("available_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("available_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("drop_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_items")),
        sa.UniqueConstraint(
            "program_id", "item_id", name=op.f("uq_catalog_items_program_id_item_id")
        ),
    )
    op.create_table(
        "redemption_orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("member_id", BIGINT_PK, nullable=False),
        sa.Column("item_id", sa.String(length=80), nullable=False),
        sa.Column("item_ref", BIGINT_PK, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("cash_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("address", sa.JSON(), nullable=True),
        sa.Column("tracking_no", sa.String(length=100), nullable=True),
        sa.Column("debit_transaction_id", sa.Uuid(), nullable=False),
        sa.Column("refund_transaction_id", sa.Uuid(), nullable=True),
        sa.Column("coupons", sa.JSON(), nullable=False),
        sa.Column("cancel_reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fulfilled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_ref"],
            ["catalog_items.id"],
            name=op.f("fk_redemption_orders_item_ref_catalog_items"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_redemption_orders_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redemption_orders")),
    )
    op.create_index(
        "ix_redemption_orders_created",
        "redemption_orders",
        ["program_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_redemption_orders_member",
        "redemption_orders",
        ["program_id", "member_id", "item_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "checkout_settings",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("point_value_fen", sa.Numeric(precision=16, scale=4), nullable=True),
        sa.Column("max_share", sa.Numeric(precision=6, scale=4), nullable=False),
        sa.Column("min_points", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_checkout_settings_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkout_settings")),
        sa.UniqueConstraint("program_id", name=op.f("uq_checkout_settings_program_id")),
    )
    op.create_table(
        "checkout_deductions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("member_id", BIGINT_PK, nullable=False),
        sa.Column("order_id", sa.String(length=128), nullable=False),
        sa.Column("order_amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("hold_id", sa.Uuid(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("capture_transaction_id", sa.Uuid(), nullable=True),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_points", sa.BigInteger(), nullable=False),
        sa.Column("refunds", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_checkout_deductions_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkout_deductions")),
        sa.UniqueConstraint(
            "program_id", "order_id", name=op.f("uq_checkout_deductions_program_id_order_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("checkout_deductions")
    op.drop_table("checkout_settings")
    op.drop_index("ix_redemption_orders_member", table_name="redemption_orders")
    op.drop_index("ix_redemption_orders_created", table_name="redemption_orders")
    op.drop_table("redemption_orders")
    op.drop_table("catalog_items")
