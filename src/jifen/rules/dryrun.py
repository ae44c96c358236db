"""Dry-run: what a rule (or a rule set) would have paid over the stored events, writing nothing.

The stored events of ``[start, end)`` are replayed in ``occurred_at`` order, a page at a time,
through the same evaluator that pays events at ingestion, as if the rules had gone live at
``start``:

- each given rule is version 1, in force from the beginning (its ``effective_from`` is ignored);
  with ``include_current`` the rules stored now join them (a given rule replaces the stored rule
  of the same id);
- event counts (``counts`` in conditions, ``streak``) start from history: lifetime counts before
  ``start`` and the day/week/month counts of the periods that straddle ``start``; the rules'
  own hit and paid counters (limits, ladders, first and milestone effects) start at 0;
- budgets start unspent and are spent in memory; experiment groups come from the stored
  experiments (nothing is assigned); members are seen as they are now (tier, tags, attributes);
- a refund or a member leaving takes back what the dry-run paid for the order or the invite,
  as ingestion would.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.campaigns import service as campaigns_service
from jifen.campaigns.schemas import CampaignDefinition
from jifen.clock import local_date, start_of_local_day
from jifen.errors import InvalidInput
from jifen.events.models import Event
from jifen.events.service import member_view, whole_amount
from jifen.experiments.assignment import group_for
from jifen.experiments.models import Experiment
from jifen.kit.money import to_units
from jifen.kit.periods import period_key, period_keys
from jifen.members import service as members_service
from jifen.programs.context import ProgramContext
from jifen.rules import service
from jifen.rules.evaluator import (
    EvalState,
    Evaluator,
    EventView,
    MemberView,
    RuleVersionView,
    needs_streak,
)
from jifen.rules.models import Counter
from jifen.rules.schemas import RuleDefinition
from jifen.tiers import service as tiers_service

PAGE_SIZE = 5000
TOP_N = 10
BUCKETS = 8
STREAK_DAYS = 400
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
# Event types that take back what an earlier event paid, and the event type they take from.
REVERSES = {"refund": "purchase", "member_left": "invite_accepted"}


# --- the report ---------------------------------------------------------------------------


class Bucket(BaseModel):
    """Members whose net total of the asset is in ``[low, high]`` (inclusive)."""

    low: int
    high: int
    members: int


class Earner(BaseModel):
    member: str
    amount: int


class AssetTotals(BaseModel):
    asset: str
    # What the rules would have credited, what refunds and leavers would have taken back,
    # and the difference (the cost).
    paid: int
    reversed: int
    net: int
    # The net cost in fen: points at the program's point_value_fen, cash as is; else null.
    value_fen: int | None
    # What would have waited for manual review (paid only if approved); not in ``paid``.
    pending_review: int
    members: int
    distribution: list[Bucket]
    top_earners: list[Earner]


class RuleTotals(BaseModel):
    rule_id: str
    version: int
    source: str  # "dry-run" (given) or "current" (stored)
    # Events on which the rule's condition held.
    hits: int
    payouts: int
    members: int
    paid: dict[str, int]
    reversed: dict[str, int]
    pending_review: dict[str, int]


class SkipCount(BaseModel):
    rule_id: str
    reason: str
    count: int


class BudgetUseOut(BaseModel):
    budget_id: str
    period: str
    asset: str
    limit: int
    spent: int
    exhausted: bool


class DryRunReport(BaseModel):
    program_id: str
    start: datetime
    end: datetime
    rules: list[str]
    include_current: bool
    # Every stored event of the window, the ones of the rules' triggers (and refunds and
    # leavers) that were replayed, and those that would have paid something.
    events_in_window: int
    events_scanned: int
    events_paying: int
    events_to_review: int
    members_affected: int
    assets: list[AssetTotals]
    per_rule: list[RuleTotals]
    skip_reasons: dict[str, int]
    skips: list[SkipCount]
    budgets: list[BudgetUseOut]
    # Coupons and badges the rules would have given, by ``coupon:<template>``/``badge:<id>``.
    grants: dict[str, int] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)


# --- the run ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Credit:
    """A payout the dry-run made, kept when a later refund or leaver could take it back."""

    member_id: int
    rule_id: str
    asset: str
    amount: int
    base: int  # the purchase amount (refunds take back their share of it)
    reversed: int = 0


@dataclass
class _Tally:
    paid: dict[tuple[int, str], int] = field(default_factory=dict)
    reversed: dict[tuple[int, str], int] = field(default_factory=dict)
    review: dict[str, int] = field(default_factory=dict)
    rule_payouts: Tally[str] = field(default_factory=Tally)
    rule_members: dict[str, set[int]] = field(default_factory=dict)
    rule_paid: dict[str, Tally[str]] = field(default_factory=dict)
    rule_reversed: dict[str, Tally[str]] = field(default_factory=dict)
    rule_review: dict[str, Tally[str]] = field(default_factory=dict)
    skips: Tally[tuple[str, str]] = field(default_factory=Tally)
    grants: Tally[str] = field(default_factory=Tally)
    events_scanned: int = 0
    events_paying: int = 0
    events_to_review: int = 0
    members: set[int] = field(default_factory=set)
    external: dict[int, str] = field(default_factory=dict)


def _definitions(rules: Sequence[RuleDefinition | dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        r.model_dump(mode="json", by_alias=True) if isinstance(r, RuleDefinition) else r
        for r in rules
    ]


async def dry_run(
    session: AsyncSession,
    ctx: ProgramContext,
    rules: Sequence[RuleDefinition | dict[str, Any]],
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    include_current: bool = False,
    campaigns: Sequence[CampaignDefinition | dict[str, Any]] | None = None,
    page_size: int = PAGE_SIZE,
) -> DryRunReport:
    """Replay the stored events of ``[start, end)`` through ``rules``; read-only."""
    raws = _definitions(rules)
    problems = await service.check(session, ctx.id, raws)
    if problems:
        service.raise_problems(problems)
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput(
            "start and end must include a time zone offset", code="invalid_window", field="start"
        )
    if end <= start:
        raise InvalidInput("end must be after start", code="invalid_window", field="end")
    if not raws and not include_current:
        raise InvalidInput(
            "give at least one rule (or include_current)", code="no_rules", field="rules"
        )
    given = [RuleDefinition.model_validate(raw) for raw in raws]
    ids = [r.id for r in given]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise InvalidInput(
            f"rule {dup!r} is given more than once", code="invalid_rule", field="rules"
        )
    versions = [RuleVersionView(definition=r, version=1, effective_from=BEGINNING) for r in given]
    source = dict.fromkeys(ids, "dry-run")
    if include_current:
        for row in await service.current(session, ctx.id, at=now):
            if row.rule_id in source:
                continue
            v = service.view(row)
            versions.append(
                RuleVersionView(
                    definition=v.definition, version=v.version, effective_from=BEGINNING
                )
            )
            source[row.rule_id] = "current"
    tz = ctx.settings.timezone
    warnings: list[str] = []

    if campaigns is None:
        active = await campaigns_service.campaigns_between(session, ctx.id, start, end)
    else:
        active = [_campaign(i, c) for i, c in enumerate(campaigns)]
    state = EvalState()
    state.budget_specs = await campaigns_service.budget_specs(session, ctx.id)
    for v in versions:
        b = v.definition.budget
        if b is not None and b not in state.budget_specs:
            warnings.append(f"rule {v.definition.id}: budget {b!r} is not defined; not capped")
    for c in active:
        if c.budget is not None and c.budget not in state.budget_specs:
            warnings.append(f"campaign {c.id}: budget {c.budget!r} is not defined; not capped")

    experiments = await _experiments(session, ctx.id, versions, warnings)

    triggers = sorted({v.definition.trigger for v in versions})
    scan_types = sorted(set(triggers) | set(REVERSES))
    await _seed_counts(session, ctx, state, triggers, start)
    if needs_streak(versions):
        await _seed_active_days(session, ctx, state, triggers, start)

    evaluator = Evaluator(
        timezone=tz,
        rounding=ctx.settings.rounding,
        versions=versions,
        campaigns=active,
        state=state,
    )
    tally = _Tally()
    credits: dict[tuple[str, str], list[_Credit]] = {}
    refunded: dict[str, int] = {}
    last: tuple[datetime, int] | None = None
    while True:
        page = await _page(session, ctx.id, scan_types, start, end, last, page_size)
        if not page:
            break
        last = (page[-1].occurred_at, page[-1].id)
        views = await _members(session, ctx.id, {e.member_id for e in page})
        for exp_id, bp in experiments.items():
            for mid, seen in views.items():
                state.groups.setdefault((exp_id, mid), group_for(exp_id, seen.external_id, bp))
        for row in page:
            mv = views.get(row.member_id)
            if mv is None:
                continue  # the member is gone (erased)
            tally.events_scanned += 1
            tally.external[mv.id] = mv.external_id
            if row.type in triggers:
                _evaluate(evaluator, row, mv, tally, credits)
            if row.type in REVERSES:
                _reverse(row, mv, tally, credits, refunded)
        if len(page) < page_size:
            break
        _prune(state, period_keys(last[0], tz))

    in_window = await session.scalar(
        select(func.count())
        .select_from(Event)
        .where(Event.program_id == ctx.id, Event.occurred_at >= start, Event.occurred_at < end)
    )
    return _report(
        ctx,
        start=start,
        end=end,
        versions=versions,
        source=source,
        include_current=include_current,
        in_window=int(in_window or 0),
        tally=tally,
        state=state,
        warnings=warnings,
    )


def _campaign(index: int, raw: CampaignDefinition | dict[str, Any]) -> CampaignDefinition:
    if isinstance(raw, CampaignDefinition):
        return raw
    try:
        return CampaignDefinition.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InvalidInput(
            f"campaign {index}: {where}: {err['msg']}",
            code="invalid_campaign",
            field=f"campaigns.{index}.{where}".rstrip("."),
        ) from exc


def _evaluate(
    evaluator: Evaluator,
    row: Any,
    mv: MemberView,
    tally: _Tally,
    credits: dict[tuple[str, str], list[_Credit]],
) -> None:
    ev = evaluator.evaluate(
        EventView(
            client_id=row.client_id,
            type=row.type,
            member=mv,
            occurred_at=row.occurred_at,
            attributes=dict(row.attributes or {}),
            id=row.id,
        )
    )
    paying = reviewing = False
    for g in ev.grants:
        tally.grants[f"{g.kind}:{g.target}"] += 1
        tally.members.add(mv.id)
    for p in ev.payouts:
        tally.rule_payouts[p.rule_id] += 1
        tally.rule_members.setdefault(p.rule_id, set()).add(mv.id)
        tally.members.add(mv.id)
        if p.review:
            reviewing = True
            tally.review[p.asset] = tally.review.get(p.asset, 0) + p.amount
            tally.rule_review.setdefault(p.rule_id, Tally())[p.asset] += p.amount
            continue
        paying = True
        key = (mv.id, p.asset)
        tally.paid[key] = tally.paid.get(key, 0) + p.amount
        tally.rule_paid.setdefault(p.rule_id, Tally())[p.asset] += p.amount
        if row.type in REVERSES.values() and row.subject is not None:
            base = whole_amount((row.attributes or {}).get("amount"))
            credits.setdefault((row.type, row.subject), []).append(
                _Credit(mv.id, p.rule_id, p.asset, p.amount, base)
            )
    for s in ev.skipped:
        tally.skips[(s.rule_id, s.reason)] += 1
    tally.events_paying += paying
    tally.events_to_review += reviewing


def _reverse(
    row: Any,
    mv: MemberView,
    tally: _Tally,
    credits: dict[tuple[str, str], list[_Credit]],
    refunded: dict[str, int],
) -> None:
    """Take back what the dry-run paid for the refunded order or the departed invitee."""
    original = REVERSES[row.type]
    if row.type == "refund":
        if row.subject is None:
            return
        subject = row.subject
        refunded[subject] = refunded.get(subject, 0) + whole_amount(
            (row.attributes or {}).get("refund_amount")
        )
    else:
        subject = mv.external_id
    for c in credits.get((original, subject), []):
        if row.type == "refund":
            share = (
                Decimal(1)
                if c.base <= 0
                else min(Decimal(refunded[subject]) / Decimal(c.base), Decimal(1))
            )
        else:
            share = Decimal(1)
        target = to_units(Decimal(c.amount) * share, "down")
        amount = target - c.reversed
        if amount <= 0:
            continue
        c.reversed += amount
        key = (c.member_id, c.asset)
        tally.reversed[key] = tally.reversed.get(key, 0) + amount
        tally.rule_reversed.setdefault(c.rule_id, Tally())[c.asset] += amount


def _prune(state: EvalState, current: dict[str, str]) -> None:
    """Forget the counters of periods that are over: events come in time order, so no later
    event reads them, and a long window would otherwise hold every member's every day."""
    keep = set(current.values())
    for key in [k for k in state.counters if k[2] not in keep]:
        del state.counters[key]
    state.touched.clear()


# --- loading ------------------------------------------------------------------------------


async def _page(
    session: AsyncSession,
    program_id: str,
    types: Sequence[str],
    start: datetime,
    end: datetime,
    after: tuple[datetime, int] | None,
    size: int,
) -> list[Any]:
    stmt = select(
        Event.id,
        Event.client_id,
        Event.type,
        Event.member_id,
        Event.subject,
        Event.occurred_at,
        Event.attributes,
    ).where(
        Event.program_id == program_id,
        Event.type.in_(types),
        Event.occurred_at >= start,
        Event.occurred_at < end,
    )
    if after is not None:
        at, last_id = after
        stmt = stmt.where(
            or_(Event.occurred_at > at, and_(Event.occurred_at == at, Event.id > last_id))
        )
    rows = await session.execute(stmt.order_by(Event.occurred_at, Event.id).limit(size))
    return list(rows.all())


async def _members(
    session: AsyncSession, program_id: str, ids: Iterable[int]
) -> dict[int, MemberView]:
    found = await members_service.rows_by_ids(session, program_id, ids)
    tier_of = await tiers_service.tiers_of(session, program_id, sorted(found))
    return {i: member_view(m, tier_of.get(i)) for i, m in found.items()}


async def _experiments(
    session: AsyncSession,
    program_id: str,
    versions: Sequence[RuleVersionView],
    warnings: list[str],
) -> dict[str, int]:
    """Treatment share (basis points) of each experiment the rules name; read-only."""
    wanted = sorted({v.definition.experiment.id for v in versions if v.definition.experiment})
    if not wanted:
        return {}
    found = {
        e.experiment_id: e.treatment_bp
        for e in await session.scalars(
            select(Experiment).where(
                Experiment.program_id == program_id, Experiment.experiment_id.in_(wanted)
            )
        )
    }
    for exp in wanted:
        if exp not in found:
            warnings.append(f"experiment {exp!r} is not defined; every member counts as control")
    return found


async def _seed_counts(
    session: AsyncSession,
    ctx: ProgramContext,
    state: EvalState,
    types: Sequence[str],
    start: datetime,
) -> None:
    """Event counts as they stood at ``start``: lifetime, and the periods that contain it."""
    if not types:
        return
    tz = ctx.settings.timezone
    day = local_date(start, tz)
    floors = {
        "lifetime": None,
        "month": start_of_local_day(day.replace(day=1), tz),
        "week": start_of_local_day(day - timedelta(days=day.isoweekday() - 1), tz),
        "day": start_of_local_day(day, tz),
    }
    for window, floor in floors.items():
        period = period_key(window, day)
        stmt = select(Event.member_id, Event.type, func.count()).where(
            Event.program_id == ctx.id, Event.type.in_(types), Event.occurred_at < start
        )
        if floor is not None:
            stmt = stmt.where(Event.occurred_at >= floor)
        for member_id, event_type, count in await session.execute(
            stmt.group_by(Event.member_id, Event.type)
        ):
            state.counters[(member_id, f"evt:{event_type}", period)] = [int(count), 0]
            if window == "day" and count:
                state.active_days.setdefault((member_id, event_type), set()).add(day)


async def _seed_active_days(
    session: AsyncSession,
    ctx: ProgramContext,
    state: EvalState,
    types: Sequence[str],
    start: datetime,
) -> None:
    """The days before ``start``'s day on which each member had each event (for streaks)."""
    day = local_date(start, ctx.settings.timezone)
    since = period_key("day", day - timedelta(days=STREAK_DAYS))
    until = period_key("day", day)
    names = {f"evt:{t}": t for t in types}
    last_id = 0
    while True:
        rows = (
            await session.execute(
                select(Counter.id, Counter.member_id, Counter.name, Counter.period)
                .where(
                    Counter.program_id == ctx.id,
                    Counter.name.in_(sorted(names)),
                    Counter.period >= since,
                    Counter.period < until,
                    Counter.count > 0,
                    Counter.id > last_id,
                )
                .order_by(Counter.id)
                .limit(PAGE_SIZE)
            )
        ).all()
        for _, member_id, name, period in rows:
            if period.startswith("d:"):
                state.active_days.setdefault((member_id, names[name]), set()).add(
                    date.fromisoformat(period[2:])
                )
        if len(rows) < PAGE_SIZE:
            return
        last_id = rows[-1][0]


# --- summing up ---------------------------------------------------------------------------


def histogram(values: Sequence[int], buckets: int = BUCKETS) -> list[Bucket]:
    """Equal-width buckets from the smallest to the largest value (at most ``buckets``)."""
    if not values:
        return []
    lo, hi = min(values), max(values)
    n = min(buckets, hi - lo + 1)
    width = -(-(hi - lo + 1) // n)
    out = []
    low = lo
    while low <= hi:
        high = min(low + width - 1, hi)
        out.append(Bucket(low=low, high=high, members=sum(1 for v in values if low <= v <= high)))
        low = high + 1
    return out


def _value_fen(ctx: ProgramContext, asset: str, amount: int) -> int | None:
    if asset == "points":
        return to_units(Decimal(amount) * ctx.settings.point_value_fen, "half_up")
    if asset == "cash":
        return amount
    return None


def _report(
    ctx: ProgramContext,
    *,
    start: datetime,
    end: datetime,
    versions: Sequence[RuleVersionView],
    source: dict[str, str],
    include_current: bool,
    in_window: int,
    tally: _Tally,
    state: EvalState,
    warnings: list[str],
) -> DryRunReport:
    asset_names = sorted({a for _, a in tally.paid} | set(tally.review))
    assets: list[AssetTotals] = []
    for asset in asset_names:
        per_member = {
            m: paid - tally.reversed.get((m, a), 0)
            for (m, a), paid in tally.paid.items()
            if a == asset
        }
        paid = sum(v for (_, a), v in tally.paid.items() if a == asset)
        rev = sum(v for (_, a), v in tally.reversed.items() if a == asset)
        top = sorted(per_member.items(), key=lambda kv: (-kv[1], tally.external[kv[0]]))[:TOP_N]
        assets.append(
            AssetTotals(
                asset=asset,
                paid=paid,
                reversed=rev,
                net=paid - rev,
                value_fen=_value_fen(ctx, asset, paid - rev),
                pending_review=tally.review.get(asset, 0),
                members=len(per_member),
                distribution=histogram(list(per_member.values())),
                top_earners=[Earner(member=tally.external[m], amount=v) for m, v in top],
            )
        )
    # The rules' hit counters started at 0, so their lifetime values are the dry-run's hits.
    hits: Tally[str] = Tally()
    for (_, name, period), (count, _) in state.counters.items():
        if period == "all" and name.startswith("rule:"):
            hits[name[5:]] += count
    per_rule = [
        RuleTotals(
            rule_id=v.definition.id,
            version=v.version,
            source=source.get(v.definition.id, "dry-run"),
            hits=hits[v.definition.id],
            payouts=tally.rule_payouts[v.definition.id],
            members=len(tally.rule_members.get(v.definition.id, ())),
            paid=dict(sorted(tally.rule_paid.get(v.definition.id, Tally()).items())),
            reversed=dict(sorted(tally.rule_reversed.get(v.definition.id, Tally()).items())),
            pending_review=dict(sorted(tally.rule_review.get(v.definition.id, Tally()).items())),
        )
        for v in sorted(versions, key=lambda v: (v.definition.priority, v.definition.id))
    ]
    reasons: Tally[str] = Tally()
    for (_, reason), n in tally.skips.items():
        reasons[reason] += n
    return DryRunReport(
        program_id=ctx.id,
        start=start,
        end=end,
        rules=[v.definition.id for v in versions],
        include_current=include_current,
        events_in_window=in_window,
        events_scanned=tally.events_scanned,
        events_paying=tally.events_paying,
        events_to_review=tally.events_to_review,
        members_affected=len(tally.members),
        grants=dict(sorted(tally.grants.items())),
        assets=assets,
        per_rule=per_rule,
        skip_reasons=dict(sorted(reasons.items())),
        skips=[
            SkipCount(rule_id=r, reason=reason, count=n)
            for (r, reason), n in sorted(tally.skips.items())
        ],
        budgets=[
            BudgetUseOut(
                budget_id=b.budget_id,
                period=b.period,
                asset=b.asset,
                limit=b.limit,
                spent=b.spent,
                exhausted=b.spent >= b.limit,
            )
            for b in sorted(state.budgets.values(), key=lambda b: (b.budget_id, b.period))
        ],
        warnings=warnings,
    )
