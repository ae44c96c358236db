"""The leaderboards API: boards, ranks (from Redis when configured), a member's rank, payouts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from redis.asyncio import Redis

from jifen.api.deps import Db, DbDep, ProgramDep, SettingsDep
from jifen.api.member_auth import MemberDep
from jifen.config import Settings
from jifen.errors import InvalidInput
from jifen.leaderboards import periods, service
from jifen.leaderboards.ranking import RedisBoard
from jifen.leaderboards.schemas import (
    BoardOut,
    Entry,
    LeaderboardDefinition,
    MemberRankOut,
    PayoutOut,
)
from jifen.ledger.endpoints import PROBLEMS
from jifen.members import service as members
from jifen.members.endpoints import MemberId
from jifen.programs.context import ProgramContext
from jifen.tasks.schemas import Slug

router = APIRouter(prefix="/v1", tags=["leaderboards"])

SlugPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")]
PeriodQuery = Annotated[
    str | None,
    Query(max_length=16, description="2026-03-05, 2026-W10 or 2026-03; the current one if omitted"),
]


class BoardBody(LeaderboardDefinition):
    # The path names the board; a body id, when sent, must agree with it.
    id: Slug | None = None  # type: ignore[assignment]


@router.put("/leaderboards/{board_id}", response_model=LeaderboardDefinition, responses=PROBLEMS)
async def save_board(
    board_id: SlugPath, body: BoardBody, program: ProgramDep, db: DbDep, actor: str = "api"
) -> LeaderboardDefinition:
    """Create or change a board (audited). What it counts and its period cannot change."""
    if body.id is not None and body.id != board_id:
        raise InvalidInput(
            f"the body's id {body.id!r} differs from the path's {board_id!r}",
            code="id_mismatch",
            field="id",
        )
    now = db.now()
    data = LeaderboardDefinition.model_validate({**body.model_dump(by_alias=True), "id": board_id})
    return await db.write(lambda s: service.save_board(s, program, data, now=now, actor=actor))


@router.get("/leaderboards", response_model=list[LeaderboardDefinition], responses=PROBLEMS)
async def list_boards(program: ProgramDep, db: DbDep) -> list[LeaderboardDefinition]:
    return await db.read(lambda s: service.list_boards(s, program.id))


@router.get(
    "/leaderboards/{board_id}/definition",
    response_model=LeaderboardDefinition,
    responses=PROBLEMS,
)
async def get_board(board_id: SlugPath, program: ProgramDep, db: DbDep) -> LeaderboardDefinition:
    return await db.read(lambda s: service.get_board(s, program.id, board_id))


@asynccontextmanager
async def _redis(settings: Settings) -> AsyncIterator[Redis | None]:
    if not settings.redis_url:
        yield None
        return
    client = Redis.from_url(settings.redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def _resolve(
    db: Db, program: ProgramContext, board_id: str, period: str | None
) -> tuple[LeaderboardDefinition, str, bool]:
    board = await db.read(lambda s: service.get_board(s, program.id, board_id))
    key = period or periods.key_of(board.period, db.now(), program.settings.timezone)
    periods.bounds(board.period, key, program.settings.timezone)  # refuses a malformed period
    info = await db.read(lambda s: service.period_info(s, program.id, board_id, key))
    return board, key, bool(info and info.settled_at)


def _mirror(
    redis: Redis, db: Db, program: ProgramContext, board: LeaderboardDefinition, period: str
) -> RedisBoard:
    start, end = periods.bounds(board.period, period, program.settings.timezone)
    return RedisBoard(redis, db, program.id, board.id, period, start, end)


@router.get("/leaderboards/{board_id}", response_model=BoardOut, responses=PROBLEMS)
async def board_ranks(
    board_id: SlugPath,
    program: ProgramDep,
    db: DbDep,
    settings: SettingsDep,
    period: PeriodQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 10,
) -> BoardOut:
    """The top ``limit`` of a period: rank, member, score and when the score was reached.

    Equal scores rank by who reached them first."""
    board, key, settled = await _resolve(db, program, board_id, period)
    start, end = periods.bounds(board.period, key, program.settings.timezone)
    async with _redis(settings) as redis:
        if redis is None:
            entries = await db.read(
                lambda s: service.top(s, program.id, board_id, key, limit=limit)
            )
            source = "database"
        else:
            mirror = _mirror(redis, db, program, board, key)
            await mirror.refresh()
            ranked = await mirror.top(limit)
            names = await db.read(
                lambda s: members.external_ids(s, program.id, [m for m, _, _ in ranked])
            )
            entries = [
                Entry(rank=i, member=names.get(m, "?"), score=score, reached_at=reached)
                for i, (m, score, reached) in enumerate(ranked, start=1)
            ]
            source = "redis"
    return BoardOut(
        board=board.id,
        name=board.name,
        period=key,
        starts_at=start,
        ends_at=end,
        settled=settled,
        source=source,
        entries=entries,
    )


async def _member_rank(
    db: Db,
    settings: Settings,
    program: ProgramContext,
    board_id: str,
    member: str,
    period: str | None,
) -> MemberRankOut:
    board, key, _ = await _resolve(db, program, board_id, period)
    async with _redis(settings) as redis:
        if redis is None:
            return await db.read(
                lambda s: service.member_rank(s, program.id, board_id, key, member)
            )
        ref = await db.read(lambda s: members.get(s, program.id, member))
        mirror = _mirror(redis, db, program, board, key)
        await mirror.refresh()
        found = await mirror.rank(ref.id)
    if found is None:
        return MemberRankOut(board=board_id, period=key, member=member, rank=None, score=0)
    rank, score, reached = found
    return MemberRankOut(
        board=board_id, period=key, member=member, rank=rank, score=score, reached_at=reached
    )


@router.get(
    "/leaderboards/{board_id}/members/{member_id}",
    response_model=MemberRankOut,
    responses=PROBLEMS,
)
async def member_rank(
    board_id: SlugPath,
    member_id: MemberId,
    program: ProgramDep,
    db: DbDep,
    settings: SettingsDep,
    period: PeriodQuery = None,
) -> MemberRankOut:
    """One member's rank and score in a period (rank null without a score)."""
    return await _member_rank(db, settings, program, board_id, member_id, period)


@router.get(
    "/me/leaderboards/{board_id}",
    response_model=MemberRankOut,
    responses=PROBLEMS,
    tags=["me (member token)"],
)
async def my_rank(
    board_id: SlugPath,
    who: MemberDep,
    db: DbDep,
    settings: SettingsDep,
    period: PeriodQuery = None,
) -> MemberRankOut:
    """My rank and score on a board."""
    return await _member_rank(db, settings, who.program, board_id, who.member, period)


@router.get("/leaderboards/{board_id}/payouts", response_model=list[PayoutOut], responses=PROBLEMS)
async def board_payouts(
    board_id: SlugPath, program: ProgramDep, db: DbDep, period: PeriodQuery = None
) -> list[PayoutOut]:
    """Rewards paid for closed periods (``jifen jobs run leaderboards`` pays them)."""

    async def run(s: Any) -> list[PayoutOut]:
        await service.get_board(s, program.id, board_id)
        return await service.payouts(s, program.id, board_id, period)

    return await db.read(run)
