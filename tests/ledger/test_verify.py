"""Tamper evidence (``jifen.ledger.verify`` and ``jifen ledger verify``) and expiry dates.

Each tamper test changes one stored value with a direct SQL UPDATE, checks that verify names
what was changed, then puts the value back and checks that verify is clean again (so the shared
test database is left as it was, and the breach is shown to come from that one change).
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.clock import FixedClock
from jifen.ledger import chain, expiry
from jifen.ledger import service as ledger
from jifen.ledger.models import Account, LedgerTransaction, Posting
from jifen.ledger.schemas import CreditIn, DebitIn, HoldIn
from jifen.ledger.verify import Breach, VerifyReport, verify
from jifen.members.models import Member
from jifen.programs.context import ProgramContext
from jifen.programs.schemas import ExpiryPolicy, ProgramSettings
from tests.conftest import make_program

JIFEN = Path(sys.executable).with_name("jifen")


# --- tampering ---------------------------------------------------------------------------------


async def _history(
    sessionmaker: async_sessionmaker[AsyncSession], program: ProgramContext, clock: FixedClock
) -> uuid.UUID:
    """A little history: credits, a debit and a hold. Returns the id of u1's credit."""
    now = clock.now()
    async with sessionmaker() as s, s.begin():
        [c1, c2] = await ledger.credit(
            s,
            program,
            [
                CreditIn(idempotency_key="c1", member="u1", amount=100),
                CreditIn(idempotency_key="c2", member="u2", amount=50),
            ],
            now=now,
        )
        [d] = await ledger.debit(
            s, program, [DebitIn(idempotency_key="d1", member="u1", amount=30)], now=now
        )
        [h] = await ledger.hold(
            s, program, [HoldIn(idempotency_key="h1", member="u2", amount=20)], now=now
        )
    assert [o.status for o in (c1, c2, d, h)] == [201, 201, 201, 201]
    return uuid.UUID(c1.body["id"])


async def _verify(sessionmaker: async_sessionmaker[AsyncSession], pid: str) -> VerifyReport:
    async with sessionmaker() as s, s.begin():
        return await verify(s, pid)


async def _seal(
    sessionmaker: async_sessionmaker[AsyncSession], pid: str, clock: FixedClock
) -> None:
    async with sessionmaker() as s, s.begin():
        assert await chain.seal(s, pid, now=clock.now()) > 0


async def _account(sessionmaker: async_sessionmaker[AsyncSession], pid: str, member: str) -> Any:
    async with sessionmaker() as s, s.begin():
        return (
            await s.execute(
                select(Account.id, Account.member_id)
                .join(Member, Member.id == Account.member_id)
                .where(
                    Account.program_id == pid,
                    Member.external_id == member,
                    Account.asset == "points",
                )
            )
        ).one()


@asynccontextmanager
async def _tampered(
    sessionmaker: async_sessionmaker[AsyncSession], change: Any, undo: Any
) -> AsyncIterator[None]:
    """Apply an UPDATE for the duration of the block; undo it (and prove it undone) after."""
    async with sessionmaker() as s, s.begin():
        assert (await s.execute(change)).rowcount >= 1
    try:
        yield
    finally:
        async with sessionmaker() as s, s.begin():
            await s.execute(undo)


def _breaches(report: VerifyReport) -> set[tuple[str, str]]:
    return {(b.check, b.subject) for b in report.breaches}


@pytest.fixture
async def history(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FixedClock, program: ProgramContext
) -> uuid.UUID:
    txn = await _history(sessionmaker, program, clock)
    report = await _verify(sessionmaker, program.id)
    assert report.ok, report.breaches
    assert report.transactions == 3
    return txn


async def test_changed_posting_amount_names_transaction_and_account(
    sessionmaker: async_sessionmaker[AsyncSession],
    program: ProgramContext,
    history: uuid.UUID,
) -> None:
    acc_id, member_id = await _account(sessionmaker, program.id, "u1")
    member_leg = (Posting.transaction_id == history) & Posting.member_id.is_not(None)
    async with _tampered(
        sessionmaker,
        update(Posting).where(member_leg).values(amount=Posting.amount + 1),
        update(Posting).where(member_leg).values(amount=Posting.amount - 1),
    ):
        report = await _verify(sessionmaker, program.id)
        assert not report.ok
        assert _breaches(report) == {
            ("content_hash", f"transaction {history}"),
            ("transaction_balanced", f"transaction {history}"),
            ("conservation", "asset points"),
            ("balance_equals_postings", f"account {acc_id} (member {member_id}, points)"),
        }
        [balanced] = [b for b in report.breaches if b.check == "transaction_balanced"]
        assert balanced.detail == "points postings sum to 1"
    assert (await _verify(sessionmaker, program.id)).ok


async def test_changed_stored_balance_names_the_account(
    sessionmaker: async_sessionmaker[AsyncSession],
    program: ProgramContext,
    history: uuid.UUID,
) -> None:
    acc_id, member_id = await _account(sessionmaker, program.id, "u2")
    async with _tampered(
        sessionmaker,
        update(Account).where(Account.id == acc_id).values(balance=Account.balance + 5),
        update(Account).where(Account.id == acc_id).values(balance=Account.balance - 5),
    ):
        report = await _verify(sessionmaker, program.id)
        assert (
            Breach(
                "balance_equals_postings",
                f"account {acc_id} (member {member_id}, points)",
                "stored balance 55, postings sum to 50",
            )
            in report.breaches
        )
        # The lots no longer add up to the (tampered) balance either; nothing else is wrong.
        assert _breaches(report) == {
            ("balance_equals_postings", f"account {acc_id} (member {member_id}, points)"),
            ("lots_equal_balance", f"account {acc_id}"),
        }
    assert (await _verify(sessionmaker, program.id)).ok


async def test_changed_hash_of_sealed_transaction_breaks_the_chain(
    sessionmaker: async_sessionmaker[AsyncSession],
    program: ProgramContext,
    clock: FixedClock,
    history: uuid.UUID,
) -> None:
    await _seal(sessionmaker, program.id, clock)
    report = await _verify(sessionmaker, program.id)
    assert report.ok
    assert report.sealed == 3
    async with sessionmaker() as s, s.begin():
        original = await s.scalar(
            select(LedgerTransaction.content_hash).where(LedgerTransaction.id == history)
        )
    assert original is not None
    row = LedgerTransaction.id == history
    async with _tampered(
        sessionmaker,
        update(LedgerTransaction).where(row).values(content_hash="0" * 64),
        update(LedgerTransaction).where(row).values(content_hash=original),
    ):
        report = await _verify(sessionmaker, program.id)
        assert ("chain", f"transaction {history}") in _breaches(report)
        assert ("content_hash", f"transaction {history}") in _breaches(report)
        assert {b.check for b in report.breaches} == {"chain", "content_hash"}
    assert (await _verify(sessionmaker, program.id)).ok


async def _cli_verify(db_url: str, pid: str) -> tuple[int, str]:
    env = {**os.environ, "JIFEN_DATABASE_URL": db_url, "COLUMNS": "300"}
    proc = await asyncio.create_subprocess_exec(
        str(JIFEN),
        "ledger",
        "verify",
        "--program",
        pid,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_cli_exits_1_and_prints_the_breach(
    sessionmaker: async_sessionmaker[AsyncSession],
    program: ProgramContext,
    db_url: str,
    history: uuid.UUID,
) -> None:
    row = LedgerTransaction.id == history
    async with _tampered(
        sessionmaker,
        update(LedgerTransaction).where(row).values(amount=LedgerTransaction.amount + 900),
        update(LedgerTransaction).where(row).values(amount=LedgerTransaction.amount - 900),
    ):
        code, out = await _cli_verify(db_url, program.id)
        assert code == 1, out
        assert f"program {program.id}: FAILED (1 breaches)" in out
        assert (
            f"content_hash: transaction {history}: the transaction or its postings changed" in out
        )
    code, out = await _cli_verify(db_url, program.id)
    assert code == 0, out
    assert f"program {program.id}: OK: 3 transactions (3 sealed)" in out


# --- expiry dates ------------------------------------------------------------------------------


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _rolling(months: int, tz: str = "Asia/Shanghai") -> ProgramSettings:
    return ProgramSettings(timezone=tz, expiry=ExpiryPolicy(kind="rolling", months=months))


def test_rolling_expiry_ends_at_local_midnight_after_the_last_day() -> None:
    # Earned 2026-03-15 12:00 in Shanghai: usable through 2028-03-15, Shanghai time.
    assert expiry.expires_at(_rolling(24), _utc(2026, 3, 15, 4)) == _utc(2028, 3, 15, 16)
    # Month ends clamp: a month after 31 January is the last day of February.
    assert expiry.expires_at(_rolling(1), _utc(2026, 1, 31, 4)) == _utc(2026, 2, 28, 16)
    assert expiry.expires_at(_rolling(12), _utc(2028, 2, 29, 4)) == _utc(2029, 2, 28, 16)


def test_fixed_expiry_is_the_end_of_the_next_local_year() -> None:
    fixed = ProgramSettings(expiry=ExpiryPolicy(kind="fixed", years_after=1))
    end_of_2027 = _utc(2027, 12, 31, 16)  # 2028-01-01 00:00 in Shanghai
    assert expiry.expires_at(fixed, _utc(2026, 1, 1, 0)) == end_of_2027
    assert expiry.expires_at(fixed, _utc(2026, 6, 1, 4)) == end_of_2027
    # 2026-12-31 23:30 in Shanghai is still 2026 there...
    assert expiry.expires_at(fixed, _utc(2026, 12, 31, 15, 30)) == end_of_2027
    # ...and 00:10 the next morning is 2027 there, though still 2026 in UTC.
    assert expiry.expires_at(fixed, _utc(2026, 12, 31, 16, 10)) == _utc(2028, 12, 31, 16)
    same_year = ProgramSettings(expiry=ExpiryPolicy(kind="fixed", years_after=0))
    assert expiry.expires_at(same_year, _utc(2026, 6, 1, 4)) == _utc(2026, 12, 31, 16)


def test_no_expiry_policy_never_expires() -> None:
    assert expiry.expires_at(ProgramSettings(), _utc(2026, 6, 1)) is None


def test_earned_a_minute_either_side_of_shanghai_midnight_expire_a_day_apart() -> None:
    # 23:59 and 00:01 in Shanghai fall on the same UTC day (15:59 and 16:01 UTC).
    before = expiry.expires_at(_rolling(12), _utc(2026, 3, 15, 15, 59))
    after = expiry.expires_at(_rolling(12), _utc(2026, 3, 15, 16, 1))
    assert before == _utc(2027, 3, 15, 16)  # 2027-03-16 00:00 in Shanghai
    assert after == _utc(2027, 3, 16, 16)  # 2027-03-17 00:00 in Shanghai


def test_expiry_in_a_zone_with_daylight_saving_time() -> None:
    ny = _rolling(12, "America/New_York")
    # Clocks go forward on 2026-03-08: midnight opening that day is EST, the next one EDT.
    spring_a = expiry.expires_at(ny, _utc(2025, 3, 7, 17))  # noon EST on 7 March 2025
    spring_b = expiry.expires_at(ny, _utc(2025, 3, 8, 17))
    assert spring_a == _utc(2026, 3, 8, 5)
    assert spring_b == _utc(2026, 3, 9, 4)
    assert spring_b - spring_a == timedelta(hours=23)
    # Clocks go back on 2026-11-01: that local day lasts 25 hours.
    fall_a = expiry.expires_at(ny, _utc(2025, 10, 31, 16))
    fall_b = expiry.expires_at(ny, _utc(2025, 11, 1, 16))
    assert fall_a == _utc(2026, 11, 1, 4)
    assert fall_b == _utc(2026, 11, 2, 5)
    assert fall_b - fall_a == timedelta(hours=25)
    # 01:30 happens twice on 2026-11-01 (EDT, then EST): the same local day, the same expiry.
    first = expiry.expires_at(ny, _utc(2026, 11, 1, 5, 30))
    second = expiry.expires_at(ny, _utc(2026, 11, 1, 6, 30))
    assert first == second == _utc(2027, 11, 2, 4)  # 2027-11-02 00:00 EDT


async def test_points_are_spendable_through_the_last_local_day(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    """Earned at 23:59 Shanghai time with a 24-month policy: still there at 23:59:59 on the
    last day, expired at midnight."""
    program = await make_program(sessionmaker, clock, _rolling(24))
    clock.set(_utc(2026, 3, 15, 15, 59))
    async with sessionmaker() as s, s.begin():
        [c] = await ledger.credit(
            s, program, [CreditIn(idempotency_key="c", member="u1", amount=10)], now=clock.now()
        )
    expires = _utc(2028, 3, 15, 16)
    assert datetime.fromisoformat(c.body["lot_expires_at"]) == expires

    async def spend(key: str, at: datetime) -> int:
        async with sessionmaker() as s, s.begin():
            [out] = await ledger.debit(
                s, program, [DebitIn(idempotency_key=key, member="u1", amount=4)], now=at
            )
        return out.status

    assert await spend("d1", expires - timedelta(seconds=1)) == 201
    assert await spend("d2", expires) == 422
    async with sessionmaker() as s, s.begin():
        balance = await s.scalar(
            select(Account.balance)
            .join(Member, Member.id == Account.member_id)
            .where(Account.program_id == program.id, Member.external_id == "u1")
        )
    assert balance == 0  # the 6 left expired when the second debit touched the account
    assert (await _verify(sessionmaker, program.id)).ok
