"""Group commit: single credits, debits, holds and events that arrive together share one
transaction.

A one-operation transaction costs about ten round trips and a commit, whatever it writes, while
the ledger's batch path costs a fixed number of statements for up to a thousand operations. So
the API does not open a transaction per request: each request joins the queue of its program
and operation, and one task per queue takes everything queued, applies it with the batch
function (``ledger.service.credit`` and friends, or ``events.service.ingest``, which give every
item its own outcome and idempotency record) and commits, then answers each request with its own outcome. Requests that
arrive while a batch commits form the next one.

Nothing waits on a timer: a lone request runs at once, as before, and batches form only when
requests overlap. A request is answered only after its batch has committed, so an answer is as
durable as before. If a batch fails as a whole (a database error, not a refusal: refusals are
per-item outcomes), each of its items is retried on its own so one bad item cannot fail the
others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.events.schemas import EventIn, EventResult
from jifen.kit.idempotency import Outcome
from jifen.programs.context import ProgramContext

Op = Literal["credit", "debit", "hold", "event"]
BatchFn = Callable[..., Awaitable[list[Any]]]
Write = Callable[[Callable[[AsyncSession], Awaitable[list[Any]]]], Awaitable[list[Any]]]


def _function(op: Op) -> BatchFn:
    # Imported when first used: the API layer sits above every domain.
    from jifen.events import service as events
    from jifen.ledger import service as ledger

    functions: dict[Op, BatchFn] = {
        "credit": ledger.credit,
        "debit": ledger.debit,
        "hold": ledger.hold,
        "event": events.ingest,
    }
    return functions[op]


@dataclass
class _Queue:
    ctx: ProgramContext
    items: list[tuple[Any, asyncio.Future[Any]]] = field(default_factory=list)


class WriteCombiner:
    """Per (program, settings version, operation): one queue and at most one running batch."""

    def __init__(self, write: Write, now: Callable[[], datetime], *, max_batch: int = 1000) -> None:
        self._write = write
        self._now = now
        self._max_batch = max_batch
        self._queues: dict[tuple[str, int, Op], _Queue] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0  # committed batches, for tests and metrics
        self.largest = 0

    async def outcome(self, op: Op, ctx: ProgramContext, item: Any) -> Outcome:
        """A ledger operation's outcome (``credit``, ``debit``, ``hold``)."""
        result = await self.submit(op, ctx, item)
        assert isinstance(result, Outcome)
        return result

    async def event(self, ctx: ProgramContext, event: EventIn) -> EventResult:
        result = await self.submit("event", ctx, event)
        assert isinstance(result, EventResult)
        return result

    async def submit(self, op: Op, ctx: ProgramContext, item: Any) -> Any:
        key = (ctx.id, ctx.settings_version, op)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _Queue(ctx)
            task = asyncio.create_task(self._drain(key, queue, op))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        queue.items.append((item, future))
        return await future

    async def _drain(self, key: tuple[str, int, Op], queue: _Queue, op: Op) -> None:
        try:
            while queue.items:
                batch = queue.items[: self._max_batch]
                del queue.items[: self._max_batch]
                await self._apply(queue.ctx, op, batch)
        finally:
            # No await between the empty check and this: a request cannot slip in unserved.
            del self._queues[key]

    async def _apply(
        self, ctx: ProgramContext, op: Op, batch: Sequence[tuple[Any, asyncio.Future[Any]]]
    ) -> None:
        fn = _function(op)
        items = [item for item, _ in batch]
        try:
            outcomes = await self._write(lambda s: fn(s, ctx, items, now=self._now()))
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            for one in batch:  # isolate the item that failed the batch
                await self._apply(ctx, op, [one])
            return
        self.batches += 1
        self.largest = max(self.largest, len(batch))
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            _settle(future, outcome)


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if future.done():  # the client went away; its write stands
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
