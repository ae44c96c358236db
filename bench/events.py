"""Event ingestion throughput with 20 active rules, beside the raw write limit of the same rows.

For each backend (SQLite in a temporary file, PostgreSQL in a fresh database) and batch size
(1 and 1,000 events per request/transaction) this ingests events through
``jifen.events.service.ingest`` (rules evaluated, counters kept, ledger written) for a few
seconds, then measures the raw limit: the very rows that ingestion wrote (events, ledger
transactions, postings, lots, outbox, counters) copied into empty tables of the same shape with
no logic (``COPY`` on PostgreSQL, one ``executemany`` per table on SQLite). One JSON object per
line::

    {"bench": "events.ingest", "backend": "postgresql", "batch": 1000, "n": ...,
     "ops_per_s": ..., "raw_per_s": ..., "pct_of_raw": ..., "payouts_per_event": ...}

Run with ``.venv/bin/python bench/events.py`` (or ``make bench``); ``... events.py sqlite`` or
``postgresql`` runs one backend. PostgreSQL comes from ``JIFEN_BENCH_PG_URL`` (a server URL; a
fresh database is created on it and dropped afterwards), default the local server.
``JIFEN_BENCH_SECONDS`` (default 4) sets how long each measurement runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.api.combiner import WriteCombiner
from jifen.api.deps import Db
from jifen.clock import FixedClock
from jifen.db.engine import make_engine, make_sessionmaker
from jifen.db.migrate import upgrade
from jifen.events import service as events
from jifen.events.schemas import EventIn
from jifen.kit.runtime import tune_gc
from jifen.programs import service as programs
from jifen.programs.context import ProgramContext, to_context
from jifen.programs.schemas import ProgramCreate
from jifen.rules import service as rules

SECONDS = float(os.environ.get("JIFEN_BENCH_SECONDS", "4"))
PG_URL = os.environ.get("JIFEN_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MEMBERS = 1000
CLIENTS = 32  # concurrent single-event clients (see measure_concurrent)
TABLES = ("events", "ledger_transactions", "postings", "lots", "outbox_messages", "counters")
TYPES = (
    "check_in", "purchase", "message_posted", "share", "login",
    "content_published", "review_posted", "invite_accepted", "profile_completed", "task_done",
)  # fmt: skip


def rule_set() -> list[dict[str, Any]]:
    """20 rules, two per event type, in the shapes operators write: fixed, per yuan with tier
    multipliers, daily caps, a ladder, a condition on the event's attributes or counts."""
    out: list[dict[str, Any]] = []
    for i, t in enumerate(TYPES):
        base: dict[str, Any] = {"trigger": t, "tier_multipliers": {"silver": "1.2", "gold": "1.5"}}
        if t == "purchase":
            first = {"amount": {"per_unit": {"attribute": "amount", "unit": 100, "rate": "1"}}}
        elif t == "invite_accepted":
            first = {
                "amount": {
                    "ladder": [{"from": 1, "to": 3, "amount": 10}, {"from": 4, "amount": 20}]
                }
            }
        else:
            first = {"amount": {"fixed": 2 + i}}
        out.append(
            {
                **base,
                "id": f"{t}-base",
                "name": f"{t} base",
                "effects": [first],
                "limits": [{"window": "day", "max_amount": 500}],
            }
        )
        out.append(
            {
                **base,
                "id": f"{t}-bonus",
                "name": f"{t} bonus",
                "condition": "counts.today == 1 && event.attributes.channel == 'app'",
                "effects": [{"asset": "growth", "amount": {"fixed": 5}}],
            }
        )
    return out


def make_events(prefix: str, n: int, now: datetime) -> list[EventIn]:
    return [
        EventIn(
            client_id=f"{prefix}-{i}",
            type=TYPES[i % len(TYPES)],
            member=f"m{(i * 7919) % MEMBERS:05d}",
            occurred_at=now,
            attributes={
                "amount": 2990 + i % 500,
                "channel": "app" if i % 3 else "web",
                "order_id": f"{prefix}-o{i}",
            },
        )
        for i in range(n)
    ]


async def setup(sm: async_sessionmaker[AsyncSession], now: datetime) -> ProgramContext:
    async with sm() as s, s.begin():
        program = await programs.create_program(
            s,
            ProgramCreate(id=f"bench-{secrets.token_hex(3)}", name="bench"),
            now=now,
            actor="bench",
        )
        ctx = to_context(program)
        await rules.save_many(s, ctx, rule_set(), now=now - timedelta(days=1), actor="bench")
    # Members exist and have some history, as in a running program.
    async with sm() as s, s.begin():
        await events.ingest(s, ctx, make_events("warm", MEMBERS, now), now=now)
    return ctx


async def measure(
    sm: async_sessionmaker[AsyncSession], ctx: ProgramContext, batch: int, now: datetime, tag: str
) -> tuple[int, float, int]:
    n = payouts = 0
    start = time.perf_counter()
    round_ = 0
    while time.perf_counter() - start < SECONDS:
        evs = make_events(f"{tag}-{round_}", batch, now)
        async with sm() as s, s.begin():
            results = await events.ingest(s, ctx, evs, now=now)
        payouts += sum(len(r.postings) for r in results)
        n += batch
        round_ += 1
    return n, time.perf_counter() - start, payouts


def raw_postgres(url: str, program_id: str, since: datetime, n_events: int) -> float:
    """COPY the rows the measured run wrote into empty look-alike tables; events per second."""
    with psycopg.connect(url) as conn:
        dumps: dict[str, bytes] = {}
        for t in TABLES:
            where = _since_clause(t)
            buf = bytearray()
            with conn.cursor().copy(
                f"COPY (SELECT * FROM {t} WHERE program_id = %s AND {where}) TO STDOUT",
                (program_id, since),
            ) as cp:
                for chunk in cp:
                    buf += chunk
            dumps[t] = bytes(buf)
            conn.execute(f"CREATE TEMP TABLE raw_{t} (LIKE {t} INCLUDING DEFAULTS)")
        conn.commit()
        start = time.perf_counter()
        with conn.transaction():
            for t in TABLES:
                with conn.cursor().copy(f"COPY raw_{t} FROM STDIN") as cp:
                    cp.write(dumps[t])
        return n_events / (time.perf_counter() - start)


def raw_sqlite(path: str, program_id: str, since: datetime, n_events: int) -> float:
    conn = sqlite3.connect(path)
    try:
        rows: dict[str, list[tuple[Any, ...]]] = {}
        for t in TABLES:
            since_value = since.replace(tzinfo=None).isoformat(sep=" ")
            rows[t] = conn.execute(
                f"SELECT * FROM {t} WHERE program_id = ? AND {_since_clause(t, '?')}",
                (program_id, since_value),
            ).fetchall()
            conn.execute(f"CREATE TEMP TABLE raw_{t} AS SELECT * FROM {t} WHERE 0")
        start = time.perf_counter()
        with conn:
            for t in TABLES:
                if rows[t]:
                    marks = ", ".join("?" * len(rows[t][0]))
                    conn.executemany(f"INSERT INTO raw_{t} VALUES ({marks})", rows[t])
        return n_events / (time.perf_counter() - start)
    finally:
        conn.close()


def _since_clause(table: str, mark: str = "%s") -> str:
    # Rows written by the measured run: everything created at or after it started. Counters
    # have no timestamp; all of the program's counters are taken (a slight over-count).
    column = {
        "events": "received_at",
        "ledger_transactions": "created_at",
        "outbox_messages": "created_at",
        "lots": "earned_at",
        "postings": None,
        "counters": None,
    }[table]
    if table == "postings":
        return f"transaction_id IN (SELECT id FROM ledger_transactions WHERE created_at >= {mark})"
    if column is None:
        return f"({mark} IS NOT NULL)"
    return f"{column} >= {mark}"


async def measure_concurrent(
    sm: async_sessionmaker[AsyncSession], ctx: ProgramContext, now: datetime, clients: int
) -> tuple[int, float, int, int]:
    """``clients`` coroutines each sending one event at a time, as API clients of
    ``POST /v1/events`` do, through the group commit the API uses (no HTTP)."""
    combiner = WriteCombiner(Db(sm, FixedClock(now)).write, lambda: now)
    stop = time.perf_counter() + SECONDS
    sent = payouts = 0

    async def client(c: int) -> None:
        nonlocal sent, payouts
        i = 0
        while time.perf_counter() < stop:
            (e,) = make_events(f"cc{c}-{i}", 1, now)
            e = e.model_copy(update={"member": f"m{(c * 31 + i * 7) % MEMBERS:05d}"})
            result = await combiner.event(ctx, e)
            payouts += len(result.postings)
            sent += 1
            i += 1

    start = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    return sent, time.perf_counter() - start, payouts, combiner.batches


async def run_backend(name: str, url: str, raw: Any) -> None:
    engine = make_engine(url, pool_size=2)
    sm = make_sessionmaker(engine)
    try:
        for batch in (1, 1000):
            # A fresh program and clock per measurement, so only this run's rows are copied.
            now = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=batch)
            ctx = await setup(sm, now - timedelta(seconds=1))
            n, elapsed, payouts = await measure(sm, ctx, batch, now, f"b{batch}")
            raw_per_s = raw(ctx.id, now, n)
            ops = n / elapsed
            print(
                json.dumps(
                    {
                        "bench": "events.ingest",
                        "backend": name,
                        "batch": batch,
                        "n": n,
                        "ops_per_s": round(ops),
                        "raw_per_s": round(raw_per_s),
                        "pct_of_raw": round(100 * ops / raw_per_s, 1),
                        "payouts_per_event": round(payouts / n, 2),
                        "rules": 20,
                    }
                ),
                flush=True,
            )
        # Single events from many clients at once, committed together.
        now = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
        ctx = await setup(sm, now - timedelta(seconds=1))
        n, elapsed, payouts, batches = await measure_concurrent(sm, ctx, now, CLIENTS)
        raw_per_s = raw(ctx.id, now, n)
        ops = n / elapsed
        print(
            json.dumps(
                {
                    "bench": "events.ingest.concurrent_single",
                    "backend": name,
                    "batch": 1,
                    "clients": CLIENTS,
                    "n": n,
                    "ops_per_s": round(ops),
                    "raw_per_s": round(raw_per_s),
                    "pct_of_raw": round(100 * ops / raw_per_s, 1),
                    "mean_batch": round(n / max(batches, 1), 1),
                    "payouts_per_event": round(payouts / n, 2),
                    "rules": 20,
                }
            ),
            flush=True,
        )
    finally:
        await engine.dispose()


def main() -> None:
    tune_gc()  # as `jifen serve` and `jifen worker` do
    only = sys.argv[1] if len(sys.argv) > 1 else None
    if only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "bench.db")
            url = f"sqlite+aiosqlite:///{path}"
            upgrade(url)
            asyncio.run(
                run_backend("sqlite", url, lambda pid, since, n: raw_sqlite(path, pid, since, n))
            )
    if only in (None, "postgresql"):
        name = f"jifen_bench_events_{secrets.token_hex(3)}"
        try:
            admin = psycopg.connect(PG_URL, autocommit=True)
        except psycopg.OperationalError:
            print(
                json.dumps(
                    {"bench": "events.ingest", "backend": "postgresql", "skipped": "no server"}
                )
            )
            return
        with admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
        try:
            upgrade(url)
            asyncio.run(
                run_backend(
                    "postgresql", url, lambda pid, since, n: raw_postgres(url, pid, since, n)
                )
            )
        finally:
            with psycopg.connect(PG_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
