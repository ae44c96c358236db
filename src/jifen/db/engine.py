"""Async engines and sessions for SQLite (WAL, serialised writers) and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg.types.json import set_json_loads
from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from jifen.kit import jsonenc


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` and ``sqlite://`` URLs and pick the async drivers."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+aiosqlite://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        # A file database keeps a pool of open connections: opening one (a thread, the file, the
        # PRAGMAs) costs ~3 ms here, more than a whole one-credit transaction.
        pool: dict[str, Any] = (
            {} if ":memory:" in url else {"pool_size": pool_size, "max_overflow": pool_size}
        )
        engine = create_async_engine(
            url,
            echo=echo,
            connect_args={"timeout": 30},
            json_serializer=jsonenc.dumps,
            json_deserializer=jsonenc.loads,
            **pool,
        )
        _configure_sqlite(engine)
        return engine
    kwargs: dict[str, Any] = {"pool_size": pool_size, "max_overflow": pool_size, "echo": echo}
    # psycopg prepares a statement after a few runs, and PostgreSQL may then switch it to a
    # generic plan, blind to how many ids an ``= ANY(array)`` carries: measured here, a batch's
    # key lookup went from 7 ms to 100 ms that way. Plan each run with its actual values.
    connect_args = {"options": "-c plan_cache_mode=force_custom_plan"}
    engine = create_async_engine(
        url,
        pool_pre_ping=False,
        connect_args=connect_args,
        json_serializer=jsonenc.dumps,
        **kwargs,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # psycopg parses json columns itself: with orjson, several times faster.
        set_json_loads(jsonenc.loads, dbapi_conn.driver_connection)

    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy issue BEGIN itself so that writers can take BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writing transaction takes the write lock at once: writers serialise instead of
        # failing with SQLITE_BUSY when a read lock would have to be upgraded. A read-only one
        # (see ``read_only``) reads its WAL snapshot and never blocks the writers.
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


READ_ONLY = "jifen_read_only"


@asynccontextmanager
async def read_only(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A transaction that only reads: on SQLite it takes no write lock, so a long report or a
    dry-run never holds up the writers."""
    async with sessionmaker() as session, session.begin():
        options: Any = {READ_ONLY: True}  # a key of jifen's own, not in SQLAlchemy's TypedDict
        await session.connection(execution_options=options)
        yield session


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any error."""
    async with sessionmaker() as session, session.begin():
        yield session


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"
