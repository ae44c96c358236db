"""``jifen ledger verify``: conservation, balances, lots, holds and the hash chain.

Read-only. Every check is one aggregate query except the hash checks, which stream the
transactions in pages and recompute each content hash and chain link.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.ledger.hashing import chain_link, content_hash, genesis_hash
from jifen.ledger.models import (
    Account,
    Allocation,
    ChainHead,
    Hold,
    LedgerTransaction,
    Lot,
    Posting,
)

PAGE = 2000


@dataclass(frozen=True, slots=True)
class Breach:
    check: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.subject}: {self.detail}"


@dataclass
class VerifyReport:
    program_id: str
    transactions: int = 0
    postings: int = 0
    accounts: int = 0
    lots: int = 0
    sealed: int = 0
    breaches: list[Breach] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaches

    def summary(self) -> str:
        state = "OK" if self.ok else f"FAILED ({len(self.breaches)} breaches)"
        return (
            f"program {self.program_id}: {state}: {self.transactions} transactions "
            f"({self.sealed} sealed), {self.postings} postings, {self.accounts} member accounts, "
            f"{self.lots} lots"
        )


async def verify(session: AsyncSession, program_id: str) -> VerifyReport:
    report = VerifyReport(program_id)
    b = report.breaches
    pid = program_id

    # 1. Every transaction balances per asset, and so does the whole program.
    rows = await session.execute(
        select(Posting.transaction_id, Posting.asset, func.sum(Posting.amount))
        .where(Posting.program_id == pid)
        .group_by(Posting.transaction_id, Posting.asset)
        .having(func.sum(Posting.amount) != 0)
    )
    for txn_id, asset, total in rows:
        b.append(
            Breach(
                "transaction_balanced", f"transaction {txn_id}", f"{asset} postings sum to {total}"
            )
        )
    rows = await session.execute(
        select(Posting.asset, func.sum(Posting.amount))
        .where(Posting.program_id == pid)
        .group_by(Posting.asset)
        .having(func.sum(Posting.amount) != 0)
    )
    for asset, total in rows:
        b.append(Breach("conservation", f"asset {asset}", f"all postings sum to {total}, not 0"))

    # 2. Stored member balances equal their postings.
    posted = (
        select(Posting.account_id, func.sum(Posting.amount).label("total"))
        .where(Posting.program_id == pid, Posting.member_id.is_not(None))
        .group_by(Posting.account_id)
        .subquery()
    )
    rows = await session.execute(
        select(Account.id, Account.member_id, Account.asset, Account.balance, posted.c.total)
        .outerjoin(posted, posted.c.account_id == Account.id)
        .where(
            Account.program_id == pid,
            Account.member_id.is_not(None),
            Account.balance != func.coalesce(posted.c.total, 0),
        )
    )
    for acc_id, member_id, asset, balance, total in rows:
        b.append(
            Breach(
                "balance_equals_postings",
                f"account {acc_id} (member {member_id}, {asset})",
                f"stored balance {balance}, postings sum to {total or 0}",
            )
        )

    # 3. Held amounts equal active holds; lots equal balances.
    active = (
        select(Hold.account_id, func.sum(Hold.amount).label("total"))
        .where(Hold.program_id == pid, Hold.status == "active")
        .group_by(Hold.account_id)
        .subquery()
    )
    lots = (
        select(
            Lot.account_id,
            func.sum(Lot.remaining).label("remaining"),
            func.sum(Lot.held).label("held"),
        )
        .where(Lot.program_id == pid)
        .group_by(Lot.account_id)
        .subquery()
    )
    rows = await session.execute(
        select(
            Account.id,
            Account.balance,
            Account.held,
            func.coalesce(active.c.total, 0),
            func.coalesce(lots.c.remaining, 0),
            func.coalesce(lots.c.held, 0),
        )
        .outerjoin(active, active.c.account_id == Account.id)
        .outerjoin(lots, lots.c.account_id == Account.id)
        .where(Account.program_id == pid, Account.member_id.is_not(None))
    )
    for acc_id, balance, held, hold_total, lot_remaining, lot_held in rows:
        report.accounts += 1
        subject = f"account {acc_id}"
        if held != hold_total:
            b.append(
                Breach("held_equals_holds", subject, f"held {held}, active holds {hold_total}")
            )
        if lot_held != held:
            b.append(
                Breach("lots_held_equal_held", subject, f"lots hold {lot_held}, account {held}")
            )
        free = lot_remaining - lot_held
        if free != max(balance - held, 0):
            b.append(
                Breach(
                    "lots_equal_balance",
                    subject,
                    f"free lot points {free}, available balance {balance - held}",
                )
            )

    # 4. Each lot is within bounds and its movements add up.
    moved = (
        select(
            Allocation.lot_id,
            func.sum(
                case(
                    (
                        Allocation.kind.in_(("spend", "expire", "reverse", "settle")),
                        -Allocation.amount,
                    ),
                    (Allocation.kind == "return", Allocation.amount),
                    else_=0,
                )
            ).label("delta"),
            func.sum(
                case(
                    (Allocation.kind.in_(("expire", "return_expired")), Allocation.amount),
                    (Allocation.kind == "unexpire", -Allocation.amount),
                    else_=0,
                )
            ).label("expired"),
        )
        .where(Allocation.program_id == pid)
        .group_by(Allocation.lot_id)
        .subquery()
    )
    rows = await session.execute(
        select(
            Lot.id, Lot.amount, Lot.remaining, Lot.held, Lot.expired, moved.c.delta, moved.c.expired
        )
        .outerjoin(moved, moved.c.lot_id == Lot.id)
        .where(Lot.program_id == pid)
        .where(
            (Lot.remaining < 0)
            | (Lot.held < 0)
            | (Lot.held > Lot.remaining)
            | (Lot.remaining != Lot.amount + func.coalesce(moved.c.delta, 0))
            | (Lot.expired != func.coalesce(moved.c.expired, 0))
        )
    )
    for lot_id, amount, remaining, held, expired, delta, exp in rows:
        b.append(
            Breach(
                "lot_allocations",
                f"lot {lot_id}",
                f"amount {amount}, remaining {remaining}, held {held}, expired {expired}; "
                f"allocations move {delta or 0} and expire {exp or 0}",
            )
        )
    report.lots = int(await session.scalar(select(func.count()).where(Lot.program_id == pid)) or 0)

    # 5. What the expiry account received is what the lots say expired.
    expiry_posted = await session.execute(
        select(Account.asset, func.coalesce(func.sum(Posting.amount), 0))
        .outerjoin(Posting, and_(Posting.account_id == Account.id))
        .where(Account.program_id == pid, Account.system_name == "expiry")
        .group_by(Account.asset)
    )
    lot_expired = dict(
        (
            await session.execute(
                select(Lot.asset, func.sum(Lot.expired))
                .where(Lot.program_id == pid)
                .group_by(Lot.asset)
            )
        )
        .tuples()
        .all()
    )
    for asset, total in expiry_posted:
        if int(total) != int(lot_expired.get(asset) or 0):
            b.append(
                Breach(
                    "expiry_equals_lots",
                    f"asset {asset}",
                    f"expiry account {total}, lots expired {lot_expired.get(asset) or 0}",
                )
            )

    await _verify_hashes(session, report)
    return report


async def _verify_hashes(session: AsyncSession, report: VerifyReport) -> None:
    pid = report.program_id
    previous = genesis_hash(pid)
    expected_seq = 0
    # Sealed transactions in chain order, then the unsealed ones by id.
    for sealed in (True, False):
        last_seq = 0
        last_id: uuid.UUID | None = None
        while True:
            stmt = select(LedgerTransaction).where(LedgerTransaction.program_id == pid)
            if sealed:
                stmt = stmt.where(LedgerTransaction.chain_seq > last_seq).order_by(
                    LedgerTransaction.chain_seq
                )
            else:
                stmt = stmt.where(LedgerTransaction.chain_seq.is_(None))
                if last_id is not None:
                    stmt = stmt.where(LedgerTransaction.id > last_id)
                stmt = stmt.order_by(LedgerTransaction.id)
            txns = list((await session.scalars(stmt.limit(PAGE))).all())
            if not txns:
                break
            postings = await _postings_of(session, [t.id for t in txns])
            for t in txns:
                report.transactions += 1
                report.postings += len(postings[t.id])
                row = {c.key: getattr(t, c.key) for c in LedgerTransaction.__mapper__.column_attrs}
                if content_hash(row, postings[t.id]) != t.content_hash:
                    report.breaches.append(
                        Breach(
                            "content_hash",
                            f"transaction {t.id}",
                            "the transaction or its postings changed after they were written",
                        )
                    )
                if t.chain_seq is None:
                    continue
                report.sealed += 1
                expected_seq += 1
                if t.chain_seq != expected_seq:
                    report.breaches.append(
                        Breach(
                            "chain",
                            f"transaction {t.id}",
                            f"sequence {t.chain_seq}, expected {expected_seq}",
                        )
                    )
                    expected_seq = t.chain_seq
                link = chain_link(previous, t.chain_seq, t.content_hash)
                if link != t.chain_hash:
                    report.breaches.append(
                        Breach(
                            "chain",
                            f"transaction {t.id}",
                            f"chain link at sequence {t.chain_seq} does not match",
                        )
                    )
                previous = t.chain_hash or link
            last_seq = txns[-1].chain_seq or 0
            last_id = txns[-1].id
    head = await session.get(ChainHead, pid)
    if head is not None and (head.last_seq != expected_seq or head.last_hash != previous):
        report.breaches.append(
            Breach(
                "chain",
                f"program {pid}",
                f"chain head at {head.last_seq} does not match the last sealed transaction ({expected_seq})",
            )
        )


async def _postings_of(
    session: AsyncSession, ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[int, int, int | None]]]:
    out: dict[uuid.UUID, list[tuple[int, int, int | None]]] = defaultdict(list)
    rows = await session.execute(
        select(
            Posting.transaction_id, Posting.account_id, Posting.amount, Posting.balance_after
        ).where(Posting.transaction_id.in_(ids))
    )
    for txn_id, acc, amount, bal in rows:
        out[txn_id].append((acc, amount, bal))
    return out
