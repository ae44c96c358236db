"""Tier re-evaluation of 1,000,000 members on PostgreSQL, beside a plain UPDATE of the same rows.

A fresh database is created on the server that ``JIFEN_BENCH_PG_URL`` connects to (default
``postgresql://postgres@127.0.0.1:5432/test``), migrated, and dropped at the end. One program
gets worked example 5's scheme (normal / silver / gold / diamond by RFM score, monthly, down one
step after 3 months below), and its members and their qualifying data go in with ``COPY``:

- ``members``: N members (``JIFEN_BENCH_TIER_MEMBERS``, default 1,000,000);
- ``events``: member i made ``i % 4`` purchases of 500 yuan in March (1.5 N events in all);
- ``member_tiers``: a rank of 0-3 each, evaluated for March, one in eight 2 months below.

Then the ``tiers`` job step (``jifen.tiers.service.evaluate_step``) runs as the job runner runs
it, one transaction per slice of 50,000 members, until April is done: the RFM query over the
events, one ``UPDATE ... FROM`` per slice, the history ``INSERT ... SELECT`` and an outbox message
per change. The raw figure is a plain set-based ``UPDATE`` of the same rows in the same slices.
Prints JSON lines:

    {"bench": "tiers.evaluate.progress", "members": 250000, "seconds": ..., "rss_mb": ...,
     "peak_rss_mb": ...}
    {"bench": "tiers.evaluate", "backend": "postgresql", "batch": 50000, "members": 1000000,
     "seconds": ..., "ops_per_s": ..., "raw_per_s": ..., "upgraded": ..., "downgraded": ...}

Run with ``.venv/bin/python bench/tiers.py`` (no arguments; a few minutes).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.db.engine import make_engine, make_sessionmaker
from jifen.db.migrate import upgrade
from jifen.kit.runtime import tune_gc
from jifen.programs import service as programs
from jifen.programs.context import ProgramContext, to_context
from jifen.programs.schemas import ProgramCreate
from jifen.tiers import service as tiers
from jifen.tiers.schemas import TierSchemeIn

PG_URL = os.environ.get("JIFEN_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MEMBERS = int(os.environ.get("JIFEN_BENCH_TIER_MEMBERS", "1000000"))
CHUNK = 100_000  # rows per COPY buffer
CHECKPOINTS = (250_000, 500_000, 1_000_000)
PROGRAM = "bench-tiers"
LOADED_AT = datetime(2026, 3, 31, 8, 0, tzinfo=UTC)
EVALUATED_AT = datetime(2026, 3, 31, 17, 0, tzinfo=UTC)  # 2026-04-01 01:00 in Shanghai

SCHEME = {
    "name": "零售会员 RFM",
    "qualification": {
        "metric": "rfm",
        "window_months": 1,
        "rfm": {"recency_days": [30], "frequency": [2, 4, 8], "monetary_fen": [50000, 200000]},
    },
    "evaluation": {"period": "month", "downgrade_after_periods": 3},
    "tiers": [
        {"code": "normal", "name": "普通", "min": 0, "benefits": {"discount_rate": "0.98"}},
        {"code": "silver", "name": "银卡", "min": 3,
         "benefits": {"discount_rate": "0.95", "points_multiplier": "1.2"}},
        {"code": "gold", "name": "金卡", "min": 5,
         "benefits": {"discount_rate": "0.90", "points_multiplier": "1.5"}},
        {"code": "diamond", "name": "钻石", "min": 7,
         "benefits": {"discount_rate": "0.85", "points_multiplier": "2"}},
    ],
}  # fmt: skip


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process, in MiB."""
    current = 0.0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                current = int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return round(current, 1), round(peak, 1)


def _chunks(lines: Iterator[str]) -> Iterator[bytes]:
    buf: list[str] = []
    for line in lines:
        buf.append(line)
        if len(buf) >= CHUNK:
            yield "".join(buf).encode()
            buf.clear()
    if buf:
        yield "".join(buf).encode()


def _copy(conn: psycopg.Connection[Any], statement: str, lines: Iterator[str]) -> None:
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for block in _chunks(lines):
            copy.write(block)


def load(url: str, n: int) -> None:
    """Members, their March purchases and their March tiers, with COPY."""
    ts = LOADED_AT.isoformat()
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        _copy(
            conn,
            "COPY members (program_id, external_id, locale, tags, consent, attributes, status,"
            " joined_at, created_at, updated_at) FROM STDIN",
            (
                f"{PROGRAM}\tm{i}\tzh-CN\t[]\t{{}}\t{{}}\tactive\t{ts}\t{ts}\t{ts}\n"
                for i in range(n)
            ),
        )
        first = conn.execute(
            "SELECT min(id) FROM members WHERE program_id = %s", (PROGRAM,)
        ).fetchone()
        assert first is not None
        base = int(first[0])

        def events() -> Iterator[str]:
            for i in range(n):
                for k in range(i % 4):
                    day = 2 + (i + k) % 27
                    at = datetime(2026, 3, day, 4, tzinfo=UTC).isoformat()
                    order = f"o{i}-{k}"
                    attrs = f'{{"order_id": "{order}", "amount_fen": 50000}}'
                    yield (
                        f"{PROGRAM}\t{order}\tpurchase\t{base + i}\t{order}\t{at}\t{at}\t"
                        f"{attrs}\t{'0' * 64}\t{{}}\n"
                    )

        _copy(
            conn,
            "COPY events (program_id, client_id, type, member_id, subject, occurred_at,"
            " received_at, attributes, request_hash, result) FROM STDIN",
            events(),
        )

        def member_tiers() -> Iterator[str]:
            for i in range(n):
                rank = (i // 4) % 4
                below = 2 if (i // 16) % 8 == 0 else (i // 16) % 2
                yield (
                    f"{PROGRAM}\t{base + i}\t{rank}\t{rank}\t0\t{below}\t{ts}\t\\N\tm:2026-03\t"
                    f"load\t{ts}\n"
                )

        _copy(
            conn,
            "COPY member_tiers (program_id, member_id, rank, prior_rank, metric_value,"
            " below_periods, since, protected_until, evaluated_period, last_run, updated_at)"
            " FROM STDIN",
            member_tiers(),
        )
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE members")
        conn.execute("VACUUM ANALYZE events")
        conn.execute("VACUUM ANALYZE member_tiers")


async def setup(sm: async_sessionmaker[AsyncSession]) -> ProgramContext:
    async with sm() as s, s.begin():
        program = await programs.create_program(
            s, ProgramCreate(id=PROGRAM, name="bench"), now=LOADED_AT, actor="bench"
        )
        ctx = to_context(program)
        await tiers.save_scheme(
            s, ctx, TierSchemeIn.model_validate(SCHEME), now=LOADED_AT, actor="bench"
        )
        return ctx


async def evaluate(sm: async_sessionmaker[AsyncSession], ctx: ProgramContext, n: int) -> float:
    done = 0
    marks = [c for c in CHECKPOINTS if c <= n] or [n]
    start = time.perf_counter()
    while True:
        async with sm() as s, s.begin():
            step = await tiers.evaluate_step(s, ctx, now=EVALUATED_AT)
        if step == 0:
            break
        done += step
        while marks and done >= marks[0]:
            current, peak = rss_mb()
            emit(
                {
                    "bench": "tiers.evaluate.progress",
                    "members": marks.pop(0),
                    "seconds": round(time.perf_counter() - start, 2),
                    "rss_mb": current,
                    "peak_rss_mb": peak,
                }
            )
    return time.perf_counter() - start


async def raw_update(sm: async_sessionmaker[AsyncSession], ctx: ProgramContext) -> float:
    """The same rows, in the same slices and transactions, by a plain set-based UPDATE."""
    async with sm() as s:
        lo_hi = (
            await s.execute(
                text(
                    "SELECT min(member_id), max(member_id) FROM member_tiers WHERE program_id = :p"
                ),
                {"p": ctx.id},
            )
        ).one()
    lo, hi = int(lo_hi[0]) - 1, int(lo_hi[1])
    start = time.perf_counter()
    for a in range(lo, hi, tiers.SLICE):
        async with sm() as s, s.begin():
            await s.execute(
                text(
                    "UPDATE member_tiers SET metric_value = metric_value + 1,"
                    " below_periods = below_periods, updated_at = :now"
                    " WHERE program_id = :p AND member_id > :a AND member_id <= :b"
                ),
                {"p": ctx.id, "a": a, "b": a + tiers.SLICE, "now": EVALUATED_AT},
            )
    return time.perf_counter() - start


async def run(url: str, n: int) -> None:
    engine = make_engine(url, pool_size=2)
    sm = make_sessionmaker(engine)
    try:
        ctx = await setup(sm)
        t0 = time.perf_counter()
        load(url, n)
        emit(
            {
                "bench": "tiers.load",
                "backend": "postgresql",
                "members": n,
                "events": n * 3 // 2,
                "seconds": round(time.perf_counter() - t0, 2),
            }
        )
        seconds = await evaluate(sm, ctx, n)
        async with sm() as s:
            summary = await tiers.run_summary(s, ctx.id, "m:2026-04")
            again = await tiers.evaluate_step(s, ctx, now=EVALUATED_AT + timedelta(hours=1))
            await s.rollback()
        assert summary is not None
        assert summary.evaluated == n, summary
        assert again == 0
        raw = await raw_update(sm, ctx)
        current, peak = rss_mb()
        emit(
            {
                "bench": "tiers.evaluate",
                "backend": "postgresql",
                "batch": tiers.SLICE,
                "members": n,
                "seconds": round(seconds, 2),
                "ops_per_s": round(n / seconds),
                "raw_seconds": round(raw, 2),
                "raw_per_s": round(n / raw),
                "pct_of_raw": round(100 * raw / seconds, 1),
                "upgraded": summary.upgraded,
                "downgraded": summary.downgraded,
                "rss_mb": current,
                "peak_rss_mb": peak,
            }
        )
    finally:
        await engine.dispose()


def main() -> None:
    tune_gc()
    name = f"jifen_bench_tiers_{secrets.token_hex(3)}"
    try:
        admin = psycopg.connect(PG_URL, autocommit=True)
    except psycopg.OperationalError:
        emit({"bench": "tiers.evaluate", "backend": "postgresql", "skipped": "no server"})
        return
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(url)
        asyncio.run(run(url, MEMBERS))
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
