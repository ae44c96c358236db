"""Tasks: definitions, completion by events (set-based per batch) or by reviewed submissions,
rewards paid once per completion, group bonuses, and a member's task list.

A completion is one row per member, task and period (``all`` for one-time tasks), so a task is
never completed twice in a period; its reward goes through the ledger under keys derived from
the completion's id (``task:<id>:<asset>``), so it is never paid twice either.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.clock import local_date
from jifen.coupons import service as coupons
from jifen.db.engine import is_postgres
from jifen.errors import Conflict, InvalidInput, JifenError, NotFound, Unprocessable
from jifen.events.listeners import ProcessedEvent
from jifen.kit.idempotency import raise_for
from jifen.kit.periods import period_key
from jifen.kit.sql import in_values
from jifen.ledger import service as ledger
from jifen.ledger.schemas import CreditIn
from jifen.members import service as members
from jifen.members.models import Member
from jifen.programs.context import ProgramContext
from jifen.programs.service import record_audit
from jifen.rules import conditions
from jifen.tasks.models import (
    TaskCompletion,
    TaskDefinitionRow,
    TaskGroupBonus,
    TaskGroupRow,
    TaskProgress,
    TaskSubmission,
)
from jifen.tasks.schemas import (
    CompletionOut,
    EventCompletion,
    MemberGroupOut,
    MemberTaskOut,
    MemberTasksOut,
    MemberTaskStatus,
    PaidOut,
    Reward,
    RewardPaid,
    SubmissionCompletion,
    SubmissionOut,
    TaskDefinition,
    TaskGroupDefinition,
)

# Names a task condition may use: the rule engine's counters are not kept per task.
CONDITION_VARIABLES = {"event", "member"}


class TaskNotFound(NotFound):
    default_code = "task_not_found"


class SubmissionNotFound(NotFound):
    default_code = "submission_not_found"


# --- periods ----------------------------------------------------------------------------------


def period_of(repeat: str, instant: datetime, tz: str) -> str:
    """The period a task done at ``instant`` belongs to: ``all`` for one-time tasks, else the
    local day (``2026-03-01``), ISO week (``2026-W10``) or month (``2026-03``) in ``tz``."""
    if repeat == "once":
        return "all"
    return period_key(repeat, local_date(instant, tz)).split(":", 1)[1]


def _open(task: TaskDefinition, at: datetime) -> bool:
    return (task.starts_at is None or task.starts_at <= at) and (
        task.ends_at is None or at < task.ends_at
    )


def _deadline(task: TaskDefinition, joined_at: datetime) -> datetime | None:
    if task.deadline is None:
        return None
    return joined_at + timedelta(days=task.deadline.within_days_of_joining)


# --- definitions ------------------------------------------------------------------------------


def _check_condition(source: str) -> None:
    try:
        conditions.validate(source)
    except conditions.ConditionError as exc:
        raise InvalidInput(
            f"completion.condition: {exc.message}",
            code="invalid_condition",
            field="completion.condition",
            extra={"position": exc.position},
        ) from exc
    unknown = set(conditions.compile_condition(source).variables()) - CONDITION_VARIABLES
    if unknown:
        raise InvalidInput(
            f"completion.condition: a task condition sees event and member only, not "
            f"{', '.join(sorted(unknown))}",
            code="invalid_condition",
            field="completion.condition",
        )


async def _task_row(session: AsyncSession, program_id: str, task_id: str) -> TaskDefinitionRow:
    row = (
        await session.scalars(
            select(TaskDefinitionRow).where(
                TaskDefinitionRow.program_id == program_id, TaskDefinitionRow.task_id == task_id
            )
        )
    ).first()
    if row is None:
        raise TaskNotFound(f"task {task_id!r} not found", field="task_id")
    return row


async def _group_row(session: AsyncSession, program_id: str, group_id: str) -> TaskGroupRow | None:
    return (
        await session.scalars(
            select(TaskGroupRow).where(
                TaskGroupRow.program_id == program_id, TaskGroupRow.group_id == group_id
            )
        )
    ).first()


async def _store(
    session: AsyncSession,
    ctx: ProgramContext,
    row: TaskDefinitionRow | TaskGroupRow,
    definition: dict[str, Any],
    before: dict[str, Any] | None,
    *,
    entity_type: str,
    entity_id: str,
    enabled: bool,
    now: datetime,
    actor: str,
) -> None:
    """Write a definition to its row and audit the change (``<entity_type>.save``)."""
    row.enabled = enabled
    row.definition = definition
    row.updated_at = now
    await session.flush()
    await record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action=f"{entity_type}.save",
        entity_type=entity_type,
        entity_id=entity_id,
        now=now,
        before=before,
        after=definition,
    )


async def save_task(
    session: AsyncSession, ctx: ProgramContext, data: TaskDefinition, *, now: datetime, actor: str
) -> TaskDefinition:
    """Create or change a task (audited). Completions already made stay as they are."""
    if isinstance(data.completion, EventCompletion) and data.completion.condition != "true":
        _check_condition(data.completion.condition)
    await check_reward(session, ctx.id, data.reward, "reward")
    if data.group is not None and await _group_row(session, ctx.id, data.group) is None:
        raise InvalidInput(
            f"task group {data.group!r} is not defined", code="unknown_task_group", field="group"
        )
    definition = data.model_dump(mode="json")
    trigger = data.completion.trigger if isinstance(data.completion, EventCompletion) else None
    try:
        row: TaskDefinitionRow | None = await _task_row(session, ctx.id, data.id)
    except TaskNotFound:
        row = None
    before = row.definition if row else None
    if row is None:
        row = TaskDefinitionRow(program_id=ctx.id, task_id=data.id, created_at=now)
        session.add(row)
    row.kind = data.kind
    row.trigger = trigger
    row.group_id = data.group
    await _store(
        session,
        ctx,
        row,
        definition,
        before,
        entity_type="task",
        entity_id=data.id,
        enabled=data.enabled,
        now=now,
        actor=actor,
    )
    return data


async def list_tasks(session: AsyncSession, program_id: str) -> list[TaskDefinition]:
    rows = await session.scalars(
        select(TaskDefinitionRow)
        .where(TaskDefinitionRow.program_id == program_id)
        .order_by(TaskDefinitionRow.task_id)
    )
    tasks = [TaskDefinition.model_validate(r.definition) for r in rows]
    return sorted(tasks, key=lambda t: (t.position, t.id))


async def get_task(session: AsyncSession, program_id: str, task_id: str) -> TaskDefinition:
    return TaskDefinition.model_validate((await _task_row(session, program_id, task_id)).definition)


async def save_group(
    session: AsyncSession,
    ctx: ProgramContext,
    data: TaskGroupDefinition,
    *,
    now: datetime,
    actor: str,
) -> TaskGroupDefinition:
    await check_reward(session, ctx.id, data.bonus, "bonus")
    row = await _group_row(session, ctx.id, data.id)
    before = row.definition if row else None
    definition = data.model_dump(mode="json")
    if row is None:
        row = TaskGroupRow(program_id=ctx.id, group_id=data.id, created_at=now)
        session.add(row)
    await _store(
        session,
        ctx,
        row,
        definition,
        before,
        entity_type="task_group",
        entity_id=data.id,
        enabled=data.enabled,
        now=now,
        actor=actor,
    )
    return data


async def list_groups(session: AsyncSession, program_id: str) -> list[TaskGroupDefinition]:
    rows = await session.scalars(
        select(TaskGroupRow)
        .where(TaskGroupRow.program_id == program_id)
        .order_by(TaskGroupRow.group_id)
    )
    return [TaskGroupDefinition.model_validate(r.definition) for r in rows]


# --- rewards ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Grant:
    """One reward to pay: ``key`` is unique to what earned it (``task:17``, ``lb:top:2026-W10:1``)
    and every ledger credit's idempotency key derives from it."""

    member_id: int
    member: str
    reward: Reward
    key: str
    reason: str
    reference: str | None = None


async def pay_rewards(
    session: AsyncSession,
    ctx: ProgramContext,
    grants: Sequence[Grant],
    *,
    now: datetime,
    source: str,
    strict: bool = True,
) -> list[RewardPaid]:
    """Pay each grant through the ledger (one batch) and issue its coupon; idempotent by the
    grants' keys, so paying the same grant again pays nothing more and returns the same
    transactions. ``source`` names the issuing domain for coupons (``task``, ``leaderboard``).

    A coupon that cannot be issued (template inactive, per-member limit reached) raises when
    ``strict``; otherwise it is recorded as ``coupon_error`` and the rest is paid, so that an
    event batch or a period close never fails for one member's coupon."""
    credits: list[CreditIn] = []
    owners: list[int] = []
    for i, g in enumerate(grants):
        for asset, amount in g.reward.amounts():
            credits.append(
                CreditIn(
                    idempotency_key=f"{g.key}:{asset}",
                    member=g.member,
                    asset=asset,
                    amount=amount,
                    reason=g.reason[:500],
                    reference=(g.reference or g.key)[:200],
                    occurred_at=now,
                )
            )
            owners.append(i)
    paid = [RewardPaid() for _ in grants]
    outcomes = await ledger.credit(session, ctx, credits, now=now) if credits else []
    for i, outcome in zip(owners, outcomes, strict=True):
        body = raise_for(outcome).body
        paid[i].transactions.append(
            PaidOut(asset=body["asset"], amount=body["amount"], transaction_id=str(body["id"]))
        )
    for i, g in enumerate(grants):
        if g.reward.coupon_template is None:
            continue
        if strict:
            paid[i].coupon = await _issue_coupon(session, ctx, g, now=now, source=source)
            continue
        try:
            async with session.begin_nested():
                paid[i].coupon = await _issue_coupon(session, ctx, g, now=now, source=source)
        except JifenError as exc:
            paid[i].coupon_error = {"code": exc.code, "detail": exc.detail}
    return paid


async def _issue_coupon(
    session: AsyncSession, ctx: ProgramContext, grant: Grant, *, now: datetime, source: str
) -> dict[str, object]:
    assert grant.reward.coupon_template is not None
    # Idempotent under (template, source, source_ref): paying the grant again returns it.
    coupon = await coupons.issue_coupon(
        session,
        ctx,
        member_id=grant.member_id,
        template_id=grant.reward.coupon_template,
        now=now,
        source=source,
        source_ref=grant.key,
    )
    return {
        "id": coupon.id,
        "code": coupon.code,
        "template_id": coupon.template_id,
        "status": coupon.status,
        "valid_until": coupon.valid_until.isoformat(),
    }


async def check_reward(session: AsyncSession, program_id: str, reward: Reward, field: str) -> None:
    """Refuse a reward naming a coupon template that does not exist."""
    if reward.coupon_template is None:
        return
    try:
        await coupons.get_template(session, program_id, reward.coupon_template)
    except NotFound as exc:
        raise InvalidInput(
            f"coupon template {reward.coupon_template!r} is not defined",
            code="unknown_coupon_template",
            field=f"{field}.coupon_template",
        ) from exc


# --- completions ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Done:
    member_id: int
    member: str
    task: TaskDefinition
    period: str
    source: str
    event_client_id: str | None = None
    submission_id: int | None = None


async def _complete(
    session: AsyncSession,
    ctx: ProgramContext,
    done: Sequence[_Done],
    *,
    now: datetime,
    strict: bool = True,
) -> list[int]:
    """Record completions (new ones only: the caller checked), pay their rewards and any group
    bonus they finish; returns the completion ids in order. ``strict``: see ``pay_rewards``."""
    if not done:
        return []
    inserted = await session.execute(
        insert(TaskCompletion).returning(TaskCompletion.id, sort_by_parameter_order=True),
        [
            {
                "program_id": ctx.id,
                "member_id": d.member_id,
                "task_id": d.task.id,
                "period": d.period,
                "source": d.source,
                "event_client_id": d.event_client_id,
                "submission_id": d.submission_id,
                "paid": {},
                "completed_at": now,
            }
            for d in done
        ],
    )
    ids = [row[0] for row in inserted.all()]
    paid = await pay_rewards(
        session,
        ctx,
        [
            Grant(
                member_id=d.member_id,
                member=d.member,
                reward=d.task.reward,
                key=f"task:{cid}",
                reason=f"task: {d.task.name}",
                reference=d.task.id,
            )
            for d, cid in zip(done, ids, strict=True)
        ],
        now=now,
        source="task",
        strict=strict,
    )
    await session.execute(
        update(TaskCompletion),
        [{"id": cid, "paid": p.model_dump(mode="json")} for cid, p in zip(ids, paid, strict=True)],
    )
    await _group_bonuses(
        session,
        ctx,
        {(d.member_id, d.member, d.task.group) for d in done if d.task.group is not None},
        now=now,
        strict=strict,
    )
    return ids


async def _group_bonuses(
    session: AsyncSession,
    ctx: ProgramContext,
    pairs: set[tuple[int, str, str]],
    *,
    now: datetime,
    strict: bool,
) -> None:
    """Pay the bonus of every group that these members have now completed entirely."""
    if not pairs:
        return
    group_ids = sorted({g for _, _, g in pairs})
    member_ids = sorted({m for m, _, _ in pairs})
    groups = {
        r.group_id: TaskGroupDefinition.model_validate(r.definition)
        for r in await session.scalars(
            select(TaskGroupRow).where(
                TaskGroupRow.program_id == ctx.id,
                TaskGroupRow.group_id.in_(group_ids),
                TaskGroupRow.enabled.is_(True),
            )
        )
    }
    if not groups:
        return
    members_of: dict[str, set[str]] = {}
    for task_id, group_id in await session.execute(
        select(TaskDefinitionRow.task_id, TaskDefinitionRow.group_id).where(
            TaskDefinitionRow.program_id == ctx.id,
            TaskDefinitionRow.group_id.in_(sorted(groups)),
            TaskDefinitionRow.enabled.is_(True),
        )
    ):
        members_of.setdefault(str(group_id), set()).add(task_id)
    all_tasks = sorted(set().union(*members_of.values())) if members_of else []
    done: dict[int, set[str]] = {}
    for member_id, task_id in await session.execute(
        select(TaskCompletion.member_id, TaskCompletion.task_id).where(
            TaskCompletion.program_id == ctx.id,
            in_values(session, TaskCompletion.member_id, member_ids),
            TaskCompletion.task_id.in_(all_tasks),
        )
    ):
        done.setdefault(member_id, set()).add(task_id)
    already = set(
        (
            await session.execute(
                select(TaskGroupBonus.member_id, TaskGroupBonus.group_id).where(
                    TaskGroupBonus.program_id == ctx.id,
                    in_values(session, TaskGroupBonus.member_id, member_ids),
                    TaskGroupBonus.group_id.in_(sorted(groups)),
                )
            )
        ).all()
    )
    due = sorted(
        (m, ext, g)
        for m, ext, g in pairs
        if g in groups
        and members_of.get(g)
        and members_of[g] <= done.get(m, set())
        and (m, g) not in already
    )
    if not due:
        return
    inserted = await session.execute(
        insert(TaskGroupBonus).returning(TaskGroupBonus.id, sort_by_parameter_order=True),
        [
            {"program_id": ctx.id, "member_id": m, "group_id": g, "paid": {}, "created_at": now}
            for m, _, g in due
        ],
    )
    ids = [row[0] for row in inserted.all()]
    paid = await pay_rewards(
        session,
        ctx,
        [
            Grant(
                member_id=m,
                member=ext,
                reward=groups[g].bonus,
                key=f"taskgroup:{bid}",
                reason=f"task group bonus: {groups[g].name}",
                reference=g,
            )
            for (m, ext, g), bid in zip(due, ids, strict=True)
        ],
        now=now,
        source="task_group",
        strict=strict,
    )
    await session.execute(
        update(TaskGroupBonus),
        [{"id": bid, "paid": p.model_dump(mode="json")} for bid, p in zip(ids, paid, strict=True)],
    )


# --- completion by events (the events listener) -----------------------------------------------


def _event_context(p: ProcessedEvent, member: Member | None, tz: str) -> dict[str, Any]:
    at = p.event.occurred_at
    local = at.astimezone(ZoneInfo(tz))
    out: dict[str, Any] = {
        "event": {
            "type": p.event.type,
            "client_id": p.event.client_id,
            "occurred_at": at,
            "local_date": local.date().isoformat(),
            "weekday": local.isoweekday(),
            "hour": local.hour,
            "attributes": p.event.attributes,
        }
    }
    if member is not None:
        tier = (member.attributes or {}).get("tier", "")
        out["member"] = {
            "id": member.external_id,
            "tier": tier if isinstance(tier, str) else "",
            "tags": list(member.tags or []),
            "region": member.region or "",
            "joined_at": member.joined_at,
            "days_since_joined": max((at - member.joined_at).days, 0),
            "attributes": dict(member.attributes or {}),
            "name": member.name or "",
            "birthday": member.birthday.isoformat() if member.birthday else "",
            "locale": member.locale,
            "consent": dict(member.consent or {}),
        }
    return out


def _uses_member(task: TaskDefinition) -> bool:
    completion = task.completion
    if not isinstance(completion, EventCompletion) or completion.condition.strip() == "true":
        return False
    return "member" in conditions.compile_condition(completion.condition).variables()


def _qualifies(task: TaskDefinition, p: ProcessedEvent, member: Member | None, tz: str) -> bool:
    at = p.event.occurred_at
    if not _open(task, at):
        return False
    if task.deadline is not None:
        if member is None:
            return False
        deadline = _deadline(task, member.joined_at)
        if deadline is not None and at >= deadline:
            return False
    completion = task.completion
    assert isinstance(completion, EventCompletion)
    if completion.condition.strip() == "true":
        return True
    try:
        # The member's part of the context costs more to convert than the evaluation itself:
        # it is built only for conditions that use it.
        who = member if _uses_member(task) else None
        return conditions.evaluate(completion.condition, _event_context(p, who, tz))
    except (KeyError, RuntimeError, TypeError, ValueError):
        return False  # a missing attribute: the event does not qualify


async def on_events(
    session: AsyncSession,
    ctx: ProgramContext,
    processed: Sequence[ProcessedEvent],
    now: datetime,
) -> None:
    """Advance and complete event tasks for a processed batch, in a few statements in all.

    The events service has locked the batch's members, so one member's progress is never
    updated by two transactions at once."""
    types = sorted({p.event.type for p in processed})
    rows = await session.scalars(
        select(TaskDefinitionRow).where(
            TaskDefinitionRow.program_id == ctx.id,
            TaskDefinitionRow.enabled.is_(True),
            TaskDefinitionRow.trigger.in_(types),
        )
    )
    by_trigger: dict[str, list[TaskDefinition]] = {}
    for row in rows:
        task = TaskDefinition.model_validate(row.definition)
        assert isinstance(task.completion, EventCompletion)
        by_trigger.setdefault(task.completion.trigger, []).append(task)
    if not by_trigger:
        return
    tz = ctx.settings.timezone
    needs_member = any(
        t.deadline is not None or _uses_member(t) for ts in by_trigger.values() for t in ts
    )
    relevant = [p for p in processed if p.event.type in by_trigger]
    loaded = (
        await members.by_ids(session, ctx.id, {p.member_id for p in relevant})
        if needs_member
        else {}
    )
    hits: dict[tuple[int, str, str], int] = {}
    last: dict[tuple[int, str, str], ProcessedEvent] = {}
    tasks: dict[str, TaskDefinition] = {}
    for p in sorted(relevant, key=lambda x: x.event.occurred_at):
        for task in by_trigger[p.event.type]:
            if not _qualifies(task, p, loaded.get(p.member_id), tz):
                continue
            key = (p.member_id, task.id, period_of(task.period_window, p.event.occurred_at, tz))
            hits[key] = hits.get(key, 0) + 1
            last[key] = p
            tasks[task.id] = task
    if not hits:
        return
    member_ids = sorted({k[0] for k in hits})
    task_ids = sorted(tasks)
    period_keys = sorted({k[2] for k in hits})
    completed = {
        (m, t, per)
        for m, t, per in await session.execute(
            select(TaskCompletion.member_id, TaskCompletion.task_id, TaskCompletion.period).where(
                TaskCompletion.program_id == ctx.id,
                in_values(session, TaskCompletion.member_id, member_ids),
                TaskCompletion.task_id.in_(task_ids),
                TaskCompletion.period.in_(period_keys),
            )
        )
    }
    open_keys = {k: n for k, n in hits.items() if k not in completed}
    counted = {k for k in open_keys if _required(tasks[k[1]]) > 1}
    totals = dict(open_keys)
    if counted:
        existing = {
            (r.member_id, r.task_id, r.period): r
            for r in await session.scalars(
                select(TaskProgress).where(
                    TaskProgress.program_id == ctx.id,
                    in_values(session, TaskProgress.member_id, member_ids),
                    TaskProgress.task_id.in_(sorted({k[1] for k in counted})),
                    TaskProgress.period.in_(sorted({k[2] for k in counted})),
                )
            )
        }
        updates = []
        inserts = []
        for k in sorted(counted):
            prior = existing.get(k)
            totals[k] = (prior.count if prior else 0) + open_keys[k]
            if prior is not None:
                updates.append({"id": prior.id, "count": totals[k], "updated_at": now})
            else:
                inserts.append(
                    {
                        "program_id": ctx.id,
                        "member_id": k[0],
                        "task_id": k[1],
                        "period": k[2],
                        "count": totals[k],
                        "updated_at": now,
                    }
                )
        if updates:
            await session.execute(update(TaskProgress), updates)
        if inserts:
            await session.execute(insert(TaskProgress), inserts)
    done = [
        _Done(
            member_id=k[0],
            member=last[k].event.member,
            task=tasks[k[1]],
            period=k[2],
            source="event",
            event_client_id=last[k].event.client_id,
        )
        for k in sorted(open_keys)
        if totals[k] >= _required(tasks[k[1]])
    ]
    if done:
        # A frozen member completes nothing (the ledger refuses to pay a frozen member, and a
        # batch must not fail for one member); progress towards counted tasks is kept.
        status = loaded or await members.by_ids(session, ctx.id, {d.member_id for d in done})
        done = [d for d in done if d.member_id in status and status[d.member_id].status != "frozen"]
    await _complete(session, ctx, done, now=now, strict=False)


def _required(task: TaskDefinition) -> int:
    return task.completion.count if isinstance(task.completion, EventCompletion) else 1


# --- submissions and review -------------------------------------------------------------------


async def _locked_member(session: AsyncSession, ctx: ProgramContext, member_id: int) -> Member:
    found = await members.by_ids(session, ctx.id, [member_id], lock=True)
    if member_id not in found:
        raise NotFound("member not found", code="member_not_found", field="member")
    return found[member_id]


async def _completion(
    session: AsyncSession, program_id: str, member_id: int, task_id: str, period: str
) -> TaskCompletion | None:
    return (
        await session.scalars(
            select(TaskCompletion).where(
                TaskCompletion.program_id == program_id,
                TaskCompletion.member_id == member_id,
                TaskCompletion.task_id == task_id,
                TaskCompletion.period == period,
            )
        )
    ).first()


def _completion_out(row: TaskCompletion) -> CompletionOut:
    return CompletionOut(
        id=row.id,
        task_id=row.task_id,
        period=row.period,
        source=row.source,
        completed_at=row.completed_at,
        paid=RewardPaid.model_validate(row.paid or {}),
    )


def _submission_out(
    row: TaskSubmission, member: str, completion: TaskCompletion | None
) -> SubmissionOut:
    return SubmissionOut(
        id=row.id,
        task_id=row.task_id,
        member=member,
        period=row.period,
        proof_url=row.proof_url,
        proof_text=row.proof_text,
        status=row.status,
        claimed_by=row.claimed_by,
        claimed_at=row.claimed_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        decision_reason=row.decision_reason,
        completion=_completion_out(completion) if completion else None,
        created_at=row.created_at,
    )


async def submit(
    session: AsyncSession,
    ctx: ProgramContext,
    *,
    member_id: int,
    member: str,
    task_id: str,
    proof_url: str | None,
    proof_text: str | None,
    now: datetime,
) -> SubmissionOut:
    """A member's proof for a task, queued for review."""
    task = await get_task(session, ctx.id, task_id)
    completion = task.completion
    if not isinstance(completion, SubmissionCompletion):
        raise Unprocessable(
            f"task {task_id!r} is completed by events, not by a submission",
            code="task_not_submittable",
            field="task_id",
        )
    if not task.enabled or not _open(task, now):
        raise Unprocessable(f"task {task_id!r} is not open now", code="task_not_open")
    if proof_url is None and proof_text is None:
        raise InvalidInput("send proof_url and/or proof_text", code="proof_required")
    if completion.require_url and proof_url is None:
        raise InvalidInput(
            "this task needs a proof URL (screenshot)", code="proof_required", field="proof_url"
        )
    if completion.require_text and proof_text is None:
        raise InvalidInput("this task needs a text", code="proof_required", field="proof_text")
    row_member = await _locked_member(session, ctx, member_id)
    deadline = _deadline(task, row_member.joined_at)
    if deadline is not None and now >= deadline:
        raise Unprocessable(
            f"task {task_id!r} had to be done by {deadline.isoformat()} "
            f"({task.deadline.within_days_of_joining if task.deadline else 0} days after joining)",
            code="task_deadline_passed",
            extra={"deadline_at": deadline.isoformat()},
        )
    period = period_of(task.period_window, now, ctx.settings.timezone)
    if await _completion(session, ctx.id, member_id, task_id, period) is not None:
        raise Conflict(
            f"task {task_id!r} is already completed for {period}", code="task_already_completed"
        )
    pending = (
        await session.scalars(
            select(TaskSubmission.id).where(
                TaskSubmission.program_id == ctx.id,
                TaskSubmission.member_id == member_id,
                TaskSubmission.task_id == task_id,
                TaskSubmission.period == period,
                TaskSubmission.status == "pending",
            )
        )
    ).first()
    if pending is not None:
        raise Conflict(
            f"submission {pending} for task {task_id!r} is waiting for review",
            code="submission_pending",
            extra={"submission_id": pending},
        )
    row = TaskSubmission(
        program_id=ctx.id,
        member_id=member_id,
        task_id=task_id,
        period=period,
        proof_url=proof_url,
        proof_text=proof_text,
        status="pending",
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return _submission_out(row, member, None)


async def list_submissions(
    session: AsyncSession,
    program_id: str,
    *,
    status: str | None,
    task_id: str | None,
    member: str | None,
    after_id: int | None,
    limit: int,
) -> list[SubmissionOut]:
    """The review queue, oldest first."""
    stmt = (
        select(TaskSubmission, Member.external_id)
        .join(Member, Member.id == TaskSubmission.member_id)
        .where(TaskSubmission.program_id == program_id)
        .order_by(TaskSubmission.id)
        .limit(limit)
    )
    if status is not None:
        stmt = stmt.where(TaskSubmission.status == status)
    if task_id is not None:
        stmt = stmt.where(TaskSubmission.task_id == task_id)
    if member is not None:
        stmt = stmt.where(Member.program_id == program_id, Member.external_id == member)
    if after_id is not None:
        stmt = stmt.where(TaskSubmission.id > after_id)
    rows = (await session.execute(stmt)).all()
    completion_ids = [r.completion_id for r, _ in rows if r.completion_id is not None]
    completions = (
        {
            c.id: c
            for c in await session.scalars(
                select(TaskCompletion).where(
                    TaskCompletion.program_id == program_id,
                    TaskCompletion.id.in_(completion_ids),
                )
            )
        }
        if completion_ids
        else {}
    )
    return [
        _submission_out(r, ext, completions.get(r.completion_id) if r.completion_id else None)
        for r, ext in rows
    ]


async def _submission_row(
    session: AsyncSession, program_id: str, submission_id: int, *, lock: bool = True
) -> TaskSubmission:
    stmt = select(TaskSubmission).where(
        TaskSubmission.program_id == program_id, TaskSubmission.id == submission_id
    )
    if lock and is_postgres(session):
        stmt = stmt.with_for_update()
    row = (await session.scalars(stmt)).first()
    if row is None:
        raise SubmissionNotFound(f"submission {submission_id} not found", field="submission_id")
    return row


async def _out_of(session: AsyncSession, program_id: str, row: TaskSubmission) -> SubmissionOut:
    member = await session.get(Member, row.member_id)
    completion = await session.get(TaskCompletion, row.completion_id) if row.completion_id else None
    return _submission_out(row, member.external_id if member else "?", completion)


def _check_reviewable(row: TaskSubmission, reviewer: str) -> None:
    """Refuse a decided submission, or one claimed by another reviewer."""
    if row.status != "pending":
        raise Conflict(f"submission {row.id} is already {row.status}", code="submission_decided")
    if row.claimed_by is not None and row.claimed_by != reviewer:
        raise Conflict(
            f"submission {row.id} is claimed by {row.claimed_by!r}",
            code="submission_claimed",
            extra={"claimed_by": row.claimed_by},
        )


async def get_submission(
    session: AsyncSession, program_id: str, submission_id: int
) -> SubmissionOut:
    row = await _submission_row(session, program_id, submission_id, lock=False)
    return await _out_of(session, program_id, row)


async def claim(
    session: AsyncSession,
    ctx: ProgramContext,
    submission_id: int,
    *,
    reviewer: str,
    now: datetime,
) -> SubmissionOut:
    """Take a pending submission for review; nobody else can decide it until it is released."""
    row = await _submission_row(session, ctx.id, submission_id)
    _check_reviewable(row, reviewer)
    if row.claimed_by is None:
        row.claimed_by = reviewer
        row.claimed_at = now
        await session.flush()
        await record_audit(
            session,
            program_id=ctx.id,
            actor=reviewer,
            action="task_submission.claim",
            entity_type="task_submission",
            entity_id=str(row.id),
            now=now,
            after={"claimed_by": reviewer},
        )
    return await _out_of(session, ctx.id, row)


async def release(
    session: AsyncSession,
    ctx: ProgramContext,
    submission_id: int,
    *,
    reviewer: str,
    now: datetime,
) -> SubmissionOut:
    """Give a claimed submission back to the queue (only its claimer can)."""
    row = await _submission_row(session, ctx.id, submission_id)
    _check_reviewable(row, reviewer)
    if row.claimed_by is not None:
        row.claimed_by = None
        row.claimed_at = None
        await session.flush()
        await record_audit(
            session,
            program_id=ctx.id,
            actor=reviewer,
            action="task_submission.release",
            entity_type="task_submission",
            entity_id=str(row.id),
            now=now,
            before={"claimed_by": reviewer},
        )
    return await _out_of(session, ctx.id, row)


async def decide(
    session: AsyncSession,
    ctx: ProgramContext,
    submission_id: int,
    *,
    approve: bool,
    reviewer: str,
    reason: str | None,
    now: datetime,
) -> SubmissionOut:
    """Approve (complete the task and pay its reward once) or reject (with a reason).

    Deciding an unclaimed submission claims it; a submission claimed by someone else cannot be
    decided. Approving an approved submission again returns it as it is and pays nothing."""
    row = await _submission_row(session, ctx.id, submission_id)
    wanted = "approved" if approve else "rejected"
    if row.status == wanted and row.decided_by == reviewer:
        return await _out_of(session, ctx.id, row)
    _check_reviewable(row, reviewer)
    member = await _locked_member(session, ctx, row.member_id)
    if approve:
        task = await get_task(session, ctx.id, row.task_id)
        if await _completion(session, ctx.id, row.member_id, row.task_id, row.period):
            raise Conflict(
                f"task {row.task_id!r} is already completed for {row.period}",
                code="task_already_completed",
            )
        [completion_id] = await _complete(
            session,
            ctx,
            [
                _Done(
                    member_id=row.member_id,
                    member=member.external_id,
                    task=task,
                    period=row.period,
                    source="submission",
                    submission_id=row.id,
                )
            ],
            now=now,
        )
        row.completion_id = completion_id
    row.status = wanted
    row.claimed_by = row.claimed_by or reviewer
    row.claimed_at = row.claimed_at or now
    row.decided_by = reviewer
    row.decided_at = now
    row.decision_reason = reason
    await session.flush()
    await record_audit(
        session,
        program_id=ctx.id,
        actor=reviewer,
        action=f"task_submission.{'approve' if approve else 'reject'}",
        entity_type="task_submission",
        entity_id=str(row.id),
        now=now,
        before={"status": "pending"},
        after={"status": wanted, "task_id": row.task_id, "completion_id": row.completion_id},
        reason=reason,
    )
    return await _out_of(session, ctx.id, row)


# --- a member's tasks -------------------------------------------------------------------------


async def member_tasks(
    session: AsyncSession, ctx: ProgramContext, external_id: str, *, now: datetime
) -> MemberTasksOut:
    """Every enabled task with the member's status in its current period, and the groups."""
    member = await members.get(session, ctx.id, external_id)
    tz = ctx.settings.timezone
    tasks = [t for t in await list_tasks(session, ctx.id) if t.enabled]
    periods = {t.id: period_of(t.period_window, now, tz) for t in tasks}
    task_ids = sorted(periods)

    current = sorted(set(periods.values()))

    def _where(model: Any) -> Iterable[Any]:
        # Only the current periods: a daily task's past days are not read.
        return (
            model.program_id == ctx.id,
            model.member_id == member.id,
            model.task_id.in_(task_ids),
            model.period.in_(current),
        )

    completions: dict[tuple[str, str], TaskCompletion] = {}
    progress: dict[tuple[str, str], int] = {}
    latest: dict[tuple[str, str], TaskSubmission] = {}
    ever_done: set[str] = set()
    grouped = sorted({t.id for t in tasks if t.group is not None})
    if task_ids:
        for c in await session.scalars(select(TaskCompletion).where(*_where(TaskCompletion))):
            completions[(c.task_id, c.period)] = c
        for pr in await session.scalars(select(TaskProgress).where(*_where(TaskProgress))):
            progress[(pr.task_id, pr.period)] = pr.count
        for s in await session.scalars(
            select(TaskSubmission).where(*_where(TaskSubmission)).order_by(TaskSubmission.id)
        ):
            latest[(s.task_id, s.period)] = s
    if grouped:
        # A group counts a task done in any period.
        ever_done = set(
            (
                await session.scalars(
                    select(TaskCompletion.task_id)
                    .where(
                        TaskCompletion.program_id == ctx.id,
                        TaskCompletion.member_id == member.id,
                        TaskCompletion.task_id.in_(grouped),
                    )
                    .distinct()
                )
            ).all()
        )
    out: list[MemberTaskOut] = []
    for t in tasks:
        key = (t.id, periods[t.id])
        done = completions.get(key)
        sub = latest.get(key)
        deadline = _deadline(t, member.joined_at)
        required = _required(t)
        status: MemberTaskStatus
        if done is not None:
            status = "completed"
        elif sub is not None and sub.status == "pending":
            status = "pending_review"
        elif t.starts_at is not None and now < t.starts_at:
            status = "upcoming"
        elif t.ends_at is not None and now >= t.ends_at:
            status = "ended"
        elif deadline is not None and now >= deadline:
            status = "expired"
        elif sub is not None and sub.status == "rejected":
            status = "rejected"
        elif progress.get(key, 0) > 0:
            status = "in_progress"
        else:
            status = "available"
        out.append(
            MemberTaskOut(
                task_id=t.id,
                name=t.name,
                description=t.description,
                kind=t.kind,
                group=t.group,
                by=t.completion.by,
                period=periods[t.id],
                status=status,
                progress=required if done is not None else min(progress.get(key, 0), required),
                required=required,
                reward=t.reward,
                deadline_at=deadline,
                completed_at=done.completed_at if done else None,
                submission_id=sub.id if sub else None,
                rejection_reason=sub.decision_reason if sub and sub.status == "rejected" else None,
            )
        )
    groups = [g for g in await list_groups(session, ctx.id) if g.enabled]
    bonus_paid = set(
        (
            await session.scalars(
                select(TaskGroupBonus.group_id).where(
                    TaskGroupBonus.program_id == ctx.id, TaskGroupBonus.member_id == member.id
                )
            )
        ).all()
    )
    group_out = []
    for g in groups:
        in_group = [t.id for t in tasks if t.group == g.id]
        group_out.append(
            MemberGroupOut(
                group_id=g.id,
                name=g.name,
                completed=sum(1 for t in in_group if t in ever_done),
                total=len(in_group),
                bonus=g.bonus,
                bonus_paid=g.id in bonus_paid,
            )
        )
    return MemberTasksOut(member=member.external_id, tasks=out, groups=group_out)
