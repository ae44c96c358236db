"""Campaigns and budgets API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from jifen.api.deps import DbDep, ProgramDep
from jifen.campaigns import service
from jifen.campaigns.schemas import BudgetIn, BudgetUse, CampaignDefinition, Slug
from jifen.errors import InvalidInput
from jifen.ledger.endpoints import PROBLEMS

router = APIRouter(prefix="/v1", tags=["campaigns"])


SlugPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")]


class CampaignBody(CampaignDefinition):
    # The path names the campaign; a body id, when sent, must agree with it.
    id: Slug | None = None  # type: ignore[assignment]


class BudgetBody(BudgetIn):
    id: Slug | None = None  # type: ignore[assignment]


def _path_id(path_id: str, body_id: str | None) -> str:
    if body_id is not None and body_id != path_id:
        raise InvalidInput(
            f"the body's id {body_id!r} differs from the path's {path_id!r}",
            code="id_mismatch",
            field="id",
        )
    return path_id


@router.put("/campaigns/{campaign_id}", response_model=CampaignDefinition, responses=PROBLEMS)
async def save_campaign(
    campaign_id: SlugPath, body: CampaignBody, program: ProgramDep, db: DbDep, actor: str = "api"
) -> CampaignDefinition:
    """Create or change a campaign (audited)."""
    now = db.now()
    data = CampaignDefinition.model_validate(
        {**body.model_dump(), "id": _path_id(campaign_id, body.id)}
    )

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
    budget_id: SlugPath, body: BudgetBody, program: ProgramDep, db: DbDep, actor: str = "api"
) -> BudgetIn:
    """Define a budget (hard stop: payouts beyond it are cut, never overspent)."""
    now = db.now()
    data = BudgetIn.model_validate({**body.model_dump(), "id": _path_id(budget_id, body.id)})

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
