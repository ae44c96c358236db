"""Sealing: linking new transactions into the program's hash chain, in batches.

Transactions are written with their own content hash and no lock on anything shared; the
sealer later gives each unsealed one the next sequence number and
``chain_hash = H(previous chain_hash, seq, content_hash)``. One lock per program per sealing
run (the chain head row) instead of one per write keeps the chain off the hot path.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.db.engine import is_postgres
from jifen.ledger.hashing import chain_link
from jifen.ledger.models import ChainHead, LedgerTransaction


async def seal(session: AsyncSession, program_id: str, *, now: datetime, limit: int = 5000) -> int:
    """Seal up to ``limit`` transactions; returns how many were sealed."""
    stmt = select(ChainHead).where(ChainHead.program_id == program_id)
    if is_postgres(session):
        stmt = stmt.with_for_update()
    head = (await session.scalars(stmt)).one()
    rows = (
        await session.execute(
            select(LedgerTransaction.id, LedgerTransaction.content_hash)
            .where(
                LedgerTransaction.program_id == program_id, LedgerTransaction.chain_seq.is_(None)
            )
            .order_by(LedgerTransaction.created_at, LedgerTransaction.id)
            .limit(limit)
        )
    ).all()
    if not rows:
        return 0
    seq, previous = head.last_seq, head.last_hash
    params = []
    for txn_id, content in rows:
        seq += 1
        previous = chain_link(previous, seq, content)
        params.append({"_id": txn_id, "_seq": seq, "_hash": previous})
    t = LedgerTransaction.__table__
    assert isinstance(t, Table)
    await session.execute(
        update(t)
        .where(t.c.id == bindparam("_id"))
        .values(chain_seq=bindparam("_seq"), chain_hash=bindparam("_hash")),
        params,
        execution_options={"synchronize_session": False},
    )
    head.last_seq = seq
    head.last_hash = previous
    head.updated_at = now
    await session.flush()
    return len(rows)
