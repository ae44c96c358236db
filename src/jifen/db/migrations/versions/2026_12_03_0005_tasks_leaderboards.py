"""tasks and leaderboards

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 15:40:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leaderboard_payouts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("board_id", sa.String(length=80), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("score", sa.BigInteger(), nullable=False),
        sa.Column("paid", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leaderboard_payouts")),
        sa.UniqueConstraint(
            "program_id",
            "board_id",
            "period",
            "rank",
            name=op.f("uq_leaderboard_payouts_program_id_board_id_period_rank"),
        ),
    )
    op.create_table(
        "leaderboard_periods",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("board_id", sa.String(length=80), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leaderboard_periods")),
        sa.UniqueConstraint(
            "program_id",
            "board_id",
            "period",
            name=op.f("uq_leaderboard_periods_program_id_board_id_period"),
        ),
    )
    op.create_index(
        "ix_leaderboard_periods_due", "leaderboard_periods", ["program_id", "ends_at"], unique=False
    )
    op.create_table(
        "leaderboard_scores",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("board_id", sa.String(length=80), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("score", sa.BigInteger(), nullable=False),
        sa.Column("reached_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mirrored", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leaderboard_scores")),
        sa.UniqueConstraint(
            "program_id",
            "board_id",
            "period",
            "member_id",
            name=op.f("uq_leaderboard_scores_program_id_board_id_period_member_id"),
        ),
    )
    op.create_index(
        "ix_leaderboard_scores_mirror",
        "leaderboard_scores",
        ["program_id", "board_id", "period", "mirrored"],
        unique=False,
    )
    op.create_index(
        "ix_leaderboard_scores_rank",
        "leaderboard_scores",
        ["program_id", "board_id", "period", "score"],
        unique=False,
    )
    op.create_table(
        "leaderboards",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("board_id", sa.String(length=80), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leaderboards")),
        sa.UniqueConstraint(
            "program_id", "board_id", name=op.f("uq_leaderboards_program_id_board_id")
        ),
    )
    op.create_table(
        "task_completions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("task_id", sa.String(length=80), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("event_client_id", sa.String(length=200), nullable=True),
        sa.Column("submission_id", sa.BigInteger(), nullable=True),
        sa.Column("paid", sa.JSON(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_completions")),
        sa.UniqueConstraint(
            "program_id",
            "member_id",
            "task_id",
            "period",
            name=op.f("uq_task_completions_program_id_member_id_task_id_period"),
        ),
    )
    op.create_table(
        "task_definitions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("task_id", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=64), nullable=True),
        sa.Column("group_id", sa.String(length=80), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_definitions")),
        sa.UniqueConstraint(
            "program_id", "task_id", name=op.f("uq_task_definitions_program_id_task_id")
        ),
    )
    op.create_index(
        "ix_task_definitions_trigger", "task_definitions", ["program_id", "trigger"], unique=False
    )
    op.create_table(
        "task_group_bonuses",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("group_id", sa.String(length=80), nullable=False),
        sa.Column("paid", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_group_bonuses")),
        sa.UniqueConstraint(
            "program_id",
            "member_id",
            "group_id",
            name=op.f("uq_task_group_bonuses_program_id_member_id_group_id"),
        ),
    )
    op.create_table(
        "task_groups",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("group_id", sa.String(length=80), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_groups")),
        sa.UniqueConstraint(
            "program_id", "group_id", name=op.f("uq_task_groups_program_id_group_id")
        ),
    )
    op.create_table(
        "task_progress",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("task_id", sa.String(length=80), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_progress")),
        sa.UniqueConstraint(
            "program_id",
            "member_id",
            "task_id",
            "period",
            name=op.f("uq_task_progress_program_id_member_id_task_id_period"),
        ),
    )
    op.create_table(
        "task_submissions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("task_id", sa.String(length=80), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("proof_url", sa.String(length=2000), nullable=True),
        sa.Column("proof_text", sa.String(length=2000), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.String(length=500), nullable=True),
        sa.Column("completion_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_submissions")),
    )
    op.create_index(
        "ix_task_submissions_member",
        "task_submissions",
        ["program_id", "member_id", "task_id", "period"],
        unique=False,
    )
    op.create_index(
        "ix_task_submissions_queue",
        "task_submissions",
        ["program_id", "status", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_task_submissions_queue", table_name="task_submissions")
    op.drop_index("ix_task_submissions_member", table_name="task_submissions")
    op.drop_table("task_submissions")
    op.drop_table("task_progress")
    op.drop_table("task_groups")
    op.drop_table("task_group_bonuses")
    op.drop_index("ix_task_definitions_trigger", table_name="task_definitions")
    op.drop_table("task_definitions")
    op.drop_table("task_completions")
    op.drop_table("leaderboards")
    op.drop_index("ix_leaderboard_scores_rank", table_name="leaderboard_scores")
    op.drop_index("ix_leaderboard_scores_mirror", table_name="leaderboard_scores")
    op.drop_table("leaderboard_scores")
    op.drop_index("ix_leaderboard_periods_due", table_name="leaderboard_periods")
    op.drop_table("leaderboard_periods")
    op.drop_table("leaderboard_payouts")
