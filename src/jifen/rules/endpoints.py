"""Rules API: save (new version), list, history, validate, import/export; reviews; explain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import select

from jifen.api.deps import DbDep, ProgramDep
from jifen.errors import Conflict, NotFound
from jifen.events import service as events_service
from jifen.ledger.endpoints import PROBLEMS
from jifen.ledger.models import LedgerTransaction
from jifen.rules import dryrun, reviews, service
from jifen.rules.models import RuleVersion
from jifen.rules.schemas import RuleOut, ValidationProblem

router = APIRouter(prefix="/v1", tags=["rules"])

ReviewId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class ValidateOut(BaseModel):
    valid: bool
    problems: list[ValidationProblem]


@router.post("/rules", status_code=201, response_model=RuleOut, responses=PROBLEMS)
async def save_rule(
    program: ProgramDep, db: DbDep, body: Annotated[dict[str, Any], Body()], actor: str = "api"
) -> RuleOut:
    """Save a rule as a new version (it takes effect at ``effective_from``, or now).
    A bad rule is refused with ``invalid_rule`` and every problem with its field and position."""
    now = db.now()

    async def run(s: Any) -> RuleOut:
        return service.to_out(await service.save(s, program, body, now=now, actor=actor))

    return await db.write(run)


@router.post("/rules/validate", response_model=ValidateOut, responses=PROBLEMS)
async def validate_rules(
    program: ProgramDep, db: DbDep, body: Annotated[dict[str, Any], Body()]
) -> ValidateOut:
    """Check a rule (or ``{"rules": [...]}``) without saving it."""
    raws = body["rules"] if isinstance(body.get("rules"), list) else [body]

    async def run(s: Any) -> ValidateOut:
        problems = await service.check(s, program.id, raws)
        return ValidateOut(valid=not problems, problems=problems)

    return await db.read(run)


class ImportIn(BaseModel):
    rules: list[dict[str, Any]] = Field(min_length=1, max_length=500)


@router.post("/rules/import", status_code=201, response_model=list[RuleOut], responses=PROBLEMS)
async def import_rules(
    program: ProgramDep, db: DbDep, body: ImportIn, actor: str = "api"
) -> list[RuleOut]:
    """Save a whole rule set; nothing is saved when any rule is bad."""
    now = db.now()

    async def run(s: Any) -> list[RuleOut]:
        return [
            service.to_out(r)
            for r in await service.save_many(s, program, body.rules, now=now, actor=actor)
        ]

    return await db.write(run)


@router.get("/rules", response_model=list[RuleOut], responses=PROBLEMS)
async def list_rules(program: ProgramDep, db: DbDep, at: datetime | None = None) -> list[RuleOut]:
    """The version of each rule in force now (or at ``at``)."""
    when = at or db.now()

    async def run(s: Any) -> list[RuleOut]:
        return [service.to_out(r) for r in await service.current(s, program.id, at=when)]

    return await db.read(run)


@router.get("/rules/export", responses=PROBLEMS)
async def export_rules(program: ProgramDep, db: DbDep) -> dict[str, Any]:
    """The rules in force now, in the import format."""
    now = db.now()

    async def run(s: Any) -> dict[str, Any]:
        return {"rules": service.export_definitions(await service.current(s, program.id, at=now))}

    return await db.read(run)


@router.get("/rules/{rule_id}/versions", response_model=list[RuleOut], responses=PROBLEMS)
async def rule_versions(rule_id: str, program: ProgramDep, db: DbDep) -> list[RuleOut]:
    async def run(s: Any) -> list[RuleOut]:
        return [service.to_out(r) for r in await service.get(s, program.id, rule_id)]

    return await db.read(run)


@router.get("/transactions/{transaction_id}/explain", responses=PROBLEMS)
async def explain(transaction_id: uuid.UUID, program: ProgramDep, db: DbDep) -> dict[str, Any]:
    """Why a posting happened: the event, the rule and version, multipliers, limits, budget."""

    async def run(s: Any) -> dict[str, Any]:
        txn = await s.get(LedgerTransaction, transaction_id)
        if txn is None or txn.program_id != program.id:
            raise NotFound(
                f"transaction {transaction_id} not found",
                code="transaction_not_found",
                field="transaction_id",
            )
        out: dict[str, Any] = {
            "transaction_id": str(txn.id),
            "kind": txn.kind,
            "asset": txn.asset,
            "amount": txn.amount,
            "reason": txn.reason,
            "rule_id": txn.rule_id,
            "rule_version": txn.rule_version,
            "campaign_id": txn.campaign_id,
            "operator": txn.operator,
            "reverses_id": str(txn.reverses_id) if txn.reverses_id else None,
            "explanation": (txn.meta or {}).get("explain")
            or await events_service.explanation_of(s, program.id, txn),
        }
        if txn.rule_id is not None:
            row = (
                await s.scalars(
                    select(RuleVersion).where(
                        RuleVersion.program_id == program.id,
                        RuleVersion.rule_id == txn.rule_id,
                        RuleVersion.version == txn.rule_version,
                    )
                )
            ).first()
            out["rule"] = row.definition if row else None
        return out

    return await db.read(run)


@router.get("/reviews", response_model=list[reviews.ReviewOut], responses=PROBLEMS)
async def list_reviews(
    program: ProgramDep,
    db: DbDep,
    status: Annotated[str, Query(pattern="^(pending|approved|rejected)$")] = "pending",
) -> list[reviews.ReviewOut]:
    """Rewards that rules sent to manual review."""
    return await db.read(lambda s: reviews.list_reviews(s, program.id, status=status))


class DecisionIn(BaseModel):
    reviewer: str = Field(min_length=1, max_length=200)
    reason: str | None = Field(default=None, max_length=500)


@router.post("/reviews/{review_id}/approve", response_model=reviews.ReviewOut, responses=PROBLEMS)
async def approve(
    review_id: ReviewId, body: DecisionIn, program: ProgramDep, db: DbDep
) -> reviews.ReviewOut:
    """Pay the reward (once)."""
    now = db.now()
    return await db.write(
        lambda s: reviews.decide(
            s, program, review_id, approve=True, reviewer=body.reviewer, reason=body.reason, now=now
        )
    )


@router.post("/reviews/{review_id}/reject", response_model=reviews.ReviewOut, responses=PROBLEMS)
async def reject(
    review_id: ReviewId, body: DecisionIn, program: ProgramDep, db: DbDep
) -> reviews.ReviewOut:
    now = db.now()
    return await db.write(
        lambda s: reviews.decide(
            s,
            program,
            review_id,
            approve=False,
            reviewer=body.reviewer,
            reason=body.reason,
            now=now,
        )
    )


__all__ = ["Conflict", "router"]


class DryRunIn(BaseModel):
    """Rules to try over the stored events of ``[start, end)``; nothing is saved or paid."""

    rules: list[dict[str, Any]] = Field(default_factory=list, max_length=500)
    start: AwareDatetime
    end: AwareDatetime
    # Also run the rules stored now (a given rule replaces the stored one of the same id).
    include_current: bool = False
    # Campaigns to simulate instead of the stored ones overlapping the window.
    campaigns: list[dict[str, Any]] | None = Field(default=None, max_length=100)


@router.post("/rules/dry-run", response_model=dryrun.DryRunReport, responses=PROBLEMS)
async def dry_run(body: DryRunIn, program: ProgramDep, db: DbDep) -> dryrun.DryRunReport:
    """What the rules would have paid over past events: to whom, how much, at what cost.
    A bad rule is refused with ``invalid_rule`` as on save. Writes nothing."""
    now = db.now()

    async def run(s: Any) -> dryrun.DryRunReport:
        return await dryrun.dry_run(
            s,
            program,
            body.rules,
            start=body.start,
            end=body.end,
            now=now,
            include_current=body.include_current,
            campaigns=body.campaigns,
        )

    return await db.read(run)
