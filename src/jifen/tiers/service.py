"""Tiers and growth: the scheme, immediate upgrades, scheduled re-evaluation, benefits, history.

A member's tier is a rank in the program's scheme (0 = the lowest tier, which every member has).
Upgrades happen at once, when an event credits the qualifying asset or is a purchase; the
scheduled re-evaluation (once per period, month by default, in the program's time zone) also
upgrades, and downgrades by the scheme's policy: one step (or straight to the qualified tier)
after N consecutive periods below the tier, never while protected after an upgrade.

Re-evaluation is set-based: a job step takes the next slice of members by id, creates their
missing rows with one ``INSERT ... SELECT``, evaluates them with one ``UPDATE ... FROM`` joined to
the metric query, and records what changed with one ``INSERT ... SELECT`` into the history (the
outbox messages are made from the rows that insert returns). A run's row (``tier_runs``, one per
program and period) is locked by each step and holds the cursor, so two runs at once share the
work and a run repeated in the same period finds nothing left; each member row also stores the
period it was evaluated for, and the update skips rows already evaluated for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Table,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.clock import Clock, local_date, start_of_local_day
from jifen.db.engine import is_postgres
from jifen.errors import NotFound
from jifen.events.schemas import TierChangeCaused
from jifen.kit import parsed
from jifen.kit.db import UTCDateTime
from jifen.kit.sql import in_values, insert_ignore
from jifen.members.models import Member
from jifen.members.service import external_ids
from jifen.notify import service as notify
from jifen.programs.context import ProgramContext
from jifen.programs.service import record_audit
from jifen.tiers import metrics
from jifen.tiers.models import MemberTier, TierHistory, TierRun, TierScheme
from jifen.tiers.schemas import (
    Benefits,
    Comparison,
    ComparisonRow,
    HistoryOut,
    HistoryPage,
    MemberTierOut,
    Progress,
    RunOut,
    TierIn,
    TierRef,
    TierSchemeIn,
    TierSchemeOut,
)

TOPIC = "tier.changed"
# Members evaluated per job step (one transaction each).
SLICE = 50_000
ID_CHUNK = 5_000


class TierSchemeNotFound(NotFound):
    default_code = "tier_scheme_not_found"


@dataclass(frozen=True, slots=True)
class TierView:
    """A member's tier as other domains see it."""

    code: str
    name: str
    rank: int
    multiplier: Decimal
    discount_rate: Decimal


@dataclass(frozen=True, slots=True)
class Scheme:
    definition: TierSchemeIn
    version: int
    updated_at: datetime

    @property
    def tiers(self) -> list[TierIn]:
        return self.definition.tiers

    def tier(self, rank: int) -> TierIn:
        return self.tiers[max(0, min(rank, len(self.tiers) - 1))]

    def view(self, rank: int) -> TierView:
        rank = max(0, min(rank, len(self.tiers) - 1))
        t = self.tiers[rank]
        return TierView(
            code=t.code,
            name=t.name,
            rank=rank,
            multiplier=t.benefits.points_multiplier,
            discount_rate=t.benefits.discount_rate,
        )

    def qualified(self, value: int) -> int:
        """The highest rank whose minimum ``value`` reaches."""
        return max(i for i, t in enumerate(self.tiers) if value >= t.min)

    def target_expr(self, value: ColumnElement[Any]) -> ColumnElement[int]:
        whens = [(value >= t.min, i) for i, t in reversed(list(enumerate(self.tiers))) if i > 0]
        if not whens:
            return literal(0)
        return case(*whens, else_=0)

    def code_expr(self, rank: ColumnElement[int]) -> ColumnElement[str]:
        top = len(self.tiers) - 1
        return case(
            {i: t.code for i, t in enumerate(self.tiers)}, value=rank, else_=self.tier(top).code
        )


# --- the scheme ----------------------------------------------------------------------------


async def load_scheme(session: AsyncSession, program_id: str) -> Scheme | None:
    row = await session.get(TierScheme, program_id)
    if row is None:
        return None
    return Scheme(parsed.parse(TierSchemeIn, row.definition), row.version, row.updated_at)


async def _require_scheme(session: AsyncSession, program_id: str) -> Scheme:
    scheme = await load_scheme(session, program_id)
    if scheme is None:
        raise TierSchemeNotFound("this program has no tier scheme", field="tier_scheme")
    return scheme


def _scheme_out(scheme: Scheme) -> TierSchemeOut:
    return TierSchemeOut.model_validate(
        {
            **scheme.definition.model_dump(),
            "version": scheme.version,
            "updated_at": scheme.updated_at,
        }
    )


async def get_scheme(session: AsyncSession, program_id: str) -> TierSchemeOut:
    return _scheme_out(await _require_scheme(session, program_id))


async def save_scheme(
    session: AsyncSession, ctx: ProgramContext, data: TierSchemeIn, *, now: datetime, actor: str
) -> TierSchemeOut:
    """Create or replace the scheme (a new version, audited). Members keep their rank (a tier
    is a position: renaming it renames it for its members); ranks beyond a shortened scheme
    become its top tier."""
    row = await session.get(TierScheme, ctx.id, with_for_update=is_postgres(session))
    definition = data.model_dump(mode="json")
    before = row.definition if row else None
    if row is None:
        row = TierScheme(
            program_id=ctx.id, definition=definition, version=1, created_at=now, updated_at=now
        )
        session.add(row)
    else:
        row.definition = definition
        row.version += 1
        row.updated_at = now
    top = len(data.tiers) - 1
    await session.execute(
        update(MemberTier)
        .where(MemberTier.program_id == ctx.id, MemberTier.rank > top)
        .values(rank=top, prior_rank=top, updated_at=now)
    )
    await session.flush()
    await record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="tier_scheme.save",
        entity_type="tier_scheme",
        entity_id=ctx.id,
        now=now,
        before=before,
        after=definition,
    )
    return _scheme_out(Scheme(data, row.version, now))


async def delete_scheme(
    session: AsyncSession, ctx: ProgramContext, *, now: datetime, actor: str
) -> None:
    """Remove the scheme and every member's current tier; the history stays."""
    row = await session.get(TierScheme, ctx.id, with_for_update=is_postgres(session))
    if row is None:
        raise TierSchemeNotFound("this program has no tier scheme", field="tier_scheme")
    before = row.definition
    await session.delete(row)
    await session.execute(delete(MemberTier).where(MemberTier.program_id == ctx.id))
    await session.execute(delete(TierRun).where(TierRun.program_id == ctx.id))
    await session.flush()
    await record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="tier_scheme.delete",
        entity_type="tier_scheme",
        entity_id=ctx.id,
        now=now,
        before=before,
    )


# --- reading tiers -------------------------------------------------------------------------


async def _ranks(
    session: AsyncSession, program_id: str, member_ids: Sequence[int]
) -> dict[int, int]:
    out: dict[int, int] = {}
    ids = sorted(set(member_ids))
    for start in range(0, len(ids), ID_CHUNK):
        rows = await session.execute(
            select(MemberTier.member_id, MemberTier.rank).where(
                MemberTier.program_id == program_id,
                in_values(session, MemberTier.member_id, ids[start : start + ID_CHUNK]),
            )
        )
        out.update(dict(rows.tuples().all()))
    return out


async def tiers_of(
    session: AsyncSession, program_id: str, member_ids: Sequence[int]
) -> dict[int, TierView]:
    """The tier of each member; empty when the program has no scheme (with a scheme every
    member has at least the lowest tier)."""
    scheme = await load_scheme(session, program_id)
    if scheme is None or not member_ids:
        return {}
    ranks = await _ranks(session, program_id, member_ids)
    return {m: scheme.view(ranks.get(m, 0)) for m in member_ids}


def _yuan(fen: int) -> str:
    whole, part = divmod(fen, 100)
    return str(whole) if part == 0 else f"{whole}.{part:02d}".rstrip("0")


def progress_text(metric: str, needed: int, next_name: str | None) -> str:
    if next_name is None:
        return "已是最高等级"
    if needed <= 0:
        return f"已达到{next_name}标准"
    if metric == "growth":
        return f"还需成长值 {needed}"
    if metric == "spend":
        return f"还需消费 {_yuan(needed)} 元"
    if metric == "points_earned":
        return f"还需获得积分 {needed}"
    return f"还需 RFM 评分 {needed}"


async def current_values(
    session: AsyncSession,
    ctx: ProgramContext,
    scheme: Scheme,
    member_ids: Sequence[int],
    *,
    now: datetime,
) -> dict[int, int]:
    """Each member's qualifying value now (the rolling window ends now)."""
    q = scheme.definition.qualification
    ids = sorted(set(member_ids))
    out = dict.fromkeys(ids, 0)
    dialect = session.get_bind().dialect.name
    start = metrics.window_start(q, now, ctx.settings.timezone)
    for i in range(0, len(ids), ID_CHUNK):
        chunk = ids[i : i + ID_CHUNK]

        def among(col: Any, chunk: list[int] = chunk) -> ColumnElement[bool]:
            return in_values(session, col, chunk)

        query = metrics.metric_query(dialect, ctx.id, q, among, start=start, end=None, ref=now)
        for member_id, value in await session.execute(query):
            out[int(member_id)] = int(value or 0)
    return out


async def member_tier(
    session: AsyncSession, ctx: ProgramContext, member_id: int, external_id: str, *, now: datetime
) -> MemberTierOut:
    """The member's tier, benefits and progress to the next tier."""
    scheme = await _require_scheme(session, ctx.id)
    row = await session.get(MemberTier, (ctx.id, member_id))
    rank = scheme.view(row.rank if row else 0).rank
    value = (await current_values(session, ctx, scheme, [member_id], now=now))[member_id]
    tier = scheme.tier(rank)
    nxt = scheme.tiers[rank + 1] if rank + 1 < len(scheme.tiers) else None
    metric = scheme.definition.qualification.metric
    needed = max(nxt.min - value, 0) if nxt else 0
    return MemberTierOut(
        member=external_id,
        tier=TierRef(code=tier.code, name=tier.name, rank=rank),
        benefits=tier.benefits,
        since=row.since if row else None,
        protected_until=row.protected_until if row else None,
        periods_below=row.below_periods if row else 0,
        evaluated_period=(row.evaluated_period or None) if row else None,
        progress=Progress(
            metric=metric,
            value=value,
            next=nxt.code if nxt else None,
            next_name=nxt.name if nxt else None,
            needed=needed,
            text=progress_text(metric, needed, nxt.name if nxt else None),
        ),
    )


async def comparison(
    session: AsyncSession, program_id: str, *, member_id: int | None = None
) -> Comparison:
    """Every tier with its minimum and benefits, lowest first (the member's own marked)."""
    scheme = await _require_scheme(session, program_id)
    current = None
    if member_id is not None:
        current = (await tiers_of(session, program_id, [member_id]))[member_id].rank
    return Comparison(
        metric=scheme.definition.qualification.metric,
        tiers=[
            ComparisonRow(
                code=t.code,
                name=t.name,
                rank=i,
                min=t.min,
                current=i == current,
                **t.benefits.model_dump(),
            )
            for i, t in enumerate(scheme.tiers)
        ],
    )


async def history(
    session: AsyncSession, program_id: str, member_id: int, *, before_id: int | None, limit: int
) -> HistoryPage:
    stmt = select(TierHistory).where(
        TierHistory.program_id == program_id, TierHistory.member_id == member_id
    )
    if before_id is not None:
        stmt = stmt.where(TierHistory.id < before_id)
    rows = list(await session.scalars(stmt.order_by(TierHistory.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return HistoryPage(
        items=[
            HistoryOut(
                id=r.id,
                from_tier=r.from_tier,
                to_tier=r.to_tier,
                direction=r.direction,
                source=r.source,
                period=r.period,
                metric_value=r.metric_value,
                created_at=r.created_at,
            )
            for r in rows
        ],
        next_cursor=str(rows[-1].id) if more and rows else None,
    )


# --- changes: history and outbox ----------------------------------------------------------


def _table(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


async def _record_changes(
    session: AsyncSession,
    ctx: ProgramContext,
    scheme: Scheme,
    *,
    token: str,
    members: ColumnElement[bool],
    source: str,
    period: str | None,
    now: datetime,
    sink: list[tuple[int, str, str]] | None = None,
) -> tuple[int, int]:
    """History rows for the members whose rank the statement ``token`` changed, in one
    ``INSERT ... SELECT``, and a ``tier.changed`` message for each. Returns (up, down); each
    change is also added to ``sink`` as (member id, from tier, to tier) when one is given."""
    mt = _table(MemberTier)
    hist = _table(TierHistory)
    source_rows = select(
        literal(ctx.id).label("program_id"),
        mt.c.member_id,
        scheme.code_expr(mt.c.prior_rank).label("from_tier"),
        scheme.code_expr(mt.c.rank).label("to_tier"),
        mt.c.prior_rank,
        mt.c.rank,
        case((mt.c.rank > mt.c.prior_rank, "upgrade"), else_="downgrade").label("direction"),
        literal(source).label("source"),
        literal(period).label("period"),
        mt.c.metric_value,
        literal(now, UTCDateTime()).label("created_at"),
    ).where(
        mt.c.program_id == ctx.id,
        members,
        mt.c.last_run == token,
        mt.c.rank != mt.c.prior_rank,
    )
    inserted = await session.execute(
        insert(hist)
        .from_select(
            [
                "program_id",
                "member_id",
                "from_tier",
                "to_tier",
                "from_rank",
                "to_rank",
                "direction",
                "source",
                "period",
                "metric_value",
                "created_at",
            ],
            source_rows,
        )
        .returning(
            hist.c.member_id,
            hist.c.from_tier,
            hist.c.to_tier,
            hist.c.direction,
            hist.c.metric_value,
        )
    )
    changes = inserted.all()
    if not changes:
        return 0, 0
    if sink is not None:
        sink.extend((c.member_id, c.from_tier, c.to_tier) for c in changes)
    external = await external_ids(session, ctx.id, [c.member_id for c in changes])
    metric = scheme.definition.qualification.metric
    await notify.enqueue_rows(
        session,
        [
            notify.message_row(
                program_id=ctx.id,
                member_id=c.member_id,
                topic=TOPIC,
                now=now,
                payload={
                    "member": external.get(c.member_id, ""),
                    "from": c.from_tier,
                    "to": c.to_tier,
                    "direction": c.direction,
                    "source": source,
                    "period": period,
                    "metric": metric,
                    "value": c.metric_value,
                },
            )
            for c in changes
        ],
    )
    up = sum(1 for c in changes if c.direction == "upgrade")
    return up, len(changes) - up


# --- immediate upgrade ---------------------------------------------------------------------


async def upgrade_members(
    session: AsyncSession,
    ctx: ProgramContext,
    member_ids: Sequence[int],
    *,
    now: datetime,
    source: str = "event",
    sink: list[tuple[int, str, str]] | None = None,
) -> int:
    """Raise each member to the tier their value qualifies for now, if higher (never lower).
    The caller holds the members' locks (event ingestion does). Returns how many moved up;
    each move is added to ``sink`` as (member id, from tier, to tier) when one is given."""
    scheme = await load_scheme(session, ctx.id)
    if scheme is None or not member_ids:
        return 0
    values = await current_values(session, ctx, scheme, member_ids, now=now)
    targets = {m: scheme.qualified(v) for m, v in values.items()}
    candidates = sorted(m for m, t in targets.items() if t > 0)
    if not candidates:
        return 0
    await session.execute(
        insert_ignore(session, _table(MemberTier)),
        [_new_row(ctx.id, m, now) for m in candidates],
    )
    token = uuid.uuid4().hex
    protected = metrics.shift_instant(
        now, scheme.definition.evaluation.protection_months, ctx.settings.timezone
    )
    mt = _table(MemberTier)
    # The guard (rank below the target) keeps this safe beside a running re-evaluation.
    await session.execute(
        update(mt)
        .where(
            mt.c.program_id == ctx.id,
            mt.c.member_id == bindparam("m_id"),
            mt.c.rank < bindparam("target"),
        )
        .values(
            rank=bindparam("target"),
            prior_rank=mt.c.rank,
            metric_value=bindparam("value"),
            below_periods=0,
            since=now,
            protected_until=protected,
            last_run=token,
            updated_at=now,
        )
        .execution_options(synchronize_session=False),
        [{"m_id": m, "target": targets[m], "value": values[m]} for m in candidates],
    )
    up, _ = await _record_changes(
        session,
        ctx,
        scheme,
        token=token,
        members=in_values(session, mt.c.member_id, candidates),
        source=source,
        period=None,
        now=now,
        sink=sink,
    )
    return up


def _new_row(program_id: str, member_id: int, now: datetime) -> dict[str, Any]:
    return {
        "program_id": program_id,
        "member_id": member_id,
        "rank": 0,
        "prior_rank": 0,
        "metric_value": 0,
        "below_periods": 0,
        "since": None,
        "protected_until": None,
        "evaluated_period": "",
        "last_run": "",
        "updated_at": now,
    }


async def on_events(
    session: AsyncSession, ctx: ProgramContext, processed: Sequence[Any], now: datetime
) -> None:
    """Events listener: members whose event credited the qualifying asset (growth, points) or
    was a purchase (spend, RFM) are upgraded at once when they now qualify."""
    scheme = await load_scheme(session, ctx.id)
    if scheme is None:
        return
    q = scheme.definition.qualification
    if q.metric in ("growth", "points_earned"):
        asset = "growth" if q.metric == "growth" else "points"
        ids = {
            p.member_id
            for p in processed
            if any(x.asset == asset and x.amount > 0 for x in p.result.postings)
        }
    else:
        ids = {p.member_id for p in processed if p.event.type == q.purchase_event}
    if not ids:
        return
    changes: list[tuple[int, str, str]] = []
    await upgrade_members(session, ctx, sorted(ids), now=now, sink=changes)
    # Each change is reported in the result of the member's latest event of the batch.
    latest = {p.member_id: p for p in sorted(processed, key=lambda p: p.event.occurred_at)}
    for member_id, before, after in changes:
        p = latest.get(member_id)
        if p is not None:
            p.result.tier_changes.append(TierChangeCaused(from_tier=before, to_tier=after))


# --- scheduled re-evaluation ---------------------------------------------------------------


def period_of(kind: str, now: datetime, tz: str) -> tuple[str, datetime]:
    """The key of the period ``now`` falls in, and its first instant (local midnight)."""
    day = local_date(now, tz)
    if kind == "year":
        return f"y:{day.year}", start_of_local_day(date(day.year, 1, 1), tz)
    if kind == "quarter":
        first = (day.month - 1) // 3 * 3 + 1
        key = f"q:{day.year}-Q{(day.month - 1) // 3 + 1}"
        return key, start_of_local_day(date(day.year, first, 1), tz)
    return f"m:{day.year}-{day.month:02d}", start_of_local_day(date(day.year, day.month, 1), tz)


async def _lock_run(session: AsyncSession, program_id: str, period: str, now: datetime) -> TierRun:
    await session.execute(
        insert_ignore(session, _table(TierRun)),
        [
            {
                "program_id": program_id,
                "period": period,
                "cursor": 0,
                "status": "running",
                "evaluated": 0,
                "upgraded": 0,
                "downgraded": 0,
                "started_at": now,
                "finished_at": None,
            }
        ],
    )
    stmt = select(TierRun).where(TierRun.program_id == program_id, TierRun.period == period)
    if is_postgres(session):
        stmt = stmt.with_for_update()
    run = (await session.scalars(stmt.execution_options(populate_existing=True))).one()
    return run


async def evaluate_step(
    session: AsyncSession, ctx: ProgramContext, *, now: datetime, slice_size: int | None = None
) -> int:
    """Re-evaluate the next slice of the program's members for the current period; returns
    how many members it evaluated (0 when the period is done, or there is no scheme)."""
    scheme = await load_scheme(session, ctx.id)
    if scheme is None:
        return 0
    tz = ctx.settings.timezone
    ev = scheme.definition.evaluation
    period, as_of = period_of(ev.period, now, tz)
    run = await _lock_run(session, ctx.id, period, now)
    if run.status == "done":
        return 0
    if is_postgres(session):
        # The slice's aggregate (an RFM score over its purchases) sorts or hashes in memory.
        await session.execute(text("SET LOCAL work_mem = '64MB'"))
    lo = run.cursor
    ids = (
        select(Member.id)
        .where(Member.program_id == ctx.id, Member.id > lo)
        .order_by(Member.id)
        .limit(slice_size or SLICE)
        .subquery()
    )
    hi = await session.scalar(select(func.max(ids.c.id)))
    if hi is None:
        run.status = "done"
        run.finished_at = now
        await session.flush()
        return 0
    n, up, down = await _evaluate_range(
        session, ctx, scheme, lo=lo, hi=int(hi), period=period, as_of=as_of, now=now
    )
    run.cursor = int(hi)
    run.evaluated += n
    run.upgraded += up
    run.downgraded += down
    await session.flush()
    return max(n, 1)


async def _evaluate_range(
    session: AsyncSession,
    ctx: ProgramContext,
    scheme: Scheme,
    *,
    lo: int,
    hi: int,
    period: str,
    as_of: datetime,
    now: datetime,
) -> tuple[int, int, int]:
    """Evaluate the members with ids in ``(lo, hi]``: returns (evaluated, up, down)."""
    mt = _table(MemberTier)
    members = _table(Member)
    tz = ctx.settings.timezone
    q = scheme.definition.qualification
    ev = scheme.definition.evaluation

    def in_range(col: Any) -> ColumnElement[bool]:
        return and_(col > lo, col <= hi)

    # Members without a row yet start at the lowest tier.
    await session.execute(
        insert_ignore(session, mt).from_select(
            list(_new_row("", 0, now)),
            select(
                members.c.program_id,
                members.c.id,
                literal(0),
                literal(0),
                literal(0),
                literal(0),
                literal(None, UTCDateTime()),
                literal(None, UTCDateTime()),
                literal(""),
                literal(""),
                literal(now, UTCDateTime()),
            ).where(
                members.c.program_id == ctx.id,
                in_range(members.c.id),
                # An anti-join first: most members have their row, and a conflict per row
                # (ON CONFLICT, kept for concurrent inserts) costs far more than a hash join.
                ~exists().where(
                    mt.c.program_id == ctx.id,
                    in_range(mt.c.member_id),
                    mt.c.member_id == members.c.id,
                ),
            ),
        )
    )
    dialect = session.get_bind().dialect.name
    measured = metrics.metric_query(
        dialect,
        ctx.id,
        q,
        in_range,
        start=metrics.window_start(q, as_of, tz),
        end=as_of,
        ref=as_of,
    ).subquery("measured")
    token = uuid.uuid4().hex
    protect_until = metrics.shift_instant(as_of, ev.protection_months, tz)

    def evaluation(value: ColumnElement[Any], target: ColumnElement[int]) -> dict[str, Any]:
        """The new state of a member row, from its qualifying value and the rank it earns."""
        rank = mt.c.rank
        up = target > rank
        protected = and_(mt.c.protected_until.is_not(None), mt.c.protected_until > as_of)
        n = ev.downgrade_after_periods
        if n is None:
            new_rank: ColumnElement[int] = case((up, target), else_=rank)
            changed: ColumnElement[bool] = up
            below: ColumnElement[int] = case((target >= rank, 0), else_=mt.c.below_periods + 1)
        else:
            due = mt.c.below_periods + 1 >= n
            drop_to = rank - 1 if ev.downgrade_to == "one_step" else target
            falls = and_(target < rank, ~protected, due)
            new_rank = case((up, target), (falls, drop_to), else_=rank)
            changed = up | falls
            below = case(
                (target >= rank, 0), (protected, 0), (due, 0), else_=mt.c.below_periods + 1
            )
        return {
            "rank": new_rank,
            "prior_rank": rank,
            "metric_value": value,
            "below_periods": below,
            "since": case((changed, literal(now, UTCDateTime())), else_=mt.c.since),
            "protected_until": case(
                (up, literal(protect_until, UTCDateTime())), else_=mt.c.protected_until
            ),
            "evaluated_period": period,
            "last_run": token,
            "updated_at": now,
        }

    todo = [mt.c.program_id == ctx.id, in_range(mt.c.member_id), mt.c.evaluated_period != period]
    # Members with qualifying data, joined to what they earn...
    s = select(
        measured.c.member_id,
        measured.c.value,
        scheme.target_expr(measured.c.value).label("target"),
    ).subquery("s")
    result = await session.execute(
        update(mt)
        .where(*todo, mt.c.member_id == s.c.member_id)
        .values(evaluation(s.c.value, s.c.target))
        .execution_options(synchronize_session=False)
    )
    evaluated = int(getattr(result, "rowcount", 0) or 0)
    # ...then the rest of the slice, which has none: value 0, no join at all.
    zero = literal(0, BigInteger)
    result = await session.execute(
        update(mt)
        .where(*todo)
        .values(evaluation(zero, literal(scheme.qualified(0))))
        .execution_options(synchronize_session=False)
    )
    evaluated += int(getattr(result, "rowcount", 0) or 0)
    up_n, down_n = await _record_changes(
        session,
        ctx,
        scheme,
        token=token,
        members=in_range(mt.c.member_id),
        source="evaluation",
        period=period,
        now=now,
    )
    return evaluated, up_n, down_n


async def run_summary(session: AsyncSession, program_id: str, period: str) -> RunOut | None:
    run = (
        await session.scalars(
            select(TierRun).where(TierRun.program_id == program_id, TierRun.period == period)
        )
    ).first()
    if run is None:
        return None
    return RunOut(
        period=run.period,
        status=run.status,
        evaluated=run.evaluated,
        upgraded=run.upgraded,
        downgraded=run.downgraded,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


__all__ = [
    "Benefits",
    "Scheme",
    "TierView",
    "comparison",
    "evaluate_step",
    "history",
    "member_tier",
    "on_events",
    "run_job",
    "tiers_of",
    "upgrade_members",
]


async def run_job(session: AsyncSession, ctx: ProgramContext, clock: Clock) -> int:
    """The ``tiers`` job step (``jifen jobs run tiers``): one slice of the period's evaluation."""
    return await evaluate_step(session, ctx, now=clock.now())
