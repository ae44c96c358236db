"""Campaigns and budgets: definitions, and budget rows locked and spent under a hard stop."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.campaigns.models import Budget, BudgetDefinition, Campaign
from jifen.campaigns.schemas import BudgetIn, BudgetUse, CampaignDefinition
from jifen.db.engine import is_postgres
from jifen.errors import InvalidInput, NotFound
from jifen.kit import parsed
from jifen.kit.sql import insert_ignore
from jifen.programs.context import ProgramContext
from jifen.programs.service import record_audit
from jifen.rules.evaluator import BudgetSpec, BudgetState, budget_period


async def save_campaign(
    session: AsyncSession,
    ctx: ProgramContext,
    data: CampaignDefinition,
    *,
    now: datetime,
    actor: str,
) -> Campaign:
    if data.budget is not None and await _budget_def(session, ctx.id, data.budget) is None:
        raise InvalidInput(
            f"budget {data.budget!r} is not defined", code="unknown_budget", field="budget"
        )
    row = (
        await session.scalars(
            select(Campaign).where(Campaign.program_id == ctx.id, Campaign.campaign_id == data.id)
        )
    ).first()
    before = row.definition if row else None
    definition = data.model_dump(mode="json")
    if row is None:
        row = Campaign(
            program_id=ctx.id,
            campaign_id=data.id,
            created_at=now,
            definition=definition,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            enabled=data.enabled,
            updated_at=now,
        )
        session.add(row)
    else:
        row.definition = definition
        row.starts_at = data.starts_at
        row.ends_at = data.ends_at
        row.enabled = data.enabled
        row.updated_at = now
    await session.flush()
    await record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="campaign.save",
        entity_type="campaign",
        entity_id=data.id,
        now=now,
        before=before,
        after=definition,
    )
    return row


async def list_campaigns(session: AsyncSession, program_id: str) -> list[CampaignDefinition]:
    rows = await session.scalars(
        select(Campaign).where(Campaign.program_id == program_id).order_by(Campaign.starts_at)
    )
    return [CampaignDefinition.model_validate(r.definition) for r in rows]


async def campaigns_between(
    session: AsyncSession, program_id: str, start: datetime, end: datetime
) -> list[CampaignDefinition]:
    """Enabled campaigns overlapping [start, end]."""
    rows = await session.scalars(
        select(Campaign.definition).where(
            Campaign.program_id == program_id,
            Campaign.enabled.is_(True),
            Campaign.starts_at <= end,
            Campaign.ends_at > start,
        )
    )
    return [parsed.parse(CampaignDefinition, definition) for definition in rows]


async def get_campaign(
    session: AsyncSession, program_id: str, campaign_id: str
) -> CampaignDefinition:
    row = (
        await session.scalars(
            select(Campaign).where(
                Campaign.program_id == program_id, Campaign.campaign_id == campaign_id
            )
        )
    ).first()
    if row is None:
        raise NotFound(
            f"campaign {campaign_id!r} not found", code="campaign_not_found", field="campaign_id"
        )
    return CampaignDefinition.model_validate(row.definition)


async def _budget_def(
    session: AsyncSession, program_id: str, budget_id: str
) -> BudgetDefinition | None:
    return (
        await session.scalars(
            select(BudgetDefinition).where(
                BudgetDefinition.program_id == program_id, BudgetDefinition.budget_id == budget_id
            )
        )
    ).first()


async def save_budget(
    session: AsyncSession, ctx: ProgramContext, data: BudgetIn, *, now: datetime, actor: str
) -> BudgetDefinition:
    """Define or change a budget. Raising the limit takes effect for the current period too."""
    row = await _budget_def(session, ctx.id, data.id)
    before = None
    if row is None:
        row = BudgetDefinition(
            program_id=ctx.id,
            budget_id=data.id,
            name=data.name,
            asset=data.asset,
            limit=data.limit,
            window=data.window,
            created_at=now,
        )
        session.add(row)
    else:
        before = {"limit": row.limit, "window": row.window, "asset": row.asset, "name": row.name}
        if row.window != data.window or row.asset != data.asset:
            raise InvalidInput(
                "a budget's window and asset cannot change; define a new budget",
                code="budget_immutable",
                field="window",
            )
        row.name = data.name
        row.limit = data.limit
        await session.execute(
            Budget.__table__.update()  # type: ignore[attr-defined]
            .where(Budget.program_id == ctx.id, Budget.budget_id == data.id)
            .values(limit=data.limit)
        )
    await session.flush()
    await record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="budget.save",
        entity_type="budget",
        entity_id=data.id,
        now=now,
        before=before,
        after=data.model_dump(),
    )
    return row


async def budget_specs(session: AsyncSession, program_id: str) -> dict[str, BudgetSpec]:
    rows = await session.execute(
        select(
            BudgetDefinition.budget_id,
            BudgetDefinition.asset,
            BudgetDefinition.limit,
            BudgetDefinition.window,
        ).where(BudgetDefinition.program_id == program_id)
    )
    return {
        budget_id: BudgetSpec(budget_id, asset, limit, window)
        for budget_id, asset, limit, window in rows
    }


async def lock_budgets(
    session: AsyncSession,
    program_id: str,
    specs: dict[str, BudgetSpec],
    wanted: Iterable[tuple[str, datetime]],
    *,
    tz: str,
    now: datetime,
) -> dict[tuple[str, str], BudgetState]:
    """Create (if needed) and lock the budget rows for ``(budget_id, instant)`` pairs, in id order.

    Held until commit, so concurrent events can never spend the same remainder twice.
    """
    keys = sorted({(b, budget_period(specs[b].window, at, tz)) for b, at in wanted if b in specs})
    if not keys:
        return {}
    await session.execute(
        insert_ignore(session, Budget),
        [
            {
                "program_id": program_id,
                "budget_id": b,
                "period": p,
                "asset": specs[b].asset,
                "limit": specs[b].limit,
                "spent": 0,
                "updated_at": now,
            }
            for b, p in keys
        ],
    )
    stmt = (
        select(Budget)
        .where(Budget.program_id == program_id, Budget.budget_id.in_(sorted({b for b, _ in keys})))
        .order_by(Budget.id)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update()
    out: dict[tuple[str, str], BudgetState] = {}
    wanted_keys = set(keys)
    for row in (await session.execute(stmt)).scalars():
        if (row.budget_id, row.period) in wanted_keys:
            out[(row.budget_id, row.period)] = BudgetState(
                row.budget_id, row.period, row.asset, row.limit, row.spent, row.id
            )
    return out


async def write_budgets(
    session: AsyncSession, states: Iterable[BudgetState], *, now: datetime
) -> None:
    for state in states:
        if state.row_id is None:
            continue
        await session.execute(
            Budget.__table__.update()  # type: ignore[attr-defined]
            .where(Budget.id == state.row_id)
            .values(spent=state.spent, updated_at=now)
        )


async def budget_use(
    session: AsyncSession, program_id: str, *, now: datetime, tz: str
) -> list[BudgetUse]:
    """Each budget's use in its current period (live)."""
    definitions = list(
        await session.scalars(
            select(BudgetDefinition).where(BudgetDefinition.program_id == program_id)
        )
    )
    periods = {d.budget_id: budget_period(d.window, now, tz) for d in definitions}
    spent_by = {
        (b, p): spent
        for b, p, spent in await session.execute(
            select(Budget.budget_id, Budget.period, Budget.spent).where(
                Budget.program_id == program_id, Budget.period.in_(set(periods.values()))
            )
        )
    }
    out = []
    for d in definitions:
        period = periods[d.budget_id]
        spent = spent_by.get((d.budget_id, period))
        used = int(spent or 0)
        out.append(
            BudgetUse(
                id=d.budget_id,
                name=d.name,
                asset=d.asset,
                window=d.window,
                limit=d.limit,
                period=period,
                spent=used,
                remaining=max(d.limit - used, 0),
            )
        )
    return out
