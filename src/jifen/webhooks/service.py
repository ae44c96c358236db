"""Webhook endpoints, their delivery log, the dead letters and replay."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.clock import as_utc
from jifen.errors import Conflict, InvalidInput, NotFound
from jifen.kit.ids import uuid7
from jifen.kit.sql import in_values
from jifen.notify.service import decode_cursor, encode_cursor
from jifen.programs import service as programs
from jifen.programs.context import ProgramContext
from jifen.webhooks import signing
from jifen.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from jifen.webhooks.schemas import (
    AttemptOut,
    DeliveryOut,
    DeliveryPage,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
)

MAX_ENDPOINTS = 20


def _out(ep: WebhookEndpoint) -> WebhookOut:
    return WebhookOut(
        id=ep.id,
        url=ep.url,
        events=list(ep.events),
        description=ep.description,
        max_attempts=ep.max_attempts,
        status=ep.status,
        created_at=as_utc(ep.created_at),
    )


async def create_endpoint(
    session: AsyncSession, ctx: ProgramContext, data: WebhookIn, *, now: datetime, actor: str
) -> WebhookCreated:
    """A new endpoint with a new secret (returned here only)."""
    active = await list_endpoints(session, ctx.id)
    if len(active) >= MAX_ENDPOINTS:
        raise InvalidInput(
            f"a program has at most {MAX_ENDPOINTS} webhook endpoints",
            code="too_many_webhooks",
        )
    ep = WebhookEndpoint(
        id=uuid7(),
        program_id=ctx.id,
        url=data.url,
        events=sorted(set(data.events)),
        description=data.description,
        secret=signing.new_secret(),
        max_attempts=data.max_attempts,
        status="active",
        created_at=now,
        deleted_at=None,
    )
    session.add(ep)
    await programs.record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="webhook.create",
        entity_type="webhook",
        entity_id=str(ep.id),
        now=now,
        after={"url": ep.url, "events": ep.events, "max_attempts": ep.max_attempts},
    )
    await session.flush()
    return WebhookCreated(**_out(ep).model_dump(), secret=ep.secret)


async def list_endpoints(session: AsyncSession, program_id: str) -> list[WebhookOut]:
    rows = await session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.program_id == program_id, WebhookEndpoint.status == "active")
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )
    return [_out(ep) for ep in rows]


async def _endpoint(
    session: AsyncSession, program_id: str, endpoint_id: uuid.UUID
) -> WebhookEndpoint:
    ep = await session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.program_id == program_id, WebhookEndpoint.id == endpoint_id
        )
    )
    if ep is None:
        raise NotFound(f"no webhook {endpoint_id}", code="webhook_not_found", field="webhook")
    return ep


async def get_endpoint(
    session: AsyncSession, program_id: str, endpoint_id: uuid.UUID
) -> WebhookOut:
    return _out(await _endpoint(session, program_id, endpoint_id))


async def delete_endpoint(
    session: AsyncSession, ctx: ProgramContext, endpoint_id: uuid.UUID, *, now: datetime, actor: str
) -> None:
    """Stop sending to the endpoint; its pending deliveries are cancelled, its log kept."""
    ep = await _endpoint(session, ctx.id, endpoint_id)
    if ep.status == "deleted":
        raise NotFound(f"no webhook {endpoint_id}", code="webhook_not_found", field="webhook")
    ep.status = "deleted"
    ep.deleted_at = now
    await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.program_id == ctx.id,
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == "pending",
        )
        .values(status="cancelled", lease_token=None)
        .execution_options(synchronize_session=False)
    )
    await programs.record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="webhook.delete",
        entity_type="webhook",
        entity_id=str(ep.id),
        now=now,
        before={"url": ep.url, "events": ep.events},
    )
    await session.flush()


# --- deliveries ----------------------------------------------------------------------------------


def _delivery_out(d: WebhookDelivery, log: Sequence[WebhookAttempt] = ()) -> DeliveryOut:
    return DeliveryOut(
        id=d.id,
        endpoint_id=d.endpoint_id,
        message_id=d.message_id,
        type=d.event_type,
        status=d.status,
        attempts=d.attempts,
        failures=d.failures,
        next_attempt_at=as_utc(d.next_attempt_at) if d.status == "pending" else None,
        last_status_code=d.last_status_code,
        last_error=d.last_error,
        created_at=as_utc(d.created_at),
        delivered_at=as_utc(d.delivered_at) if d.delivered_at else None,
        dead_at=as_utc(d.dead_at) if d.dead_at else None,
        log=[
            AttemptOut(
                attempt=a.attempt,
                started_at=as_utc(a.started_at),
                status_code=a.status_code,
                latency_ms=a.latency_ms,
                error=a.error,
                ok=a.ok,
            )
            for a in log
        ],
    )


async def _page(
    session: AsyncSession,
    program_id: str,
    where: Sequence[object],
    *,
    cursor: str | None,
    limit: int,
) -> DeliveryPage:
    stmt = select(WebhookDelivery).where(WebhookDelivery.program_id == program_id, *where)  # type: ignore[arg-type]
    if cursor:
        when, did = decode_cursor(cursor)
        stmt = stmt.where(
            or_(
                WebhookDelivery.created_at < when,
                and_(WebhookDelivery.created_at == when, WebhookDelivery.id < did),
            )
        )
    rows = list(
        await session.scalars(
            stmt.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(
                limit + 1
            )
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    logs: dict[uuid.UUID, list[WebhookAttempt]] = {}
    if rows:
        for a in await session.scalars(
            select(WebhookAttempt)
            .where(
                WebhookAttempt.program_id == program_id,
                in_values(session, WebhookAttempt.delivery_id, [d.id for d in rows]),
            )
            .order_by(WebhookAttempt.id)
        ):
            logs.setdefault(a.delivery_id, []).append(a)
    return DeliveryPage(
        items=[_delivery_out(d, logs.get(d.id, [])) for d in rows],
        next_cursor=encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None,
    )


async def deliveries(
    session: AsyncSession,
    program_id: str,
    endpoint_id: uuid.UUID,
    *,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> DeliveryPage:
    """The endpoint's delivery log, newest first, each delivery with its attempts."""
    await _endpoint(session, program_id, endpoint_id)
    where: list[object] = [WebhookDelivery.endpoint_id == endpoint_id]
    if status is not None:
        where.append(WebhookDelivery.status == status)
    return await _page(session, program_id, where, cursor=cursor, limit=limit)


async def dead_letters(
    session: AsyncSession, program_id: str, *, cursor: str | None = None, limit: int = 50
) -> DeliveryPage:
    """Deliveries that used up their attempts, newest first."""
    return await _page(
        session, program_id, [WebhookDelivery.status == "dead"], cursor=cursor, limit=limit
    )


async def replay(
    session: AsyncSession, ctx: ProgramContext, delivery_id: uuid.UUID, *, now: datetime, actor: str
) -> DeliveryOut:
    """Send a dead (or delivered) delivery again: it is due now, with a fresh set of attempts.
    The body and ``Jifen-Message-Id`` are the original ones."""
    d = await session.scalar(
        select(WebhookDelivery)
        .where(WebhookDelivery.program_id == ctx.id, WebhookDelivery.id == delivery_id)
        .with_for_update()
    )
    if d is None:
        raise NotFound(f"no delivery {delivery_id}", code="delivery_not_found", field="delivery")
    ep = await _endpoint(session, ctx.id, d.endpoint_id)
    if ep.status != "active":
        raise Conflict("the delivery's webhook was deleted", code="webhook_deleted")
    if d.status == "pending":
        raise Conflict("the delivery is still pending", code="delivery_pending")
    before = d.status
    d.status = "pending"
    d.failures = 0
    d.next_attempt_at = now
    d.lease_token = None
    d.dead_at = None
    await programs.record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="webhook.replay",
        entity_type="webhook_delivery",
        entity_id=str(d.id),
        now=now,
        before={"status": before},
        after={"status": "pending"},
    )
    await session.flush()
    return _delivery_out(d)
