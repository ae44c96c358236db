"""The ledger against a reference model, under random sequences of operations (hypothesis).

The model below restates the ledger's rules (SPEC A, ARCHITECTURE "Ledger model", and the
engine's documented choices where the spec leaves room) over plain Python objects: lots spent
soonest-expiring first, holds reserving lot points, partial captures releasing the rest,
reversals following allocations back, expiry moving the free rest of a lot to the expiry
account when the member's account is next touched (or by the expiry job), a member in debt
paying it back from the next free points, and the program's negative-balance policy. Hypothesis generates a list of operations (credit, debit, hold,
capture, void, reverse, adjust, transfer, clock jumps up to three years, the hold and expiry
jobs, sealing, replays); after every one the outcome, the stored balances, holds and lots must
equal the model's and ``jifen.ledger.verify`` must find nothing wrong.

Each example is a fresh program on the test database (both backends), driven by its own event
loop and engine so that hypothesis can run the async service layer synchronously.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.clock import FixedClock
from jifen.db.engine import make_engine, make_sessionmaker
from jifen.jobs.runner import run_job
from jifen.kit.idempotency import Outcome
from jifen.ledger import chain, expiry
from jifen.ledger import service as ledger
from jifen.ledger.models import Account, Hold, Lot
from jifen.ledger.schemas import (
    AdjustIn,
    CaptureIn,
    CreditIn,
    DebitIn,
    HoldIn,
    ReverseIn,
    TransferIn,
    VoidIn,
)
from jifen.ledger.verify import verify
from jifen.members.models import Member
from jifen.programs.context import ProgramContext
from jifen.programs.schemas import ExpiryPolicy, ProgramSettings
from tests.conftest import START, make_program

pytestmark = pytest.mark.slow

T = TypeVar("T")
FAR = datetime.max.replace(tzinfo=UTC)
ASSET = "points"
MEMBERS = ("m0", "m1", "m2")
# Every operation happens at its own instant, so lots earned in different steps never tie in
# spending order, and a few hours after the last, so lots span days and expiry dates.
TICK = timedelta(hours=3, seconds=1)


# --- the reference model ----------------------------------------------------------------------


@dataclass(eq=False)
class MLot:
    seq: int
    member: str
    amount: int
    earned_at: datetime
    expires_at: datetime | None
    remaining: int
    held: int = 0
    expired: int = 0

    @property
    def free(self) -> int:
        return self.remaining - self.held

    def order(self) -> tuple[bool, datetime, datetime, int]:
        """Soonest expiry first, then oldest, then lots that never expire."""
        return (self.expires_at is None, self.expires_at or FAR, self.earned_at, self.seq)

    def due(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass(eq=False)
class MAccount:
    balance: int = 0
    held: int = 0
    lots: list[MLot] = field(default_factory=list)

    @property
    def available(self) -> int:
        return self.balance - self.held

    @property
    def free(self) -> int:
        return sum(lot.free for lot in self.lots)

    def ordered(self) -> list[MLot]:
        return sorted(self.lots, key=MLot.order)

    def spendable(self, now: datetime) -> list[MLot]:
        return [lot for lot in self.ordered() if lot.free > 0 and not lot.due(now)]


@dataclass(eq=False)
class MHold:
    id: str
    member: str
    amount: int
    expires_at: datetime
    allocs: list[tuple[MLot, int]]
    status: str = "active"
    captured: int = 0


@dataclass(eq=False)
class MTxn:
    """A reversible transaction: a credit-like one made ``lot``; a debit-like one ``spent``."""

    id: str
    kind: str
    member: str
    amount: int
    lot: MLot | None = None
    spent: dict[MLot, int] = field(default_factory=dict)
    returned: dict[MLot, int] = field(default_factory=dict)
    reversed: int = 0


class Model:
    def __init__(self, program_settings: ProgramSettings) -> None:
        self.settings = program_settings
        self.accounts: dict[str, MAccount] = {}
        self.holds: list[MHold] = []
        self.txns: list[MTxn] = []
        self.transfers: list[str] = []
        self._seq = 0

    def acc(self, member: str) -> MAccount:
        return self.accounts.setdefault(member, MAccount())

    def new_lot(
        self, member: str, amount: int, earned_at: datetime, expires_at: datetime | None
    ) -> MLot:
        self._seq += 1
        lot = MLot(self._seq, member, amount, earned_at, expires_at, remaining=amount)
        self.acc(member).lots.append(lot)
        return lot

    def lock(self, member: str, now: datetime) -> None:
        """What touching an account does first: lapse its due holds, then expire the free
        rest of its due lots (points a lapsed hold just freed included)."""
        a = self.acc(member)
        for h in self.holds:
            if h.member == member and h.status == "active" and h.expires_at <= now:
                self.release(h)
                h.status = "lapsed"
        for lot in a.lots:
            if lot.free > 0 and lot.due(now):
                part = lot.free
                lot.remaining -= part
                lot.expired += part
                a.balance -= part

    def release(self, h: MHold) -> None:
        for lot, amount in h.allocs:
            lot.held -= amount
        self.acc(h.member).held -= h.amount

    def settle(self, member: str) -> None:
        """Free lot points beyond a non-negative available balance pay what the member owes."""
        a = self.acc(member)
        excess = a.free - max(a.available, 0)
        assert excess >= 0, f"model: free lots {a.free} < available {a.available}"
        for lot in a.ordered():
            if excess == 0:
                break
            part = min(lot.free, excess)
            if part > 0:
                lot.remaining -= part
                excess -= part

    def covers(self, member: str, amount: int, now: datetime) -> bool:
        a = self.acc(member)
        return a.available >= amount and sum(x.free for x in a.spendable(now)) >= amount

    def take(
        self, member: str, amount: int, now: datetime, *, hold: bool
    ) -> list[tuple[MLot, int]]:
        taken = []
        left = amount
        for lot in self.acc(member).spendable(now):
            if left == 0:
                break
            part = min(lot.free, left)
            if hold:
                lot.held += part
            else:
                lot.remaining -= part
            left -= part
            taken.append((lot, part))
        assert left == 0
        return taken

    def reverse_credit(self, t: MTxn, amount: int, now: datetime) -> None:
        """Out of the earn's own lot first, then out of what of it expired (taken back from
        the expiry account), then out of the member's other points; what the member does not
        have is a debt (``allow``) or booked to the loss account (``loss``)."""
        a = self.acc(t.member)
        lot = t.lot
        assert lot is not None
        from_lot = min(max(lot.free, 0), amount)
        lot.remaining -= from_lot
        unexpired = min(lot.expired, amount - from_lot)
        lot.expired -= unexpired
        rest = amount - from_lot - unexpired
        if self.settings.negative_balance == "allow":
            from_member = rest
        else:
            from_member = min(rest, max(a.available - from_lot, 0))
        left = min(from_member, sum(x.free for x in a.spendable(now)))
        for other in a.spendable(now):
            if left == 0:
                break
            part = min(other.free, left)
            other.remaining -= part
            left -= part
        a.balance -= from_lot + from_member

    def reverse_debit(self, t: MTxn, amount: int, now: datetime) -> None:
        """Back into the lots the spend took from, latest-expiring first; what belongs to a
        lot that has expired meanwhile goes to the expiry account."""
        a = self.acc(t.member)
        given = {lot: n - t.returned.get(lot, 0) for lot, n in t.spent.items()}
        left = amount
        for lot in sorted(given, key=MLot.order, reverse=True):
            part = min(given[lot], left)
            if part <= 0:
                continue
            left -= part
            t.returned[lot] = t.returned.get(lot, 0) + part
            if lot.due(now):
                lot.expired += part
            else:
                lot.remaining += part
                a.balance += part
        assert left == 0


# --- the operations ---------------------------------------------------------------------------

Op = tuple[str, dict[str, Any]]
MEMBER = st.sampled_from(MEMBERS)
PICK = st.integers(0, 10**6)  # which hold or transaction, modulo how many there are
# Spends are a share of what the member has available, in percent; over 100 is too much.
PERCENT = st.one_of(st.integers(1, 40), st.sampled_from([100, 101]), st.integers(1, 110))
REVERSAL = {
    "pick": PICK,
    "fresh": st.booleans(),
    "mode": st.sampled_from(["full", "full", "part", "part", "over"]),
    "percent": st.integers(1, 99),
}
# Each operation's arguments, and how often it is drawn relative to the others.
OPERATION_ARGS: dict[str, tuple[int, dict[str, st.SearchStrategy[Any]]]] = {
    "credit": (2, {"member": MEMBER, "amount": st.integers(1, 500)}),
    "debit": (2, {"member": MEMBER, "percent": PERCENT}),
    "hold": (
        3,
        {
            "member": MEMBER,
            "percent": PERCENT,
            "timeout": st.sampled_from([2 * 3600, 2 * 86400, 30 * 86400]),
        },
    ),
    "capture": (
        2,
        {
            "pick": PICK,
            "live": st.sampled_from([True, True, True, False]),
            "part": st.one_of(st.none(), st.integers(1, 110)),
            "when": st.sampled_from([None, None, -1, 0]),
        },
    ),
    "void": (1, {"pick": PICK, "live": st.sampled_from([True, True, True, False])}),
    "reverse_earn": (2, REVERSAL),
    "reverse_spend": (2, REVERSAL),
    "reverse_transfer": (1, {"pick": PICK}),
    "adjust": (
        1,
        {"member": MEMBER, "up": st.booleans(), "amount": st.integers(1, 300), "percent": PERCENT},
    ),
    "transfer": (
        2,
        {"pair": st.permutations(MEMBERS).map(lambda p: (p[0], p[1])), "percent": PERCENT},
    ),
    "advance": (
        1,
        {
            "seconds": st.one_of(
                st.integers(61, 7200),
                st.integers(1, 60).map(lambda d: d * 86400),
                st.integers(61, 3 * 365).map(lambda d: d * 86400),
            )
        },
    ),
    "advance_to_deadline": (1, {"pick": PICK, "offset": st.sampled_from([-1, 0])}),
    "run_job": (1, {"job": st.sampled_from(["holds", "expire"])}),
    "seal": (1, {}),
    "replay": (1, {"pick": PICK, "conflict": st.booleans()}),
}


def _operation(name: str) -> st.SearchStrategy[Op]:
    return st.fixed_dictionaries(OPERATION_ARGS[name][1]).map(lambda args: (name, args))


OPERATIONS = st.sampled_from(
    [name for name, (weight, _) in OPERATION_ARGS.items() for _ in range(weight)]
).flatmap(_operation)


def _code(outcome: Outcome) -> str | None:
    return None if outcome.ok else str(outcome.body.get("code"))


@dataclass
class Sent:
    """A request that was made, to replay under its key."""

    call: Callable[[AsyncSession, Any], Awaitable[Outcome]]
    request: Any
    outcome: Outcome


class Scenario:
    """One example: a fresh program, its model, and the operations played on both."""

    def __init__(
        self,
        runner: asyncio.Runner,
        sessionmaker: async_sessionmaker[AsyncSession],
        policy: str,
        opening: list[int],
    ) -> None:
        self.runner = runner
        self.sessionmaker = sessionmaker
        self.clock = FixedClock(START)
        self.keys = 0
        self.sent: list[Sent] = []
        program_settings = ProgramSettings(
            expiry=ExpiryPolicy(kind="rolling", months=12), negative_balance=policy
        )
        self.ctx: ProgramContext = self.run(
            make_program(sessionmaker, self.clock, program_settings)
        )
        self.model = Model(program_settings)
        for member, amount in zip(MEMBERS, opening, strict=True):
            self.credit(member, amount)
        self.check()

    def play(self, ops: list[Op]) -> None:
        for name, args in ops:
            if getattr(self, name)(**args) is not False:
                self.check()

    # helpers

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    def write(self, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async def go() -> T:
            async with self.sessionmaker() as s, s.begin():
                return await fn(s)

        return self.run(go())

    def key(self) -> str:
        self.keys += 1
        return f"k{self.keys}"

    def tick(self) -> datetime:
        self.clock.advance(TICK)
        return self.clock.now()

    def send(
        self, call: Callable[[AsyncSession, Any], Awaitable[Outcome]], request: Any
    ) -> Outcome:
        outcome = self.write(lambda s: call(s, request))
        assert not outcome.replayed
        self.sent.append(Sent(call, request, outcome))
        return outcome

    def expect(self, outcome: Outcome, status: int, code: str | None = None) -> None:
        assert outcome.status == status, (outcome.status, outcome.body)
        if code is not None:
            assert _code(outcome) == code, outcome.body

    def expect_balance(self, outcome: Outcome, member: str) -> None:
        a = self.model.acc(member)
        assert (outcome.body["balance"], outcome.body["available"]) == (a.balance, a.available)

    def at_now(self, fn: Callable[..., Awaitable[Outcome]], *args: Any) -> Callable[..., Any]:
        ctx, now = self.ctx, self.clock.now()
        return lambda s, req: fn(s, ctx, *args, req, now=now)

    def batch_at_now(self, fn: Callable[..., Awaitable[list[Outcome]]]) -> Callable[..., Any]:
        ctx, now = self.ctx, self.clock.now()

        async def call(s: AsyncSession, req: Any) -> Outcome:
            return (await fn(s, ctx, [req], now=now))[0]

        return call

    def spend_amount(self, member: str, percent: int, now: datetime) -> int:
        """``percent`` of what the member has available at ``now`` (over 100: more than that).

        Touching the account (``lock``) first lapses and expires what is due; touching it
        again at the same instant, as the operation will, changes nothing more.
        """
        self.model.lock(member, now)
        return max(1, self.model.acc(member).available * percent // 100)

    # operations

    def credit(self, member: str, amount: int) -> None:
        now = self.tick()
        m = self.model
        out = self.send(
            self.batch_at_now(ledger.credit),
            CreditIn(idempotency_key=self.key(), member=member, amount=amount),
        )
        self.expect(out, 201)
        m.lock(member, now)
        lot = m.new_lot(member, amount, now, expiry.expires_at(m.settings, now))
        m.acc(member).balance += amount
        m.settle(member)
        m.txns.append(MTxn(out.body["id"], "credit", member, amount, lot=lot))
        self.expect_balance(out, member)
        assert datetime.fromisoformat(out.body["lot_expires_at"]) == lot.expires_at

    def debit(self, member: str, percent: int) -> None:
        now = self.tick()
        amount = self.spend_amount(member, percent, now)
        m = self.model
        out = self.send(
            self.batch_at_now(ledger.debit),
            DebitIn(idempotency_key=self.key(), member=member, amount=amount),
        )
        m.lock(member, now)
        if not m.covers(member, amount, now):
            self.expect(out, 422, "insufficient_points")
            assert out.body["available"] == m.acc(member).available
        else:
            self.expect(out, 201)
            taken = m.take(member, amount, now, hold=False)
            m.acc(member).balance -= amount
            m.txns.append(MTxn(out.body["id"], "debit", member, amount, spent=dict(taken)))
            self.expect_balance(out, member)
        m.settle(member)

    def hold(self, member: str, percent: int, timeout: int) -> None:
        now = self.tick()
        amount = self.spend_amount(member, percent, now)
        m = self.model
        out = self.send(
            self.batch_at_now(ledger.hold),
            HoldIn(
                idempotency_key=self.key(), member=member, amount=amount, timeout_seconds=timeout
            ),
        )
        m.lock(member, now)
        if not m.covers(member, amount, now):
            self.expect(out, 422, "insufficient_points")
        else:
            self.expect(out, 201)
            taken = m.take(member, amount, now, hold=True)
            m.acc(member).held += amount
            h = MHold(out.body["id"], member, amount, now + timedelta(seconds=timeout), taken)
            m.holds.append(h)
            assert out.body["available"] == m.acc(member).available
        m.settle(member)

    def pick_hold(self, pick: int, live: bool) -> MHold | None:
        """One of the holds that will not have timed out at the next operation (``live``, if
        there is one), or of all holds."""
        soon = self.clock.now() + TICK
        holds = self.model.holds
        if live:
            holds = [h for h in holds if h.status == "active" and h.expires_at > soon] or holds
        return holds[pick % len(holds)] if holds else None

    def capture(self, pick: int, live: bool, part: int | None, when: int | None) -> bool:
        """Capture all (``part`` None) or ``part`` percent of a hold (over 100 is refused),
        at the next tick or (``when``) a second before or exactly at its time-out."""
        h = self.pick_hold(pick, live)
        if h is None:
            return False
        if when is not None:
            at = h.expires_at + timedelta(seconds=when) - TICK
            self.clock.set(max(at, self.clock.now()))
        now = self.tick()
        m = self.model
        amount = None if part is None else max(1, h.amount * part // 100)
        out = self.send(
            self.at_now(ledger.capture, uuid.UUID(h.id)),
            CaptureIn(idempotency_key=self.key(), amount=amount),
        )
        m.lock(h.member, now)
        if h.status != "active":
            self.expect(out, 409, "hold_not_active")
        elif amount is not None and amount > h.amount:
            self.expect(out, 422, "capture_exceeds_hold")
        else:
            self.expect(out, 201)
            amount = h.amount if amount is None else amount
            spent: dict[MLot, int] = {}
            left = amount
            for lot, held in h.allocs:
                lot.held -= held
                part_of_lot = min(held, left)
                if part_of_lot:
                    lot.remaining -= part_of_lot
                    spent[lot] = spent.get(lot, 0) + part_of_lot
                    left -= part_of_lot
            a = m.acc(h.member)
            a.held -= h.amount
            a.balance -= amount
            h.status, h.captured = "captured", amount
            m.txns.append(MTxn(out.body["id"], "capture", h.member, amount, spent=spent))
            self.expect_balance(out, h.member)
        m.settle(h.member)
        return True

    def void(self, pick: int, live: bool) -> bool:
        h = self.pick_hold(pick, live)
        if h is None:
            return False
        now = self.tick()
        m = self.model
        out = self.send(
            self.at_now(ledger.void, uuid.UUID(h.id)), VoidIn(idempotency_key=self.key())
        )
        m.lock(h.member, now)
        if h.status != "active":
            self.expect(out, 409, "hold_not_active")
        else:
            self.expect(out, 200)
            m.release(h)
            h.status = "voided"
            assert out.body["available"] == m.acc(h.member).available
        m.settle(h.member)
        return True

    def pick_txn(self, pick: int, earn: bool, fresh: bool) -> MTxn | None:
        """An earn (credit, positive adjustment) or a spend (debit, capture, negative
        adjustment); one with something left to reverse when ``fresh`` and there is one."""
        txns = [t for t in self.model.txns if (t.lot is not None) == earn]
        if fresh:
            txns = [t for t in txns if t.reversed < t.amount] or txns
        return txns[pick % len(txns)] if txns else None

    def reverse_earn(self, pick: int, fresh: bool, mode: str, percent: int) -> bool:
        t = self.pick_txn(pick, earn=True, fresh=fresh)
        return t is not None and self.reverse(t, mode, percent)

    def reverse_spend(self, pick: int, fresh: bool, mode: str, percent: int) -> bool:
        t = self.pick_txn(pick, earn=False, fresh=fresh)
        return t is not None and self.reverse(t, mode, percent)

    def reverse(self, t: MTxn, mode: str, percent: int) -> bool:
        """Reverse all, ``percent`` percent, or more than is left of a transaction."""
        now = self.tick()
        m = self.model
        left = t.amount - t.reversed
        amount = {"full": None, "part": max(1, left * percent // 100), "over": left + 1}[mode]
        out = self.send(
            self.at_now(ledger.reverse, uuid.UUID(t.id)),
            ReverseIn(idempotency_key=self.key(), amount=amount),
        )
        m.lock(t.member, now)
        if left <= 0:
            self.expect(out, 409, "already_reversed")
        elif amount is not None and amount > left:
            self.expect(out, 422, "invalid_amount")
        else:
            self.expect(out, 201)
            amount = left if amount is None else amount
            if t.lot is not None:
                m.reverse_credit(t, amount, now)
            else:
                m.reverse_debit(t, amount, now)
            t.reversed += amount
            self.expect_balance(out, t.member)
        m.settle(t.member)
        return True

    def reverse_transfer(self, pick: int) -> bool:
        if not self.model.transfers:
            return False
        self.tick()
        txn_id = self.model.transfers[pick % len(self.model.transfers)]
        out = self.send(
            self.at_now(ledger.reverse, uuid.UUID(txn_id)), ReverseIn(idempotency_key=self.key())
        )
        self.expect(out, 409, "not_reversible")
        return True

    def adjust(self, member: str, up: bool, amount: int, percent: int) -> None:
        """Add ``amount``, or take ``percent`` of what the member has available."""
        now = self.tick()
        amount = amount if up else -self.spend_amount(member, percent, now)
        m = self.model
        out = self.send(
            self.at_now(ledger.adjust),
            AdjustIn(
                idempotency_key=self.key(),
                member=member,
                amount=amount,
                reason="goodwill" if amount > 0 else "correction",
                operator="ops@test",
            ),
        )
        m.lock(member, now)
        if amount > 0:
            self.expect(out, 201)
            lot = m.new_lot(member, amount, now, expiry.expires_at(m.settings, now))
            m.acc(member).balance += amount
            m.txns.append(MTxn(out.body["id"], "adjustment", member, amount, lot=lot))
            self.expect_balance(out, member)
        elif not m.covers(member, -amount, now):
            self.expect(out, 422, "insufficient_points")
        else:
            self.expect(out, 201)
            taken = m.take(member, -amount, now, hold=False)
            m.acc(member).balance += amount
            m.txns.append(MTxn(out.body["id"], "adjustment", member, -amount, spent=dict(taken)))
            self.expect_balance(out, member)
        m.settle(member)

    def transfer(self, pair: tuple[str, str], percent: int) -> None:
        sender, receiver = pair
        now = self.tick()
        self.model.lock(receiver, now)
        amount = self.spend_amount(sender, percent, now)
        m = self.model
        out = self.send(
            self.at_now(ledger.transfer),
            TransferIn(
                idempotency_key=self.key(), from_member=sender, to_member=receiver, amount=amount
            ),
        )
        m.lock(sender, now)
        m.lock(receiver, now)
        if not m.covers(sender, amount, now):
            self.expect(out, 422, "insufficient_points")
        else:
            self.expect(out, 201)
            # The receiver's new lots keep the expiry dates of the sender's lots they came from.
            for lot, part in m.take(sender, amount, now, hold=False):
                m.new_lot(receiver, part, now, lot.expires_at)
            m.acc(sender).balance -= amount
            m.acc(receiver).balance += amount
            m.transfers.append(out.body["id"])
            self.expect_balance(out, sender)
        m.settle(sender)
        m.settle(receiver)

    # time, jobs, sealing, replays

    def advance(self, seconds: int) -> bool:
        self.clock.advance(timedelta(seconds=seconds))
        return False  # nothing changed yet

    def advance_to_deadline(self, pick: int, offset: int) -> bool:
        """Move the clock so that the next operation happens exactly at (``offset`` 0) or a
        second before one of the next three hold time-outs or lot expiries."""
        m, soon = self.model, self.clock.now() + TICK
        times = {h.expires_at for h in m.holds if h.status == "active"}
        times |= {
            lot.expires_at
            for a in m.accounts.values()
            for lot in a.lots
            if lot.remaining > 0 and lot.expires_at is not None
        }
        deadlines = sorted(t for t in times if t > soon)[:3]
        if deadlines:
            self.clock.set(deadlines[pick % len(deadlines)] + timedelta(seconds=offset) - TICK)
        return False

    def run_job(self, job: str) -> None:
        now = self.tick()
        m = self.model
        while True:
            if job == "holds":
                todo = {h.member for h in m.holds if h.status == "active" and h.expires_at <= now}
            else:
                todo = {
                    lot.member
                    for a in m.accounts.values()
                    for lot in a.lots
                    if lot.free > 0 and lot.due(now)
                }
            if not todo:
                break
            for member in todo:
                m.lock(member, now)
                m.settle(member)
        self.run(run_job(job, self.sessionmaker, self.clock, program_id=self.ctx.id))

    def seal(self) -> None:
        now = self.tick()
        self.write(lambda s: chain.seal(s, self.ctx.id, now=now))

    def replay(self, pick: int, conflict: bool) -> None:
        """A request sent again under its key gets its first outcome and changes nothing; a
        different request under that key is a conflict."""
        self.tick()
        sent = self.sent[pick % len(self.sent)]
        request = sent.request
        if conflict:
            request = request.model_copy(update={"reason": "something else"})
        out = self.write(lambda s: sent.call(s, request))
        if conflict:
            self.expect(out, 409, "idempotency_conflict")
        else:
            assert out.replayed
            assert (out.status, out.body) == (sent.outcome.status, sent.outcome.body)

    # after every operation

    def check(self) -> None:
        pid = self.ctx.id

        async def read(s: AsyncSession) -> tuple[Any, ...]:
            report = await verify(s, pid)
            accounts = (
                await s.execute(
                    select(Member.external_id, Account.balance, Account.held)
                    .join(Member, Member.id == Account.member_id)
                    .where(Account.program_id == pid, Account.asset == ASSET)
                )
            ).all()
            lots = (
                await s.execute(
                    select(
                        Member.external_id,
                        Lot.earned_at,
                        Lot.expires_at,
                        Lot.amount,
                        Lot.remaining,
                        Lot.held,
                        Lot.expired,
                    )
                    .join(Member, Member.id == Lot.member_id)
                    .where(Lot.program_id == pid)
                )
            ).all()
            holds = (
                await s.execute(
                    select(Hold.id, Hold.status, Hold.captured).where(Hold.program_id == pid)
                )
            ).all()
            return report, accounts, lots, holds

        report, accounts, lots, holds = self.write(read)
        assert report.ok, "\n".join(str(b) for b in report.breaches)
        m = self.model
        stored = {ext: (balance, held) for ext, balance, held in accounts}
        assert stored == {ext: (a.balance, a.held) for ext, a in m.accounts.items()}
        # Lots that tie on (earned, expiry) are interchangeable, so compare their sums.
        got: dict[tuple[Any, ...], list[int]] = {}
        for ext, earned, expires, *amounts in lots:
            sums = got.setdefault((ext, earned, expires), [0, 0, 0, 0])
            for i, v in enumerate(amounts):
                sums[i] += v
        want: dict[tuple[Any, ...], list[int]] = {}
        for ext, a in m.accounts.items():
            for lot in a.lots:
                sums = want.setdefault((ext, lot.earned_at, lot.expires_at), [0, 0, 0, 0])
                for i, v in enumerate((lot.amount, lot.remaining, lot.held, lot.expired)):
                    sums[i] += v
        assert got == want
        assert {str(i): (status, c) for i, status, c in holds} == {
            h.id: (h.status, h.captured) for h in m.holds
        }


def test_ledger_matches_model(db_url: str) -> None:
    engine = make_engine(db_url, pool_size=2)
    sessionmaker = make_sessionmaker(engine)
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:

        @settings(
            max_examples=20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            print_blob=True,
        )
        @example(  # a reversed spend refills a spent-out lot of a member in debt
            policy="allow",
            opening=[100, 1, 1],
            ops=[
                ("debit", {"member": "m0", "percent": 10}),
                ("reverse_earn", {"pick": 0, "fresh": True, "mode": "full", "percent": 1}),
                ("reverse_spend", {"pick": 0, "fresh": True, "mode": "full", "percent": 1}),
            ],
        )
        @example(  # a refund of spent points under the loss policy books the rest to loss
            policy="loss",
            opening=[100, 1, 1],
            ops=[
                ("debit", {"member": "m0", "percent": 80}),
                ("reverse_earn", {"pick": 0, "fresh": True, "mode": "part", "percent": 50}),
                ("reverse_earn", {"pick": 0, "fresh": True, "mode": "full", "percent": 1}),
            ],
        )
        @example(  # reversals after expiry: to the expiry account, and back out of it
            policy="allow",
            opening=[100, 50, 1],
            ops=[
                ("debit", {"member": "m0", "percent": 50}),
                ("advance", {"seconds": 400 * 86400}),
                ("run_job", {"job": "expire"}),
                ("reverse_spend", {"pick": 0, "fresh": True, "mode": "full", "percent": 1}),
                ("reverse_earn", {"pick": 1, "fresh": True, "mode": "full", "percent": 1}),
            ],
        )
        @example(  # a hold lapses after the lot it held expired: the points expire at once
            policy="loss",
            opening=[100, 1, 1],
            ops=[
                ("advance", {"seconds": 350 * 86400}),
                ("hold", {"member": "m0", "percent": 100, "timeout": 30 * 86400}),
                ("advance", {"seconds": 40 * 86400}),
                ("debit", {"member": "m0", "percent": 10}),
            ],
        )
        @example(  # a part reversal gives back to the latest-expiring lot first
            policy="allow",
            opening=[100, 1, 1],
            ops=[
                ("advance", {"seconds": 40 * 86400}),
                ("credit", {"member": "m0", "amount": 100}),
                ("debit", {"member": "m0", "percent": 75}),
                ("reverse_spend", {"pick": 0, "fresh": True, "mode": "part", "percent": 40}),
                ("advance", {"seconds": 340 * 86400}),
                ("run_job", {"job": "expire"}),
            ],
        )
        @example(  # a hold lapses at its time-out exactly, not a second later
            policy="allow",
            opening=[100, 1, 1],
            ops=[
                ("hold", {"member": "m0", "percent": 50, "timeout": 2 * 86400}),
                ("capture", {"pick": 0, "live": True, "part": 50, "when": -1}),
                ("hold", {"member": "m0", "percent": 50, "timeout": 2 * 86400}),
                ("capture", {"pick": 1, "live": True, "part": None, "when": 0}),
                ("hold", {"member": "m1", "percent": 100, "timeout": 2 * 3600}),
                ("advance", {"seconds": 3 * 3600}),
                ("run_job", {"job": "holds"}),
            ],
        )
        @given(
            policy=st.sampled_from(["allow", "loss"]),
            opening=st.lists(st.integers(1, 1000), min_size=3, max_size=3),
            ops=st.lists(OPERATIONS, min_size=15, max_size=45),
        )
        def scenario(policy: str, opening: list[int], ops: list[Op]) -> None:
            Scenario(runner, sessionmaker, policy, opening).play(ops)

        try:
            scenario()
        finally:
            runner.run(engine.dispose())
