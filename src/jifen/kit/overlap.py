"""Database work that runs on the server while this process goes on with its own.

The database server and this process each get a core: while the server executes a statement
whose result nobody needs yet (a bulk ``UPDATE``), Python can build the next rows instead of
waiting. ``beside`` starts such work, lets it reach the server and, on leaving, waits for it;
its errors come out there, before anything else is sent.

The work uses the session's connection, so the body must not use the session: it is for
work in memory (building rows, hashing). A statement sent anyway would only wait its turn
(psycopg and aiosqlite run a connection's statements one at a time), but SQLAlchemy does not
support one session in two tasks at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

# Event-loop turns given to the work before the body runs: enough for it to send its first
# statement and start waiting for the server's answer.
_TURNS = 3


@contextlib.asynccontextmanager
async def beside(work: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run ``work`` while the body runs; wait for it on leaving, and raise what it raised."""
    task = asyncio.ensure_future(work)
    for _ in range(_TURNS):
        if task.done():
            break
        await asyncio.sleep(0)
    try:
        yield
    except BaseException:
        # Leave the connection idle before the body's error goes on (the transaction will
        # roll back, and nothing may still be running on it).
        with contextlib.suppress(Exception):
            await task
        raise
    await task
