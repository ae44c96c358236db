"""The ``coupons`` job: mark coupons past their validity as expired, a slice at a time."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.clock import Clock
from jifen.coupons import service
from jifen.programs.context import ProgramContext


async def expire(session: AsyncSession, ctx: ProgramContext, clock: Clock) -> int:
    return await service.expire_due(session, ctx, now=clock.now())
