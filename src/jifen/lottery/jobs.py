"""The ``lottery`` job: publish today's and tomorrow's seed commitments for every active pool."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.clock import Clock
from jifen.lottery import service
from jifen.programs.context import ProgramContext


async def publish(session: AsyncSession, ctx: ProgramContext, clock: Clock) -> int:
    return await service.publish_due(session, ctx, now=clock.now())
