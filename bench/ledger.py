"""Ledger throughput: credit and debit per commit and in batches, beside the raw write limit.

For each backend (SQLite in a temporary file, PostgreSQL in a fresh database) and each batch size
(1, 100, 1,000 operations per database transaction) this runs the ledger service
(``jifen.ledger.service.credit`` / ``debit``) from one writer for a few seconds, then writes the
same rows into the same tables with no logic at all, and prints one JSON object per line:

    {"bench": "ledger.credit", "backend": "postgresql", "batch": 100, "n": ...,
     "ops_per_s": ..., "raw_per_s": ..., "pct_of_raw": ...}

The raw rows per operation are those the ledger writes: one ``ledger_transactions`` row, two
``postings``, one ``lots`` row (credit) or one ``lot_allocations`` row and a lot update (debit), one
``outbox_messages`` row, one ``idempotency_keys`` row and the member account's balance update. On
PostgreSQL they go in with psycopg's ``COPY`` (updates as one ``UPDATE ... FROM unnest(...)``),
on SQLite with one ``executemany`` per table, in one transaction per batch. Building the raw rows
is not timed: the raw figure is the database's limit, not Python's.

Run with ``.venv/bin/python bench/ledger.py`` (or ``make bench``); ``... ledger.py sqlite`` or
``postgresql`` runs one backend. On PostgreSQL a fresh database is created on the server that
``JIFEN_BENCH_PG_URL`` connects to (default ``postgresql://postgres@127.0.0.1:5432/postgres``),
migrated, and dropped at the end; without a server only SQLite runs.
``JIFEN_BENCH_SECONDS`` (default 3) sets how long each measurement runs.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import secrets
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from jifen.api.combiner import WriteCombiner
from jifen.api.deps import Db
from jifen.clock import SystemClock
from jifen.db.engine import make_engine, make_sessionmaker
from jifen.db.migrate import upgrade
from jifen.kit.ids import uuid7
from jifen.kit.runtime import tune_gc
from jifen.ledger import service as ledger
from jifen.ledger.schemas import CreditIn, DebitIn
from jifen.members import service as members
from jifen.programs import service as programs
from jifen.programs.context import ProgramContext, to_context
from jifen.programs.schemas import ProgramCreate

BATCHES = (1, 100, 1000)
CLIENTS = 32  # concurrent single-write clients (see time_concurrent)
MEMBERS = 1000
SECONDS = float(os.environ.get("JIFEN_BENCH_SECONDS", "3"))
RAW_SECONDS = SECONDS * 2 / 3
ROUNDS = 3
PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
STARTING_POINTS = 10**12

# Roughly the size of what the ledger stores: an outbox payload and an idempotency response.
PAYLOAD = {
    "member": "m-0000",
    "asset": "points",
    "transaction_id": str(uuid.UUID(int=0)),
    "kind": "credit",
    "amount": 10,
    "balance": 1000,
    "reason": "bench",
    "reference": None,
    "occurred_at": "2026-01-01T00:00:00+00:00",
}
RESPONSE = {
    "id": str(uuid.UUID(int=0)),
    "kind": "credit",
    "asset": "points",
    "amount": 10,
    "member": "m-0000",
    "balance": 1000,
    "available": 1000,
    "reverses_id": None,
    "hold_id": None,
    "reason": "bench",
    "reference": None,
    "occurred_at": "2026-01-01T00:00:00Z",
    "created_at": "2026-01-01T00:00:00Z",
    "lot_expires_at": "2028-01-01T00:00:00Z",
}
PAYLOAD_JSON = json.dumps(PAYLOAD)
RESPONSE_JSON = json.dumps(RESPONSE)


Rows = dict[str, list[tuple[Any, ...]]]


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def members_for(batch: int, seq: int) -> list[int]:
    """The member indexes of the ``seq``-th transaction: consecutive, wrapping over all members,
    so a batch never names a member twice and every member is used evenly."""
    start = (seq * batch) % MEMBERS
    return [(start + k) % MEMBERS for k in range(batch)]


# --- the ledger -------------------------------------------------------------------------------


@dataclass
class Ledger:
    sessionmaker: async_sessionmaker[AsyncSession]
    ctx: ProgramContext
    run_id: str

    async def credit(self, prefix: str, batch: int, seq: int) -> None:
        items = [
            CreditIn(
                idempotency_key=f"{self.run_id}-c-{prefix}-{batch}-{seq}-{k}",
                member=f"c-{m:04d}",
                amount=10,
                reason="bench",
            )
            for k, m in enumerate(members_for(batch, seq))
        ]
        async with self.sessionmaker() as s, s.begin():
            outcomes = await ledger.credit(s, self.ctx, items, now=datetime.now(UTC))
        if not outcomes[0].ok:
            raise RuntimeError(outcomes[0].body)

    async def debit(self, prefix: str, batch: int, seq: int) -> None:
        items = [
            DebitIn(
                idempotency_key=f"{self.run_id}-d-{prefix}-{batch}-{seq}-{k}",
                member=f"d-{m:04d}",
                amount=1,
                reason="bench",
            )
            for k, m in enumerate(members_for(batch, seq))
        ]
        async with self.sessionmaker() as s, s.begin():
            outcomes = await ledger.debit(s, self.ctx, items, now=datetime.now(UTC))
        if not outcomes[0].ok:
            raise RuntimeError(outcomes[0].body)


async def make_ledger(url: str) -> tuple[Ledger, AsyncEngine]:
    engine = make_engine(url, pool_size=2)
    sm = make_sessionmaker(engine)
    now = datetime.now(UTC)
    async with sm() as s, s.begin():
        program = await programs.create_program(
            s, ProgramCreate(id="bench", name="ledger benchmark"), now=now, actor="bench"
        )
        ctx = to_context(program)
        await members.resolve(
            s,
            ctx.id,
            [f"{p}-{m:04d}" for p in ("c", "d") for m in range(MEMBERS)],
            create=True,
            now=now,
        )
    # Give every debit member one large lot to spend from.
    async with sm() as s, s.begin():
        await ledger.credit(
            s,
            ctx,
            [
                CreditIn(idempotency_key=f"seed-{m}", member=f"d-{m:04d}", amount=STARTING_POINTS)
                for m in range(MEMBERS)
            ],
            now=now,
        )
    if engine.dialect.name == "postgresql":
        # Planner statistics, as autovacuum keeps them on a live server.
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    return Ledger(sm, ctx, secrets.token_hex(3)), engine


async def time_ledger(
    op: Callable[[str, int, int], Any], batch: int, seconds: float, seq: int
) -> tuple[int, float, int]:
    """Run transactions from number ``seq`` on for ``seconds``: (operations, time, next seq)."""
    first = seq
    start = time.perf_counter()
    while True:
        await op("run", batch, seq)
        seq += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return (seq - first) * batch, elapsed, seq


async def time_concurrent(
    lg: Ledger, kind: str, clients: int, seconds: float
) -> tuple[float, float]:
    """``clients`` coroutines each sending one operation at a time, as API requests do, through
    the write combiner: (operations a second, mean operations per transaction)."""
    combiner = WriteCombiner(Db(lg.sessionmaker, SystemClock()).write, lambda: datetime.now(UTC))
    stop = time.perf_counter() + seconds
    done = 0

    async def client(c: int) -> None:
        nonlocal done
        i = 0
        while time.perf_counter() < stop:
            m = (c * 31 + i) % MEMBERS
            key = f"{lg.run_id}-{kind}-cc-{c}-{i}"
            item: CreditIn | DebitIn = (
                CreditIn(idempotency_key=key, member=f"c-{m:04d}", amount=10, reason="bench")
                if kind == "credit"
                else DebitIn(idempotency_key=key, member=f"d-{m:04d}", amount=1, reason="bench")
            )
            outcome = await combiner.outcome(
                "credit" if kind == "credit" else "debit", lg.ctx, item
            )
            if not outcome.ok:
                raise RuntimeError(outcome.body)
            done += 1
            i += 1

    start = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    elapsed = time.perf_counter() - start
    return done / elapsed, done / max(combiner.batches, 1)


# --- the raw rows -----------------------------------------------------------------------------


@dataclass
class RawTarget:
    """The raw program's accounts and (for debits) lots, one per member index."""

    program_id: str
    account_ids: list[int]
    lot_ids: list[uuid.UUID]


def raw_rows(kind: str, target: RawTarget, batch: int, seq: int) -> Rows:
    """The rows the ledger would write for ``batch`` operations, as plain tuples."""
    now = datetime.now(UTC)
    expires = now + timedelta(days=730)
    pid = target.program_id
    amount = 10 if kind == "credit" else 1
    rows: Rows = {
        "txn": [],
        "posting": [],
        "lot": [],
        "allocation": [],
        "outbox": [],
        "idem": [],
        "account": [],
        "lot_update": [],
    }
    for k, m in enumerate(members_for(batch, seq)):
        txn_id = uuid7()
        account_id = target.account_ids[m]
        key = f"raw-{kind}-{batch}-{seq}-{k}-{secrets.token_hex(4)}"
        member_id = 10**9 + m
        member_leg = amount if kind == "credit" else -amount
        rows["txn"].append(
            (txn_id, pid, kind, "points", amount, member_id, key, "bench", "{}", now, now, "0" * 64)
        )
        rows["posting"].append((pid, txn_id, account_id, "points", member_id, member_leg, 1000))
        rows["posting"].append((pid, txn_id, -1, "points", None, -member_leg, None))
        if kind == "credit":
            lot = (uuid7(), pid, member_id, account_id, "points", txn_id, amount, amount)
            rows["lot"].append((*lot, 0, 0, now, expires))
        else:
            lot_id = target.lot_ids[m]
            rows["allocation"].append((pid, member_id, lot_id, txn_id, "spend", amount))
            rows["lot_update"].append((lot_id, amount))
        rows["outbox"].append(
            (uuid7(), pid, member_id, "ledger.balance_changed", PAYLOAD_JSON, now, now, 0)
        )
        rows["idem"].append((pid, key, f"ledger.{kind}", "0" * 64, 201, RESPONSE_JSON, now))
        rows["account"].append((account_id, member_leg))
    return rows


COLUMNS = {
    "txn": (
        "ledger_transactions",
        "id, program_id, kind, asset, amount, member_id, idempotency_key, reason, meta,"
        " occurred_at, created_at, content_hash",
    ),
    "posting": (
        "postings",
        "program_id, transaction_id, account_id, asset, member_id, amount, balance_after",
    ),
    "lot": (
        "lots",
        "id, program_id, member_id, account_id, asset, transaction_id, amount, remaining, held,"
        " expired, earned_at, expires_at",
    ),
    "allocation": (
        "lot_allocations",
        "program_id, member_id, lot_id, transaction_id, kind, amount",
    ),
    "outbox": (
        "outbox_messages",
        "id, program_id, member_id, topic, payload, created_at, available_at, attempts",
    ),
    "idem": (
        "idempotency_keys",
        "program_id, key, operation, request_hash, status_code, response, created_at",
    ),
}


def time_raw(
    write: Callable[[Rows], None],
    convert: Callable[[Rows], Rows],
    kind: str,
    target: RawTarget,
    batch: int,
    seconds: float,
    seq: int,
) -> tuple[int, float, int]:
    """Write batches for ``seconds`` of database time; building the rows is not timed."""
    first = seq
    busy = 0.0
    while busy < seconds:
        rows = convert(raw_rows(kind, target, batch, seq))
        start = time.perf_counter()
        write(rows)
        busy += time.perf_counter() - start
        seq += 1
    return (seq - first) * batch, busy, seq


# PostgreSQL


def pg_setup_raw(conn: psycopg.Connection[Any]) -> RawTarget:
    pid = "bench-raw"
    now = datetime.now(UTC)
    with conn.transaction():
        ids = [
            row[0]
            for row in conn.execute(
                "INSERT INTO accounts (program_id, asset, member_id, balance, held, created_at)"
                " SELECT %s, 'points', 1000000000 + g, %s, 0, %s FROM generate_series(0, %s) g"
                " ORDER BY g RETURNING id",
                (pid, STARTING_POINTS, now, MEMBERS - 1),
            ).fetchall()
        ]
        lot_ids = [uuid7() for _ in range(MEMBERS)]
        with conn.cursor().copy(f"COPY lots ({COLUMNS['lot'][1]}) FROM STDIN") as copy:
            for m, (lot_id, acc_id) in enumerate(zip(lot_ids, ids, strict=True)):
                lot = (lot_id, pid, 10**9 + m, acc_id, "points", uuid7(), STARTING_POINTS)
                copy.write_row((*lot, STARTING_POINTS, 0, 0, now, now + timedelta(days=730)))
    return RawTarget(pid, ids, lot_ids)


def pg_write(conn: psycopg.Connection[Any], rows: Rows) -> None:
    with conn.transaction(), conn.cursor() as cur:
        for name, (table, cols) in COLUMNS.items():
            if rows[name]:
                with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                    for row in rows[name]:
                        copy.write_row(row)
        ids, deltas = zip(*rows["account"], strict=True)
        cur.execute(
            "UPDATE accounts a SET balance = a.balance + d.delta"
            " FROM unnest(%s::bigint[], %s::bigint[]) AS d(id, delta) WHERE a.id = d.id",
            (list(ids), list(deltas)),
        )
        if rows["lot_update"]:
            lots, taken = zip(*rows["lot_update"], strict=True)
            cur.execute(
                "UPDATE lots l SET remaining = l.remaining - d.taken"
                " FROM unnest(%s::uuid[], %s::bigint[]) AS d(id, taken) WHERE l.id = d.id",
                (list(lots), list(taken)),
            )


# SQLite: values as SQLAlchemy stores them (UUIDs as 32 hex digits, naive UTC timestamps).


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ")
    return value


def sqlite_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def sqlite_setup_raw(conn: sqlite3.Connection) -> RawTarget:
    pid = "bench-raw"
    now = _sqlite_value(datetime.now(UTC))
    expires = _sqlite_value(datetime.now(UTC) + timedelta(days=730))
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO accounts (program_id, asset, member_id, balance, held, created_at)"
        " VALUES (?, 'points', ?, ?, 0, ?)",
        [(pid, 10**9 + m, STARTING_POINTS, now) for m in range(MEMBERS)],
    )
    ids = [
        row[0]
        for row in conn.execute(
            "SELECT id FROM accounts WHERE program_id = ? ORDER BY member_id", (pid,)
        )
    ]
    lot_ids = [uuid7() for _ in range(MEMBERS)]
    conn.executemany(
        f"INSERT INTO lots ({COLUMNS['lot'][1]}) VALUES ({', '.join('?' * 12)})",
        [
            (
                lot_id.hex,
                pid,
                10**9 + m,
                acc_id,
                "points",
                uuid7().hex,
                STARTING_POINTS,
                STARTING_POINTS,
                0,
                0,
                now,
                expires,
            )
            for m, (lot_id, acc_id) in enumerate(zip(lot_ids, ids, strict=True))
        ],
    )
    conn.execute("COMMIT")
    return RawTarget(pid, ids, lot_ids)


def sqlite_rows(rows: Rows) -> Rows:
    return {name: [tuple(map(_sqlite_value, r)) for r in rs] for name, rs in rows.items()}


def sqlite_write(conn: sqlite3.Connection, rows: Rows) -> None:
    conn.execute("BEGIN IMMEDIATE")
    for name, (table, cols) in COLUMNS.items():
        if rows[name]:
            marks = ", ".join("?" * len(rows[name][0]))
            conn.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows[name])
    conn.executemany(
        "UPDATE accounts SET balance = balance + ? WHERE id = ?",
        [(delta, acc) for acc, delta in rows["account"]],
    )
    if rows["lot_update"]:
        conn.executemany(
            "UPDATE lots SET remaining = remaining - ? WHERE id = ?",
            [(taken, lot) for lot, taken in rows["lot_update"]],
        )
    conn.execute("COMMIT")


# --- runs -------------------------------------------------------------------------------------


async def run_backend(
    backend: str,
    url: str,
    raw_write: Callable[[Rows], None],
    target: RawTarget,
    convert: Callable[[Rows], Rows],
) -> None:
    lg, engine = await make_ledger(url)
    raws: dict[tuple[str, int], float] = {}
    try:
        for kind in ("credit", "debit"):
            op = lg.credit if kind == "credit" else lg.debit
            for batch in BATCHES:
                await op("warm", batch, 0)
                raw_write(convert(raw_rows(kind, target, batch, -1)))
                n = raw_n = seq = raw_seq = 0
                elapsed = raw_elapsed = 0.0
                # Ledger and raw take turns, so that both see the machine in the same state.
                for _ in range(ROUNDS):
                    dn, dt, seq = await time_ledger(op, batch, SECONDS / ROUNDS, seq)
                    n, elapsed = n + dn, elapsed + dt
                    dn, dt, raw_seq = time_raw(
                        raw_write, convert, kind, target, batch, RAW_SECONDS / ROUNDS, raw_seq
                    )
                    raw_n, raw_elapsed = raw_n + dn, raw_elapsed + dt
                ops = n / elapsed
                raw = raw_n / raw_elapsed
                raws[kind, batch] = raw
                emit(
                    {
                        "bench": f"ledger.{kind}",
                        "backend": backend,
                        "batch": batch,
                        "n": n,
                        "seconds": round(elapsed, 2),
                        "ops_per_s": round(ops),
                        "raw_n": raw_n,
                        "raw_per_s": round(raw),
                        "pct_of_raw": round(100 * ops / raw, 1),
                        # Other work on the machine skews the figures: the 1-minute load.
                        "loadavg": round(os.getloadavg()[0], 2),
                    }
                )
            # Single writes from many clients at once, through the group commit the API uses.
            ops, mean_batch = await time_concurrent(lg, kind, CLIENTS, SECONDS)
            raw = raws[kind, 1]
            emit(
                {
                    "bench": f"ledger.{kind}.concurrent_single",
                    "backend": backend,
                    "batch": 1,
                    "clients": CLIENTS,
                    "ops_per_s": round(ops),
                    # Beside it: the same rows written one operation per commit with no logic.
                    "raw_per_s": round(raw),
                    "pct_of_raw": round(100 * ops / raw, 1),
                    "mean_batch": round(mean_batch, 1),
                    "loadavg": round(os.getloadavg()[0], 2),
                }
            )
    finally:
        await engine.dispose()


def _identity(rows: Rows) -> Rows:
    return rows


def bench_sqlite() -> None:
    with tempfile.TemporaryDirectory(prefix="jifen-bench-") as tmp:
        path = Path(tmp) / "bench.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade(url)
        conn = sqlite_connect(path)
        try:
            target = sqlite_setup_raw(conn)
            write = functools.partial(sqlite_write, conn)
            asyncio.run(run_backend("sqlite", url, write, target, sqlite_rows))
        finally:
            conn.close()


@contextmanager
def pg_database() -> Iterator[str | None]:
    """A new database on the server of ``JIFEN_BENCH_PG_URL`` (only it is dropped afterwards)."""
    server_url = os.environ.get("JIFEN_BENCH_PG_URL", PG_URL)
    name = f"jifen_bench_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        with psycopg.connect(server_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        note(f"PostgreSQL unavailable at {server_url}, skipped: {exc}")
        yield None
        return
    try:
        yield server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_postgres() -> None:
    with pg_database() as url:
        if url is None:
            return
        upgrade(url)
        with psycopg.connect(url) as conn:
            target = pg_setup_raw(conn)
            write = functools.partial(pg_write, conn)
            asyncio.run(run_backend("postgresql", url, write, target, _identity))


def main(backends: Sequence[str]) -> None:
    tune_gc()  # as `jifen serve` and `jifen worker` do
    start = time.perf_counter()
    if "sqlite" in backends:
        bench_sqlite()
    if "postgresql" in backends:
        bench_postgres()
    note(f"bench/ledger.py done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1:] or ("sqlite", "postgresql"))
