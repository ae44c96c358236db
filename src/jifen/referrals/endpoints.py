"""The referrals API: settings, invite codes and links, attribution, an inviter's referrals."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from jifen.api.deps import DbDep, IdempotencyHeader, ProgramDep, idempotency_key
from jifen.api.member_auth import MemberDep
from jifen.kit.idempotency import Outcome, run_once
from jifen.ledger.endpoints import PROBLEMS, respond
from jifen.ledger.repository import decode_cursor, encode_cursor
from jifen.members.endpoints import MemberId
from jifen.programs.context import ProgramContext
from jifen.referrals import service
from jifen.referrals.schemas import (
    AttributeIn,
    ReferralCodeOut,
    ReferralList,
    ReferralOut,
    ReferralSettingsIn,
    RevokeIn,
)

router = APIRouter(prefix="/v1", tags=["referrals"])

ReferralIdPath = Annotated[int, Path(ge=1, le=2**62)]
Cursor = Annotated[str | None, Query(max_length=64)]
Limit = Annotated[int, Query(ge=1, le=200)]


@router.get("/referral/settings", response_model=ReferralSettingsIn, responses=PROBLEMS)
async def get_settings(program: ProgramDep, db: DbDep) -> ReferralSettingsIn:
    return await db.read(lambda s: service.get_settings(s, program.id))


@router.put("/referral/settings", response_model=ReferralSettingsIn, responses=PROBLEMS)
async def save_settings(
    body: ReferralSettingsIn, program: ProgramDep, db: DbDep, actor: str = "api"
) -> ReferralSettingsIn:
    """Link base URL, when an invite qualifies, fraud checks, the refund window (audited)."""
    now = db.now()
    return await db.write(lambda s: service.save_settings(s, program, body, now=now, actor=actor))


async def _code(db: DbDep, program: ProgramContext, member: str) -> ReferralCodeOut:
    now = db.now()
    # A read that may write once: the code is made on the first ask.
    return await db.write(lambda s: service.code_of(s, program, member, now=now))


@router.get(
    "/members/{member_id}/referral-code", response_model=ReferralCodeOut, responses=PROBLEMS
)
async def member_code(member_id: MemberId, program: ProgramDep, db: DbDep) -> ReferralCodeOut:
    """The member's invite code and link (made on the first ask, then always the same)."""
    return await _code(db, program, member_id)


@router.get("/me/referral", response_model=ReferralCodeOut, responses=PROBLEMS)
async def my_code(who: MemberDep, db: DbDep) -> ReferralCodeOut:
    return await _code(db, who.program, who.member)


@router.post("/referrals", response_model=ReferralOut, status_code=201, responses=PROBLEMS)
async def attribute(
    body: AttributeIn, program: ProgramDep, db: DbDep, header: IdempotencyHeader = None
) -> JSONResponse:
    """Attribute a new member to the inviter whose code they used (first touch).

    Refused: ``referral_code_not_found`` (404), ``already_referred`` (409), ``self_referral``,
    ``shared_device``, ``shared_ip`` (422)."""
    key = idempotency_key(header, body.idempotency_key)
    now = db.now()
    payload = body.model_dump(mode="json", exclude={"idempotency_key"})

    async def run(s: Any) -> Outcome:
        async def apply() -> Outcome:
            out = await service.attribute(s, program, body, now=now)
            return Outcome(201, out.model_dump(mode="json"))

        return await run_once(
            s, program.id, key=key, operation="referrals.attribute", payload=payload, now=now,
            apply=apply,
        )  # fmt: skip

    return respond(await db.write(run))


@router.get("/referrals/{referral_id}", response_model=ReferralOut, responses=PROBLEMS)
async def get_referral(referral_id: ReferralIdPath, program: ProgramDep, db: DbDep) -> ReferralOut:
    return await db.read(lambda s: service.get_referral(s, program.id, referral_id))


@router.post("/referrals/{referral_id}/revoke", response_model=ReferralOut, responses=PROBLEMS)
async def revoke(
    referral_id: ReferralIdPath,
    body: RevokeIn,
    program: ProgramDep,
    db: DbDep,
    header: IdempotencyHeader = None,
) -> JSONResponse:
    """Revoke an invite: ``left`` sends ``member_left`` for the invitee through the earning
    engine (which reverses the invite's payouts at once); other reasons reverse them directly."""
    key = idempotency_key(header, body.idempotency_key)
    now = db.now()
    payload = {
        "referral_id": referral_id,
        **body.model_dump(mode="json", exclude={"idempotency_key"}),
    }

    async def run(s: Any) -> Outcome:
        async def apply() -> Outcome:
            out = await service.revoke(
                s, program, referral_id, reason=body.reason, note=body.note,
                operator=body.operator, now=now,
            )  # fmt: skip
            return Outcome(200, out.model_dump(mode="json"))

        return await run_once(
            s, program.id, key=key, operation="referrals.revoke", payload=payload, now=now,
            apply=apply,
        )  # fmt: skip

    return respond(await db.write(run))


async def _list(
    db: DbDep, program_id: str, member: str, cursor: str | None, limit: int
) -> ReferralList:
    after = decode_cursor(cursor)

    async def run(s: Any) -> ReferralList:
        out, last = await service.list_for(s, program_id, member, after_id=after, limit=limit)
        out.next_cursor = encode_cursor(last) if last is not None else None
        return out

    return await db.read(run)


@router.get("/members/{member_id}/referrals", response_model=ReferralList, responses=PROBLEMS)
async def member_referrals(
    member_id: MemberId, program: ProgramDep, db: DbDep, cursor: Cursor = None, limit: Limit = 50
) -> ReferralList:
    """The inviter's referrals, newest first: invitee, status, rewards; counts and net earnings."""
    return await _list(db, program.id, member_id, cursor, limit)


@router.get("/me/referrals", response_model=ReferralList, responses=PROBLEMS)
async def my_referrals(
    who: MemberDep, db: DbDep, cursor: Cursor = None, limit: Limit = 50
) -> ReferralList:
    return await _list(db, who.program.id, who.member, cursor, limit)
