"""The writer that ``test_crash`` kills: a deterministic stream of credits and debits.

Usage: ``python tests/ledger/crash_writer.py DATABASE_URL PROGRAM_ID COUNT``

Each operation is its own transaction under a key derived from its index, through the service
layer and the API's retrying unit of work. After each commit it prints ``<index> applied`` or
``<index> replayed`` (the key was already there) and flushes, so the test knows what is
committed.
"""

from __future__ import annotations

import asyncio
import sys

MEMBER = "crash-member"


def stream(count: int) -> list[tuple[str, str, int]]:
    """``(kind, idempotency key, amount)`` for each operation. Two credits of 10–16 points
    come before every debit of 5–8, so no debit is ever refused."""
    ops = []
    for i in range(count):
        if i % 3 == 2:
            ops.append(("debit", f"op-{i}", 5 + i % 4))
        else:
            ops.append(("credit", f"op-{i}", 10 + i % 7))
    return ops


def balance_after(ops: list[tuple[str, str, int]]) -> int:
    return sum(amount if kind == "credit" else -amount for kind, _, amount in ops)


async def main(url: str, program_id: str, count: int) -> None:
    from jifen.api.deps import Db
    from jifen.clock import SystemClock
    from jifen.db.engine import make_engine, make_sessionmaker
    from jifen.ledger import service as ledger
    from jifen.ledger.schemas import CreditIn, DebitIn
    from jifen.programs import service as programs

    engine = make_engine(url, pool_size=1)
    db = Db(make_sessionmaker(engine), SystemClock())
    try:
        ctx = await db.read(lambda s: programs.get_context(s, program_id))
        for i, (kind, key, amount) in enumerate(stream(count)):
            now = db.now()
            if kind == "credit":
                credit = CreditIn(idempotency_key=key, member=MEMBER, amount=amount)
                [outcome] = await db.write(
                    lambda s, r=credit, t=now: ledger.credit(s, ctx, [r], now=t)
                )
            else:
                debit = DebitIn(idempotency_key=key, member=MEMBER, amount=amount)
                [outcome] = await db.write(
                    lambda s, r=debit, t=now: ledger.debit(s, ctx, [r], now=t)
                )
            if outcome.status != 201:
                raise SystemExit(f"operation {i} failed: {outcome.body}")
            print(i, "replayed" if outcome.replayed else "applied", flush=True)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
