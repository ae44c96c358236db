"""The coupons API: templates, issue, a member's coupons, validate, redeem, best, void, restore."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.api.deps import DbDep, IdempotencyHeader, ProgramDep, idempotency_key
from jifen.api.member_auth import MemberDep
from jifen.coupons import service
from jifen.coupons.schemas import (
    BestOut,
    BulkIssueIn,
    BulkIssueOut,
    Cart,
    CouponOut,
    CouponStatus,
    IssueIn,
    Lines,
    RedeemIn,
    RedeemOut,
    RestoreIn,
    TemplateIn,
    TemplateOut,
    ValidateIn,
    ValidateOut,
    VoidIn,
)
from jifen.kit.idempotency import Outcome, run_once
from jifen.ledger.endpoints import PROBLEMS, respond
from jifen.members.endpoints import MemberId
from jifen.programs.context import ProgramContext

router = APIRouter(prefix="/v1", tags=["coupons"])

TemplateId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")]
Code = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9]+$")]


def _json(model: Any, status: int = 200) -> Outcome:
    return Outcome(status, model.model_dump(mode="json"))


async def _once(
    s: AsyncSession,
    program: ProgramContext,
    key: str | None,
    operation: str,
    payload: dict[str, Any],
    now: Any,
    apply: Callable[[], Awaitable[Outcome]],
) -> Outcome:
    """Run under the caller's idempotency key when one is sent. Without one, the coupon's own
    state makes the write idempotent (a void coupon voided again, the same order redeemed
    again), and an error rolls back through the request's transaction."""
    if key is None:
        return await apply()
    return await run_once(
        s, program.id, key=key, operation=operation, payload=payload, now=now, apply=apply
    )


# --- templates --------------------------------------------------------------------------------


@router.put("/coupon-templates/{template_id}", response_model=TemplateOut, responses=PROBLEMS)
async def save_template(
    template_id: TemplateId, body: TemplateIn, program: ProgramDep, db: DbDep, actor: str = "api"
) -> TemplateOut:
    """Create or change a coupon template (audited)."""
    now = db.now()
    return await db.write(
        lambda s: service.save_template(s, program, template_id, body, now=now, actor=actor)
    )


@router.get("/coupon-templates", response_model=list[TemplateOut], responses=PROBLEMS)
async def list_templates(program: ProgramDep, db: DbDep) -> list[TemplateOut]:
    return await db.read(lambda s: service.list_templates(s, program.id))


@router.get("/coupon-templates/{template_id}", response_model=TemplateOut, responses=PROBLEMS)
async def get_template(template_id: TemplateId, program: ProgramDep, db: DbDep) -> TemplateOut:
    return await db.read(lambda s: service.get_template(s, program.id, template_id))


@router.post(
    "/coupon-templates/{template_id}/issue", response_model=BulkIssueOut, responses=PROBLEMS
)
async def bulk_issue(
    template_id: TemplateId, body: BulkIssueIn, program: ProgramDep, db: DbDep
) -> BulkIssueOut:
    """Issue to a list of members (a campaign); one result per member. Idempotent per member
    under ``reference``: re-sending the same campaign returns the coupons already issued."""
    now = db.now()
    return await db.write(lambda s: service.bulk_issue(s, program, template_id, body, now=now))


# --- issue and list ---------------------------------------------------------------------------


@router.post(
    "/members/{member_id}/coupons", status_code=201, response_model=CouponOut, responses=PROBLEMS
)
async def issue(
    member_id: MemberId,
    body: IssueIn,
    program: ProgramDep,
    db: DbDep,
    key: IdempotencyHeader = None,
) -> JSONResponse:
    """Issue a coupon to a member by hand (audited; the idempotency key is required)."""
    k = idempotency_key(key, body.idempotency_key)
    now = db.now()
    payload = {"member": member_id, **body.model_dump(mode="json", exclude={"idempotency_key"})}

    async def run(s: AsyncSession) -> Outcome:
        async def apply() -> Outcome:
            out = await service.issue_by_hand(
                s, program, member_id, body.template_id, key=k, operator=body.operator,
                reason=body.reason, now=now,
            )  # fmt: skip
            return _json(out, 201)

        return await run_once(
            s, program.id, key=k, operation="coupon.issue", payload=payload, now=now, apply=apply
        )

    return respond(await db.write(run))


@router.get("/members/{member_id}/coupons", response_model=list[CouponOut], responses=PROBLEMS)
async def member_coupons(
    member_id: MemberId,
    program: ProgramDep,
    db: DbDep,
    status: Annotated[CouponStatus | None, Query()] = None,
) -> list[CouponOut]:
    """The member's coupons (available, used, expired, void), soonest-expiring first."""
    now = db.now()
    return await db.read(
        lambda s: service.member_coupons(s, program, member_id, now=now, status=status)
    )


@router.get("/me/coupons", response_model=list[CouponOut], responses=PROBLEMS)
async def my_coupons(
    who: MemberDep, db: DbDep, status: Annotated[CouponStatus | None, Query()] = None
) -> list[CouponOut]:
    """The signed-in member's coupons."""
    now = db.now()
    return await db.read(
        lambda s: service.member_coupons(s, who.program, who.member, now=now, status=status)
    )


@router.post("/me/coupons/best", response_model=BestOut, responses=PROBLEMS)
async def my_best(who: MemberDep, body: Lines, db: DbDep) -> BestOut:
    """The best of the signed-in member's coupons for a cart (``lines`` only)."""
    now = db.now()
    cart = Cart(member=who.member, lines=body.lines)
    return await db.read(lambda s: service.best(s, who.program, cart, now=now))


# --- checkout ---------------------------------------------------------------------------------


@router.post("/coupons/validate", response_model=ValidateOut, responses=PROBLEMS)
async def validate(body: ValidateIn, program: ProgramDep, db: DbDep) -> ValidateOut:
    """The discount a coupon gives on a cart, or a problem with the reason it does not apply:
    ``coupon_expired``, ``coupon_not_started``, ``coupon_out_of_scope``, ``below_threshold``,
    ``coupon_used``, ``coupon_void``, ``coupon_not_owned``, ``coupon_not_found``."""
    now = db.now()
    return await db.read(lambda s: service.validate(s, program, body, now=now))


@router.post("/coupons/best", response_model=BestOut, responses=PROBLEMS)
async def best(body: Cart, program: ProgramDep, db: DbDep) -> BestOut:
    """The member's available coupon with the largest discount on the cart (tie: the one that
    expires soonest), and every candidate with its discount or reason."""
    now = db.now()
    return await db.read(lambda s: service.best(s, program, body, now=now))


@router.post("/coupons/{code}/redeem", response_model=RedeemOut, responses=PROBLEMS)
async def redeem(
    code: Code, body: RedeemIn, program: ProgramDep, db: DbDep, key: IdempotencyHeader = None
) -> JSONResponse:
    """Use the coupon on an order, once: the same order again replays the result, another order
    is ``coupon_used`` (409). An ``Idempotency-Key`` is optional (the order id already is one)."""
    k = idempotency_key(key, body.idempotency_key) if (key or body.idempotency_key) else None
    now = db.now()
    payload = {"code": code, **body.model_dump(mode="json", exclude={"idempotency_key"})}

    async def run(s: AsyncSession) -> Outcome:
        async def apply() -> Outcome:
            return _json(await service.redeem(s, program, code, body, now=now))

        return await _once(s, program, k, "coupon.redeem", payload, now, apply)

    return respond(await db.write(run))


@router.post("/coupons/{code}/void", response_model=CouponOut, responses=PROBLEMS)
async def void(
    code: Code,
    program: ProgramDep,
    db: DbDep,
    body: VoidIn | None = None,
    key: IdempotencyHeader = None,
    actor: str = "api",
) -> JSONResponse:
    """Void an available coupon (audited); voiding it again returns it unchanged."""
    data = body or VoidIn()
    k = idempotency_key(key, data.idempotency_key) if (key or data.idempotency_key) else None
    now = db.now()
    payload = {"code": code, "reason": data.reason}

    async def run(s: AsyncSession) -> Outcome:
        async def apply() -> Outcome:
            out = await service.void(s, program, code, reason=data.reason, actor=actor, now=now)
            return _json(out)

        return await _once(s, program, k, "coupon.void", payload, now, apply)

    return respond(await db.write(run))


@router.post("/coupons/{code}/restore", response_model=CouponOut, responses=PROBLEMS)
async def restore(
    code: Code,
    body: RestoreIn,
    program: ProgramDep,
    db: DbDep,
    key: IdempotencyHeader = None,
    actor: str = "api",
) -> JSONResponse:
    """Give a used coupon back when its order was refunded, if it is still within validity."""
    k = idempotency_key(key, body.idempotency_key) if (key or body.idempotency_key) else None
    now = db.now()
    payload = {"code": code, **body.model_dump(mode="json", exclude={"idempotency_key"})}

    async def run(s: AsyncSession) -> Outcome:
        async def apply() -> Outcome:
            return _json(await service.restore(s, program, code, body, actor=actor, now=now))

        return await _once(s, program, k, "coupon.restore", payload, now, apply)

    return respond(await db.write(run))
