"""Campaigns and budgets API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from jifen.api.deps import DbDep, ProgramDep
from jifen.campaigns import service
from jifen.campaigns.schemas import BudgetIn, BudgetUse, CampaignDefinition
from jifen.ledger.endpoints import PROBLEMS

router = APIRouter(prefix="/v1", tags=["campaigns"])


@router.put("/campaigns/{campaign_id}", response_model=CampaignDefinition, responses=PROBLEMS)
async def save_campaign(
    campaign_id: str, body: CampaignDefinition, program: ProgramDep, db: DbDep, actor: str = "api"
) -> CampaignDefinition:
    """Create or change a campaign (audited)."""
    now = db.now()
    data = body.model_copy(update={"id": campaign_id})

    async def run(s: Any) -> CampaignDefinition:
        await service.save_campaign(s, program, data, now=now, actor=actor)
        return data

    return await db.write(run)


@router.get("/campaigns", response_model=list[CampaignDefinition], responses=PROBLEMS)
async def list_campaigns(program: ProgramDep, db: DbDep) -> list[CampaignDefinition]:
    return await db.read(lambda s: service.list_campaigns(s, program.id))


@router.get("/campaigns/{campaign_id}", response_model=CampaignDefinition, responses=PROBLEMS)
async def get_campaign(campaign_id: str, program: ProgramDep, db: DbDep) -> CampaignDefinition:
    return await db.read(lambda s: service.get_campaign(s, program.id, campaign_id))


@router.put("/budgets/{budget_id}", response_model=BudgetIn, responses=PROBLEMS)
async def save_budget(
    budget_id: str, body: BudgetIn, program: ProgramDep, db: DbDep, actor: str = "api"
) -> BudgetIn:
    """Define a budget (hard stop: payouts beyond it are cut, never overspent)."""
    now = db.now()
    data = body.model_copy(update={"id": budget_id})

    async def run(s: Any) -> BudgetIn:
        await service.save_budget(s, program, data, now=now, actor=actor)
        return data

    return await db.write(run)


@router.get("/budgets", response_model=list[BudgetUse], responses=PROBLEMS)
async def budget_use(program: ProgramDep, db: DbDep) -> list[BudgetUse]:
    """Each budget's use in its current period, live."""
    now = db.now()
    return await db.read(
        lambda s: service.budget_use(s, program.id, now=now, tz=program.settings.timezone)
    )
