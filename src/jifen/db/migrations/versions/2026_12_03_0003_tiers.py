"""tiers and growth

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 15:40:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> "sa.Column[int]":
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "tier_schemes",
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_tier_schemes_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("program_id", name=op.f("pk_tier_schemes")),
    )
    op.create_table(
        "member_tiers",
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("prior_rank", sa.Integer(), nullable=False),
        sa.Column("metric_value", sa.BigInteger(), nullable=False),
        sa.Column("below_periods", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("protected_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("evaluated_period", sa.String(length=16), nullable=False),
        sa.Column("last_run", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("program_id", "member_id", name=op.f("pk_member_tiers")),
    )
    op.create_table(
        "tier_history",
        _id(),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("from_tier", sa.String(length=40), nullable=True),
        sa.Column("to_tier", sa.String(length=40), nullable=False),
        sa.Column("from_rank", sa.Integer(), nullable=False),
        sa.Column("to_rank", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=12), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=True),
        sa.Column("metric_value", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tier_history")),
    )
    op.create_index(
        "ix_tier_history_member", "tier_history", ["program_id", "member_id", "id"], unique=False
    )
    op.create_table(
        "tier_runs",
        _id(),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("evaluated", sa.BigInteger(), nullable=False),
        sa.Column("upgraded", sa.BigInteger(), nullable=False),
        sa.Column("downgraded", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tier_runs")),
        sa.UniqueConstraint("program_id", "period", name=op.f("uq_tier_runs_program_id_period")),
    )


def downgrade() -> None:
    op.drop_table("tier_runs")
    op.drop_index("ix_tier_history_member", table_name="tier_history")
    op.drop_table("tier_history")
    op.drop_table("member_tiers")
    op.drop_table("tier_schemes")
