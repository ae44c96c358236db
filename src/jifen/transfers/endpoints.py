"""Gifting and donations API: gift settings, gifts, donation pools, donations, public totals."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from jifen.api.deps import DbDep, IdempotencyHeader, ProgramDep, idempotency_key
from jifen.api.member_auth import MemberDep
from jifen.kit.idempotency import Outcome, run_once
from jifen.ledger.endpoints import PROBLEMS, respond
from jifen.members.endpoints import MemberId
from jifen.programs import service as programs
from jifen.programs.context import ProgramContext
from jifen.transfers import service
from jifen.transfers.schemas import (
    DonationIn,
    DonationOut,
    GiftIn,
    GiftOut,
    GiftSettingsIn,
    PoolIn,
    PoolOut,
    ServerDonationIn,
    ServerGiftIn,
)

router = APIRouter(prefix="/v1", tags=["gifts and donations"])

PoolPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,22}$")]
ProgramPath = Annotated[str, Path(min_length=1, max_length=40)]
Limit = Annotated[int, Query(ge=1, le=200)]


@router.get("/gift/settings", response_model=GiftSettingsIn, responses=PROBLEMS)
async def get_settings(program: ProgramDep, db: DbDep) -> GiftSettingsIn:
    return await db.read(lambda s: service.get_settings(s, program.id))


@router.put("/gift/settings", response_model=GiftSettingsIn, responses=PROBLEMS)
async def save_settings(
    body: GiftSettingsIn, program: ProgramDep, db: DbDep, actor: str = "api"
) -> GiftSettingsIn:
    """Daily limit per sender, minimum and maximum, eligible tiers, fee (audited)."""
    now = db.now()
    return await db.write(lambda s: service.save_settings(s, program, body, now=now, actor=actor))


async def _gift(
    db: DbDep, program: ProgramContext, sender: str, body: GiftIn, key: str
) -> JSONResponse:
    now = db.now()
    payload = {"from": sender, **body.model_dump(mode="json", exclude={"idempotency_key"})}

    async def run(s: Any) -> Outcome:
        async def apply() -> Outcome:
            out = await service.send_gift(
                s, program, sender=sender, receiver=body.to, amount=body.amount,
                message=body.message, request_key=key, now=now,
            )  # fmt: skip
            return Outcome(201, out.model_dump(mode="json"))

        return await run_once(
            s, program.id, key=key, operation="gifts.send", payload=payload, now=now, apply=apply
        )

    return respond(await db.write(run))


@router.post("/gifts", response_model=GiftOut, status_code=201, responses=PROBLEMS)
async def send_gift(
    body: ServerGiftIn, program: ProgramDep, db: DbDep, header: IdempotencyHeader = None
) -> JSONResponse:
    """Give points from one member to another.

    Refused: ``gifting_disabled``, ``tier_not_eligible`` (403); ``same_member``,
    ``below_minimum``, ``above_maximum``, ``daily_limit_exceeded``, ``insufficient_points`` (422)."""
    key = idempotency_key(header, body.idempotency_key)
    gift = GiftIn.model_validate(body.model_dump(exclude={"from_member"}))
    return await _gift(db, program, body.from_member, gift, key)


@router.post("/me/gifts", response_model=GiftOut, status_code=201, responses=PROBLEMS)
async def my_gift(
    body: GiftIn, who: MemberDep, db: DbDep, header: IdempotencyHeader = None
) -> JSONResponse:
    key = f"me:{who.member_id}:{idempotency_key(header, body.idempotency_key)}"
    return await _gift(db, who.program, who.member, body, key)


@router.get("/members/{member_id}/gifts", response_model=list[GiftOut], responses=PROBLEMS)
async def member_gifts(
    member_id: MemberId, program: ProgramDep, db: DbDep, limit: Limit = 50
) -> list[GiftOut]:
    """Gifts the member sent or received, newest first."""
    return await db.read(lambda s: service.list_gifts(s, program.id, member_id, limit=limit))


@router.get("/me/gifts", response_model=list[GiftOut], responses=PROBLEMS)
async def my_gifts(who: MemberDep, db: DbDep, limit: Limit = 50) -> list[GiftOut]:
    return await db.read(lambda s: service.list_gifts(s, who.program.id, who.member, limit=limit))


@router.put("/donation-pools/{pool_id}", response_model=PoolOut, responses=PROBLEMS)
async def save_pool(
    pool_id: PoolPath, body: PoolIn, program: ProgramDep, db: DbDep, actor: str = "api"
) -> PoolOut:
    """Create or change a donation pool (audited). Its asset cannot change once it exists."""
    now = db.now()
    return await db.write(
        lambda s: service.save_pool(s, program, pool_id, body, now=now, actor=actor)
    )


@router.get("/donation-pools/{pool_id}", response_model=PoolOut, responses=PROBLEMS)
async def get_pool(pool_id: PoolPath, program: ProgramDep, db: DbDep, top: Limit = 20) -> PoolOut:
    return await db.read(lambda s: service.pool_view(s, program.id, pool_id, top=top))


@router.get(
    "/public/programs/{program_id}/donation-pools/{pool_id}",
    response_model=PoolOut,
    responses=PROBLEMS,
)
async def public_pool(
    program_id: ProgramPath, pool_id: PoolPath, db: DbDep, top: Limit = 20
) -> PoolOut:
    """The pool's public total and donors, without authentication (for a charity page).
    Donors without the consent flag ``public_donor`` appear as anonymous."""

    async def run(s: Any) -> PoolOut:
        ctx = await programs.get_context(s, program_id)
        return await service.pool_view(s, ctx.id, pool_id, top=top)

    return await db.read(run)


async def _donate(
    db: DbDep, program: ProgramContext, member: str, body: DonationIn, key: str
) -> JSONResponse:
    now = db.now()
    payload = {"member": member, **body.model_dump(mode="json", exclude={"idempotency_key"})}

    async def run(s: Any) -> Outcome:
        async def apply() -> Outcome:
            out = await service.donate(
                s, program, member=member, pool_id=body.pool, amount=body.amount,
                request_key=key, now=now,
            )  # fmt: skip
            return Outcome(201, out.model_dump(mode="json"))

        return await run_once(
            s, program.id, key=key, operation="donations.give", payload=payload, now=now,
            apply=apply,
        )  # fmt: skip

    return respond(await db.write(run))


@router.post("/donations", response_model=DonationOut, status_code=201, responses=PROBLEMS)
async def donate(
    body: ServerDonationIn, program: ProgramDep, db: DbDep, header: IdempotencyHeader = None
) -> JSONResponse:
    """Donate a member's points to a pool. ``pool_not_found`` (404), ``pool_inactive`` (409),
    ``insufficient_points`` (422)."""
    key = idempotency_key(header, body.idempotency_key)
    gift = DonationIn.model_validate(body.model_dump(exclude={"member"}))
    return await _donate(db, program, body.member, gift, key)


@router.post("/me/donations", response_model=DonationOut, status_code=201, responses=PROBLEMS)
async def my_donation(
    body: DonationIn, who: MemberDep, db: DbDep, header: IdempotencyHeader = None
) -> JSONResponse:
    key = f"me:{who.member_id}:{idempotency_key(header, body.idempotency_key)}"
    return await _donate(db, who.program, who.member, body, key)
