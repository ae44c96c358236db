"""statements index only members' postings

A credit writes two postings: the member's and the issuance account's. The statement index
(program, member, asset, id) is read only for a member's statement, so the system accounts'
half of its entries (member NULL) was written on every ledger write and never read. Partial,
it takes one entry per transaction instead of two.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 20:55:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ["program_id", "member_id", "asset", "id"]


def upgrade() -> None:
    op.drop_index("ix_postings_statement", table_name="postings")
    op.create_index(
        "ix_postings_statement",
        "postings",
        COLUMNS,
        postgresql_where=sa.text("member_id IS NOT NULL"),
        sqlite_where=sa.text("member_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_postings_statement", table_name="postings")
    op.create_index("ix_postings_statement", "postings", COLUMNS)
