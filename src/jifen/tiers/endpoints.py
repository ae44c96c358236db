"""The tiers API: the scheme, members' tiers, history, comparison, and re-evaluation now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.api.deps import DbDep, ProgramDep
from jifen.api.member_auth import MemberDep
from jifen.errors import InvalidInput
from jifen.ledger.endpoints import PROBLEMS
from jifen.members import service as members
from jifen.members.endpoints import MemberId
from jifen.tiers import service
from jifen.tiers.schemas import (
    Comparison,
    HistoryPage,
    MemberTierOut,
    RunOut,
    TierSchemeIn,
    TierSchemeOut,
)

router = APIRouter(prefix="/v1", tags=["tiers"])


@router.put("/tier-scheme", response_model=TierSchemeOut, responses=PROBLEMS)
async def save_scheme(
    body: TierSchemeIn, program: ProgramDep, db: DbDep, actor: str = "api"
) -> TierSchemeOut:
    """Create or replace the program's tier scheme (a new version, audited). Replacing it is
    idempotent: the same body again changes nothing but the version."""
    now = db.now()
    return await db.write(lambda s: service.save_scheme(s, program, body, now=now, actor=actor))


@router.get("/tier-scheme", response_model=TierSchemeOut, responses=PROBLEMS)
async def get_scheme(program: ProgramDep, db: DbDep) -> TierSchemeOut:
    return await db.read(lambda s: service.get_scheme(s, program.id))


@router.delete("/tier-scheme", status_code=204, responses=PROBLEMS)
async def delete_scheme(program: ProgramDep, db: DbDep, actor: str = "api") -> Response:
    """Remove the scheme and members' current tiers (their history stays)."""
    now = db.now()
    await db.write(lambda s: service.delete_scheme(s, program, now=now, actor=actor))
    return Response(status_code=204)


@router.get("/tiers", response_model=Comparison, responses=PROBLEMS)
async def compare(program: ProgramDep, db: DbDep) -> Comparison:
    """The comparison table: every tier, its minimum and its benefits, lowest first."""
    return await db.read(lambda s: service.comparison(s, program.id))


@router.get("/members/{member_id}/tier", response_model=MemberTierOut, responses=PROBLEMS)
async def member_tier(member_id: MemberId, program: ProgramDep, db: DbDep) -> MemberTierOut:
    """The member's tier, its benefits and the progress to the next tier."""
    now = db.now()

    async def run(s: AsyncSession) -> MemberTierOut:
        m = await members.get(s, program.id, member_id)
        return await service.member_tier(s, program, m.id, m.external_id, now=now)

    return await db.read(run)


def _cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit():
        raise InvalidInput("cursor is not valid", code="invalid_cursor", field="cursor")
    return int(cursor)


@router.get("/members/{member_id}/tier-history", response_model=HistoryPage, responses=PROBLEMS)
async def tier_history(
    member_id: MemberId,
    program: ProgramDep,
    db: DbDep,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> HistoryPage:
    """The member's tier changes, newest first."""
    before = _cursor(cursor)

    async def run(s: AsyncSession) -> HistoryPage:
        m = await members.get(s, program.id, member_id)
        return await service.history(s, program.id, m.id, before_id=before, limit=limit)

    return await db.read(run)


@router.post("/tiers/evaluate", response_model=RunOut, responses=PROBLEMS)
async def evaluate(program: ProgramDep, db: DbDep) -> RunOut:
    """Run the scheduled re-evaluation of the current period now, to the end (one transaction
    per slice of members). Once per period: calling it again (or while the job runs) only
    finishes what is left, and returns the period's totals."""
    now = db.now()

    async def check(s: AsyncSession) -> str:
        scheme = await service.get_scheme(s, program.id)
        return service.period_of(scheme.evaluation.period, now, program.settings.timezone)[0]

    period = await db.read(check)

    async def step(s: AsyncSession) -> int:
        return await service.evaluate_step(s, program, now=now)

    while await db.write(step):
        pass

    async def summary(s: AsyncSession) -> RunOut:
        out = await service.run_summary(s, program.id, period)
        assert out is not None
        return out

    return await db.read(summary)


@router.get("/me/tier", response_model=MemberTierOut, responses=PROBLEMS)
async def my_tier(who: MemberDep, db: DbDep) -> MemberTierOut:
    """The member's own tier, benefits and progress ("还需成长值 340")."""
    now = db.now()
    return await db.read(
        lambda s: service.member_tier(s, who.program, who.member_id, who.member, now=now)
    )


@router.get("/me/tiers", response_model=Comparison, responses=PROBLEMS)
async def my_tiers(who: MemberDep, db: DbDep) -> Comparison:
    """The comparison table, with the member's own tier marked ``current``."""
    return await db.read(lambda s: service.comparison(s, who.program.id, member_id=who.member_id))
