"""Ledger tables.

A transaction's postings sum to zero per asset. Member accounts keep a stored ``balance`` (and
``held``, the sum of active holds) under a row lock; system accounts (issuance, redemption,
expiry, loss, adjustment) are never updated: their balances are the sums of their postings, so
the hot issuer account is never a lock.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from jifen.kit.db import Base, BigIntPK, UTCDateTime


class Asset(Base):
    __tablename__ = "assets"

    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # points | growth | cash | custom
    kind: Mapped[str] = mapped_column(String(16))
    # Whether the program's expiry policy applies to this asset's lots.
    expires: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("program_id", "member_id", "asset"),
        UniqueConstraint("program_id", "system_name", "asset"),
        CheckConstraint("(member_id IS NULL) <> (system_name IS NULL)", name="owner"),
    )
    # fillfactor 70 on PostgreSQL (migration 0011): updated by every change of a balance.

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    asset: Mapped[str] = mapped_column(String(32))
    member_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    system_name: Mapped[str | None] = mapped_column(String(32), nullable=True)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    held: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerTransaction(Base):
    __tablename__ = "ledger_transactions"
    __table_args__ = (
        Index("ix_ledger_transactions_member", "program_id", "member_id", "created_at"),
        # Partial: most transactions reverse nothing, and none has a place in the chain until
        # it is sealed, so neither index costs anything when a transaction is written.
        Index(
            "ix_ledger_transactions_reverses",
            "program_id",
            "reverses_id",
            postgresql_where=text("reverses_id IS NOT NULL"),
            sqlite_where=text("reverses_id IS NOT NULL"),
        ),
        Index(
            "ix_ledger_transactions_chain",
            "program_id",
            "chain_seq",
            postgresql_where=text("chain_seq IS NOT NULL"),
            sqlite_where=text("chain_seq IS NOT NULL"),
        ),
        Index(
            "ix_ledger_transactions_unsealed",
            "program_id",
            "id",
            postgresql_where=text("chain_seq IS NULL"),
            sqlite_where=text("chain_seq IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    program_id: Mapped[str] = mapped_column(String(40))
    # credit | debit | capture | reversal | adjustment | expiry | transfer
    kind: Mapped[str] = mapped_column(String(16))
    asset: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    member_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    counterparty_member_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    hold_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    rule_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    rule_version: Mapped[int | None] = mapped_column(nullable=True)
    campaign_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    operator: Mapped[str | None] = mapped_column(String(200), nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # SHA-256 over the transaction and its postings, written with them.
    content_hash: Mapped[str] = mapped_column(String(64))
    # Set by the sealer: position in the program's chain and H(previous chain_hash, content_hash).
    chain_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    chain_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Posting(Base):
    __tablename__ = "postings"
    __table_args__ = (
        Index("ix_postings_transaction", "transaction_id"),
        # Statements are members': system accounts' postings are left out.
        Index(
            "ix_postings_statement",
            "program_id",
            "member_id",
            "asset",
            "id",
            postgresql_where=text("member_id IS NOT NULL"),
            sqlite_where=text("member_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    transaction_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    account_id: Mapped[int] = mapped_column(BigInteger)
    asset: Mapped[str] = mapped_column(String(32))
    member_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    # The member account's balance after this posting (member postings only).
    balance_after: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Lot(Base):
    """What one credit put into a member account, and how much of it is still there."""

    __tablename__ = "lots"
    __table_args__ = (
        Index(
            "ix_lots_spendable",
            "account_id",
            "expires_at",
            postgresql_where=text("remaining > 0"),
            sqlite_where=text("remaining > 0"),
        ),
        Index(
            "ix_lots_due",
            "program_id",
            "expires_at",
            postgresql_where=text("remaining > 0 AND expires_at IS NOT NULL"),
            sqlite_where=text("remaining > 0 AND expires_at IS NOT NULL"),
        ),
        Index("ix_lots_transaction", "transaction_id"),
        CheckConstraint("remaining >= 0 AND held >= 0 AND held <= remaining", name="amounts"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    program_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[int] = mapped_column(BigInteger)
    asset: Mapped[str] = mapped_column(String(32))
    transaction_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    amount: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    held: Mapped[int] = mapped_column(BigInteger, default=0)
    # What went from this lot to the expiry account (and has not been recovered by a reversal).
    expired: Mapped[int] = mapped_column(BigInteger, default=0)
    earned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Allocation(Base):
    """How much of which lot a debit, hold, expiry or reversal took (or gave back). Write-once."""

    __tablename__ = "lot_allocations"
    __table_args__ = (
        Index("ix_lot_allocations_transaction", "transaction_id"),
        Index("ix_lot_allocations_hold", "hold_id"),
        Index("ix_lot_allocations_lot", "lot_id"),
        # verify sums a program's allocations per lot.
        Index("ix_lot_allocations_program", "program_id", "lot_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[int] = mapped_column(BigInteger)
    lot_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    transaction_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    hold_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    # spend | hold | expire | reverse | unexpire | return | return_expired
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)


class Hold(Base):
    __tablename__ = "holds"
    __table_args__ = (
        Index("ix_holds_due", "program_id", "status", "expires_at"),
        Index("ix_holds_account", "account_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    program_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[int] = mapped_column(BigInteger)
    asset: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    captured: Mapped[int] = mapped_column(BigInteger, default=0)
    # active | captured | voided | lapsed
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    capture_transaction_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)


class ChainHead(Base):
    """The last sealed link of a program's hash chain."""

    __tablename__ = "ledger_chain"

    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
