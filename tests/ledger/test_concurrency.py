"""Concurrent writers on PostgreSQL: real OS threads, each with its own event loop, engine and
connection, racing on the same accounts through the service layer.

The ledger locks member accounts in id order (``SELECT ... FOR UPDATE``), checks the available
balance under the lock and writes in the same transaction, so concurrent spends never overdraw,
and transfers in opposite directions never deadlock. Every transaction goes through a retrying
helper like the API's (``jifen.api.deps.Db.write``), but this one records why it retried: a
deadlock here is a design failure, not something to retry away.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.clock import FixedClock
from jifen.db.engine import make_engine, make_sessionmaker
from jifen.kit.idempotency import IdempotencyRace, Outcome
from jifen.ledger import service as ledger
from jifen.ledger.models import Account, Hold, LedgerTransaction
from jifen.ledger.schemas import CreditIn, DebitIn, HoldIn, TransferIn
from jifen.ledger.verify import verify
from jifen.members.models import Member
from jifen.programs.context import ProgramContext
from jifen.programs.schemas import ProgramSettings
from tests.conftest import START, make_program

pytestmark = pytest.mark.postgres_only

T = TypeVar("T")
THREADS = 32
RETRYABLE = {"40001", "40P01"}  # serialization failure, deadlock detected


class Retries:
    """Why transactions were retried, across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reasons: list[str] = []

    def add(self, reason: str) -> None:
        with self._lock:
            self.reasons.append(reason)


async def write(
    sm: async_sessionmaker[AsyncSession],
    fn: Callable[[AsyncSession], Awaitable[T]],
    retries: Retries,
    attempts: int = 5,
) -> T:
    """One transaction, retried like ``Db.write`` on deadlocks, serialization failures and
    idempotency races, each retry recorded."""
    for attempt in range(attempts):
        try:
            async with sm() as s, s.begin():
                return await fn(s)
        except IdempotencyRace:
            retries.add("idempotency_race")
        except DBAPIError as exc:
            sqlstate = getattr(exc.orig, "sqlstate", None)
            if sqlstate not in RETRYABLE:
                raise
            retries.add(str(sqlstate))
        if attempt == attempts - 1:
            raise RuntimeError(f"out of attempts: {retries.reasons[-attempts:]}")
        await asyncio.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


def run(coro: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        return runner.run(coro)


def in_threads(pg_url: str, n: int, worker: Callable[..., Awaitable[T]]) -> list[T]:
    """Run ``worker(index, sessionmaker)`` in ``n`` OS threads started together, each with its
    own event loop and its own engine holding one connection."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def main(i: int) -> None:
        async def go() -> T:
            engine = make_engine(pg_url, pool_size=1)
            try:
                sm = make_sessionmaker(engine)
                # Open the connection before the start line, so that the race is the writes.
                async with engine.connect():
                    pass
                barrier.wait(timeout=30)
                return await worker(i, sm)
            finally:
                await engine.dispose()

        try:
            results[i] = run(go())
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=main, args=(i,), name=f"writer-{i}") for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    if errors:
        raise errors[0]
    return results


class Setting:
    """A program with members holding points, on its own engine."""

    def __init__(self, pg_url: str, balances: dict[str, int]) -> None:
        self.pg_url = pg_url
        self.clock = FixedClock(START)
        self.retries = Retries()

        async def setup() -> ProgramContext:
            engine = make_engine(pg_url, pool_size=1)
            try:
                sm = make_sessionmaker(engine)
                ctx = await make_program(sm, self.clock, ProgramSettings())
                items = [
                    CreditIn(idempotency_key=f"open-{m}", member=m, amount=amount)
                    for m, amount in balances.items()
                ]
                outcomes = await write(
                    sm, lambda s: ledger.credit(s, ctx, items, now=self.clock.now()), self.retries
                )
                assert all(o.status == 201 for o in outcomes)
                return ctx
            finally:
                await engine.dispose()

        self.ctx = run(setup())

    def state(self) -> tuple[dict[str, tuple[int, int]], Any, int, int]:
        """Balances and held per member, the verify report, debit and active hold counts."""
        pid = self.ctx.id

        async def read() -> tuple[dict[str, tuple[int, int]], Any, int, int]:
            engine = make_engine(self.pg_url, pool_size=1)
            try:
                async with make_sessionmaker(engine)() as s, s.begin():
                    rows = await s.execute(
                        select(Member.external_id, Account.balance, Account.held)
                        .join(Member, Member.id == Account.member_id)
                        .where(Account.program_id == pid, Account.asset == "points")
                    )
                    balances = {ext: (b, h) for ext, b, h in rows}
                    report = await verify(s, pid)
                    debits = await s.scalar(
                        select(func.count()).where(
                            LedgerTransaction.program_id == pid, LedgerTransaction.kind == "debit"
                        )
                    )
                    holds = await s.scalar(
                        select(func.count()).where(Hold.program_id == pid, Hold.status == "active")
                    )
                    return balances, report, int(debits or 0), int(holds or 0)
            finally:
                await engine.dispose()

        return run(read())


def _spend_until_refused(
    setting: Setting, op: str
) -> Callable[[int, async_sessionmaker[AsyncSession]], Awaitable[tuple[int, Outcome]]]:
    """A writer that spends 7 points from u1 (a debit, or a hold) until it is refused."""
    ctx, clock, retries = setting.ctx, setting.clock, setting.retries

    async def worker(i: int, sm: async_sessionmaker[AsyncSession]) -> tuple[int, Outcome]:
        done = 0
        while True:
            key = f"{op}-{i}-{done}"
            if op == "debit":
                req: Any = DebitIn(idempotency_key=key, member="u1", amount=7)
                call = ledger.debit
            else:
                req = HoldIn(idempotency_key=key, member="u1", amount=7)
                call = ledger.hold
            [outcome] = await write(
                sm, lambda s, call=call, req=req: call(s, ctx, [req], now=clock.now()), retries
            )
            if not outcome.ok:
                return done, outcome
            done += 1

    return worker


def test_concurrent_debits_never_overdraw(pg_url: str) -> None:
    setting = Setting(pg_url, {"u1": 1000})
    results = in_threads(pg_url, THREADS, _spend_until_refused(setting, "debit"))
    assert sum(done for done, _ in results) == 142  # 1000 // 7
    for _, refusal in results:
        assert (refusal.status, refusal.body["code"]) == (422, "insufficient_points")
        assert refusal.body["available"] == 6
    balances, report, debits, _ = setting.state()
    assert balances == {"u1": (6, 0)}
    assert debits == 142
    assert report.ok, report.breaches
    assert setting.retries.reasons == []


def test_concurrent_holds_never_overdraw(pg_url: str) -> None:
    setting = Setting(pg_url, {"u1": 1000})
    results = in_threads(pg_url, THREADS, _spend_until_refused(setting, "hold"))
    assert sum(done for done, _ in results) == 142
    for _, refusal in results:
        assert (refusal.status, refusal.body["code"]) == (422, "insufficient_points")
        assert refusal.body["available"] == 6
    balances, report, _, active = setting.state()
    assert balances == {"u1": (1000, 994)}  # available 6
    assert active == 142
    assert report.ok, report.breaches
    assert setting.retries.reasons == []


def test_opposite_transfers_do_not_deadlock(pg_url: str) -> None:
    setting = Setting(pg_url, {"a": 1000, "b": 1000})
    ctx, clock, retries = setting.ctx, setting.clock, setting.retries
    per_thread = 6

    async def worker(i: int, sm: async_sessionmaker[AsyncSession]) -> tuple[str, int]:
        sender, receiver = ("a", "b") if i % 2 == 0 else ("b", "a")
        sent = 0
        for n in range(per_thread):
            amount = 1 + (i + n) % 3
            req = TransferIn(
                idempotency_key=f"t-{i}-{n}", from_member=sender, to_member=receiver, amount=amount
            )
            outcome = await write(
                sm, lambda s, req=req: ledger.transfer(s, ctx, req, now=clock.now()), retries
            )
            assert outcome.status == 201, outcome.body
            sent += amount
        return sender, sent

    results = in_threads(pg_url, THREADS, worker)
    a_to_b = sum(sent for sender, sent in results if sender == "a")
    b_to_a = sum(sent for sender, sent in results if sender == "b")
    assert a_to_b > 0
    assert b_to_a > 0
    balances, report, _, _ = setting.state()
    assert balances == {"a": (1000 - a_to_b + b_to_a, 0), "b": (1000 - b_to_a + a_to_b, 0)}
    assert report.ok, report.breaches
    assert "40P01" not in setting.retries.reasons, "deadlock between opposite transfers"
    assert setting.retries.reasons == []
