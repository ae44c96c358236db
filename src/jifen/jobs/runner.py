"""Jobs over every program: seal the chain, lapse holds, expire lots.

Each job step is its own transaction over a bounded slice of work, so a crash loses nothing and
a re-run (or a second worker) only finds what is left.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.clock import Clock
from jifen.coupons import jobs as coupon_jobs
from jifen.leaderboards import service as leaderboards
from jifen.ledger import chain
from jifen.ledger import service as ledger
from jifen.lottery import jobs as lottery_jobs
from jifen.notify import jobs as notify_jobs
from jifen.programs import service as programs
from jifen.programs.context import ProgramContext
from jifen.referrals import service as referrals
from jifen.tiers import service as tiers

log = structlog.get_logger("jifen.jobs")

Step = Callable[[AsyncSession, ProgramContext, Clock], Awaitable[int]]


async def _seal(s: AsyncSession, ctx: ProgramContext, clock: Clock) -> int:
    return await chain.seal(s, ctx.id, now=clock.now())


async def _lapse(s: AsyncSession, ctx: ProgramContext, clock: Clock) -> int:
    return await ledger.lapse_due_holds(s, ctx, now=clock.now())


async def _expire(s: AsyncSession, ctx: ProgramContext, clock: Clock) -> int:
    return await ledger.expire_due(s, ctx, now=clock.now())


JOBS: dict[str, Step] = {"holds": _lapse, "expire": _expire, "seal": _seal}
JOBS["coupons"] = coupon_jobs.expire
JOBS["lottery"] = lottery_jobs.publish
JOBS["referrals"] = referrals.run_job
JOBS["tiers"] = tiers.run_job
JOBS["reminders"] = notify_jobs.remind_expiring
JOBS["birthdays"] = notify_jobs.give_gifts
JOBS["leaderboards"] = leaderboards.run_job


@dataclass
class JobResult:
    job: str
    program: str
    count: int


async def run_job(
    name: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    *,
    program_id: str | None = None,
) -> list[JobResult]:
    """Run one job to completion for one or every program."""
    step = JOBS[name]
    async with sessionmaker() as s, s.begin():
        if program_id:
            contexts = [await programs.get_context(s, program_id)]
        else:
            from jifen.programs.context import to_context

            contexts = [to_context(p) for p in await programs.list_programs(s)]
    results = []
    for ctx in contexts:
        total = 0
        while True:
            async with sessionmaker() as s, s.begin():
                n = await step(s, ctx, clock)
            if n == 0:
                break
            total += n
        if total:
            log.info("job_done", job=name, program=ctx.id, count=total)
        results.append(JobResult(name, ctx.id, total))
    return results


def job_order() -> list[str]:
    """Every job, in the order that leaves the least for the next: holds free points and
    expiry moves what is due before anything reads balances, and sealing chains all of it last."""
    first, last = ["holds", "expire"], ["seal"]
    return first + [n for n in JOBS if n not in first and n not in last] + last


async def run_all(sessionmaker: async_sessionmaker[AsyncSession], clock: Clock) -> list[JobResult]:
    """One pass of every job (``job_order``)."""
    out: list[JobResult] = []
    for name in job_order():
        out.extend(await run_job(name, sessionmaker, clock))
    return out
