"""The worker process: the outbox dispatcher and the scheduled jobs, side by side, until told
to stop (``jifen worker``; SIGTERM or SIGINT stop it after the pass in progress)."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.clock import Clock
from jifen.webhooks.dispatcher import DispatchConfig, dispatch_pass

log = structlog.get_logger("jifen.worker")


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def dispatch_loop(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    stop: asyncio.Event,
    *,
    interval: float = 1.0,
    config: DispatchConfig = DispatchConfig(),
) -> None:
    """Dispatch the outbox: straight on while there is work, every ``interval`` s when idle."""
    async with httpx.AsyncClient(follow_redirects=False) as http:
        while not stop.is_set():
            try:
                stats = await dispatch_pass(sessionmaker, clock, http, config)
            except Exception:  # a failed pass is retried on the next one; the worker lives on
                log.exception("dispatch_failed")
                await _pause(stop, interval)
                continue
            if stats.idle:
                await _pause(stop, interval)
            else:
                log.debug("dispatched", messages=stats.messages, attempts=stats.attempts)


async def jobs_loop(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    stop: asyncio.Event,
    *,
    interval: float = 5.0,
) -> None:
    """Every scheduled job (``jifen.jobs.runner.JOBS``) for every program, every ``interval`` s."""
    from jifen.jobs.runner import job_order, run_job

    while not stop.is_set():
        for name in job_order():
            if stop.is_set():
                return
            try:
                await run_job(name, sessionmaker, clock)
            except Exception:  # one job's failure must not stop the others
                log.exception("job_failed", job=name)
        await _pause(stop, interval)


async def run_worker(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    stop: asyncio.Event,
    *,
    job_interval: float = 5.0,
    dispatch_interval: float = 1.0,
    config: DispatchConfig = DispatchConfig(),
    jobs: bool = True,
) -> None:
    log.info("worker_started", jobs=jobs, batch=config.batch)
    loops = [dispatch_loop(sessionmaker, clock, stop, interval=dispatch_interval, config=config)]
    if jobs:
        loops.append(jobs_loop(sessionmaker, clock, stop, interval=job_interval))
    await asyncio.gather(*loops)
    log.info("worker_stopped")
