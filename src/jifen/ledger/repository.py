"""Read queries of the ledger: balances, statements, lots, holds, transactions."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.errors import InvalidInput, NotFound
from jifen.ledger.engine import HoldState
from jifen.ledger.models import Account, Hold, LedgerTransaction, Lot, Posting
from jifen.ledger.schemas import (
    BalanceOut,
    ExpiringOut,
    HoldOut,
    LotOut,
    MemberBalancesOut,
    StatementEntry,
    StatementPage,
)
from jifen.members.models import Member


def encode_cursor(value: int) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return int(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("malformed cursor", code="invalid_cursor", field="cursor") from exc


async def balances(
    session: AsyncSession, program_id: str, member: Member, *, now: datetime
) -> MemberBalancesOut:
    rows = await session.execute(
        select(Account.asset, Account.balance, Account.held)
        .where(Account.program_id == program_id, Account.member_id == member.id)
        .order_by(Account.asset)
    )
    accounts = list(rows)
    # A hold past its time-out frees its points now, though the job that marks it lapsed may
    # not have run yet: it no longer counts as held.
    lapsed: dict[str, int] = {}
    if any(h for _, _, h in accounts):
        due = await session.execute(
            select(Hold.asset, func.sum(Hold.amount))
            .where(
                Hold.program_id == program_id,
                Hold.member_id == member.id,
                Hold.status == "active",
                Hold.expires_at <= now,
            )
            .group_by(Hold.asset)
        )
        lapsed = {a: int(n) for a, n in due}
    out = []
    for a, b, h in accounts:
        held = max(h - lapsed.get(a, 0), 0)
        out.append(BalanceOut(asset=a, balance=b, held=held, available=b - held))
    expiring = await session.execute(
        select(Lot.expires_at, func.sum(Lot.remaining - Lot.held))
        .where(
            Lot.program_id == program_id,
            Lot.member_id == member.id,
            Lot.asset == "points",
            Lot.remaining > Lot.held,
            Lot.expires_at.is_not(None),
        )
        .group_by(Lot.expires_at)
        .order_by(Lot.expires_at)
        .limit(5)
    )
    return MemberBalancesOut(
        member=member.external_id,
        balances=out,
        expiring=[ExpiringOut(expires_at=e, amount=int(a)) for e, a in expiring if e is not None],
    )


async def statement(
    session: AsyncSession,
    program_id: str,
    member: Member,
    *,
    asset: str | None,
    cursor: str | None,
    limit: int,
) -> StatementPage:
    """A member's postings, newest first, paged by cursor."""
    before = decode_cursor(cursor)
    stmt = (
        select(Posting, LedgerTransaction)
        .join(LedgerTransaction, LedgerTransaction.id == Posting.transaction_id)
        .where(Posting.program_id == program_id, Posting.member_id == member.id)
    )
    if asset:
        stmt = stmt.where(Posting.asset == asset)
    if before is not None:
        stmt = stmt.where(Posting.id < before)
    rows = (await session.execute(stmt.order_by(Posting.id.desc()).limit(limit + 1))).all()
    items = [
        StatementEntry(
            transaction_id=t.id,
            kind=t.kind,
            asset=p.asset,
            amount=p.amount,
            balance_after=p.balance_after,
            reason=t.reason,
            reference=t.reference,
            rule_id=t.rule_id,
            rule_version=t.rule_version,
            campaign_id=t.campaign_id,
            reverses_id=t.reverses_id,
            occurred_at=t.occurred_at,
            created_at=t.created_at,
        )
        for p, t in rows[:limit]
    ]
    next_cursor = encode_cursor(rows[limit - 1][0].id) if len(rows) > limit else None
    return StatementPage(items=items, next_cursor=next_cursor)


async def lots(
    session: AsyncSession, program_id: str, member: Member, *, include_spent: bool
) -> list[LotOut]:
    stmt = select(Lot).where(Lot.program_id == program_id, Lot.member_id == member.id)
    if not include_spent:
        stmt = stmt.where(Lot.remaining > 0)
    rows = await session.scalars(
        stmt.order_by(Lot.expires_at.is_(None), Lot.expires_at, Lot.earned_at)
    )
    return [
        LotOut(
            id=lot.id,
            asset=lot.asset,
            amount=lot.amount,
            remaining=lot.remaining,
            held=lot.held,
            expired=lot.expired,
            earned_at=lot.earned_at,
            expires_at=lot.expires_at,
            transaction_id=lot.transaction_id,
        )
        for lot in rows
    ]


def hold_out(hold: Hold | HoldState, external_id: str, *, available: int | None = None) -> HoldOut:
    """A hold as the API shows it, from its row or from a batch's in-memory state."""
    return HoldOut(
        id=hold.id,
        member=external_id,
        asset=hold.asset,
        amount=hold.amount,
        captured=hold.captured,
        status=hold.status,
        expires_at=hold.expires_at,
        reason=hold.reason,
        reference=hold.reference,
        capture_transaction_id=hold.capture_transaction_id,
        created_at=hold.created_at or hold.expires_at,
        resolved_at=hold.resolved_at,
        available=available,
    )


async def get_hold(
    session: AsyncSession, program_id: str, hold_id: uuid.UUID, *, now: datetime
) -> HoldOut:
    row = (
        await session.execute(
            select(Hold, Member.external_id)
            .join(Member, Member.id == Hold.member_id)
            .where(Hold.program_id == program_id, Hold.id == hold_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"hold {hold_id} not found", code="hold_not_found", field="hold_id")
    hold, ext = row._tuple()
    out = hold_out(hold, ext)
    if hold.status == "active" and hold.expires_at <= now:
        out.status = "lapsed"  # lapses on the next write or job run; report what it is now
    return out


async def member_holds(
    session: AsyncSession, program_id: str, member: Member, *, status: str | None
) -> list[HoldOut]:
    stmt = select(Hold).where(Hold.program_id == program_id, Hold.member_id == member.id)
    if status:
        stmt = stmt.where(Hold.status == status)
    rows = await session.scalars(stmt.order_by(Hold.created_at.desc()).limit(200))
    return [hold_out(h, member.external_id) for h in rows]


async def get_transaction(
    session: AsyncSession, program_id: str, txn_id: uuid.UUID
) -> dict[str, Any]:
    txn = await session.get(LedgerTransaction, txn_id)
    if txn is None or txn.program_id != program_id:
        raise NotFound(
            f"transaction {txn_id} not found", code="transaction_not_found", field="transaction_id"
        )
    rows = await session.execute(
        select(Posting, Account.system_name, Member.external_id)
        .join(Account, Account.id == Posting.account_id)
        .outerjoin(Member, Member.id == Posting.member_id)
        .where(Posting.transaction_id == txn_id)
        .order_by(Posting.id)
    )
    reversed_total = await session.scalar(
        select(func.coalesce(func.sum(LedgerTransaction.amount), 0)).where(
            LedgerTransaction.program_id == program_id, LedgerTransaction.reverses_id == txn_id
        )
    )
    return {
        "id": str(txn.id),
        "kind": txn.kind,
        "asset": txn.asset,
        "amount": txn.amount,
        "reversed_amount": int(reversed_total or 0),
        "reverses_id": str(txn.reverses_id) if txn.reverses_id else None,
        "hold_id": str(txn.hold_id) if txn.hold_id else None,
        "reason": txn.reason,
        "reference": txn.reference,
        "rule_id": txn.rule_id,
        "rule_version": txn.rule_version,
        "campaign_id": txn.campaign_id,
        "operator": txn.operator,
        "meta": txn.meta,
        "occurred_at": txn.occurred_at.isoformat(),
        "created_at": txn.created_at.isoformat(),
        "content_hash": txn.content_hash,
        "chain_seq": txn.chain_seq,
        "chain_hash": txn.chain_hash,
        "postings": [
            {
                "account": f"member:{ext}" if ext else f"system:{system}",
                "amount": p.amount,
                "balance_after": p.balance_after,
            }
            for p, system, ext in rows
        ],
    }
