"""The outbox dispatcher: fan messages out to webhook endpoints, deliver, retry, dead-letter.

Two steps, each in short transactions that several workers may run at once:

1. *Fan-out* claims due outbox messages (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has
   one writer at a time, ``BEGIN IMMEDIATE``), renders each once in its member's language, writes
   one delivery row per matching endpoint (unique per endpoint and message) and marks the
   messages dispatched, all in one transaction: a crash rolls it back whole.
2. *Delivery* claims due deliveries the same way and leases them (``next_attempt_at`` moves a
   lease ahead, under a fresh ``lease_token``) in one transaction, then sends them over HTTP
   outside any transaction, then records the attempts and the outcome in a third, counting
   only under its own lease. A worker that dies between the two leaves its deliveries leased:
   they fall due again when the lease runs out and another pass sends them. Receivers may thus
   see a message twice (at-least-once), always under the same ``Jifen-Message-Id``.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import structlog
from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen import __version__
from jifen.clock import Clock
from jifen.kit import bulk
from jifen.kit.ids import uuid7
from jifen.kit.sql import in_values, insert_ignore
from jifen.notify import service as notify
from jifen.notify import templates
from jifen.notify.models import OutboxMessage
from jifen.webhooks import signing
from jifen.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

log = structlog.get_logger("jifen.webhooks")

# Seconds to wait after the 1st, 2nd, ... failure (the last one repeats).
SCHEDULE = (10, 30, 120, 600, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600)


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    batch: int = 100  # deliveries sent per pass
    fan_out_batch: int = 500  # outbox messages taken per pass (most have no endpoint to go to)
    # How long a claimed delivery stays with its dispatcher before another may take it;
    # by default twice the longest a batch can take (every request timing out), at least 60 s.
    lease: timedelta | None = None
    timeout_s: float = 5.0
    concurrency: int = 16
    schedule: tuple[int, ...] = SCHEDULE
    # Each wait is stretched by up to this share, at random, so that retries of many
    # deliveries that failed together do not all come back in the same second.
    jitter: float = 0.1

    @property
    def lease_time(self) -> timedelta:
        if self.lease is not None:
            return self.lease
        rounds = -(-self.batch // self.concurrency)
        return timedelta(seconds=max(60.0, 2 * self.timeout_s * rounds))


def backoff(failures: int, config: DispatchConfig, rng: random.Random | None = None) -> timedelta:
    """The wait after the ``failures``-th failure in a row (1-based)."""
    base = config.schedule[min(failures, len(config.schedule)) - 1]
    spread = (rng or random).random() * config.jitter
    return timedelta(seconds=base * (1 + spread))


def matches(patterns: Sequence[str], etype: str, topic: str) -> bool:
    for p in patterns:
        if p in ("*", etype, topic):
            return True
        if p.endswith(".*") and (etype.startswith(p[:-1]) or topic.startswith(p[:-1])):
            return True
    return False


def _table(model: type[object]) -> Table:
    table = getattr(model, "__table__", None)
    assert isinstance(table, Table)
    return table


# --- fan-out -------------------------------------------------------------------------------------


async def fan_out(session: AsyncSession, *, now: datetime, batch: int = 100) -> int:
    """Turn up to ``batch`` due outbox messages into deliveries; returns the messages taken."""
    messages = list(
        await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.dispatched_at.is_(None), OutboxMessage.available_at <= now)
            .order_by(OutboxMessage.available_at)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
    )
    if not messages:
        return 0
    programs = sorted({m.program_id for m in messages})
    endpoints: dict[str, list[WebhookEndpoint]] = {}
    for ep in await session.scalars(
        select(WebhookEndpoint).where(
            in_values(session, WebhookEndpoint.program_id, programs),
            WebhookEndpoint.status == "active",
        )
    ):
        endpoints.setdefault(ep.program_id, []).append(ep)
    wanted: list[tuple[OutboxMessage, list[WebhookEndpoint]]] = []
    for m in messages:
        etype = templates.event_type(m.topic, m.payload or {})
        targets = [
            ep for ep in endpoints.get(m.program_id, []) if matches(ep.events, etype, m.topic)
        ]
        if targets:
            wanted.append((m, targets))
    rows = []
    if wanted:
        rendered = await notify.render(session, [m for m, _ in wanted])
        for (m, targets), r in zip(wanted, rendered, strict=True):
            body = json.dumps(
                {
                    "id": str(m.id),
                    "type": r.type,
                    "topic": m.topic,
                    "program": m.program_id,
                    "member": r.member,
                    "locale": r.locale,
                    "text": r.text,
                    "data": r.data,
                    "created_at": r.created_at.isoformat(),
                },
                ensure_ascii=False,
                separators=(",", ":"),
                default=str,
            )
            rows += [
                {
                    "id": uuid7(),
                    "program_id": m.program_id,
                    "endpoint_id": ep.id,
                    "message_id": m.id,
                    "member_id": m.member_id,
                    "event_type": r.type,
                    "body": body,
                    "status": "pending",
                    "attempts": 0,
                    "failures": 0,
                    "next_attempt_at": now,
                    "lease_token": None,
                    "last_status_code": None,
                    "last_error": None,
                    "created_at": now,
                    "delivered_at": None,
                    "dead_at": None,
                }
                for ep in targets
            ]
    if rows:
        await session.execute(insert_ignore(session, _table(WebhookDelivery)), rows)
    await session.execute(
        update(OutboxMessage)
        .where(in_values(session, OutboxMessage.id, [m.id for m in messages]))
        .values(dispatched_at=now)
        .execution_options(synchronize_session=False)
    )
    return len(messages)


# --- delivery ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Job:
    delivery_id: uuid.UUID
    program_id: str
    message_id: uuid.UUID
    event_type: str
    url: str
    secret: str
    body: str
    attempt: int
    failures: int
    max_attempts: int


@dataclass(frozen=True, slots=True)
class _Result:
    job: _Job
    started_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def _claim(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    config: DispatchConfig,
    *,
    only: uuid.UUID | None = None,
) -> tuple[uuid.UUID, list[_Job]]:
    token = uuid7()
    async with sessionmaker() as s, s.begin():
        now = clock.now()
        stmt = select(WebhookDelivery).where(
            WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now
        )
        if only is not None:
            stmt = stmt.where(WebhookDelivery.id == only)
        claimed = list(
            await s.scalars(
                stmt.order_by(WebhookDelivery.next_attempt_at)
                .limit(config.batch)
                .with_for_update(skip_locked=True)
            )
        )
        if not claimed:
            return token, []
        eps = {
            ep.id: ep
            for ep in await s.scalars(
                select(WebhookEndpoint).where(
                    in_values(s, WebhookEndpoint.id, sorted({d.endpoint_id for d in claimed}))
                )
            )
        }
        live = [
            d for d in claimed if d.endpoint_id in eps and eps[d.endpoint_id].status == "active"
        ]
        gone = [d.id for d in claimed if d not in live]
        if gone:  # the endpoint was deleted after the fan-out
            await s.execute(
                update(WebhookDelivery)
                .where(in_values(s, WebhookDelivery.id, gone))
                .values(status="cancelled", lease_token=None)
                .execution_options(synchronize_session=False)
            )
        if live:
            await s.execute(
                update(WebhookDelivery)
                .where(in_values(s, WebhookDelivery.id, [d.id for d in live]))
                .values(next_attempt_at=now + config.lease_time, lease_token=token)
                .execution_options(synchronize_session=False)
            )
        jobs = [
            _Job(
                delivery_id=d.id,
                program_id=d.program_id,
                message_id=d.message_id,
                event_type=d.event_type,
                url=eps[d.endpoint_id].url,
                secret=eps[d.endpoint_id].secret,
                body=d.body,
                attempt=d.attempts + 1,
                failures=d.failures,
                max_attempts=eps[d.endpoint_id].max_attempts,
            )
            for d in live
        ]
    return token, jobs


async def _send(http: httpx.AsyncClient, clock: Clock, job: _Job, timeout_s: float) -> _Result:
    started_at = clock.now()
    body = job.body.encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": f"jifen-webhooks/{__version__}",
        signing.SIGNATURE_HEADER: signing.sign(job.secret, int(started_at.timestamp()), body),
        signing.MESSAGE_ID_HEADER: str(job.message_id),
        "Jifen-Delivery-Id": str(job.delivery_id),
        "Jifen-Event": job.event_type,
        "Jifen-Attempt": str(job.attempt),
    }
    start = time.perf_counter()
    status: int | None = None
    error: str | None = None
    try:
        response = await http.post(job.url, content=body, headers=headers, timeout=timeout_s)
        status = response.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except Exception as exc:  # whatever went wrong on the way (httpx, a bad URL) is a failure
        error = f"{type(exc).__name__}: {exc}"[:500]
    latency = int((time.perf_counter() - start) * 1000)
    return _Result(job, started_at, status, latency, error)


async def _record(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    config: DispatchConfig,
    token: uuid.UUID,
    results: Sequence[_Result],
) -> None:
    async with sessionmaker() as s, s.begin():
        now = clock.now()
        await s.execute(
            _table(WebhookAttempt).insert(),
            [
                {
                    "program_id": r.job.program_id,
                    "delivery_id": r.job.delivery_id,
                    "attempt": r.job.attempt,
                    "started_at": r.started_at,
                    "status_code": r.status_code,
                    "latency_ms": r.latency_ms,
                    "error": r.error,
                    "ok": r.ok,
                }
                for r in results
            ],
        )
        # Only under our lease: if it ran out and another worker took a delivery, that
        # worker's outcome counts (the attempt above is logged all the same).
        held = set(
            await s.scalars(
                select(WebhookDelivery.id)
                .where(
                    in_values(s, WebhookDelivery.id, [r.job.delivery_id for r in results]),
                    WebhookDelivery.lease_token == token,
                )
                .with_for_update()
            )
        )
        rows = []
        for r in results:
            if r.job.delivery_id not in held:
                continue
            failures = r.job.failures if r.ok else r.job.failures + 1
            dead = not r.ok and failures >= r.job.max_attempts
            if dead:
                log.warning(
                    "webhook_dead_letter",
                    delivery=str(r.job.delivery_id),
                    message=str(r.job.message_id),
                    error=r.error,
                )
            rows.append(
                {
                    "id": r.job.delivery_id,
                    "status": "delivered" if r.ok else "dead" if dead else "pending",
                    "attempts": r.job.attempt,
                    "failures": failures,
                    "next_attempt_at": now if r.ok or dead else now + backoff(failures, config),
                    "lease_token": None,
                    "last_status_code": r.status_code,
                    "last_error": r.error,
                    "delivered_at": now if r.ok else None,
                    "dead_at": now if dead else None,
                }
            )
        await bulk.update_rows(s, _table(WebhookDelivery), "id", rows)


async def deliver_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    http: httpx.AsyncClient,
    config: DispatchConfig = DispatchConfig(),
    *,
    only: uuid.UUID | None = None,
) -> int:
    """Send up to ``config.batch`` due deliveries; returns how many were attempted."""
    token, jobs = await _claim(sessionmaker, clock, config, only=only)
    if not jobs:
        return 0
    gate = asyncio.Semaphore(config.concurrency)

    async def one(job: _Job) -> _Result:
        async with gate:
            return await _send(http, clock, job, config.timeout_s)

    results = await asyncio.gather(*(one(j) for j in jobs))
    await _record(sessionmaker, clock, config, token, results)
    return len(jobs)


@dataclass
class PassStats:
    messages: int = 0
    attempts: int = 0

    @property
    def idle(self) -> bool:
        return self.messages == 0 and self.attempts == 0


async def dispatch_pass(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    http: httpx.AsyncClient,
    config: DispatchConfig = DispatchConfig(),
) -> PassStats:
    """One batch of fan-out, then one batch of deliveries."""
    async with sessionmaker() as s, s.begin():
        messages = await fan_out(s, now=clock.now(), batch=config.fan_out_batch)
    attempts = await deliver_due(sessionmaker, clock, http, config)
    return PassStats(messages=messages, attempts=attempts)


async def run_until_idle(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    *,
    http: httpx.AsyncClient | None = None,
    config: DispatchConfig = DispatchConfig(),
) -> PassStats:
    """Dispatch until nothing is due now (retries scheduled for later stay for later)."""
    total = PassStats()
    own = http is None
    client = http or httpx.AsyncClient(follow_redirects=False)
    try:
        while True:
            stats = await dispatch_pass(sessionmaker, clock, client, config)
            if stats.idle:
                return total
            total.messages += stats.messages
            total.attempts += stats.attempts
    finally:
        if own:
            await client.aclose()
