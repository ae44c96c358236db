"""Lottery: pools and prizes, paid draws with stock and budget under concurrency, and the
committed seeds that make every draw provable afterwards (see ``fairness``).

A draw is one transaction: the cost is debited through the ledger, the period's sequence number
taken, the prize selected from the seed, its stock and the pool's budget taken by guarded single
UPDATEs, the prize paid (ledger credit, or ``issue_coupon``) and the draw recorded. A refused
draw (pool closed, daily limit, not enough points) rolls all of it back.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.clock import as_utc, local_date, start_of_local_day
from jifen.coupons import service as coupons
from jifen.db.engine import is_postgres
from jifen.errors import InvalidInput, JifenError, MemberFrozen, NotFound, Unprocessable
from jifen.kit.idempotency import raise_for
from jifen.kit.ids import uuid7
from jifen.kit.sql import insert_ignore
from jifen.ledger import service as ledger
from jifen.ledger.schemas import CreditIn, DebitIn
from jifen.lottery import fairness
from jifen.lottery.models import LotteryDraw, LotteryPool, LotteryPrize, LotterySeed
from jifen.lottery.schemas import (
    Commitment,
    DrawOut,
    PeriodDraw,
    PeriodDraws,
    PoolIn,
    PoolOut,
    PrizeOut,
    WonPrize,
)
from jifen.members import service as members
from jifen.members.models import Member
from jifen.programs.context import ProgramContext
from jifen.programs.service import record_audit

# How many past periods the commitments list shows.
COMMITMENT_HISTORY = 31


# --- pools ------------------------------------------------------------------------------------


async def _pool_row(
    session: AsyncSession, program_id: str, pool_id: str, *, lock: bool = False
) -> LotteryPool | None:
    stmt = select(LotteryPool).where(
        LotteryPool.program_id == program_id, LotteryPool.pool_id == pool_id
    )
    if lock and is_postgres(session):
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt)).first()


async def _pool(session: AsyncSession, program_id: str, pool_id: str) -> LotteryPool:
    row = await _pool_row(session, program_id, pool_id)
    if row is None:
        raise NotFound(
            f"lottery pool {pool_id!r} not found", code="lottery_pool_not_found", field="pool"
        )
    return row


async def _prizes(session: AsyncSession, program_id: str, pool_id: str) -> list[LotteryPrize]:
    return list(
        await session.scalars(
            select(LotteryPrize)
            .where(LotteryPrize.program_id == program_id, LotteryPrize.pool_id == pool_id)
            .order_by(LotteryPrize.position)
            # Stock and counts change by guarded UPDATEs: always read what the database has.
            .execution_options(populate_existing=True)
        )
    )


def _pool_out(row: LotteryPool, prizes: list[LotteryPrize]) -> PoolOut:
    data = PoolIn.model_validate(row.definition)
    return PoolOut(
        id=row.pool_id,
        name=data.name,
        cost_points=row.cost_points,
        daily_limit=row.daily_limit,
        budget_points=row.budget_points,
        budget_spent=row.budget_spent,
        consolation_prize=data.consolation_prize,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        active=row.active,
        prizes=[
            PrizeOut(
                id=p.prize_id,
                name=p.name,
                kind=p.kind,
                weight=p.weight,
                stock=p.stock,
                points=p.points,
                template_id=p.template_id,
                won=p.won,
            )
            for p in prizes
        ],
    )


async def save_pool(
    session: AsyncSession,
    ctx: ProgramContext,
    pool_id: str,
    data: PoolIn,
    *,
    now: datetime,
    actor: str,
) -> PoolOut:
    """Create or change a pool (audited). Prize stock is set to what the definition says (the
    number left); prizes no longer listed are removed; past draws keep their own record."""
    for prize in data.prizes:
        if prize.template_id is not None:
            await coupons.get_template(session, ctx.id, prize.template_id)
    row = await _pool_row(session, ctx.id, pool_id, lock=True)
    definition = data.model_dump(mode="json")
    before = row.definition if row else None
    if row is None:
        row = LotteryPool(
            program_id=ctx.id, pool_id=pool_id, definition=definition, active=data.active,
            cost_points=data.cost_points, daily_limit=data.daily_limit,
            budget_points=data.budget_points, budget_spent=0, created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(row)
    else:
        row.definition = definition
        row.active = data.active
        row.cost_points = data.cost_points
        row.daily_limit = data.daily_limit
        row.budget_points = data.budget_points
        row.updated_at = now
    existing = {p.prize_id: p for p in await _prizes(session, ctx.id, pool_id)}
    for position, prize in enumerate(data.prizes):
        p = existing.pop(prize.id, None)
        if p is None:
            p = LotteryPrize(program_id=ctx.id, pool_id=pool_id, prize_id=prize.id, won=0)
            session.add(p)
        p.kind = prize.kind
        p.name = prize.name
        p.weight = prize.weight
        p.position = position
        p.stock = prize.stock
        p.points = prize.points
        p.template_id = prize.template_id
        p.updated_at = now
    for gone in existing.values():
        await session.delete(gone)
    await session.flush()
    # Publish today's and tomorrow's commitments at once.
    today = local_date(now, ctx.settings.timezone)
    await _ensure_seeds(session, ctx.id, pool_id, [today, today + timedelta(days=1)], now=now)
    await record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="lottery_pool.save",
        entity_type="lottery_pool",
        entity_id=pool_id,
        now=now,
        before=before,
        after=definition,
    )
    return _pool_out(row, await _prizes(session, ctx.id, pool_id))


async def get_pool(session: AsyncSession, program_id: str, pool_id: str) -> PoolOut:
    row = await _pool(session, program_id, pool_id)
    return _pool_out(row, await _prizes(session, program_id, pool_id))


async def list_pools(session: AsyncSession, program_id: str) -> list[PoolOut]:
    rows = list(
        await session.scalars(
            select(LotteryPool)
            .where(LotteryPool.program_id == program_id)
            .order_by(LotteryPool.pool_id)
        )
    )
    # Every pool's prizes in one query, not one per pool.
    prizes: dict[str, list[LotteryPrize]] = {r.pool_id: [] for r in rows}
    for prize in await session.scalars(
        select(LotteryPrize)
        .where(LotteryPrize.program_id == program_id)
        .order_by(LotteryPrize.pool_id, LotteryPrize.position)
        .execution_options(populate_existing=True)
    ):
        prizes.setdefault(prize.pool_id, []).append(prize)
    return [_pool_out(r, prizes[r.pool_id]) for r in rows]


# --- seeds and commitments --------------------------------------------------------------------


async def _ensure_seeds(
    session: AsyncSession, program_id: str, pool_id: str, days: list[date], *, now: datetime
) -> int:
    """Make the seeds of these periods if they do not exist yet; returns how many were missing
    (a concurrent writer may have made one of them first: the insert ignores it)."""
    wanted = sorted({d.isoformat() for d in days})
    have = set(
        (
            await session.scalars(
                select(LotterySeed.period).where(
                    LotterySeed.program_id == program_id,
                    LotterySeed.pool_id == pool_id,
                    LotterySeed.period.in_(wanted),
                )
            )
        ).all()
    )
    rows = []
    for period in wanted:
        if period in have:
            continue
        seed = secrets.token_hex(32)
        rows.append(
            {
                "program_id": program_id,
                "pool_id": pool_id,
                "period": period,
                "seed": seed,
                "commitment": fairness.commitment(seed),
                "draws": 0,
                "created_at": now,
            }
        )
    if rows:
        await session.execute(insert_ignore(session, LotterySeed), rows)
    return len(rows)


def _period_bounds(period: str, tz: str) -> tuple[datetime, datetime]:
    day = date.fromisoformat(period)
    return start_of_local_day(day, tz), start_of_local_day(day + timedelta(days=1), tz)


async def commitments(
    session: AsyncSession, ctx: ProgramContext, pool_id: str, *, now: datetime
) -> list[Commitment]:
    """Today's and tomorrow's commitments (made now if missing) and the past periods', newest
    first; a period's seed is shown once the period has ended."""
    await _pool(session, ctx.id, pool_id)
    today = local_date(now, ctx.settings.timezone)
    await _ensure_seeds(session, ctx.id, pool_id, [today, today + timedelta(days=1)], now=now)
    rows = await session.scalars(
        select(LotterySeed)
        .where(LotterySeed.program_id == ctx.id, LotterySeed.pool_id == pool_id)
        .order_by(LotterySeed.period.desc())
        .limit(COMMITMENT_HISTORY + 2)
    )
    out = []
    for row in rows:
        starts, ends = _period_bounds(row.period, ctx.settings.timezone)
        out.append(
            Commitment(
                period=row.period,
                commitment=row.commitment,
                seed=row.seed if now >= ends else None,
                starts_at=starts,
                ends_at=ends,
                draws=row.draws,
            )
        )
    return out


async def period_draws(
    session: AsyncSession, ctx: ProgramContext, pool_id: str, period: str, *, now: datetime
) -> PeriodDraws:
    """Every draw of a period with its sequence and weights table, and the seed once the period
    has ended: enough for ``fairness.recompute`` to reproduce each outcome."""
    try:
        _, ends = _period_bounds(period, ctx.settings.timezone)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(
            "period must be a date, YYYY-MM-DD", code="invalid_period", field="period"
        ) from exc
    await _pool(session, ctx.id, pool_id)
    seed = (
        await session.scalars(
            select(LotterySeed).where(
                LotterySeed.program_id == ctx.id,
                LotterySeed.pool_id == pool_id,
                LotterySeed.period == period,
            )
        )
    ).first()
    if seed is None:
        raise NotFound(
            f"no commitment for pool {pool_id!r} and period {period}",
            code="lottery_period_not_found",
            field="period",
        )
    rows = (
        await session.execute(
            select(LotteryDraw, Member.external_id)
            .join(Member, Member.id == LotteryDraw.member_id)
            .where(
                LotteryDraw.program_id == ctx.id,
                LotteryDraw.pool_id == pool_id,
                LotteryDraw.period == period,
            )
            .order_by(LotteryDraw.sequence)
        )
    ).all()
    revealed = now >= ends
    return PeriodDraws(
        pool=pool_id,
        period=period,
        commitment=seed.commitment,
        seed=seed.seed if revealed else None,
        revealed=revealed,
        draws=[
            PeriodDraw(
                sequence=d.sequence,
                member=external,
                weights=d.weights,
                consolation_prize=d.consolation_prize,
                number=d.number,
                selected_prize_id=d.selected_prize_id,
                prize_id=d.prize_id,
                fallback=d.fallback,
                created_at=as_utc(d.created_at),
            )
            for d, external in rows
        ],
    )


async def publish_due(session: AsyncSession, ctx: ProgramContext, *, now: datetime) -> int:
    """The ``lottery`` job: make today's and tomorrow's seeds for every active pool, so each
    commitment is public before its period starts. Returns how many seeds were new."""
    pools = await session.scalars(
        select(LotteryPool.pool_id).where(
            LotteryPool.program_id == ctx.id, LotteryPool.active.is_(True)
        )
    )
    today = local_date(now, ctx.settings.timezone)
    made = 0
    for pool_id in pools.all():
        made += await _ensure_seeds(
            session, ctx.id, pool_id, [today, today + timedelta(days=1)], now=now
        )
    return made


# --- draws ------------------------------------------------------------------------------------


class _Unavailable(Exception):
    """Raised inside a prize's savepoint to undo what taking it did so far."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


@dataclass
class _Taken:
    points: int = 0
    coupon_code: str | None = None


async def _take(
    session: AsyncSession,
    ctx: ProgramContext,
    pool: LotteryPool,
    prize: LotteryPrize,
    *,
    member_id: int,
    ref: str,
    now: datetime,
) -> _Taken:
    """Take one of the prize: stock, budget and coupon together, or none of them
    (``_Unavailable``). Each is a guarded single statement, so stock never goes below zero and
    the budget is never overspent, whatever runs at the same time."""
    stock_guard = (LotteryPrize.stock.is_(None)) | (LotteryPrize.stock > 0)
    taken = _Taken()
    async with session.begin_nested():
        done = await session.execute(
            update(LotteryPrize)
            .where(LotteryPrize.id == prize.id, stock_guard)
            .values(
                stock=LotteryPrize.stock - 1, won=LotteryPrize.won + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise _Unavailable("out_of_stock")
        if prize.kind == "points":
            assert prize.points is not None
            spent = await session.execute(
                update(LotteryPool)
                .where(
                    LotteryPool.id == pool.id,
                    (LotteryPool.budget_points.is_(None))
                    | (LotteryPool.budget_spent + prize.points <= LotteryPool.budget_points),
                )
                .values(budget_spent=LotteryPool.budget_spent + prize.points)
                .execution_options(synchronize_session=False)
            )
            if spent.rowcount != 1:  # type: ignore[attr-defined]
                raise _Unavailable("over_budget")
            taken.points = prize.points
        elif prize.kind == "coupon":
            assert prize.template_id is not None
            try:
                coupon = await coupons.issue_coupon(
                    session, ctx, member_id=member_id, template_id=prize.template_id, now=now,
                    source="lottery", source_ref=ref,
                )  # fmt: skip
            except JifenError as exc:
                raise _Unavailable("coupon_unavailable") from exc
            taken.coupon_code = coupon.code
    return taken


async def _lock_member(session: AsyncSession, ctx: ProgramContext, external: str) -> Member:
    """The member, locked (PostgreSQL) so one member's draws run one at a time and the daily
    limit is counted after the previous draw committed."""
    stmt = (
        select(Member)
        .where(Member.program_id == ctx.id, Member.external_id == external)
        .execution_options(populate_existing=True)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update()
    member = (await session.scalars(stmt)).first()
    if member is None:
        raise NotFound(f"member {external!r} not found", code="member_not_found", field="member")
    if member.status == "frozen":
        raise MemberFrozen(f"member {external!r} is frozen", field="member")
    return member


def _closed(pool: LotteryPool, now: datetime) -> bool:
    data = PoolIn.model_validate(pool.definition)
    if not pool.active:
        return True
    if data.starts_at is not None and now < data.starts_at:
        return True
    return data.ends_at is not None and now >= data.ends_at


async def draw(
    session: AsyncSession, ctx: ProgramContext, *, member: str, pool_id: str, now: datetime
) -> DrawOut:
    """One paid draw for ``member``; raises (having changed nothing) ``lottery_pool_not_found``,
    ``lottery_pool_closed``, ``lottery_daily_limit``, ``insufficient_points``, ``member_frozen``.
    The caller runs it under an idempotency key."""
    ref = uuid7().hex
    who = await _lock_member(session, ctx, member)
    pool = await _pool(session, ctx.id, pool_id)
    if _closed(pool, now):
        raise Unprocessable(
            f"lottery pool {pool_id!r} is not open", code="lottery_pool_closed", field="pool"
        )
    period = local_date(now, ctx.settings.timezone).isoformat()
    if pool.daily_limit is not None:
        today = await session.scalar(
            select(func.count())
            .select_from(LotteryDraw)
            .where(
                LotteryDraw.program_id == ctx.id,
                LotteryDraw.member_id == who.id,
                LotteryDraw.pool_id == pool_id,
                LotteryDraw.period == period,
            )
        )
        if (today or 0) >= pool.daily_limit:
            raise Unprocessable(
                f"the member has drawn {today} times today, the pool's daily limit",
                code="lottery_daily_limit",
                field="pool",
                extra={"limit": pool.daily_limit, "period": period},
            )
    if pool.cost_points > 0:
        debit = DebitIn(
            idempotency_key=f"lottery:{ref}:cost", member=member, amount=pool.cost_points,
            reason="lottery draw", reference=f"lottery:{pool_id}",
            meta={"pool": pool_id, "draw": ref},
        )  # fmt: skip
        raise_for((await ledger.debit(session, ctx, [debit], now=now))[0])
    # The period's sequence number; the seed row stays locked until commit, so the pool's draws
    # take stock one at a time in sequence order.
    next_sequence = (
        update(LotterySeed)
        .where(
            LotterySeed.program_id == ctx.id,
            LotterySeed.pool_id == pool_id,
            LotterySeed.period == period,
        )
        .values(draws=LotterySeed.draws + 1)
        .returning(LotterySeed.draws, LotterySeed.seed, LotterySeed.commitment)
        .execution_options(synchronize_session=False)
    )
    seq_row = (await session.execute(next_sequence)).first()
    if seq_row is None:  # nobody published this period's commitment yet: make it now
        await _ensure_seeds(session, ctx.id, pool_id, [date.fromisoformat(period)], now=now)
        seq_row = (await session.execute(next_sequence)).one()
    sequence, seed, commitment = int(seq_row[0]), str(seq_row[1]), str(seq_row[2])
    prizes = await _prizes(session, ctx.id, pool_id)
    spent = await session.scalar(select(LotteryPool.budget_spent).where(LotteryPool.id == pool.id))
    budget_left = None if pool.budget_points is None else pool.budget_points - int(spent or 0)
    consolation = PoolIn.model_validate(pool.definition).consolation_prize

    def available(p: LotteryPrize) -> bool:
        if p.stock is not None and p.stock <= 0:
            return False
        return not (
            p.kind == "points" and budget_left is not None and (p.points or 0) > budget_left
        )

    table: list[list[Any]] = [[p.prize_id, p.weight, available(p), p.kind] for p in prizes]
    number = fairness.random_below(seed, pool_id, period, sequence, sum(p.weight for p in prizes))
    index = fairness.select([p.weight for p in prizes], number)
    selected = prizes[index]
    got: LotteryPrize | None = None
    taken = _Taken()
    fallback: str | None = None
    if table[index][2] and not (selected.kind == "nothing" and consolation is not None):
        try:
            taken = await _take(session, ctx, pool, selected, member_id=who.id, ref=ref, now=now)
            got = selected
        except _Unavailable as gone:
            table[index][2] = False
            fallback = gone.reason
    elif not table[index][2]:
        fallback = "over_budget" if selected.stock != 0 else "out_of_stock"
    else:
        fallback = "nothing"
    if got is None and consolation is not None:
        ci = next(i for i, p in enumerate(prizes) if p.prize_id == consolation)
        if table[ci][2]:
            try:
                taken = await _take(
                    session, ctx, pool, prizes[ci], member_id=who.id, ref=ref, now=now
                )
                got = prizes[ci]
            except _Unavailable:
                table[ci][2] = False
    # The stored table gives this outcome when recomputed: the rules above are fairness.resolve.
    expected, _ = fairness.resolve(table, index, consolation)
    assert expected == (got.prize_id if got is not None else None)
    if taken.points:
        credit = CreditIn(
            idempotency_key=f"lottery:{ref}:prize", member=member, amount=taken.points,
            reason="lottery prize", reference=f"lottery:{pool_id}",
            meta={"pool": pool_id, "draw": ref},
        )  # fmt: skip
        raise_for((await ledger.credit(session, ctx, [credit], now=now))[0])
    won = got is not None and got.kind != "nothing"
    row = LotteryDraw(
        program_id=ctx.id, ref=ref, member_id=who.id, pool_id=pool_id, period=period,
        sequence=sequence, weights=table, consolation_prize=consolation, number=str(number),
        selected_prize_id=selected.prize_id, prize_id=got.prize_id if got else None,
        prize_kind=got.kind if got else "nothing", fallback=fallback,
        cost_points=pool.cost_points, points_awarded=taken.points,
        coupon_code=taken.coupon_code, item_name=got.name if got and got.kind == "item" else None,
        created_at=now,
    )  # fmt: skip
    session.add(row)
    await session.flush()
    prize = None
    if got is not None:
        prize = WonPrize(
            id=got.prize_id, kind=got.kind, name=got.name, points=taken.points or None,
            coupon_code=taken.coupon_code, item=got.name if got.kind == "item" else None,
        )  # fmt: skip
    return DrawOut(
        id=ref, pool=pool_id, member=member, period=period, sequence=sequence,
        cost_points=pool.cost_points, won=won, prize=prize, selected_prize_id=selected.prize_id,
        fallback=fallback, commitment=commitment, created_at=now,
    )  # fmt: skip


async def member_draws(
    session: AsyncSession, ctx: ProgramContext, member: str, *, limit: int = 50
) -> list[dict[str, Any]]:
    """A member's latest draws, newest first."""
    who = await members.get(session, ctx.id, member)
    rows = await session.scalars(
        select(LotteryDraw)
        .where(LotteryDraw.program_id == ctx.id, LotteryDraw.member_id == who.id)
        .order_by(LotteryDraw.id.desc())
        .limit(limit)
    )
    return [
        {
            "id": r.ref,
            "pool": r.pool_id,
            "period": r.period,
            "sequence": r.sequence,
            "prize_id": r.prize_id,
            "prize_kind": r.prize_kind,
            "points": r.points_awarded,
            "coupon_code": r.coupon_code,
            "item": r.item_name,
            "cost_points": r.cost_points,
            "created_at": as_utc(r.created_at).isoformat(),
        }
        for r in rows
    ]
