"""Members API: create or update by the merchant's own id, read, list."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from jifen.api import member_auth
from jifen.api.deps import DbDep, ProgramDep, SettingsDep
from jifen.api.member_auth import MemberDep
from jifen.ledger import repository as ledger_repository
from jifen.ledger.endpoints import PROBLEMS
from jifen.ledger.repository import decode_cursor, encode_cursor
from jifen.ledger.schemas import MemberBalancesOut, StatementPage
from jifen.members import service
from jifen.members.schemas import MemberOut, MemberPage, MemberUpsert
from jifen.referrals import service as referrals

router = APIRouter(prefix="/v1/members", tags=["members"])

MemberId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@\-]+$")]


@router.put("/{member_id}", response_model=MemberOut, responses=PROBLEMS)
async def upsert_member(
    member_id: MemberId, body: MemberUpsert, program: ProgramDep, db: DbDep
) -> JSONResponse:
    """Create the member (201) or update the fields sent (200). Idempotent by the member id."""
    now = db.now()

    async def run(s: Any) -> tuple[MemberOut, bool]:
        member, created = await service.upsert(s, program.id, member_id, body, now=now)
        code = (member.attributes or {}).get("invite_code")
        if created and isinstance(code, str) and code:
            # Registered with an invite code: attributed to its inviter at once (first touch).
            await referrals.attribute_registration(s, program, member.external_id, code, now=now)
        return service.to_out(member), created

    out, created = await db.write(run)
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if created else 200)


@router.get("/{member_id}", response_model=MemberOut, responses=PROBLEMS)
async def get_member(member_id: MemberId, program: ProgramDep, db: DbDep) -> MemberOut:
    async def run(s: Any) -> MemberOut:
        return service.to_out(await service.get(s, program.id, member_id))

    return await db.read(run)


@router.get("", response_model=MemberPage, responses=PROBLEMS)
async def list_members(
    program: ProgramDep,
    db: DbDep,
    q: Annotated[str | None, Query(max_length=100, description="Search id, name or phone")] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MemberPage:
    after = decode_cursor(cursor)

    async def run(s: Any) -> MemberPage:
        rows = await service.list_members(s, program.id, after_id=after, limit=limit + 1, query=q)
        items = [service.to_out(m) for m in rows[:limit]]
        nxt = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
        return MemberPage(items=items, next_cursor=nxt)

    return await db.read(run)


class MemberTokenIn(BaseModel):
    ttl_seconds: int = Field(default=24 * 3600, ge=60, le=int(member_auth.MAX_TTL.total_seconds()))


class MemberTokenOut(BaseModel):
    token: str
    member: str
    expires_at: datetime


@router.post(
    "/{member_id}/tokens", response_model=MemberTokenOut, status_code=201, responses=PROBLEMS
)
async def issue_member_token(
    member_id: MemberId,
    program: ProgramDep,
    db: DbDep,
    settings: SettingsDep,
    body: MemberTokenIn | None = None,
) -> MemberTokenOut:
    """A token for the member portal and ``/v1/me/...``, acting as this member only.

    The merchant's backend asks for it after its own login and hands it to the member's page."""
    now = db.now()
    ttl = (body or MemberTokenIn()).ttl_seconds

    async def run(s: Any) -> MemberTokenOut:
        member = await service.get(s, program.id, member_id)
        expires = now + timedelta(seconds=ttl)
        token = member_auth.issue(
            settings.secret_key,
            program_id=program.id,
            member=member.external_id,
            expires_at=expires,
        )
        return MemberTokenOut(token=token, member=member.external_id, expires_at=expires)

    return await db.read(run)


me_router = APIRouter(prefix="/v1/me", tags=["me (member token)"])


@me_router.get("", response_model=MemberOut, responses=PROBLEMS)
async def me(who: MemberDep, db: DbDep) -> MemberOut:
    """The member the token belongs to."""

    async def run(s: Any) -> MemberOut:
        return service.to_out(await service.get(s, who.program.id, who.member))

    return await db.read(run)


@me_router.get("/balances", response_model=MemberBalancesOut, responses=PROBLEMS)
async def my_balances(who: MemberDep, db: DbDep) -> MemberBalancesOut:
    now = db.now()

    async def run(s: Any) -> MemberBalancesOut:
        member = await service.get(s, who.program.id, who.member)
        return await ledger_repository.balances(s, who.program.id, member, now=now)

    return await db.read(run)


@me_router.get("/statement", response_model=StatementPage, responses=PROBLEMS)
async def my_statement(
    who: MemberDep,
    db: DbDep,
    asset: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> StatementPage:
    async def run(s: Any) -> StatementPage:
        member = await service.get(s, who.program.id, who.member)
        return await ledger_repository.statement(
            s, who.program.id, member, asset=asset, cursor=cursor, limit=limit
        )

    return await db.read(run)


class StatusChangeIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)
    operator: str = Field(default="api", min_length=1, max_length=200)


async def _set_status(
    db: DbDep, program_id: str, member_id: str, status: str, body: StatusChangeIn
) -> MemberOut:
    now = db.now()

    async def run(s: Any) -> MemberOut:
        member = await service.set_status(
            s, program_id, member_id, status, reason=body.reason, actor=body.operator, now=now
        )
        return service.to_out(member)

    return await db.write(run)


@router.post("/{member_id}/freeze", response_model=MemberOut, responses=PROBLEMS)
async def freeze_member(
    member_id: MemberId, body: StatusChangeIn, program: ProgramDep, db: DbDep
) -> MemberOut:
    """Freeze a member (风控): they cannot spend, hold, send or earn points until unfrozen.
    Audited with the reason; freezing a frozen member changes nothing."""
    return await _set_status(db, program.id, member_id, "frozen", body)


@router.post("/{member_id}/unfreeze", response_model=MemberOut, responses=PROBLEMS)
async def unfreeze_member(
    member_id: MemberId, body: StatusChangeIn, program: ProgramDep, db: DbDep
) -> MemberOut:
    return await _set_status(db, program.id, member_id, "active", body)
