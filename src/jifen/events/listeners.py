"""What other domains do with processed events, in the same database transaction.

Tasks complete, leaderboards score and badges award from the events a batch processed. Each
listener receives every processed event of the batch at once (set-based work, never one query per
event) and must be idempotent under the event's ``client_id``: a replayed event never reaches the
listeners again, but a retried transaction does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.events.schemas import EventIn, EventResult
from jifen.programs.context import ProgramContext


@dataclass(frozen=True, slots=True)
class ProcessedEvent:
    event: EventIn
    member_id: int
    event_id: int
    result: EventResult


Listener = Callable[
    [AsyncSession, ProgramContext, Sequence[ProcessedEvent], datetime], Awaitable[None]
]


def _listeners() -> list[Listener]:
    # Imported when called: these domains use the events service themselves.
    from jifen.badges.service import on_events as badges
    from jifen.leaderboards.service import on_events as leaderboards
    from jifen.referrals.service import on_events as referrals
    from jifen.tasks.service import on_events as tasks
    from jifen.tiers.service import on_events as tiers

    # Badges last: they read what the other listeners changed (tiers).
    return [referrals, tiers, tasks, leaderboards, badges]


async def after_events(
    session: AsyncSession,
    ctx: ProgramContext,
    processed: Sequence[ProcessedEvent],
    now: datetime,
) -> None:
    if not processed:
        return
    for listener in _listeners():
        await listener(session, ctx, processed, now)
