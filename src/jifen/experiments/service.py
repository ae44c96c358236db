"""Experiments: definitions, groups assigned on first sight and stored (so a member never
switches), enrolment of existing members, and the report comparing the groups.

The report is computed in the database with one grouped query: per assigned member, their
events and credits in the window are aggregated, then summed per group (counts, sums and sums
of squares); only the two group rows come back, and the statistics are done on those.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    String,
    case,
    cast,
    exists,
    func,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from jifen.errors import Conflict, InvalidInput, NotFound
from jifen.events.models import Event
from jifen.experiments import stats
from jifen.experiments.assignment import bucket, group_for
from jifen.experiments.models import Assignment, Experiment
from jifen.experiments.schemas import (
    AssignmentOut,
    Comparison,
    EnrollOut,
    ExperimentIn,
    ExperimentOut,
    GroupCounts,
    GroupStats,
    Metric,
    ReportOut,
    ReportWindow,
)
from jifen.kit.sql import insert_ignore
from jifen.ledger.models import LedgerTransaction
from jifen.members import service as members
from jifen.members.models import Member
from jifen.members.service import MemberRef
from jifen.programs.context import ProgramContext
from jifen.programs.service import record_audit

ENROLL_CHUNK = 5000


async def groups_for(
    session: AsyncSession,
    program_id: str,
    experiment_ids: Iterable[str],
    members: Sequence[MemberRef],
    *,
    now: datetime,
) -> dict[tuple[str, int], str]:
    """The group of each member in each experiment, assigning (and storing) new members."""
    ids = sorted(set(experiment_ids))
    if not ids or not members:
        return {}
    experiments = {
        e.experiment_id: e
        for e in await session.scalars(
            select(Experiment).where(
                Experiment.program_id == program_id, Experiment.experiment_id.in_(ids)
            )
        )
    }
    member_ids = [m.id for m in members]
    out: dict[tuple[str, int], str] = {}
    for start in range(0, len(member_ids), 1000):
        rows = await session.execute(
            select(Assignment.experiment_id, Assignment.member_id, Assignment.group).where(
                Assignment.program_id == program_id,
                Assignment.experiment_id.in_(ids),
                Assignment.member_id.in_(member_ids[start : start + 1000]),
            )
        )
        for exp, mid, group in rows:
            out[(exp, mid)] = group
    new_rows = []
    for exp_id, exp in experiments.items():
        if now < exp.starts_at or (exp.ends_at is not None and now >= exp.ends_at):
            continue  # outside its window nobody is newly assigned; unassigned members are control
        for m in members:
            if (exp_id, m.id) not in out:
                group = group_for(exp_id, m.external_id, exp.treatment_bp)
                out[(exp_id, m.id)] = group
                new_rows.append(
                    {
                        "program_id": program_id,
                        "experiment_id": exp_id,
                        "member_id": m.id,
                        "group": group,
                        "assigned_at": now,
                    }
                )
    if new_rows:
        await session.execute(insert_ignore(session, Assignment), new_rows)
    return out


# --- definitions ------------------------------------------------------------------------------


def _status(exp: Experiment, now: datetime) -> Literal["scheduled", "running", "ended"]:
    if now < exp.starts_at:
        return "scheduled"
    if exp.ends_at is not None and now >= exp.ends_at:
        return "ended"
    return "running"


def _in_window(exp: Experiment, now: datetime) -> bool:
    return _status(exp, now) == "running"


def _percent(bp: int) -> Decimal:
    return (Decimal(bp) / 100).quantize(Decimal("0.01"))


def _to_out(exp: Experiment, counts: GroupCounts, now: datetime) -> ExperimentOut:
    return ExperimentOut(
        id=exp.experiment_id,
        name=exp.name,
        description=str(exp.definition.get("description", "")),
        treatment_percent=_percent(exp.treatment_bp),
        starts_at=exp.starts_at,
        ends_at=exp.ends_at,
        status=_status(exp, now),
        assigned=counts,
        created_at=exp.created_at,
    )


async def _find(session: AsyncSession, program_id: str, experiment_id: str) -> Experiment | None:
    return (
        await session.scalars(
            select(Experiment).where(
                Experiment.program_id == program_id, Experiment.experiment_id == experiment_id
            )
        )
    ).first()


async def _get(session: AsyncSession, program_id: str, experiment_id: str) -> Experiment:
    exp = await _find(session, program_id, experiment_id)
    if exp is None:
        raise NotFound(
            f"experiment {experiment_id!r} not found",
            code="experiment_not_found",
            field="experiment_id",
        )
    return exp


async def _counts(
    session: AsyncSession, program_id: str, experiment_ids: Sequence[str]
) -> dict[str, GroupCounts]:
    out = {e: GroupCounts() for e in experiment_ids}
    if not experiment_ids:
        return out
    rows = await session.execute(
        select(Assignment.experiment_id, Assignment.group, func.count())
        .where(
            Assignment.program_id == program_id,
            Assignment.experiment_id.in_(list(experiment_ids)),
        )
        .group_by(Assignment.experiment_id, Assignment.group)
    )
    for exp_id, group, n in rows:
        if group in ("control", "treatment"):
            setattr(out[exp_id], group, int(n))
    return out


async def save(
    session: AsyncSession,
    ctx: ProgramContext,
    experiment_id: str,
    data: ExperimentIn,
    *,
    now: datetime,
    actor: str,
) -> tuple[ExperimentOut, bool]:
    """Create or change an experiment (audited); True when it was created. Stored assignments
    are kept whatever changes: a new share applies only to members not yet assigned."""
    if data.id is not None and data.id != experiment_id:
        raise InvalidInput(
            f"body id {data.id!r} differs from the path's {experiment_id!r}",
            code="id_mismatch",
            field="id",
        )
    data = data.model_copy(
        update={"id": experiment_id, "treatment_percent": _percent(data.treatment_bp)}
    )
    definition = data.model_dump(mode="json")
    exp = await _find(session, ctx.id, experiment_id)
    before = dict(exp.definition) if exp is not None else None
    created = exp is None
    if exp is None:
        exp = Experiment(
            program_id=ctx.id,
            experiment_id=experiment_id,
            name=data.name,
            treatment_bp=data.treatment_bp,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            definition=definition,
            created_at=now,
        )
        session.add(exp)
    else:
        exp.name = data.name
        exp.treatment_bp = data.treatment_bp
        exp.starts_at = data.starts_at
        exp.ends_at = data.ends_at
        exp.definition = definition
    await session.flush()
    await record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="experiment.create" if created else "experiment.update",
        entity_type="experiment",
        entity_id=experiment_id,
        now=now,
        before=before,
        after=definition,
    )
    counts = await _counts(session, ctx.id, [experiment_id])
    return _to_out(exp, counts[experiment_id], now), created


async def get(
    session: AsyncSession, program_id: str, experiment_id: str, *, now: datetime
) -> ExperimentOut:
    exp = await _get(session, program_id, experiment_id)
    counts = await _counts(session, program_id, [experiment_id])
    return _to_out(exp, counts[experiment_id], now)


async def list_experiments(
    session: AsyncSession, program_id: str, *, now: datetime
) -> list[ExperimentOut]:
    rows = list(
        await session.scalars(
            select(Experiment)
            .where(Experiment.program_id == program_id)
            .order_by(Experiment.starts_at, Experiment.experiment_id)
        )
    )
    counts = await _counts(session, program_id, [e.experiment_id for e in rows])
    return [_to_out(e, counts[e.experiment_id], now) for e in rows]


# --- assignment -------------------------------------------------------------------------------


async def assignment(
    session: AsyncSession, program_id: str, experiment_id: str, member: str, *, now: datetime
) -> AssignmentOut:
    """A member's group: the stored one, or what the hash gives at the current share (also for
    a member the program does not know yet)."""
    exp = await _get(session, program_id, experiment_id)
    row = None
    found = await members.find(session, program_id, member)
    if found is not None:
        row = (
            await session.scalars(
                select(Assignment).where(
                    Assignment.program_id == program_id,
                    Assignment.experiment_id == experiment_id,
                    Assignment.member_id == found.id,
                )
            )
        ).first()
    hashed = group_for(experiment_id, member, exp.treatment_bp)
    group = row.group if row is not None else hashed
    # Unassigned members count as control outside the window (nobody is assigned then).
    effective = group if row is not None or _in_window(exp, now) else "control"
    return AssignmentOut(
        experiment_id=experiment_id,
        member=member,
        group=group,
        stored=row is not None,
        assigned_at=row.assigned_at if row is not None else None,
        bucket=bucket(experiment_id, member),
        effective_group=effective,
    )


async def enroll(
    session: AsyncSession, ctx: ProgramContext, experiment_id: str, *, now: datetime, actor: str
) -> EnrollOut:
    """Assign (and store) every current member of the program who has no group yet.

    Without this, members are assigned when they first send an event that an experiment rule
    listens to, so the report's population is only members who were active anyway; enrolling
    at the start makes the whole membership the population (intent to treat) and makes the
    active rate a meaningful comparison. Members already assigned keep their group."""
    exp = await _get(session, ctx.id, experiment_id)
    if exp.ends_at is not None and now >= exp.ends_at:
        raise Conflict(
            f"experiment {experiment_id!r} has ended",
            code="experiment_ended",
            field="experiment_id",
        )
    new = GroupCounts()
    last_id = 0
    while True:
        already = exists().where(
            Assignment.program_id == ctx.id,
            Assignment.experiment_id == experiment_id,
            Assignment.member_id == Member.id,
        )
        chunk = (
            await session.execute(
                select(Member.id, Member.external_id)
                .where(Member.program_id == ctx.id, Member.id > last_id, ~already)
                .order_by(Member.id)
                .limit(ENROLL_CHUNK)
            )
        ).all()
        if not chunk:
            break
        last_id = chunk[-1][0]
        rows = []
        for member_id, external_id in chunk:
            group = group_for(experiment_id, external_id, exp.treatment_bp)
            setattr(new, group, getattr(new, group) + 1)
            rows.append(
                {
                    "program_id": ctx.id,
                    "experiment_id": experiment_id,
                    "member_id": member_id,
                    "group": group,
                    "assigned_at": now,
                }
            )
        await session.execute(insert_ignore(session, Assignment), rows)
    await record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="experiment.enroll",
        entity_type="experiment",
        entity_id=experiment_id,
        now=now,
        after=new.model_dump(),
    )
    counts = await _counts(session, ctx.id, [experiment_id])
    return EnrollOut(
        experiment_id=experiment_id, newly_assigned=new, assigned=counts[experiment_id]
    )


# --- report -----------------------------------------------------------------------------------


_rev = aliased(LedgerTransaction, name="_rev")
_orig = aliased(LedgerTransaction, name="_orig")


def _credits_in(
    t: Any, program_id: str, asset: str, start: datetime, end: datetime
) -> list[ColumnElement[bool]]:
    """Conditions for the credits of ``asset`` that occurred in [start, end)."""
    return [
        t.program_id == program_id,
        t.kind == "credit",
        t.asset == asset,
        t.occurred_at >= start,
        t.occurred_at < end,
    ]


class _Agg:
    """One group's sums as the database returns them."""

    def __init__(self, row: Any | None) -> None:
        def v(name: str) -> Any:
            return 0 if row is None else (getattr(row, name) or 0)

        self.members = int(v("members"))
        self.active = int(v("active"))
        self.events = int(v("events"))
        self.events_sq = float(v("events_sq"))
        self.first_half = int(v("first_half"))
        self.both_halves = int(v("both_halves"))
        self.credited = int(v("credited"))
        self.reversed = int(v("reversed"))
        self.cost_sq = float(v("cost_sq"))

    @property
    def cost(self) -> int:
        return self.credited - self.reversed


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _stats(group: str, a: _Agg) -> GroupStats:
    n = a.members
    return GroupStats(
        group=group,
        members=n,
        active=a.active,
        active_rate=_ratio(a.active, n) or 0.0,
        events=a.events,
        events_per_member=_ratio(a.events, n) or 0.0,
        events_per_member_variance=stats.sample_variance(n, a.events, a.events_sq),
        points_credited=a.credited,
        points_reversed=a.reversed,
        points_cost=a.cost,
        points_cost_per_member=(
            (Decimal(a.cost) / n).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
            if n
            else Decimal("0.00")
        ),
        points_cost_per_member_variance=stats.sample_variance(n, a.cost, a.cost_sq),
        retention_base=a.first_half,
        retained=a.both_halves,
        retention=_ratio(a.both_halves, a.first_half),
    )


def _compare(
    metric: Metric, control: float | None, treatment: float | None, result: stats.TestResult
) -> Comparison:
    diff = treatment - control if control is not None and treatment is not None else None
    rel = diff / control if diff is not None and control else None
    statistic = result.statistic
    if statistic is not None and not math.isfinite(statistic):
        statistic = None
    return Comparison(
        metric=metric,
        test=result.test,
        control=control,
        treatment=treatment,
        difference=diff,
        relative_difference=rel,
        statistic=statistic,
        df=result.df,
        p_value=result.p_value,
        significant=result.significant(stats.ALPHA),
        note=result.note,
    )


async def report(
    session: AsyncSession,
    program_id: str,
    experiment_id: str,
    *,
    now: datetime,
    asset: str = "points",
) -> ReportOut:
    """Compare the groups over [starts_at, min(ends_at, now)): members, active members, events
    per member, net cost in ``asset`` and retention (active in the first half of the window and
    again in the second), with a two-proportion z-test for the rates and Welch's t-test for the
    per-member means."""
    exp = await _get(session, program_id, experiment_id)
    start = exp.starts_at
    end = min(exp.ends_at, now) if exp.ends_at is not None else now
    end = max(end, start)
    mid = start + (end - start) / 2
    complete = exp.ends_at is not None and now >= exp.ends_at

    # One row per fact: each assignment, each event, each credit, each reversal of a credit, all
    # in the same shape; summed per member, then per group. No join between aggregates, so the
    # plan stays a scan and two aggregations whatever the planner believes about row counts.
    zero = literal_column("0", Integer)
    no_group = cast(null(), String(16))
    facts = union_all(
        select(
            Assignment.member_id.label("member_id"),
            Assignment.group.label("grp"),
            zero.label("n"),
            zero.label("h1"),
            zero.label("h2"),
            zero.label("credited"),
            zero.label("reversed"),
        ).where(Assignment.program_id == program_id, Assignment.experiment_id == experiment_id),
        select(
            Event.member_id,
            no_group,
            literal_column("1", Integer),
            case((Event.occurred_at < mid, 1), else_=0),
            case((Event.occurred_at >= mid, 1), else_=0),
            zero,
            zero,
        ).where(
            Event.program_id == program_id, Event.occurred_at >= start, Event.occurred_at < end
        ),
        select(
            LedgerTransaction.member_id, no_group, zero, zero, zero, LedgerTransaction.amount, zero
        ).where(*_credits_in(LedgerTransaction, program_id, asset, start, end)),
        # A reversal is posted to the member and asset of the credit it reverses.
        select(_rev.member_id, no_group, zero, zero, zero, zero, _rev.amount).where(
            _rev.program_id == program_id,
            _rev.kind == "reversal",
            _rev.asset == asset,
            exists().where(
                _orig.id == _rev.reverses_id,
                *_credits_in(_orig, program_id, asset, start, end),
            ),
        ),
    ).subquery("facts")
    per_member = (
        select(
            facts.c.member_id,
            func.max(facts.c.grp).label("grp"),
            func.sum(facts.c.n).label("n"),
            func.max(facts.c.h1).label("h1"),
            func.max(facts.c.h2).label("h2"),
            func.sum(facts.c.credited).label("credited"),
            func.sum(facts.c.reversed).label("reversed"),
        )
        .group_by(facts.c.member_id)
        .subquery("per_member")
    )
    pm = per_member.c
    net = cast(pm.credited - pm.reversed, Float)
    stmt = (
        select(
            pm.grp,
            func.count().label("members"),
            func.sum(case((pm.n > 0, 1), else_=0)).label("active"),
            func.sum(pm.n).label("events"),
            func.sum(cast(pm.n, Float) * cast(pm.n, Float)).label("events_sq"),
            func.sum(pm.h1).label("first_half"),
            func.sum(pm.h1 * pm.h2).label("both_halves"),
            func.sum(pm.credited).label("credited"),
            func.sum(pm.reversed).label("reversed"),
            func.sum(net * net).label("cost_sq"),
        )
        .where(pm.grp.is_not(None))
        .group_by(pm.grp)
    )
    rows = {r.grp: r for r in await session.execute(stmt)}
    c, t = _Agg(rows.get("control")), _Agg(rows.get("treatment"))
    cs, ts = _stats("control", c), _stats("treatment", t)

    comparisons = [
        _compare(
            "active_rate",
            _ratio(c.active, c.members),
            _ratio(t.active, t.members),
            stats.two_proportion_z(c.active, c.members, t.active, t.members),
        ),
        _compare(
            "events_per_member",
            _ratio(c.events, c.members),
            _ratio(t.events, t.members),
            stats.welch_t(
                c.members,
                _ratio(c.events, c.members) or 0.0,
                cs.events_per_member_variance,
                t.members,
                _ratio(t.events, t.members) or 0.0,
                ts.events_per_member_variance,
            ),
        ),
        _compare(
            "retention",
            cs.retention,
            ts.retention,
            stats.two_proportion_z(c.both_halves, c.first_half, t.both_halves, t.first_half),
        ),
        _compare(
            "points_cost_per_member",
            _ratio(c.cost, c.members),
            _ratio(t.cost, t.members),
            stats.welch_t(
                c.members,
                _ratio(c.cost, c.members) or 0.0,
                cs.points_cost_per_member_variance,
                t.members,
                _ratio(t.cost, t.members) or 0.0,
                ts.points_cost_per_member_variance,
            ),
        ),
    ]
    return ReportOut(
        experiment_id=experiment_id,
        name=exp.name,
        treatment_percent=_percent(exp.treatment_bp),
        window=ReportWindow(starts_at=start, ends_at=end, midpoint=mid, complete=complete),
        asset=asset,
        alpha=stats.ALPHA,
        control=cs,
        treatment=ts,
        comparisons=comparisons,
        significant=[x.metric for x in comparisons if x.significant],
        generated_at=now,
    )
