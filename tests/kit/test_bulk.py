"""Bulk writes bypass SQLAlchemy's per-row work (COPY and unnest arrays on PostgreSQL, the
driver's executemany on SQLite); what they store must read back exactly as SQLAlchemy would
have written it, and their errors must be SQLAlchemy's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.kit import bulk
from jifen.notify.models import OutboxMessage
from jifen.programs.context import ProgramContext

TABLE = OutboxMessage.__table__
assert isinstance(TABLE, Table)
AT = datetime(2026, 11, 24, 15, 59, 59, 123456, tzinfo=UTC)


def _rows(program: ProgramContext, n: int) -> list[dict[str, object]]:
    return [
        {
            "id": uuid.uuid4(),
            "program_id": program.id,
            "member_id": i if i % 3 else None,
            "topic": "test.bulk",
            "payload": {"i": i, "name": '王芳 "quoted"\n', "nested": [1, None, {"ok": True}]},
            "created_at": AT,
            "available_at": AT + timedelta(seconds=i),
            "dispatched_at": None,
            "attempts": 0,
        }
        for i in range(n)
    ]


@pytest.mark.parametrize("n", [3, 50])  # below and above the COPY threshold
async def test_inserted_and_updated_rows_read_back_as_written(
    sessionmaker: async_sessionmaker[AsyncSession], program: ProgramContext, n: int
) -> None:
    rows = _rows(program, n)
    later = AT + timedelta(days=1)
    async with sessionmaker() as s, s.begin():
        await bulk.insert_rows(s, TABLE, rows)
        await bulk.update_rows(
            s,
            TABLE,
            "id",
            [{"id": r["id"], "attempts": 2, "dispatched_at": later} for r in rows[::2]],
        )
    async with sessionmaker() as s:
        stored = {
            m.id: m
            for m in await s.scalars(
                select(OutboxMessage).where(OutboxMessage.program_id == program.id)
            )
        }
    assert len(stored) == n
    for i, row in enumerate(rows):
        m = stored[row["id"]]  # type: ignore[index]
        assert (m.member_id, m.topic, m.payload) == (row["member_id"], "test.bulk", row["payload"])
        assert (m.created_at, m.available_at) == (AT, row["available_at"])
        assert (m.attempts, m.dispatched_at) == ((2, later) if i % 2 == 0 else (0, None))


async def test_a_duplicate_key_is_sqlalchemys_integrity_error_and_writes_nothing(
    sessionmaker: async_sessionmaker[AsyncSession], program: ProgramContext
) -> None:
    rows = _rows(program, 30)
    rows[-1]["id"] = rows[0]["id"]
    with pytest.raises(IntegrityError):
        async with sessionmaker() as s, s.begin():
            await bulk.insert_rows(s, TABLE, rows)
    async with sessionmaker() as s:
        found = await s.scalars(
            select(OutboxMessage.id).where(OutboxMessage.program_id == program.id)
        )
        assert found.all() == []


async def test_streamed_rows_are_stored_as_the_generator_makes_them(
    sessionmaker: async_sessionmaker[AsyncSession], program: ProgramContext
) -> None:
    made: list[int] = []

    def generate() -> Iterator[dict[str, object]]:
        for i, row in enumerate(_rows(program, 5)):  # fewer than COPY's threshold: still COPY
            made.append(i)
            yield row

    columns = list(_rows(program, 1)[0])
    async with sessionmaker() as s, s.begin():
        await bulk.stream_rows(s, TABLE, columns, generate())
    assert made == [0, 1, 2, 3, 4]
    async with sessionmaker() as s:
        payloads = await s.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.program_id == program.id)
        )
        assert sorted(p["i"] for p in payloads) == [0, 1, 2, 3, 4]


async def test_a_generator_that_fails_midway_stores_nothing(
    sessionmaker: async_sessionmaker[AsyncSession], program: ProgramContext
) -> None:
    def generate() -> Iterator[dict[str, object]]:
        yield from _rows(program, 3)
        raise RuntimeError("a result could not be built")

    with pytest.raises(RuntimeError):
        async with sessionmaker() as s, s.begin():
            await bulk.stream_rows(s, TABLE, list(_rows(program, 1)[0]), generate())
    async with sessionmaker() as s:
        found = await s.scalars(
            select(OutboxMessage.id).where(OutboxMessage.program_id == program.id)
        )
        assert found.all() == []
