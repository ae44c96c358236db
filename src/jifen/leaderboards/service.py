"""Leaderboards: definitions, scores kept from processed events (set-based per batch), ranks
from the database, and top-N rewards paid once per closed period.

Ranking rule: higher score first; among equal scores, the member who reached that score
earlier (``reached_at``, to the second) ranks higher; if that is the same second too, the
member who joined the program first (lower internal id). Redis, when configured, holds the
same order (see ``jifen.leaderboards.ranking``); the database decides what is paid.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.clock import Clock
from jifen.db.engine import is_postgres
from jifen.errors import InvalidInput, NotFound
from jifen.events.listeners import ProcessedEvent
from jifen.kit.sql import in_values, insert_ignore
from jifen.leaderboards import periods
from jifen.leaderboards.models import (
    LeaderboardPayout,
    LeaderboardPeriod,
    LeaderboardRow,
    LeaderboardScore,
)
from jifen.leaderboards.schemas import (
    Entry,
    LeaderboardDefinition,
    MemberRankOut,
    PayoutOut,
)
from jifen.members import service as members
from jifen.programs.context import ProgramContext
from jifen.programs.service import record_audit
from jifen.tasks import service as tasks
from jifen.tasks.schemas import RewardPaid

# What a board counts cannot change once it has scores: define a new board instead.
IMMUTABLE = ("metric", "period", "asset", "event_type", "event_types")


class LeaderboardNotFound(NotFound):
    default_code = "leaderboard_not_found"


# --- definitions ------------------------------------------------------------------------------


async def _row(session: AsyncSession, program_id: str, board_id: str) -> LeaderboardRow | None:
    return (
        await session.scalars(
            select(LeaderboardRow).where(
                LeaderboardRow.program_id == program_id, LeaderboardRow.board_id == board_id
            )
        )
    ).first()


async def save_board(
    session: AsyncSession,
    ctx: ProgramContext,
    data: LeaderboardDefinition,
    *,
    now: datetime,
    actor: str,
) -> LeaderboardDefinition:
    """Create or change a board (audited); name, rewards and ``enabled`` may change later."""
    for i, r in enumerate(data.rewards):
        await tasks.check_reward(session, ctx.id, r.reward, f"rewards.{i}.reward")
    row = await _row(session, ctx.id, data.id)
    definition = data.model_dump(mode="json", by_alias=True)
    before = row.definition if row else None
    if row is None:
        row = LeaderboardRow(program_id=ctx.id, board_id=data.id, created_at=now)
        session.add(row)
    else:
        old = LeaderboardDefinition.model_validate(row.definition)
        changed = [f for f in IMMUTABLE if getattr(old, f) != getattr(data, f)]
        if changed:
            raise InvalidInput(
                f"a board's {', '.join(changed)} cannot change; define a new board",
                code="leaderboard_immutable",
                field=changed[0],
            )
    row.enabled = data.enabled
    row.definition = definition
    row.updated_at = now
    await session.flush()
    await record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="leaderboard.save",
        entity_type="leaderboard",
        entity_id=data.id,
        now=now,
        before=before,
        after=definition,
    )
    return data


async def list_boards(session: AsyncSession, program_id: str) -> list[LeaderboardDefinition]:
    rows = await session.scalars(
        select(LeaderboardRow)
        .where(LeaderboardRow.program_id == program_id)
        .order_by(LeaderboardRow.board_id)
    )
    return [LeaderboardDefinition.model_validate(r.definition) for r in rows]


async def get_board(session: AsyncSession, program_id: str, board_id: str) -> LeaderboardDefinition:
    row = await _row(session, program_id, board_id)
    if row is None:
        raise LeaderboardNotFound(f"leaderboard {board_id!r} not found", field="board_id")
    return LeaderboardDefinition.model_validate(row.definition)


# --- scoring (the events listener) ------------------------------------------------------------


def _delta(board: LeaderboardDefinition, p: ProcessedEvent) -> int:
    if board.metric == "event_count":
        return 1 if p.event.type == board.event_type else 0
    if board.event_types and p.event.type not in board.event_types:
        return 0
    return sum(post.amount for post in p.result.postings if post.asset == board.asset)


async def on_events(
    session: AsyncSession,
    ctx: ProgramContext,
    processed: Sequence[ProcessedEvent],
    now: datetime,
) -> None:
    """Add a processed batch to the boards' scores: one read and at most two writes per table.

    The events service has locked the batch's members, so one member's score rows are never
    written by two transactions at once. Events of a period already paid do not count."""
    boards = [
        LeaderboardDefinition.model_validate(r.definition)
        for r in await session.scalars(
            select(LeaderboardRow).where(
                LeaderboardRow.program_id == ctx.id, LeaderboardRow.enabled.is_(True)
            )
        )
    ]
    if not boards:
        return
    tz = ctx.settings.timezone
    window = {b.id: b.period for b in boards}
    acc: dict[tuple[str, str, int], list[Any]] = {}
    for p in processed:
        for b in boards:
            delta = _delta(b, p)
            if delta <= 0:
                continue
            at = p.event.occurred_at.replace(microsecond=0)
            key = (b.id, periods.key_of(b.period, at, tz), p.member_id)
            seen = acc.get(key)
            if seen is None:
                acc[key] = [delta, at]
            else:
                seen[0] += delta
                seen[1] = max(seen[1], at)
    if not acc:
        return
    pairs = sorted({(board_id, per) for board_id, per, _ in acc})
    period_rows = []
    for board_id, per in pairs:
        start, end = periods.bounds(window[board_id], per, tz)
        period_rows.append(
            {
                "program_id": ctx.id,
                "board_id": board_id,
                "period": per,
                "starts_at": start,
                "ends_at": end,
                "settled_at": None,
                "created_at": now,
            }
        )
    await session.execute(insert_ignore(session, LeaderboardPeriod), period_rows)
    board_ids = sorted({board_id for board_id, _ in pairs})
    period_keys = sorted({per for _, per in pairs})
    settled = set(
        (
            await session.execute(
                select(LeaderboardPeriod.board_id, LeaderboardPeriod.period).where(
                    LeaderboardPeriod.program_id == ctx.id,
                    LeaderboardPeriod.board_id.in_(board_ids),
                    LeaderboardPeriod.period.in_(period_keys),
                    LeaderboardPeriod.settled_at.is_not(None),
                )
            )
        ).all()
    )
    live = {k: v for k, v in acc.items() if (k[0], k[1]) not in settled}
    if not live:
        return
    existing = {
        (r.board_id, r.period, r.member_id): r
        for r in await session.scalars(
            select(LeaderboardScore).where(
                LeaderboardScore.program_id == ctx.id,
                LeaderboardScore.board_id.in_(board_ids),
                LeaderboardScore.period.in_(period_keys),
                in_values(session, LeaderboardScore.member_id, sorted({k[2] for k in live})),
            )
        )
    }
    updates = []
    inserts = []
    for key in sorted(live):
        delta, at = live[key]
        prior = existing.get(key)
        if prior is not None:
            updates.append(
                {
                    "id": prior.id,
                    "score": prior.score + delta,
                    "reached_at": max(prior.reached_at, at),
                    "mirrored": False,
                    "updated_at": now,
                }
            )
        else:
            inserts.append(
                {
                    "program_id": ctx.id,
                    "board_id": key[0],
                    "period": key[1],
                    "member_id": key[2],
                    "score": delta,
                    "reached_at": at,
                    "mirrored": False,
                    "updated_at": now,
                }
            )
    if updates:
        await session.execute(update(LeaderboardScore), updates)
    if inserts:
        await session.execute(insert(LeaderboardScore), inserts)


# --- ranks from the database ------------------------------------------------------------------


def _ranked(program_id: str, board_id: str, period: str) -> Any:
    return (
        select(LeaderboardScore.member_id, LeaderboardScore.score, LeaderboardScore.reached_at)
        .where(
            LeaderboardScore.program_id == program_id,
            LeaderboardScore.board_id == board_id,
            LeaderboardScore.period == period,
        )
        .order_by(
            LeaderboardScore.score.desc(),
            LeaderboardScore.reached_at,
            LeaderboardScore.member_id,
        )
    )


async def period_info(
    session: AsyncSession, program_id: str, board_id: str, period: str
) -> LeaderboardPeriod | None:
    return (
        await session.scalars(
            select(LeaderboardPeriod).where(
                LeaderboardPeriod.program_id == program_id,
                LeaderboardPeriod.board_id == board_id,
                LeaderboardPeriod.period == period,
            )
        )
    ).first()


async def top(
    session: AsyncSession, program_id: str, board_id: str, period: str, *, limit: int
) -> list[Entry]:
    rows = (await session.execute(_ranked(program_id, board_id, period).limit(limit))).all()
    names = await members.external_ids(session, program_id, [r[0] for r in rows])
    return [
        Entry(rank=i, member=names.get(m, "?"), score=score, reached_at=reached)
        for i, (m, score, reached) in enumerate(rows, start=1)
    ]


async def member_rank(
    session: AsyncSession, program_id: str, board_id: str, period: str, member: str
) -> MemberRankOut:
    ref = await members.get(session, program_id, member)
    row = (
        await session.scalars(
            select(LeaderboardScore).where(
                LeaderboardScore.program_id == program_id,
                LeaderboardScore.board_id == board_id,
                LeaderboardScore.period == period,
                LeaderboardScore.member_id == ref.id,
            )
        )
    ).first()
    if row is None:
        return MemberRankOut(board=board_id, period=period, member=member, rank=None, score=0)
    above = await session.scalar(
        select(func.count())
        .select_from(LeaderboardScore)
        .where(
            LeaderboardScore.program_id == program_id,
            LeaderboardScore.board_id == board_id,
            LeaderboardScore.period == period,
            or_(
                LeaderboardScore.score > row.score,
                and_(
                    LeaderboardScore.score == row.score,
                    or_(
                        LeaderboardScore.reached_at < row.reached_at,
                        and_(
                            LeaderboardScore.reached_at == row.reached_at,
                            LeaderboardScore.member_id < row.member_id,
                        ),
                    ),
                ),
            ),
        )
    )
    return MemberRankOut(
        board=board_id,
        period=period,
        member=member,
        rank=int(above or 0) + 1,
        score=row.score,
        reached_at=row.reached_at,
    )


# --- the Redis mirror's bookkeeping -----------------------------------------------------------


async def scores_after(
    session: AsyncSession,
    program_id: str,
    board_id: str,
    period: str,
    *,
    after_id: int,
    limit: int,
    unmirrored_only: bool,
) -> list[tuple[int, int, int, datetime]]:
    """``(id, member_id, score, reached_at)`` of a period's scores by id, for the mirror."""
    stmt = (
        select(
            LeaderboardScore.id,
            LeaderboardScore.member_id,
            LeaderboardScore.score,
            LeaderboardScore.reached_at,
        )
        .where(
            LeaderboardScore.program_id == program_id,
            LeaderboardScore.board_id == board_id,
            LeaderboardScore.period == period,
            LeaderboardScore.id > after_id,
        )
        .order_by(LeaderboardScore.id)
        .limit(limit)
    )
    if unmirrored_only:
        stmt = stmt.where(LeaderboardScore.mirrored.is_(False))
    return [(i, m, s, r) for i, m, s, r in (await session.execute(stmt)).all()]


async def mark_mirrored(
    session: AsyncSession, program_id: str, mirrored: Sequence[tuple[int, int]]
) -> None:
    """Mark ``(id, score)`` rows as copied to Redis, unless their score has moved on since."""
    if not mirrored:
        return
    stmt = (
        LeaderboardScore.__table__.update()  # type: ignore[attr-defined]
        .where(
            LeaderboardScore.program_id == program_id,
            LeaderboardScore.id == bindparam("row_id"),
            LeaderboardScore.score == bindparam("row_score"),
        )
        .values(mirrored=True)
    )
    await session.execute(stmt, [{"row_id": i, "row_score": s} for i, s in mirrored])


# --- closing periods --------------------------------------------------------------------------


async def settle_due(
    session: AsyncSession, ctx: ProgramContext, *, now: datetime, limit: int = 20
) -> int:
    """Close up to ``limit`` ended, unpaid periods and pay their top-N rewards; returns how many
    periods this call closed. Safe to run twice at once: a period is claimed by one guarded
    UPDATE, rows are skipped when another run holds them (PostgreSQL), and every credit's
    ledger key is ``lb:<board>:<period>:<rank>:<asset>``."""
    stmt = (
        select(LeaderboardPeriod)
        .where(
            LeaderboardPeriod.program_id == ctx.id,
            LeaderboardPeriod.settled_at.is_(None),
            LeaderboardPeriod.ends_at <= now,
        )
        .order_by(LeaderboardPeriod.ends_at, LeaderboardPeriod.id)
        .limit(limit)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    due = list(await session.scalars(stmt))
    if not due:
        return 0
    boards = {
        r.board_id: (r.enabled, LeaderboardDefinition.model_validate(r.definition))
        for r in await session.scalars(
            select(LeaderboardRow).where(
                LeaderboardRow.program_id == ctx.id,
                LeaderboardRow.board_id.in_(sorted({p.board_id for p in due})),
            )
        )
    }
    closed = 0
    for per in due:
        claimed = cast(
            CursorResult[Any],
            await session.execute(
                LeaderboardPeriod.__table__.update()  # type: ignore[attr-defined]
                .where(LeaderboardPeriod.id == per.id, LeaderboardPeriod.settled_at.is_(None))
                .values(settled_at=now)
            ),
        )
        if claimed.rowcount != 1:
            continue  # another run closed it first
        closed += 1
        enabled, board = boards.get(per.board_id, (False, None))
        if board is None or not enabled or not board.rewards:
            continue
        await _pay_period(session, ctx, board, per.period, now=now)
    return closed


async def _pay_period(
    session: AsyncSession,
    ctx: ProgramContext,
    board: LeaderboardDefinition,
    period: str,
    *,
    now: datetime,
) -> None:
    rows = (await session.execute(_ranked(ctx.id, board.id, period).limit(board.paid_ranks))).all()
    found = await members.by_ids(session, ctx.id, [r[0] for r in rows])
    winners = []
    for rank, (member_id, score, _) in enumerate(rows, start=1):
        reward = board.reward_for(rank)
        member = found.get(member_id)
        # A frozen member keeps the rank but is not paid; nobody moves up into a paid rank.
        if reward is None or member is None or member.status == "frozen":
            continue
        winners.append((rank, member_id, score, member.external_id, reward))
    paid = await tasks.pay_rewards(
        session,
        ctx,
        [
            tasks.Grant(
                member_id=member_id,
                member=external,
                reward=reward,
                key=f"lb:{board.id}:{period}:{rank}",
                reason=f"leaderboard {board.name} {period}: rank {rank}",
                reference=f"lb:{board.id}:{period}",
            )
            for rank, member_id, _, external, reward in winners
        ],
        now=now,
        source="leaderboard",
        strict=False,
    )
    if winners:
        await session.execute(
            insert_ignore(session, LeaderboardPayout),
            [
                {
                    "program_id": ctx.id,
                    "board_id": board.id,
                    "period": period,
                    "rank": rank,
                    "member_id": member_id,
                    "score": score,
                    "paid": p.model_dump(mode="json"),
                    "created_at": now,
                }
                for (rank, member_id, score, _, _), p in zip(winners, paid, strict=True)
            ],
        )


async def payouts(
    session: AsyncSession, program_id: str, board_id: str, period: str | None
) -> list[PayoutOut]:
    stmt = (
        select(LeaderboardPayout)
        .where(LeaderboardPayout.program_id == program_id, LeaderboardPayout.board_id == board_id)
        .order_by(LeaderboardPayout.period, LeaderboardPayout.rank)
        .limit(1000)
    )
    if period is not None:
        stmt = stmt.where(LeaderboardPayout.period == period)
    rows = list(await session.scalars(stmt))
    names = await members.external_ids(session, program_id, [r.member_id for r in rows])
    return [
        PayoutOut(
            period=r.period,
            rank=r.rank,
            member=names.get(r.member_id, "?"),
            score=r.score,
            paid=RewardPaid.model_validate(r.paid),
            created_at=r.created_at,
        )
        for r in rows
    ]


async def run_job(session: AsyncSession, ctx: ProgramContext, clock: Clock) -> int:
    """The ``leaderboards`` job step: close ended periods and pay their rewards."""
    return await settle_due(session, ctx, now=clock.now())
