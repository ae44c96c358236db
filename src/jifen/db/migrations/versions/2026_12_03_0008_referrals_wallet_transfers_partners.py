"""referral, cash wallet, gifting, donations and partner exchange

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 15:40:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "donation_pools",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("pool_id", sa.String(length=23), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("asset", sa.String(length=32), nullable=False),
        sa.Column("goal", sa.BigInteger(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_donation_pools")),
        sa.UniqueConstraint(
            "program_id", "pool_id", name=op.f("uq_donation_pools_program_id_pool_id")
        ),
    )
    op.create_table(
        "partners",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("partner_id", sa.String(length=23), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("rate_out", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("rate_in", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("min_units_out", sa.BigInteger(), nullable=False),
        sa.Column("min_units_in", sa.BigInteger(), nullable=False),
        sa.Column("daily_units_out", sa.BigInteger(), nullable=True),
        sa.Column("daily_units_in", sa.BigInteger(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners")),
        sa.UniqueConstraint(
            "program_id", "partner_id", name=op.f("uq_partners_program_id_partner_id")
        ),
    )
    op.create_table(
        "gift_settings",
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_gift_settings_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("program_id", name=op.f("pk_gift_settings")),
    )
    op.create_table(
        "referral_settings",
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_referral_settings_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("program_id", name=op.f("pk_referral_settings")),
    )
    op.create_table(
        "wallet_settings",
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_wallet_settings_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("program_id", name=op.f("pk_wallet_settings")),
    )
    op.create_table(
        "donations",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("pool_id", sa.String(length=23), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("transaction_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_donations_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_donations")),
    )
    op.create_index("ix_donations_member", "donations", ["program_id", "member_id"], unique=False)
    op.create_index("ix_donations_pool", "donations", ["program_id", "pool_id", "id"], unique=False)
    op.create_table(
        "gifts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("to_member_id", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("message", sa.String(length=200), nullable=True),
        sa.Column("transaction_id", sa.Uuid(), nullable=False),
        sa.Column("fee_transaction_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_gifts_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["to_member_id"], ["members.id"], name=op.f("fk_gifts_to_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gifts")),
    )
    op.create_index(
        "ix_gifts_sender", "gifts", ["program_id", "member_id", "created_at"], unique=False
    )
    op.create_table(
        "partner_exchanges",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("partner_id", sa.String(length=23), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("rate", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("partner_reference", sa.String(length=200), nullable=True),
        sa.Column("transaction_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_partner_exchanges_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_exchanges")),
    )
    op.create_index(
        "ix_partner_exchanges_member",
        "partner_exchanges",
        ["program_id", "member_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_partner_exchanges_partner",
        "partner_exchanges",
        ["program_id", "partner_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "referral_codes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_referral_codes_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_codes")),
        sa.UniqueConstraint("program_id", "code", name=op.f("uq_referral_codes_program_id_code")),
        sa.UniqueConstraint(
            "program_id", "member_id", name=op.f("uq_referral_codes_program_id_member_id")
        ),
    )
    op.create_table(
        "referrals",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("invitee_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("device_id", sa.String(length=200), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("refused_code", sa.String(length=40), nullable=True),
        sa.Column("rewards", sa.JSON(), nullable=False),
        sa.Column("reversed", sa.JSON(), nullable=False),
        sa.Column("transactions", sa.JSON(), nullable=False),
        sa.Column("revoke_reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("qualified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["invitee_id"], ["members.id"], name=op.f("fk_referrals_invitee_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_referrals_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
        sa.UniqueConstraint(
            "program_id", "invitee_id", name=op.f("uq_referrals_program_id_invitee_id")
        ),
    )
    op.create_index(
        "ix_referrals_inviter", "referrals", ["program_id", "member_id", "id"], unique=False
    )
    op.create_index(
        "ix_referrals_status", "referrals", ["program_id", "status", "created_at"], unique=False
    )
    op.create_table(
        "withdrawals",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payee", sa.String(length=200), nullable=True),
        sa.Column("hold_id", sa.Uuid(), nullable=False),
        sa.Column("capture_transaction_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("payout_reference", sa.String(length=200), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_withdrawals_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_withdrawals")),
    )
    op.create_index(
        "ix_withdrawals_member",
        "withdrawals",
        ["program_id", "member_id", "requested_at"],
        unique=False,
    )
    op.create_index(
        "ix_withdrawals_status", "withdrawals", ["program_id", "status", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_withdrawals_status", table_name="withdrawals")
    op.drop_index("ix_withdrawals_member", table_name="withdrawals")
    op.drop_table("withdrawals")
    op.drop_index("ix_referrals_status", table_name="referrals")
    op.drop_index("ix_referrals_inviter", table_name="referrals")
    op.drop_table("referrals")
    op.drop_table("referral_codes")
    op.drop_index("ix_partner_exchanges_partner", table_name="partner_exchanges")
    op.drop_index("ix_partner_exchanges_member", table_name="partner_exchanges")
    op.drop_table("partner_exchanges")
    op.drop_index("ix_gifts_sender", table_name="gifts")
    op.drop_table("gifts")
    op.drop_index("ix_donations_pool", table_name="donations")
    op.drop_index("ix_donations_member", table_name="donations")
    op.drop_table("donations")
    op.drop_table("wallet_settings")
    op.drop_table("referral_settings")
    op.drop_table("gift_settings")
    op.drop_table("partners")
    op.drop_table("donation_pools")
