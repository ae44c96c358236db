"""Crash safety: a writer killed with SIGKILL in the middle of a stream of ledger writes leaves
a ledger that verifies, holding exactly a prefix of the stream; replaying the whole stream
under the same keys then applies every operation exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select

from jifen.clock import FixedClock
from jifen.db.engine import make_engine, make_sessionmaker
from jifen.db.migrate import upgrade
from jifen.kit.idempotency_models import IdempotencyRecord
from jifen.ledger.models import Account, LedgerTransaction
from jifen.ledger.verify import VerifyReport, verify
from jifen.members.models import Member
from tests.conftest import START, make_program
from tests.ledger.crash_writer import MEMBER, balance_after, stream

pytestmark = pytest.mark.slow

T = TypeVar("T")
WRITER = Path(__file__).with_name("crash_writer.py")
JIFEN = Path(sys.executable).with_name("jifen")
COUNT = 300
KILL_AFTER = 40  # commits seen before the kill


def run(coro: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        return runner.run(coro)


@pytest.fixture
def crash_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database of its own on SQLite (a file the writer dies holding), the test database on
    PostgreSQL (a killed client only loses its connection)."""
    if backend == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    url = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
    upgrade(url)
    return url


def _new_program(url: str) -> str:
    async def go() -> str:
        engine = make_engine(url, pool_size=1)
        try:
            return (await make_program(make_sessionmaker(engine), FixedClock(START))).id
        finally:
            await engine.dispose()

    return run(go())


def _state(url: str, pid: str) -> tuple[set[str], int, int, VerifyReport]:
    """Stored idempotency keys, the number of keyed transactions, the member's balance, and
    the verify report."""

    async def go() -> tuple[set[str], int, int, VerifyReport]:
        engine = make_engine(url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as s, s.begin():
                keys = set(
                    (
                        await s.scalars(
                            select(IdempotencyRecord.key).where(IdempotencyRecord.program_id == pid)
                        )
                    ).all()
                )
                txns = await s.scalar(
                    select(func.count()).where(
                        LedgerTransaction.program_id == pid,
                        LedgerTransaction.idempotency_key.is_not(None),
                    )
                )
                balance = await s.scalar(
                    select(Account.balance)
                    .join(Member, Member.id == Account.member_id)
                    .where(
                        Account.program_id == pid,
                        Member.external_id == MEMBER,
                        Account.asset == "points",
                    )
                )
                return keys, int(txns or 0), int(balance or 0), await verify(s, pid)
        finally:
            await engine.dispose()

    return run(go())


def _cli_verify(url: str, pid: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JIFEN_DATABASE_URL": url}
    return subprocess.run(
        [str(JIFEN), "ledger", "verify", "--program", pid],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_killed_writer_then_replay_applies_every_operation_once(crash_url: str) -> None:
    pid = _new_program(crash_url)
    ops = stream(COUNT)
    writer = subprocess.Popen(
        [sys.executable, str(WRITER), crash_url, pid, str(COUNT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    for seen, _ in enumerate(writer.stdout, start=1):
        if seen == KILL_AFTER:
            writer.send_signal(signal.SIGKILL)
            break
    _, stderr = writer.communicate(timeout=30)
    assert writer.returncode == -signal.SIGKILL, f"the writer was not killed mid-stream: {stderr}"

    # What survived the crash is a prefix of the stream, each operation whole.
    keys, txns, balance, report = _state(crash_url, pid)
    committed = len(keys)
    assert KILL_AFTER <= committed < COUNT
    assert keys == {key for _, key, _ in ops[:committed]}
    assert txns == committed
    assert balance == balance_after(ops[:committed])
    assert report.ok, report.breaches

    # Replaying the whole stream: the committed part answers from its keys, the rest applies.
    replay = subprocess.run(
        [sys.executable, str(WRITER), crash_url, pid, str(COUNT)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert replay.returncode == 0, replay.stderr
    lines = replay.stdout.split()
    assert lines[0::2] == [str(i) for i in range(COUNT)]
    assert lines[1::2] == ["replayed"] * committed + ["applied"] * (COUNT - committed)

    keys, txns, balance, report = _state(crash_url, pid)
    assert keys == {key for _, key, _ in ops}
    assert txns == COUNT
    assert balance == balance_after(ops)
    assert report.ok, report.breaches
    # The command line agrees, after sealing everything into the chain.
    result = _cli_verify(crash_url, pid)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"program {pid}: OK: {COUNT} transactions ({COUNT} sealed)" in result.stdout
