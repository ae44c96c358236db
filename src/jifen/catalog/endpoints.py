"""The catalog API: items, a member's view of what they may redeem, redemptions and orders."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.api.deps import DbDep, IdempotencyHeader, ProgramDep, idempotency_key
from jifen.api.member_auth import MemberDep
from jifen.api.problems import PROBLEM
from jifen.catalog import service
from jifen.catalog.schemas import (
    CancelIn,
    CatalogEntry,
    FulfilIn,
    ItemIn,
    ItemKind,
    ItemOut,
    OrderOut,
    OrderPage,
    OrderStatus,
    RedeemIn,
    RestockIn,
    ShipIn,
)
from jifen.errors import InvalidInput
from jifen.kit.idempotency import Outcome, run_once
from jifen.ledger.endpoints import PROBLEMS, respond
from jifen.members import service as members
from jifen.members.endpoints import MemberId
from jifen.programs.context import ProgramContext

router = APIRouter(prefix="/v1", tags=["catalog"])

ItemPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")]

CATALOG_PROBLEMS: dict[int | str, dict[str, Any]] = {
    **PROBLEMS,
    404: {
        "content": {PROBLEM: {}},
        "description": "item_not_found, order_not_found, member_not_found",
    },
    409: {
        "content": {PROBLEM: {}},
        "description": "idempotency_conflict, invalid_order_transition",
    },
    422: {
        "content": {PROBLEM: {}},
        "description": "insufficient_points, out_of_stock, redemption_limit_reached, "
        "item_not_available, item_not_started, tier_not_eligible, address_required",
    },
}


def _cursor(cursor: str | None) -> uuid.UUID | None:
    if not cursor:
        return None
    try:
        return uuid.UUID(cursor)
    except ValueError as exc:
        raise InvalidInput("malformed cursor", code="invalid_cursor", field="cursor") from exc


# --- items ------------------------------------------------------------------------------------


@router.put("/catalog/items/{item_id}", response_model=ItemOut, responses=CATALOG_PROBLEMS)
async def save_item(
    item_id: ItemPath, body: ItemIn, program: ProgramDep, db: DbDep, actor: str = "api"
) -> JSONResponse:
    """Create (201) or replace (200) an item; audited. Sending ``stock`` sets the stock."""
    now = db.now()

    async def run(s: AsyncSession) -> tuple[ItemOut, bool]:
        return await service.save_item(s, program, item_id, body, now=now, actor=actor)

    out, created = await db.write(run)
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if created else 200)


@router.post("/catalog/items/{item_id}/restock", response_model=ItemOut, responses=CATALOG_PROBLEMS)
async def restock_item(
    item_id: ItemPath,
    body: RestockIn,
    program: ProgramDep,
    db: DbDep,
    key: IdempotencyHeader = None,
    actor: str = "api",
) -> JSONResponse:
    """Add units to the stock (or take some away with a negative ``add``); audited."""
    k = idempotency_key(key, body.idempotency_key)
    return await _keyed_write(
        db, program, k, "catalog.restock", {"item": item_id, "add": body.add},
        lambda s, now: service.restock(s, program, item_id, body.add, now=now, actor=actor),
    )  # fmt: skip


@router.get("/catalog/items", response_model=list[ItemOut], responses=CATALOG_PROBLEMS)
async def list_items(
    program: ProgramDep,
    db: DbDep,
    kind: ItemKind | None = None,
    category: Annotated[str | None, Query(max_length=80)] = None,
    enabled: bool | None = None,
    available: Annotated[
        bool, Query(description="Only items enabled and inside their window now")
    ] = False,
    in_stock: bool | None = None,
) -> list[ItemOut]:
    now = db.now()
    return await db.read(
        lambda s: service.list_items(
            s,
            program.id,
            kind=kind,
            category=category,
            enabled=enabled,
            available_at=now if available else None,
            in_stock=in_stock,
        )
    )


@router.get("/catalog/items/{item_id}", response_model=ItemOut, responses=CATALOG_PROBLEMS)
async def get_item(item_id: ItemPath, program: ProgramDep, db: DbDep) -> ItemOut:
    return await db.read(lambda s: service.get_item(s, program.id, item_id))


async def _catalog_for(db: DbDep, program: ProgramContext, external_id: str) -> list[CatalogEntry]:
    now = db.now()

    async def run(s: AsyncSession) -> list[CatalogEntry]:
        member = await members.get(s, program.id, external_id)
        return await service.member_catalog(s, program, member, now=now)

    return await db.read(run)


@router.get(
    "/members/{member_id}/catalog", response_model=list[CatalogEntry], responses=CATALOG_PROBLEMS
)
async def member_catalog(member_id: MemberId, program: ProgramDep, db: DbDep) -> list[CatalogEntry]:
    """The catalog as this member sees it: whether each item is redeemable now, and why not."""
    return await _catalog_for(db, program, member_id)


# --- redemptions ------------------------------------------------------------------------------


async def _redeem(
    db: DbDep, program: ProgramContext, external_id: str, body: RedeemIn, key: str
) -> JSONResponse:
    now = db.now()
    payload = {"member": external_id, **body.model_dump(mode="json", exclude={"idempotency_key"})}

    async def run(s: AsyncSession) -> Outcome:
        member = await members.get(s, program.id, external_id)

        async def apply() -> Outcome:
            order = await service.redeem(s, program, member, body, now=now)
            return Outcome(201, order.model_dump(mode="json"))

        return await run_once(
            s, program.id, key=key, operation="catalog.redeem", payload=payload, now=now,
            apply=apply,
        )  # fmt: skip

    return respond(await db.write(run))


@router.post(
    "/members/{member_id}/redemptions",
    status_code=201,
    response_model=OrderOut,
    responses=CATALOG_PROBLEMS,
)
async def redeem(
    member_id: MemberId,
    body: RedeemIn,
    program: ProgramDep,
    db: DbDep,
    key: IdempotencyHeader = None,
) -> JSONResponse:
    """Redeem an item for points (and the item's cash part, paid by the merchant's checkout).

    Physical goods need ``address`` and start ``pending``; the rest are ``fulfilled`` at once."""
    k = idempotency_key(key, body.idempotency_key)
    return await _redeem(db, program, member_id, body, k)


@router.get("/orders", response_model=OrderPage, responses=CATALOG_PROBLEMS)
async def list_orders(
    program: ProgramDep,
    db: DbDep,
    status: OrderStatus | None = None,
    item: Annotated[str | None, Query(max_length=80)] = None,
    member: Annotated[str | None, Query(max_length=128)] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> OrderPage:
    """Redemption orders, newest first; pass ``next_cursor`` back for the next page."""
    before = _cursor(cursor)

    async def run(s: AsyncSession) -> OrderPage:
        member_id = (await members.get(s, program.id, member)).id if member else None
        return await service.list_orders(
            s, program.id, member_id=member_id, status=status, item=item, before=before,
            limit=limit,
        )  # fmt: skip

    return await db.read(run)


@router.get("/members/{member_id}/orders", response_model=OrderPage, responses=CATALOG_PROBLEMS)
async def member_orders(
    member_id: MemberId,
    program: ProgramDep,
    db: DbDep,
    status: OrderStatus | None = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> OrderPage:
    before = _cursor(cursor)

    async def run(s: AsyncSession) -> OrderPage:
        member = await members.get(s, program.id, member_id)
        return await service.list_orders(
            s, program.id, member_id=member.id, status=status, before=before, limit=limit
        )

    return await db.read(run)


@router.get("/orders/{order_id}", response_model=OrderOut, responses=CATALOG_PROBLEMS)
async def get_order(order_id: uuid.UUID, program: ProgramDep, db: DbDep) -> OrderOut:
    return await db.read(lambda s: service.get_order(s, program.id, order_id))


async def _keyed_write(
    db: DbDep,
    program: ProgramContext,
    key: str,
    operation: str,
    payload: dict[str, Any],
    change: Callable[[AsyncSession, datetime], Awaitable[BaseModel]],
) -> JSONResponse:
    now = db.now()

    async def run(s: AsyncSession) -> Outcome:
        async def apply() -> Outcome:
            return Outcome(200, (await change(s, now)).model_dump(mode="json"))

        return await run_once(
            s, program.id, key=key, operation=operation, payload=payload, now=now, apply=apply
        )

    return respond(await db.write(run))


@router.post("/orders/{order_id}/ship", response_model=OrderOut, responses=CATALOG_PROBLEMS)
async def ship_order(
    order_id: uuid.UUID,
    body: ShipIn,
    program: ProgramDep,
    db: DbDep,
    key: IdempotencyHeader = None,
) -> JSONResponse:
    """pending → shipped, with the tracking number (physical goods)."""
    k = idempotency_key(key, body.idempotency_key)
    return await _keyed_write(
        db, program, k, "catalog.ship", {"order": str(order_id), "tracking_no": body.tracking_no},
        lambda s, now: service.ship(s, program, order_id, tracking_no=body.tracking_no, now=now),
    )  # fmt: skip


@router.post("/orders/{order_id}/fulfil", response_model=OrderOut, responses=CATALOG_PROBLEMS)
async def fulfil_order(
    order_id: uuid.UUID,
    program: ProgramDep,
    db: DbDep,
    body: FulfilIn | None = None,
    key: IdempotencyHeader = None,
) -> JSONResponse:
    """shipped (or pending) → fulfilled."""
    k = idempotency_key(key, body.idempotency_key if body else None)
    return await _keyed_write(
        db, program, k, "catalog.fulfil", {"order": str(order_id)},
        lambda s, now: service.fulfil(s, program, order_id, now=now),
    )  # fmt: skip


@router.post("/orders/{order_id}/cancel", response_model=OrderOut, responses=CATALOG_PROBLEMS)
async def cancel_order(
    order_id: uuid.UUID,
    program: ProgramDep,
    db: DbDep,
    body: CancelIn | None = None,
    key: IdempotencyHeader = None,
) -> JSONResponse:
    """Cancel: the points go back to the lots they came from (through a ledger reversal of the
    order's debit), the stock is restored, unused coupons are voided. Idempotent."""
    reason = body.reason if body else None
    k = idempotency_key(key, body.idempotency_key if body else None)
    return await _keyed_write(
        db, program, k, "catalog.cancel", {"order": str(order_id), "reason": reason},
        lambda s, now: service.cancel(s, program, order_id, reason=reason, now=now),
    )  # fmt: skip


# --- the member's own ---------------------------------------------------------------------------


@router.get("/me/catalog", response_model=list[CatalogEntry], responses=CATALOG_PROBLEMS)
async def my_catalog(who: MemberDep, db: DbDep) -> list[CatalogEntry]:
    """What I may redeem now, and why not otherwise."""
    return await _catalog_for(db, who.program, who.member)


@router.post(
    "/me/redemptions", status_code=201, response_model=OrderOut, responses=CATALOG_PROBLEMS
)
async def my_redeem(
    body: RedeemIn, who: MemberDep, db: DbDep, key: IdempotencyHeader = None
) -> JSONResponse:
    k = idempotency_key(key, body.idempotency_key)
    return await _redeem(db, who.program, who.member, body, k)


@router.get("/me/orders", response_model=OrderPage, responses=CATALOG_PROBLEMS)
async def my_orders(
    who: MemberDep,
    db: DbDep,
    status: OrderStatus | None = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> OrderPage:
    before = _cursor(cursor)
    return await db.read(
        lambda s: service.list_orders(
            s, who.program.id, member_id=who.member_id, status=status, before=before, limit=limit
        )
    )


@router.get("/me/orders/{order_id}", response_model=OrderOut, responses=CATALOG_PROBLEMS)
async def my_order(order_id: uuid.UUID, who: MemberDep, db: DbDep) -> OrderOut:
    return await db.read(
        lambda s: service.get_order(s, who.program.id, order_id, member_id=who.member_id)
    )
