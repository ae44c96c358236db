"""The dispatcher under failure and concurrency: a worker killed with SIGKILL in the middle of
dispatching loses no message (a second run delivers everything, receivers de-duplicate on
``Jifen-Message-Id``), and two dispatchers at once deliver each message once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.clock import FixedClock, SystemClock, local_date
from jifen.db.engine import make_engine, make_sessionmaker
from jifen.db.migrate import upgrade
from jifen.ledger import service as ledger
from jifen.ledger.schemas import CreditIn
from jifen.members import service as members
from jifen.members.schemas import MemberUpsert
from jifen.notify import service as notify
from jifen.notify.models import OutboxMessage
from jifen.notify.schemas import NotificationSettingsIn
from jifen.webhooks import service as webhooks
from jifen.webhooks.dispatcher import DispatchConfig, run_until_idle
from jifen.webhooks.models import WebhookDelivery
from jifen.webhooks.schemas import WebhookIn
from tests.conftest import START, api_program, make_program
from tests.webhooks.helpers import key, webhook
from tests.webhooks.receiver import Receiver

JIFEN = Path(sys.executable).with_name("jifen")
MESSAGES = 20


@pytest.fixture
def crash_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database of its own on SQLite (a file the worker dies holding), the test database on
    PostgreSQL (a killed client only loses its connection)."""
    if backend == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    url = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
    upgrade(url)
    return url


@pytest.mark.slow
async def test_worker_killed_mid_dispatch_loses_no_message(crash_url: str, tmp_path: Path) -> None:
    engine = make_engine(crash_url, pool_size=4)
    sm = make_sessionmaker(engine)
    clock = FixedClock(START)
    try:
        ctx = await make_program(sm, clock)
        async with Receiver(delay=0.5) as rx:
            async with sm() as s, s.begin():
                await webhooks.create_endpoint(
                    s, ctx, WebhookIn(url=rx.url, events=["*"]), now=clock.now(), actor="test"
                )
                items = [
                    CreditIn(idempotency_key=f"c{i}", member=f"m{i % 4}", amount=10 + i)
                    for i in range(MESSAGES)
                ]
                await ledger.credit(s, ctx, items, now=clock.now())
            async with sm() as s:
                ids = set(
                    await s.scalars(
                        select(OutboxMessage.id).where(OutboxMessage.program_id == ctx.id)
                    )
                )
            assert len(ids) == MESSAGES

            log = (tmp_path / "worker.log").open("w")
            env = {**os.environ, "JIFEN_DATABASE_URL": crash_url, "JIFEN_LOG_LEVEL": "WARNING"}
            proc = await asyncio.create_subprocess_exec(
                str(JIFEN), "worker", "--no-jobs", "--batch", "5", "--dispatch-interval", "0.1",
                env=env, stdout=log, stderr=log,
            )  # fmt: skip
            try:
                async with asyncio.timeout(60):
                    while len(rx.requests) < 8:  # noqa: ASYNC110 - the 2nd batch is on the wire
                        await asyncio.sleep(0.02)
            finally:
                proc.send_signal(signal.SIGKILL)
                await proc.wait()
                log.close()
            before = len(rx.requests)
            async with sm() as s:
                states = Counter(
                    (status, token is not None)
                    for status, token in await s.execute(
                        select(WebhookDelivery.status, WebhookDelivery.lease_token).where(
                            WebhookDelivery.program_id == ctx.id
                        )
                    )
                )
            # Killed mid-dispatch: deliveries on the wire are leased, not recorded.
            assert states[("pending", True)] > 0, states
            assert sum(states.values()) < MESSAGES or states[("pending", False)] > 0, states

            rx.delay = 0
            # A second run once the dead worker's leases have run out.
            later = FixedClock(datetime.now(UTC) + timedelta(minutes=5))
            await run_until_idle(sm, later)
            seen = Counter(r.message_id for r in rx.requests)
            assert set(seen) == {str(i) for i in ids}  # every message, de-duplicated by id
            assert len(rx.requests) > before
            assert sum(seen.values()) >= MESSAGES
            async with sm() as s:
                done = dict(
                    (
                        await s.execute(
                            select(WebhookDelivery.status, func.count())
                            .where(WebhookDelivery.program_id == ctx.id)
                            .group_by(WebhookDelivery.status)
                        )
                    ).all()
                )
            assert done == {"delivered": MESSAGES}
    finally:
        await engine.dispose()


async def test_two_dispatchers_at_once_deliver_each_message_once(
    backend: str,
    client: httpx.AsyncClient,
    clock: FixedClock,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    if backend != "postgresql":
        pytest.skip("concurrent dispatchers: PostgreSQL (SQLite has one writer at a time)")
    _, h = await api_program(client)
    async with Receiver(delay=0.01) as rx:
        await webhook(client, h, rx.url, ["*"])
        items = [{"member": f"m{i % 8}", "amount": 5 + i, "idempotency_key": f"k{i}"}
                 for i in range(40)]  # fmt: skip
        r = await client.post("/v1/credits/batch", json={"items": items}, headers={**h, **key()})
        assert r.status_code == 200, r.text
        config = DispatchConfig(batch=4, fan_out_batch=4)  # many small claims, both steps
        a, b = await asyncio.gather(
            run_until_idle(sessionmaker, clock, config=config),
            run_until_idle(sessionmaker, clock, config=config),
        )
        ids = Counter(r.message_id for r in rx.requests)
        assert len(ids) == 40
        assert set(ids.values()) == {1}  # each message once
        assert a.attempts > 0
        assert b.attempts > 0  # both did part of the work


@pytest.mark.slow
async def test_worker_runs_jobs_and_dispatches_then_stops_on_sigterm(
    backend: str, crash_url: str, tmp_path: Path
) -> None:
    """One ``jifen worker`` process: the birthdays job pays a gift and its message reaches the
    webhook; SIGTERM ends the process cleanly. (The process, not the database, is under test:
    SQLite only, to keep the suite short.)"""
    if backend != "sqlite":
        pytest.skip("process behaviour: run once, on SQLite")
    engine = make_engine(crash_url, pool_size=2)
    sm = make_sessionmaker(engine)
    clock = SystemClock()
    try:
        ctx = await make_program(sm, FixedClock(clock.now()))
        today = local_date(clock.now(), ctx.settings.timezone)
        async with Receiver() as rx:
            async with sm() as s, s.begin():
                await webhooks.create_endpoint(
                    s, ctx, WebhookIn(url=rx.url, events=["birthday.*"]), now=clock.now(),
                    actor="test",
                )  # fmt: skip
                await notify.save_settings(
                    s, ctx, NotificationSettingsIn(birthday_points=88), now=clock.now(), actor="t"
                )
                await members.upsert(
                    s, ctx.id, "bday", MemberUpsert(birthday=today.replace(year=1990)),
                    now=clock.now(),
                )  # fmt: skip
            log = (tmp_path / "worker.log").open("w")
            env = {**os.environ, "JIFEN_DATABASE_URL": crash_url, "JIFEN_LOG_LEVEL": "WARNING"}
            proc = await asyncio.create_subprocess_exec(
                str(JIFEN), "worker", "--interval", "0.5", "--dispatch-interval", "0.1",
                env=env, stdout=log, stderr=log,
            )  # fmt: skip
            try:
                async with asyncio.timeout(60):
                    while not rx.ok:  # noqa: ASYNC110 - another process fills it
                        await asyncio.sleep(0.05)
                proc.send_signal(signal.SIGTERM)
                async with asyncio.timeout(20):
                    code = await proc.wait()
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
                log.close()
        assert code == 0, (tmp_path / "worker.log").read_text()
        [gift] = rx.requests
        assert gift.json["type"] == "birthday.gift"
        assert gift.json["text"] == "生日快乐!送您88积分"
        assert gift.json["data"]["amount"] == 88
    finally:
        await engine.dispose()
