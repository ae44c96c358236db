"""Small SQL helpers that differ between PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import postgres
from psycopg.adapt import Dumper
from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    String,
    any_,
    bindparam,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeDecorator


def insert_ignore(session: AsyncSession, table: Any) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` for the session's backend."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def in_values(session: AsyncSession, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN (values)``: on PostgreSQL one array parameter (``= ANY(...)``) instead of one
    parameter per value, so the statement text (and its prepared plan) is the same for any
    number of values and a thousand ids cost one parameter to render, parse and send."""
    if session.get_bind().dialect.name == "postgresql":
        values = list(values)
        array: BindParameter[Any]
        if isinstance(column.type, Integer) and all(type(v) is int for v in values):
            array = bindparam(None, IntArray(values), type_=_AsIsArray(BigInteger()))
        elif isinstance(column.type, String) and all(type(v) is str for v in values):
            array = bindparam(None, TextArray(values), type_=_AsIsArray(column.type))
        else:
            array = bindparam(None, values, type_=postgresql.ARRAY(column.type))
        return column == any_(array)  # type: ignore[no-any-return]
    return column.in_(values)  # type: ignore[no-any-return]


class IntArray(list[int | None]):
    """A list of integers sent to PostgreSQL as one ``bigint[]`` parameter, spelled
    ``{1,2,NULL}`` at once: psycopg's own list dumper handles each element in Python (a
    noticeable cost for the thousands of ids a batch sends), and integers need no quoting."""


class _IntArrayDumper(Dumper):
    oid = postgres.types["int8"].array_oid

    def dump(self, obj: Any) -> bytes:
        if None in obj:
            return ("{" + ",".join("NULL" if v is None else str(v) for v in obj) + "}").encode()
        return ("{" + ",".join(map(str, obj)) + "}").encode()


psycopg.adapters.register_dumper(IntArray, _IntArrayDumper)


class TextArray(list[str]):
    """A list of strings sent to PostgreSQL as one ``text[]`` parameter, each element quoted
    at once (psycopg's list dumper handles each element in Python)."""


class _TextArrayDumper(Dumper):
    oid = postgres.types["text"].array_oid

    def dump(self, obj: Any) -> bytes:
        quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in obj)
        return ("{" + ",".join(quoted) + "}").encode()


psycopg.adapters.register_dumper(TextArray, _TextArrayDumper)


class _AsIsArray(TypeDecorator[list[Any]]):
    """An array whose values go to psycopg as they are: ``ARRAY``'s own bind processing
    copies an ``IntArray`` or ``TextArray`` into a plain list, which psycopg then dumps
    element by element."""

    impl = postgresql.ARRAY
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


async def driver_connection(session: AsyncSession) -> psycopg.AsyncConnection[Any]:
    """The session's own psycopg connection (PostgreSQL), inside its transaction."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, psycopg.AsyncConnection)
    return driver


async def select_tuples(session: AsyncSession, stmt: Select[Any]) -> Sequence[tuple[Any, ...]]:
    """The rows of a Core select as plain tuples: for reads of thousands of rows a batch.

    On PostgreSQL the statement, compiled by SQLAlchemy with its parameters converted as
    SQLAlchemy would, runs on the session's psycopg connection; psycopg's tuples come back as
    they are, or with the columns SQLAlchemy converts (UTC time stamps) converted the same
    way. SQLAlchemy would build a ``Row`` for each (about a microsecond apiece). A statement
    whose parameters SQLAlchemy expands into lists (``in_``) takes SQLAlchemy's own path, as
    does SQLite.
    """
    conn = await session.connection()
    dialect = conn.dialect
    if dialect.name == "postgresql":
        compiled = stmt.compile(dialect=dialect)
        if not any(b.expanding or b.literal_execute for b in compiled.binds.values()):
            params = compiled.params
            for key, bind in compiled.binds.items():
                process = bind.type.dialect_impl(dialect).bind_processor(dialect)
                if process is not None and key in params:
                    params[key] = process(params[key])
            driver = await driver_connection(session)
            try:
                async with driver.cursor() as cur:
                    await cur.execute(compiled.string, params)
                    rows: list[tuple[Any, ...]] = await cur.fetchall()
            except psycopg.Error as exc:
                # As SQLAlchemy raises it (``orig`` carries the SQLSTATE that retries look at).
                raise DBAPIError.instance(compiled.string, params, exc, psycopg.Error) from exc
            converts = [
                (i, f)
                for i, column in enumerate(stmt.selected_columns)
                if (f := column.type.dialect_impl(dialect).result_processor(dialect, None))
            ]
            if converts:
                for n, row in enumerate(rows):
                    values = list(row)
                    for i, f in converts:
                        values[i] = f(values[i])
                    rows[n] = tuple(values)
            return rows
    return [tuple(row) for row in await session.execute(stmt)]
