"""``in_values``: one array parameter on PostgreSQL, an ``IN`` list on SQLite; same rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import literal_column, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.kit.sql import IntArray, TextArray, in_values, select_tuples
from jifen.members import service as members
from jifen.members.models import Member
from jifen.programs.context import ProgramContext

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


async def test_in_values_finds_rows_by_integer_and_text_lists(
    sessionmaker: async_sessionmaker[AsyncSession], program: ProgramContext
) -> None:
    async with sessionmaker() as s, s.begin():
        refs = await members.resolve(
            s, program.id, [f"u{i}" for i in range(30)], create=True, now=NOW
        )
    wanted = [refs[f"u{i}"].id for i in range(0, 30, 3)]
    async with sessionmaker() as s:
        by_id = await s.scalars(
            select(Member.external_id).where(
                Member.program_id == program.id,
                in_values(s, Member.id, [*wanted, wanted[0], 2**62]),  # a repeat, a stranger
            )
        )
        assert sorted(by_id) == sorted(f"u{i}" for i in range(0, 30, 3))
        by_name = await s.scalars(
            select(Member.id).where(
                Member.program_id == program.id,
                in_values(s, Member.external_id, ["u1", "u2", "nobody"]),
            )
        )
        assert sorted(by_name) == sorted([refs["u1"].id, refs["u2"].id])


async def test_text_lists_find_any_spelling(
    sessionmaker: async_sessionmaker[AsyncSession], program: ProgramContext
) -> None:
    odd = ['a"b', "c\\d", "e,f", "{g}", "NULL", "", " h ", "王芳", "i'j", 'k\\"l']
    async with sessionmaker() as s, s.begin():
        refs = await members.resolve(s, program.id, [*odd, "other"], create=True, now=NOW)
    async with sessionmaker() as s:
        found = await s.scalars(
            select(Member.external_id).where(
                Member.program_id == program.id, in_values(s, Member.external_id, odd)
            )
        )
        assert sorted(found) == sorted(odd)
    assert len(refs) == len(odd) + 1


async def test_lists_reach_postgresql_as_one_typed_array(
    sessionmaker: async_sessionmaker[AsyncSession], backend: str
) -> None:
    # psycopg dumps a plain list element by element; IntArray and TextArray are spelt at once.
    # SQLAlchemy's ARRAY would copy them into plain lists on the way, so their type must leave
    # them alone.
    async with sessionmaker() as s:
        if backend != "postgresql":
            return
        dialect = s.get_bind().dialect
        for column, values, kind in (
            (Member.id, [1, 2, 3], IntArray),
            (Member.external_id, ["a", "b"], TextArray),
        ):
            condition = in_values(s, column, values)
            compiled = select(Member.id).where(condition).compile(dialect=dialect)
            arrays = [p for p in compiled.binds.values() if isinstance(p.value, list)]
            assert arrays
            for param in arrays:
                assert isinstance(param.value, kind)
                assert param.type.dialect_impl(dialect).bind_processor(dialect) is None


async def test_select_tuples_returns_what_sqlalchemy_would(
    sessionmaker: async_sessionmaker[AsyncSession],
    program: ProgramContext,
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with sessionmaker() as s, s.begin():
        refs = await members.resolve(s, program.id, ["a%b", "c'd", "王芳"], create=True, now=NOW)
    ids = [r.id for r in refs.values()]
    c = Member.__table__.c
    async with sessionmaker() as s:
        # Plain columns (JSON included) and array parameters: on PostgreSQL psycopg's own
        # tuples, without SQLAlchemy's result.
        plain = select(c.id, c.external_id, c.tags).where(
            c.program_id == program.id, in_values(s, c.id, ids), c.external_id.like("%")
        )
        # A time stamp SQLAlchemy converts to UTC on the way back: converted the same way.
        converted = select(c.id, c.joined_at, c.birthday).where(
            c.program_id == program.id, in_values(s, c.id, ids)
        )
        # An expanding IN: SQLAlchemy's own path.
        expanding = select(c.id, c.joined_at).where(c.program_id == program.id, c.id.in_(ids))
        expected = {
            stmt: sorted(tuple(row) for row in await s.execute(stmt))
            for stmt in (plain, converted, expanding)
        }
        assert sorted(await select_tuples(s, expanding)) == expected[expanding]
        if backend == "postgresql":
            monkeypatch.setattr(s, "execute", None)  # the others must not need it
        for stmt in (plain, converted):
            assert sorted(await select_tuples(s, stmt)) == expected[stmt]
            assert len(expected[stmt]) == 3
        assert all(at.tzinfo is UTC for _, at, _ in expected[converted])


async def test_select_tuples_raises_database_errors_as_sqlalchemy_does(
    sessionmaker: async_sessionmaker[AsyncSession], backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Retries of deadlocks and serialization failures read SQLAlchemy's error and its SQLSTATE.
    if backend != "postgresql":
        return  # SQLite divides by zero into NULL, and takes SQLAlchemy's path anyway
    async with sessionmaker() as s:
        monkeypatch.setattr(s, "execute", None)  # psycopg's own path
        with pytest.raises(DBAPIError) as raised:
            await select_tuples(s, select(literal_column("1 / 0")))
    assert raised.value.orig.sqlstate == "22012"  # type: ignore[union-attr]
