"""The checkout API: settings, quotes, and each order's deduction (hold, capture, void, refund)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.api.deps import DbDep, IdempotencyHeader, ProgramDep, idempotency_key
from jifen.api.member_auth import MemberDep
from jifen.api.problems import PROBLEM
from jifen.checkout import service
from jifen.checkout.schemas import (
    CheckoutSettingsIn,
    CheckoutSettingsOut,
    DeductionIn,
    DeductionOut,
    KeyOnly,
    MyQuoteIn,
    QuoteIn,
    QuoteOut,
    RefundIn,
    RefundOut,
)
from jifen.kit.idempotency import Outcome, run_once
from jifen.ledger.endpoints import PROBLEMS, respond
from jifen.members import service as members
from jifen.programs.context import ProgramContext

router = APIRouter(prefix="/v1", tags=["checkout"])

OrderPath = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@\-]+$")]

CHECKOUT_PROBLEMS: dict[int | str, dict[str, Any]] = {
    **PROBLEMS,
    404: {"content": {PROBLEM: {}}, "description": "member_not_found, deduction_not_found"},
    409: {
        "content": {PROBLEM: {}},
        "description": "idempotency_conflict, deduction_exists, deduction_not_active",
    },
    422: {
        "content": {PROBLEM: {}},
        "description": "insufficient_points, exceeds_max_share, below_minimum_points, "
        "invalid_points_step, checkout_disabled, invalid_amount",
    },
}


@router.put("/checkout/settings", response_model=CheckoutSettingsOut, responses=CHECKOUT_PROBLEMS)
async def save_settings(
    body: CheckoutSettingsIn, program: ProgramDep, db: DbDep, actor: str = "api"
) -> CheckoutSettingsOut:
    """Set the point value, the share of an order points may pay, the minimum and the step."""
    now = db.now()
    return await db.write(lambda s: service.save_settings(s, program, body, now=now, actor=actor))


@router.get("/checkout/settings", response_model=CheckoutSettingsOut, responses=CHECKOUT_PROBLEMS)
async def get_settings(program: ProgramDep, db: DbDep) -> CheckoutSettingsOut:
    async def run(s: AsyncSession) -> CheckoutSettingsOut:
        return service.settings_out(program, await service.rates(s, program))

    return await db.read(run)


async def _quote(db: DbDep, program: ProgramContext, member_id: str, amount: int) -> QuoteOut:
    now = db.now()

    async def run(s: AsyncSession) -> QuoteOut:
        member = await members.get(s, program.id, member_id)
        return await service.quote(s, program, member, amount, now=now)

    return await db.read(run)


@router.post("/checkout/quote", response_model=QuoteOut, responses=CHECKOUT_PROBLEMS)
async def quote(body: QuoteIn, program: ProgramDep, db: DbDep) -> QuoteOut:
    """The most points the member can use on an order of this amount (reads only)."""
    return await _quote(db, program, body.member, body.order_amount_fen)


@router.post("/me/checkout/quote", response_model=QuoteOut, responses=CHECKOUT_PROBLEMS)
async def my_quote(body: MyQuoteIn, who: MemberDep, db: DbDep) -> QuoteOut:
    return await _quote(db, who.program, who.member, body.order_amount_fen)


async def _keyed_write(
    db: DbDep,
    program: ProgramContext,
    *,
    key: str,
    operation: str,
    payload: dict[str, Any],
    status: int,
    change: Callable[[AsyncSession, Any], Awaitable[BaseModel]],
) -> JSONResponse:
    now = db.now()

    async def run(s: AsyncSession) -> Outcome:
        async def apply() -> Outcome:
            return Outcome(status, (await change(s, now)).model_dump(mode="json"))

        return await run_once(
            s, program.id, key=key, operation=operation, payload=payload, now=now, apply=apply
        )

    return respond(await db.write(run))


@router.post(
    "/checkout/deductions",
    status_code=201,
    response_model=DeductionOut,
    responses=CHECKOUT_PROBLEMS,
)
async def create_deduction(
    body: DeductionIn, program: ProgramDep, db: DbDep, key: IdempotencyHeader = None
) -> JSONResponse:
    """Hold the points for an order: capture when it is paid, void when it is not."""
    k = idempotency_key(key, body.idempotency_key)
    return await _keyed_write(
        db, program, key=k, operation="checkout.deduct",
        payload=body.model_dump(mode="json", exclude={"idempotency_key"}), status=201,
        change=lambda s, now: service.create(s, program, body, now=now),
    )  # fmt: skip


@router.get(
    "/checkout/deductions/{order_id}", response_model=DeductionOut, responses=CHECKOUT_PROBLEMS
)
async def get_deduction(order_id: OrderPath, program: ProgramDep, db: DbDep) -> DeductionOut:
    now = db.now()
    return await db.read(lambda s: service.get_deduction(s, program.id, order_id, now=now))


@router.post(
    "/checkout/deductions/{order_id}/capture",
    response_model=DeductionOut,
    responses=CHECKOUT_PROBLEMS,
)
async def capture_deduction(
    order_id: OrderPath,
    program: ProgramDep,
    db: DbDep,
    body: KeyOnly | None = None,
    key: IdempotencyHeader = None,
) -> JSONResponse:
    """The order is paid: spend the held points (idempotent)."""
    k = idempotency_key(key, body.idempotency_key if body else None)
    return await _keyed_write(
        db, program, key=k, operation="checkout.capture", payload={"order_id": order_id},
        status=200, change=lambda s, now: service.capture(s, program, order_id, now=now),
    )  # fmt: skip


@router.post(
    "/checkout/deductions/{order_id}/void",
    response_model=DeductionOut,
    responses=CHECKOUT_PROBLEMS,
)
async def void_deduction(
    order_id: OrderPath,
    program: ProgramDep,
    db: DbDep,
    body: KeyOnly | None = None,
    key: IdempotencyHeader = None,
) -> JSONResponse:
    """The order was not paid: free the held points (idempotent)."""
    k = idempotency_key(key, body.idempotency_key if body else None)
    return await _keyed_write(
        db, program, key=k, operation="checkout.void", payload={"order_id": order_id},
        status=200, change=lambda s, now: service.void(s, program, order_id, now=now),
    )  # fmt: skip


@router.post(
    "/checkout/deductions/{order_id}/refund",
    status_code=201,
    response_model=RefundOut,
    responses=CHECKOUT_PROBLEMS,
)
async def refund_deduction(
    order_id: OrderPath,
    body: RefundIn,
    program: ProgramDep,
    db: DbDep,
    key: IdempotencyHeader = None,
) -> JSONResponse:
    """Part of the paid order is refunded: give back the same share of its points."""
    k = idempotency_key(key, body.idempotency_key)
    return await _keyed_write(
        db, program, key=k, operation="checkout.refund",
        payload={"order_id": order_id, "amount_fen": body.amount_fen}, status=201,
        change=lambda s, now: service.refund(s, program, order_id, body.amount_fen, now=now),
    )  # fmt: skip
