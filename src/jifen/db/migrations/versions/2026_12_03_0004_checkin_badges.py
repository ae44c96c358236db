"""check-in and badges

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 15:40:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[int]:
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "checkin_days",
        _id(),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("cost", sa.BigInteger(), nullable=False),
        sa.Column("event_client_id", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_days")),
        sa.UniqueConstraint(
            "program_id", "member_id", "day", name=op.f("uq_checkin_days_program_id_member_id_day")
        ),
    )
    op.create_table(
        "checkin_settings",
        _id(),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_settings")),
        sa.UniqueConstraint("program_id", name=op.f("uq_checkin_settings_program_id")),
    )
    op.create_table(
        "checkin_stats",
        _id(),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("cumulative_days", sa.Integer(), nullable=False),
        sa.Column("best_streak", sa.Integer(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_stats")),
        sa.UniqueConstraint(
            "program_id", "member_id", name=op.f("uq_checkin_stats_program_id_member_id")
        ),
    )
    op.create_table(
        "badge_definitions",
        _id(),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("badge_id", sa.String(length=80), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_badge_definitions")),
        sa.UniqueConstraint(
            "program_id", "badge_id", name=op.f("uq_badge_definitions_program_id_badge_id")
        ),
    )
    op.create_table(
        "member_badges",
        _id(),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("badge_id", sa.String(length=80), nullable=False),
        sa.Column("awarded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("share_token", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_badges")),
        sa.UniqueConstraint(
            "program_id",
            "member_id",
            "badge_id",
            name=op.f("uq_member_badges_program_id_member_id_badge_id"),
        ),
        sa.UniqueConstraint(
            "program_id", "share_token", name=op.f("uq_member_badges_program_id_share_token")
        ),
    )


def downgrade() -> None:
    op.drop_table("member_badges")
    op.drop_table("badge_definitions")
    op.drop_table("checkin_stats")
    op.drop_table("checkin_settings")
    op.drop_table("checkin_days")
