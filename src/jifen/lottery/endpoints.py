"""The lottery API: pools, draws (server-to-server and by the member), commitments and the
draws of a period for anyone to recompute."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.api.deps import DbDep, IdempotencyHeader, ProgramDep, idempotency_key
from jifen.api.member_auth import MemberDep
from jifen.kit.idempotency import Outcome, run_once
from jifen.ledger.endpoints import PROBLEMS, respond
from jifen.lottery import service
from jifen.lottery.schemas import Commitment, DrawIn, DrawOut, PeriodDraws, PoolIn, PoolOut
from jifen.members.endpoints import MemberId
from jifen.programs.context import ProgramContext

router = APIRouter(prefix="/v1", tags=["lottery"])

PoolId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")]
Period = Annotated[str, Path(pattern=r"^\d{4}-\d{2}-\d{2}$")]


@router.put("/lottery/pools/{pool_id}", response_model=PoolOut, responses=PROBLEMS)
async def save_pool(
    pool_id: PoolId, body: PoolIn, program: ProgramDep, db: DbDep, actor: str = "api"
) -> PoolOut:
    """Create or change a prize pool (audited); publishes today's and tomorrow's commitments."""
    now = db.now()
    return await db.write(
        lambda s: service.save_pool(s, program, pool_id, body, now=now, actor=actor)
    )


@router.get("/lottery/pools", response_model=list[PoolOut], responses=PROBLEMS)
async def list_pools(program: ProgramDep, db: DbDep) -> list[PoolOut]:
    return await db.read(lambda s: service.list_pools(s, program.id))


@router.get("/lottery/pools/{pool_id}", response_model=PoolOut, responses=PROBLEMS)
async def get_pool(pool_id: PoolId, program: ProgramDep, db: DbDep) -> PoolOut:
    """The pool with each prize's stock left and count won, and the budget spent."""
    return await db.read(lambda s: service.get_pool(s, program.id, pool_id))


async def _draw(
    db: Any, program: ProgramContext, member: str, pool_id: str, key: str
) -> JSONResponse:
    now = db.now()

    async def run(s: AsyncSession) -> Outcome:
        async def apply() -> Outcome:
            out = await service.draw(s, program, member=member, pool_id=pool_id, now=now)
            return Outcome(201, out.model_dump(mode="json"))

        return await run_once(
            s, program.id, key=f"lottery:{member}:{key}", operation="lottery.draw",
            payload={"member": member, "pool": pool_id}, now=now, apply=apply,
        )  # fmt: skip

    return respond(await db.write(run))


@router.post(
    "/members/{member_id}/lottery/{pool_id}/draws",
    status_code=201,
    response_model=DrawOut,
    responses=PROBLEMS,
)
async def draw_for_member(
    member_id: MemberId,
    pool_id: PoolId,
    program: ProgramDep,
    db: DbDep,
    body: DrawIn | None = None,
    key: IdempotencyHeader = None,
) -> JSONResponse:
    """One paid draw for the member: the cost is debited, the prize paid, all in one
    transaction; a refused draw (``lottery_pool_closed``, ``lottery_daily_limit``,
    ``insufficient_points``) charges nothing."""
    k = idempotency_key(key, (body or DrawIn()).idempotency_key)
    return await _draw(db, program, member_id, pool_id, k)


@router.post(
    "/me/lottery/{pool_id}/draws", status_code=201, response_model=DrawOut, responses=PROBLEMS
)
async def my_draw(
    pool_id: PoolId,
    who: MemberDep,
    db: DbDep,
    body: DrawIn | None = None,
    key: IdempotencyHeader = None,
) -> JSONResponse:
    """The signed-in member draws once."""
    k = idempotency_key(key, (body or DrawIn()).idempotency_key)
    return await _draw(db, who.program, who.member, pool_id, k)


@router.get("/members/{member_id}/lottery/draws", responses=PROBLEMS)
async def member_draws(member_id: MemberId, program: ProgramDep, db: DbDep) -> list[dict[str, Any]]:
    """The member's latest 50 draws, newest first."""
    return await db.read(lambda s: service.member_draws(s, program, member_id))


@router.get("/lottery/{pool_id}/commitments", response_model=list[Commitment], responses=PROBLEMS)
async def commitments(pool_id: PoolId, program: ProgramDep, db: DbDep) -> list[Commitment]:
    """sha256(seed) per draw period (a local day), published before the period; the seed is
    revealed once the period has ended."""
    now = db.now()
    return await db.write(lambda s: service.commitments(s, program, pool_id, now=now))


@router.get(
    "/lottery/{pool_id}/periods/{period}/draws", response_model=PeriodDraws, responses=PROBLEMS
)
async def period_draws(
    pool_id: PoolId, period: Period, program: ProgramDep, db: DbDep
) -> PeriodDraws:
    """Every draw of the period with its sequence and weights table, and the seed once the
    period has ended; ``jifen.lottery.fairness.verify`` checks the whole listing."""
    now = db.now()
    return await db.read(lambda s: service.period_draws(s, program, pool_id, period, now=now))
