"""coupons and lottery

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 15:40:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coupon_templates",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("template_id", sa.String(length=80), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("total_quantity", sa.BigInteger(), nullable=True),
        sa.Column("per_member_limit", sa.Integer(), nullable=True),
        sa.Column("issued", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_templates")),
        sa.UniqueConstraint(
            "program_id", "template_id", name=op.f("uq_coupon_templates_program_id_template_id")
        ),
    )
    op.create_table(
        "lottery_pools",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("pool_id", sa.String(length=80), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("cost_points", sa.BigInteger(), nullable=False),
        sa.Column("daily_limit", sa.Integer(), nullable=True),
        sa.Column("budget_points", sa.BigInteger(), nullable=True),
        sa.Column("budget_spent", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lottery_pools")),
        sa.UniqueConstraint(
            "program_id", "pool_id", name=op.f("uq_lottery_pools_program_id_pool_id")
        ),
    )
    op.create_table(
        "lottery_prizes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("pool_id", sa.String(length=80), nullable=False),
        sa.Column("prize_id", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("weight", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("stock", sa.BigInteger(), nullable=True),
        sa.Column("points", sa.BigInteger(), nullable=True),
        sa.Column("template_id", sa.String(length=80), nullable=True),
        sa.Column("won", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lottery_prizes")),
        sa.UniqueConstraint(
            "program_id",
            "pool_id",
            "prize_id",
            name=op.f("uq_lottery_prizes_program_id_pool_id_prize_id"),
        ),
    )
    op.create_table(
        "lottery_seeds",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("pool_id", sa.String(length=80), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=False),
        sa.Column("commitment", sa.String(length=64), nullable=False),
        sa.Column("draws", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lottery_seeds")),
        sa.UniqueConstraint(
            "program_id",
            "pool_id",
            "period",
            name=op.f("uq_lottery_seeds_program_id_pool_id_period"),
        ),
    )
    op.create_table(
        "coupons",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("template_id", sa.String(length=80), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("source_ref", sa.String(length=200), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("order_id", sa.String(length=200), nullable=True),
        sa.Column("discount_fen", sa.BigInteger(), nullable=True),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("restored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_coupons_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupons")),
        sa.UniqueConstraint("program_id", "code", name=op.f("uq_coupons_program_id_code")),
        sa.UniqueConstraint(
            "program_id",
            "template_id",
            "source",
            "source_ref",
            name=op.f("uq_coupons_program_id_template_id_source_source_ref"),
        ),
    )
    op.create_index(
        "ix_coupons_due", "coupons", ["program_id", "status", "valid_until"], unique=False
    )
    op.create_index(
        "ix_coupons_member", "coupons", ["program_id", "member_id", "status"], unique=False
    )
    op.create_table(
        "lottery_draws",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("pool_id", sa.String(length=80), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("consolation_prize", sa.String(length=80), nullable=True),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("selected_prize_id", sa.String(length=80), nullable=False),
        sa.Column("prize_id", sa.String(length=80), nullable=True),
        sa.Column("prize_kind", sa.String(length=12), nullable=False),
        sa.Column("fallback", sa.String(length=20), nullable=True),
        sa.Column("cost_points", sa.BigInteger(), nullable=False),
        sa.Column("points_awarded", sa.BigInteger(), nullable=False),
        sa.Column("coupon_code", sa.String(length=32), nullable=True),
        sa.Column("item_name", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_lottery_draws_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lottery_draws")),
        sa.UniqueConstraint(
            "program_id",
            "pool_id",
            "period",
            "sequence",
            name=op.f("uq_lottery_draws_program_id_pool_id_period_sequence"),
        ),
        sa.UniqueConstraint("program_id", "ref", name=op.f("uq_lottery_draws_program_id_ref")),
    )
    op.create_index(
        "ix_lottery_draws_member",
        "lottery_draws",
        ["program_id", "member_id", "pool_id", "period"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_lottery_draws_member", table_name="lottery_draws")
    op.drop_table("lottery_draws")
    op.drop_index("ix_coupons_member", table_name="coupons")
    op.drop_index("ix_coupons_due", table_name="coupons")
    op.drop_table("coupons")
    op.drop_table("lottery_seeds")
    op.drop_table("lottery_prizes")
    op.drop_table("lottery_pools")
    op.drop_table("coupon_templates")
