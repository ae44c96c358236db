"""The webhooks API: endpoints, delivery log, dead letters and replay (and, included from
``jifen.notify.endpoints``, templates, settings and the members' notifications)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.api.deps import DbDep, IdempotencyHeader, ProgramDep, idempotency_key
from jifen.kit.idempotency import Outcome, run_once
from jifen.ledger.endpoints import PROBLEMS, respond
from jifen.notify.endpoints import router as notify_router
from jifen.webhooks import service
from jifen.webhooks.schemas import (
    DeliveryOut,
    DeliveryPage,
    ReplayIn,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
)

router = APIRouter(prefix="/v1", tags=["webhooks"])
router.include_router(notify_router)

Cursor = Annotated[str | None, Query(max_length=200)]
Limit = Annotated[int, Query(ge=1, le=200)]


@router.post("/webhooks", status_code=201, response_model=WebhookCreated, responses=PROBLEMS)
async def create_webhook(
    body: WebhookIn,
    program: ProgramDep,
    db: DbDep,
    key: IdempotencyHeader = None,
    actor: str = "api",
) -> JSONResponse:
    """Register an endpoint for some event types (``points.credited``, ``points.*``, ``*``).
    The response carries the signing secret: it is shown this once."""
    ikey = idempotency_key(key, body.idempotency_key)
    now = db.now()
    payload = body.model_dump(mode="json", exclude={"idempotency_key"})

    async def run(s: AsyncSession) -> Outcome:
        async def apply() -> Outcome:
            created = await service.create_endpoint(s, program, body, now=now, actor=actor)
            return Outcome(201, created.model_dump(mode="json"))

        return await run_once(
            s, program.id, key=ikey, operation="webhooks.create", payload=payload, now=now,
            apply=apply,
        )  # fmt: skip

    return respond(await db.write(run))


@router.get("/webhooks", response_model=list[WebhookOut], responses=PROBLEMS)
async def list_webhooks(program: ProgramDep, db: DbDep) -> list[WebhookOut]:
    return await db.read(lambda s: service.list_endpoints(s, program.id))


@router.get("/webhooks/dead-letters", response_model=DeliveryPage, responses=PROBLEMS)
async def dead_letters(
    program: ProgramDep, db: DbDep, cursor: Cursor = None, limit: Limit = 50
) -> DeliveryPage:
    """Deliveries that failed every attempt, newest first, with their attempts."""
    return await db.read(lambda s: service.dead_letters(s, program.id, cursor=cursor, limit=limit))


@router.post(
    "/webhooks/deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=DeliveryOut,
    responses=PROBLEMS,
)
async def replay_delivery(
    delivery_id: uuid.UUID,
    program: ProgramDep,
    db: DbDep,
    body: ReplayIn | None = None,
    key: IdempotencyHeader = None,
    actor: str = "api",
) -> JSONResponse:
    """Send a dead (or delivered) delivery again, now: same body, same ``Jifen-Message-Id``,
    a fresh set of attempts. The worker sends it on its next pass."""
    ikey = idempotency_key(key, body.idempotency_key if body else None)
    now = db.now()

    async def run(s: AsyncSession) -> Outcome:
        async def apply() -> Outcome:
            out = await service.replay(s, program, delivery_id, now=now, actor=actor)
            return Outcome(202, out.model_dump(mode="json"))

        return await run_once(
            s, program.id, key=ikey, operation="webhooks.replay",
            payload={"delivery": str(delivery_id)}, now=now, apply=apply,
        )  # fmt: skip

    return respond(await db.write(run))


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut, responses=PROBLEMS)
async def get_webhook(webhook_id: uuid.UUID, program: ProgramDep, db: DbDep) -> WebhookOut:
    return await db.read(lambda s: service.get_endpoint(s, program.id, webhook_id))


@router.delete("/webhooks/{webhook_id}", status_code=204, responses=PROBLEMS)
async def delete_webhook(
    webhook_id: uuid.UUID, program: ProgramDep, db: DbDep, actor: str = "api"
) -> Response:
    """Stop sending to the endpoint; its pending deliveries are cancelled, its log is kept."""
    now = db.now()
    await db.write(lambda s: service.delete_endpoint(s, program, webhook_id, now=now, actor=actor))
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveryPage, responses=PROBLEMS)
async def webhook_deliveries(
    webhook_id: uuid.UUID,
    program: ProgramDep,
    db: DbDep,
    status: Literal["pending", "delivered", "dead", "cancelled"] | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> DeliveryPage:
    """The delivery log: each delivery with every attempt (status code, latency, error)."""
    return await db.read(
        lambda s: service.deliveries(
            s, program.id, webhook_id, status=status, cursor=cursor, limit=limit
        )
    )
