"""storage for the hot path: HOT updates on counters and accounts, fewer index entries per write

Every event updates its member's counters, every ledger write its accounts' balances. With
full pages, each update writes a new row version elsewhere and new entries in every index;
with 30% of each page left free, PostgreSQL updates within the page (HOT) and leaves the
indexes alone (measured with bench/events.py: counter writes 60 → 38 µs per event). SQLite
has no such setting.

Every index is written for every row: three become partial, holding only the rows their
queries can ask for (a reversal's original, a sealed transaction's place in the chain, an
event's subject), and postings lose the index by account, which no query used (statements
read ``ix_postings_statement``; verification reads all postings).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 18:40:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOT_TABLES = ("counters", "accounts")
# (index, table, columns, partial predicate)
PARTIAL = (
    ("ix_ledger_transactions_reverses", "ledger_transactions", ["program_id", "reverses_id"],
     "reverses_id IS NOT NULL"),
    ("ix_ledger_transactions_chain", "ledger_transactions", ["program_id", "chain_seq"],
     "chain_seq IS NOT NULL"),
    ("ix_events_subject", "events", ["program_id", "type", "subject"], "subject IS NOT NULL"),
)  # fmt: skip


def upgrade() -> None:
    for name, table, columns, where in PARTIAL:
        op.drop_index(name, table_name=table)
        op.create_index(
            name,
            table,
            columns,
            postgresql_where=sa.text(where),
            sqlite_where=sa.text(where),
        )
    op.drop_index("ix_postings_account", table_name="postings")
    if op.get_bind().dialect.name == "postgresql":
        for table in HOT_TABLES:
            # Applies to pages written from now on; existing ones get room as they are rewritten.
            op.execute(f"ALTER TABLE {table} SET (fillfactor = 70)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in HOT_TABLES:
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
    op.create_index("ix_postings_account", "postings", ["account_id"])
    for name, table, columns, _ in PARTIAL:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns)
