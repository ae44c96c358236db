"""Members API: create or update by the merchant's own id, read, list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from jifen.api.deps import DbDep, ProgramDep
from jifen.ledger.endpoints import PROBLEMS
from jifen.ledger.repository import decode_cursor, encode_cursor
from jifen.members import service
from jifen.members.schemas import MemberOut, MemberPage, MemberUpsert

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
