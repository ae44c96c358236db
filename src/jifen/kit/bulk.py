"""Bulk writes: one statement per table, or one round trip for many tables, whatever the rows.

On PostgreSQL, row sets of ``COPY_MIN_ROWS`` or more go in with ``COPY`` and are updated with one
``UPDATE ... FROM unnest(...)``, on the session's own psycopg connection (so inside its
transaction): psycopg's ``executemany`` would send one ``INSERT``/``UPDATE`` per row, which costs
the server and the client several times more. ``Writes`` also sends the small sets of several
tables in one pipeline, one round trip in all; smaller sets are SQLAlchemy's ``executemany``. On
SQLite every set is one ``executemany`` on the session's own sqlite3 connection, with the SQL
SQLAlchemy compiles for it. Values are converted as SQLAlchemy would bind them, and driver
errors are raised as SQLAlchemy's (``IntegrityError`` and so on, ``orig`` carrying the SQLSTATE),
so callers see no difference. Updates match on a key that must be unique among the rows.
"""

from __future__ import annotations

import functools
import operator
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiosqlite
import psycopg
from psycopg import sql
from sqlalchemy import JSON, Integer, Table, bindparam, insert, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeDecorator, TypeEngine

from jifen.db.engine import is_postgres
from jifen.kit import jsonenc
from jifen.kit.sql import IntArray, driver_connection

# Below this, a pipelined executemany costs about the same and keeps one code path.
COPY_MIN_ROWS = 20

_PG_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]

Converter = Callable[[Any], Any] | None


def _converter(type_: TypeEngine[Any]) -> Converter:
    """What SQLAlchemy does to a value of this type before handing it to psycopg."""
    if isinstance(type_, TypeDecorator):
        process = type_.process_bind_param
        return lambda value: process(value, _PG_DIALECT)
    if isinstance(type_, JSON):
        # As the engine serializes (``make_engine``); None becomes JSON null (``none_as_null``
        # is off).
        return jsonenc.dumps
    return None


@functools.lru_cache(maxsize=256)
def _conversions(table: Table, columns: tuple[str, ...]) -> list[tuple[int, Callable[[Any], Any]]]:
    return [
        (i, f)
        for i, name in enumerate(columns)
        if (f := _converter(table.c[name].type)) is not None
    ]


class _RowConverter:
    """Turns row dicts into value lists in ``columns`` order, converting where a type asks.

    The rows of a batch share timestamps (its ``now``), so each is converted once.
    """

    def __init__(self, table: Table, columns: Sequence[str]) -> None:
        self._get = operator.itemgetter(*columns)
        self._single = len(columns) == 1
        self._convert = _conversions(table, tuple(columns))
        self._seen: dict[tuple[int, datetime], Any] = {}

    def __call__(self, row: dict[str, Any]) -> Sequence[Any]:
        got = self._get(row)
        if self._single:
            got = (got,)
        if not self._convert:
            return got  # type: ignore[no-any-return]
        values = list(got)
        for i, f in self._convert:
            value = values[i]
            if isinstance(value, datetime):
                key = (i, value)
                if key not in self._seen:
                    self._seen[key] = f(value)
                values[i] = self._seen[key]
            else:
                values[i] = f(value)
        return values


async def _orm_update(
    session: AsyncSession, table: Table, key: str, rows: Sequence[dict[str, Any]]
) -> None:
    """SQLAlchemy's executemany of ``UPDATE ... WHERE key = ?``."""
    await session.execute(
        update(table)
        .where(table.c[key] == bindparam(f"_{key}"))
        .values({c: bindparam(f"_{c}") for c in rows[0] if c != key}),
        [{f"_{c}": v for c, v in row.items()} for row in rows],
        execution_options={"synchronize_session": False},
    )


@functools.lru_cache(maxsize=256)
def _sqlite_statement(
    table: Table, key: str | None, columns: tuple[str, ...], dialect: Dialect
) -> tuple[str, tuple[str, ...]]:
    """The SQL of an insert (``key`` None) or an update by ``key`` of ``columns``, compiled for
    SQLite, and the columns in the order of its ``?`` parameters."""
    stmt: Any
    if key is None:
        stmt = insert(table).values({c: bindparam(c) for c in columns})
    else:
        stmt = (
            update(table)
            .where(table.c[key] == bindparam(f"_{key}"))
            .values({c: bindparam(f"_{c}") for c in columns if c != key})
        )
    compiled = stmt.compile(dialect=dialect)
    assert compiled.positiontup is not None
    order = tuple(name if key is None else name[1:] for name in compiled.positiontup)
    return str(compiled), order


async def _sqlite_executemany(
    session: AsyncSession,
    table: Table,
    key: str | None,
    columns: tuple[str, ...],
    rows: Sequence[dict[str, Any]],
) -> None:
    """Insert ``rows`` (``key`` None) or update them by ``key`` with one ``executemany`` on the
    session's own SQLite connection, inside its transaction. Values go through the columns'
    own bind processors, as SQLAlchemy would send them; SQLAlchemy itself spends several
    microseconds more per row on the way."""
    conn = await session.connection()
    dialect = conn.dialect
    statement, order = _sqlite_statement(table, key, columns, dialect)
    if not set(order) <= set(columns):
        # Columns the rows leave out have defaults computed in Python: SQLAlchemy's way.
        if key is None:
            await session.execute(insert(table), list(rows))
        else:
            await _orm_update(session, table, key, rows)
        return
    processors = [
        (i, p)
        for i, c in enumerate(order)
        if (p := table.c[c].type.dialect_impl(dialect).bind_processor(dialect)) is not None
    ]
    get = operator.itemgetter(*order)
    params: list[list[Any]] = []
    for row in rows:
        got = get(row)
        values = list(got) if len(order) > 1 else [got]
        for i, p in processors:
            values[i] = p(values[i])
        params.append(values)
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, aiosqlite.Connection)
    try:
        await driver.executemany(statement, params)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc


def _reraise(statement: str, exc: psycopg.Error) -> StatementError:
    return DBAPIError.instance(statement, None, exc, psycopg.Error)


async def insert_rows(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table``."""
    if not rows:
        return
    if not is_postgres(session):
        await _sqlite_executemany(session, table, None, tuple(rows[0]), rows)
        return
    if len(rows) < COPY_MIN_ROWS:
        await session.execute(insert(table), list(rows))
        return
    await stream_rows(session, table, list(rows[0]), rows)


async def stream_rows(
    session: AsyncSession,
    table: Table,
    columns: Sequence[str],
    rows: Iterable[dict[str, Any]],
) -> None:
    """Insert ``rows`` (dicts with these ``columns``) as they are made.

    On PostgreSQL they go with ``COPY`` whatever their number, each row sent as soon as it is
    built: the server stores the first ones while the caller's generator builds the rest, so
    the two cores work at once. SQLite takes them all in one ``executemany``.
    """
    if not is_postgres(session):
        materialised = list(rows)
        if materialised:
            await _sqlite_executemany(session, table, None, tuple(columns), materialised)
        return
    convert = _RowConverter(table, columns)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    driver = await driver_connection(session)
    try:
        async with driver.cursor() as cur, cur.copy(statement) as copy:
            for row in rows:
                await copy.write_row(convert(row))
    except psycopg.Error as exc:
        raise _reraise(statement.as_string(driver), exc) from exc


async def update_rows(
    session: AsyncSession, table: Table, key: str, rows: Sequence[dict[str, Any]]
) -> None:
    """Set the other columns of each row (dicts with the same keys) where ``key`` matches."""
    if not rows:
        return
    columns = list(rows[0])
    if not is_postgres(session):
        await _sqlite_executemany(session, table, key, tuple(columns), rows)
        return
    if len(rows) < COPY_MIN_ROWS:
        await _orm_update(session, table, key, rows)
        return
    convert = _RowConverter(table, columns)
    arrays: list[list[Any]] = [[] for _ in columns]
    for row in rows:
        for array, value in zip(arrays, convert(row), strict=True):
            array.append(value)
    await _update_arrays(session, table, key, dict(zip(columns, arrays, strict=True)))


async def update_columns(
    session: AsyncSession, table: Table, key: str, columns: dict[str, list[Any]]
) -> None:
    """``update_rows`` for values given column by column (lists of equal length): a caller that
    builds its values that way sends them with no dict per row."""
    n = len(columns[key])
    if n >= COPY_MIN_ROWS and is_postgres(session):
        convert = dict(_conversions(table, tuple(columns)))
        names = list(columns)
        await _update_arrays(
            session,
            table,
            key,
            {
                c: [convert[i](v) for v in columns[c]] if i in convert else columns[c]
                for i, c in enumerate(names)
            },
        )
        return
    await update_rows(
        session, table, key, [{c: values[i] for c, values in columns.items()} for i in range(n)]
    )


async def _update_arrays(
    session: AsyncSession, table: Table, key: str, columns: dict[str, list[Any]]
) -> None:
    """``UPDATE ... FROM unnest(arrays)`` on PostgreSQL, values already converted."""
    values = [c for c in columns if c != key]
    arrays: list[Any] = [
        IntArray(array) if isinstance(table.c[c].type, Integer) else array
        for c, array in columns.items()
    ]
    columns_list = list(columns)
    statement = sql.SQL(
        "UPDATE {t} AS t SET {sets} FROM unnest({arrays}) AS v({cols}) WHERE {match}"
    ).format(
        t=sql.Identifier(table.name),
        sets=sql.SQL(", ").join(sql.SQL("{c} = v.{c}").format(c=sql.Identifier(c)) for c in values),
        arrays=sql.SQL(", ").join(
            sql.SQL("%s::" + table.c[c].type.compile(dialect=_PG_DIALECT) + "[]")
            for c in columns_list
        ),
        cols=sql.SQL(", ").join(map(sql.Identifier, columns_list)),
        match=sql.SQL("t.{k} = v.{k}").format(k=sql.Identifier(key)),
    )
    driver = await driver_connection(session)
    try:
        async with driver.cursor() as cur:
            await cur.execute(statement, arrays)
    except psycopg.Error as exc:
        raise _reraise(statement.as_string(driver), exc) from exc


@dataclass
class Writes:
    """Inserts and updates queued to go to the database together.

    On PostgreSQL the large row sets go first (``COPY``, ``UPDATE ... FROM unnest``), then every
    small one in one pipeline: a single round trip however many tables a transaction touches.
    The caller must not read in between (nothing here does); errors are raised at ``run``.
    """

    _ops: list[tuple[Table, str | None, Sequence[dict[str, Any]]]] = field(default_factory=list)

    def insert(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self._ops.append((table, None, rows))

    def update(self, table: Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self._ops.append((table, key, rows))

    async def run(self, session: AsyncSession) -> None:
        ops, self._ops = self._ops, []
        small = []
        for table, key, rows in ops:
            if len(rows) < COPY_MIN_ROWS and is_postgres(session):
                small.append((table, key, rows))
            elif key is None:
                await insert_rows(session, table, rows)
            else:
                await update_rows(session, table, key, rows)
        if not small:
            return
        driver = await driver_connection(session)
        try:
            async with driver.pipeline(), driver.cursor() as cur:
                for table, key, rows in small:
                    columns = list(rows[0])
                    convert = _RowConverter(table, columns)
                    params = [convert(row) for row in rows]
                    if key is None:
                        statement = _insert_statement(table, tuple(columns))
                    else:
                        statement = _update_statement(table, key, tuple(columns))
                        # The key's value moves to the end, for the WHERE clause.
                        i = columns.index(key)
                        params = [[*p[:i], *p[i + 1 :], p[i]] for p in params]
                    await cur.executemany(statement, params)
        except psycopg.Error as exc:
            # A pipeline reports an error at its end, whichever statement it came from.
            tables = ", ".join(table.name for table, _, _ in small)
            raise _reraise(f"(pipelined writes to {tables})", exc) from exc


@functools.lru_cache(maxsize=256)
def _insert_statement(table: Table, columns: tuple[str, ...]) -> sql.Composed:
    return sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(table.name),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
    )


@functools.lru_cache(maxsize=256)
def _update_statement(table: Table, key: str, columns: tuple[str, ...]) -> sql.Composed:
    """``UPDATE t SET a = %s, b = %s WHERE key = %s``: the key's value comes last."""
    return sql.SQL("UPDATE {} SET {} WHERE {} = %s").format(
        sql.Identifier(table.name),
        sql.SQL(", ").join(
            sql.SQL("{} = %s").format(sql.Identifier(c)) for c in columns if c != key
        ),
        sql.Identifier(key),
    )
