"""Rules as versioned data: validate, save (a new version each time), list, import, export."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.errors import InvalidInput, NotFound
from jifen.kit import parsed
from jifen.programs.context import ProgramContext
from jifen.programs.service import record_audit
from jifen.rules import conditions
from jifen.rules.evaluator import RuleVersionView
from jifen.rules.models import RuleVersion
from jifen.rules.schemas import RuleDefinition, RuleOut, ValidationProblem


def problems_of(
    raw: Any, *, known_assets: set[str] | None = None, known_budgets: set[str] | None = None
) -> list[ValidationProblem]:
    """Every reason a rule (as sent) cannot be saved, with field and position."""
    rule_id = str(raw.get("id", "?")) if isinstance(raw, dict) else "?"
    try:
        rule = RuleDefinition.model_validate(raw)
    except ValidationError as exc:
        return [
            ValidationProblem(
                rule=rule_id,
                field=".".join(str(p) for p in e["loc"]) or "rule",
                message=e["msg"],
            )
            for e in exc.errors()
        ]
    out: list[ValidationProblem] = []
    try:
        conditions.validate(rule.condition)
    except conditions.ConditionError as exc:
        out.append(
            ValidationProblem(
                rule=rule.id, field="condition", message=exc.message, position=exc.position
            )
        )
    if known_budgets is not None and rule.budget is not None and rule.budget not in known_budgets:
        out.append(
            ValidationProblem(
                rule=rule.id, field="budget", message=f"budget {rule.budget!r} is not defined"
            )
        )
    if known_assets is not None:
        for i, effect in enumerate(rule.effects):
            if effect.asset not in known_assets:
                out.append(
                    ValidationProblem(
                        rule=rule.id,
                        field=f"effects.{i}.asset",
                        message=f"unknown asset {effect.asset!r}",
                    )
                )
    return out


def raise_problems(problems: Sequence[ValidationProblem]) -> None:
    first = problems[0]
    raise InvalidInput(
        f"rule {first.rule}: {first.field}: {first.message}"
        + (f" (at position {first.position})" if first.position is not None else ""),
        code="invalid_rule",
        field=first.field,
        extra={"problems": [p.model_dump() for p in problems]},
    )


async def check(
    session: AsyncSession, program_id: str, raws: Sequence[Any]
) -> list[ValidationProblem]:
    """Every problem of every rule, against the program's assets and budgets; saves nothing."""
    assets = await _asset_codes(session, program_id)
    budgets = await _budget_ids(session, program_id)
    return [p for raw in raws for p in problems_of(raw, known_assets=assets, known_budgets=budgets)]


async def _budget_ids(session: AsyncSession, program_id: str) -> set[str]:
    from jifen.campaigns.service import budget_specs

    return set(await budget_specs(session, program_id))


async def _asset_codes(session: AsyncSession, program_id: str) -> set[str]:
    from jifen.ledger import service as ledger

    return {a.code for a in await ledger.list_assets(session, program_id)}


def to_out(row: RuleVersion) -> RuleOut:
    return RuleOut(
        id=row.rule_id,
        version=row.version,
        enabled=row.enabled,
        effective_from=row.effective_from,
        created_by=row.created_by,
        created_at=row.created_at,
        definition=row.definition,
    )


async def save(
    session: AsyncSession, ctx: ProgramContext, raw: Any, *, now: datetime, actor: str
) -> RuleVersion:
    """Validate and store a new version of the rule; it takes effect at ``effective_from``."""
    problems = problems_of(
        raw,
        known_assets=await _asset_codes(session, ctx.id),
        known_budgets=await _budget_ids(session, ctx.id),
    )
    if problems:
        raise_problems(problems)
    rule = RuleDefinition.model_validate(raw)
    latest = await session.scalar(
        select(func.max(RuleVersion.version)).where(
            RuleVersion.program_id == ctx.id, RuleVersion.rule_id == rule.id
        )
    )
    version = int(latest or 0) + 1
    effective = rule.effective_from or now
    definition = rule.model_dump(mode="json", by_alias=True, exclude={"effective_from"})
    row = RuleVersion(
        program_id=ctx.id,
        rule_id=rule.id,
        version=version,
        trigger=rule.trigger,
        enabled=rule.enabled,
        effective_from=effective,
        definition=definition,
        created_by=actor,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    await record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="rule.save",
        entity_type="rule",
        entity_id=f"{rule.id}@{version}",
        now=now,
        after=definition,
    )
    return row


async def save_many(
    session: AsyncSession, ctx: ProgramContext, raws: Sequence[Any], *, now: datetime, actor: str
) -> list[RuleVersion]:
    """Import a rule set: all rules are validated first; nothing is saved if any is bad."""
    problems = await check(session, ctx.id, raws)
    if problems:
        raise_problems(problems)
    return [await save(session, ctx, raw, now=now, actor=actor) for raw in raws]


async def versions(
    session: AsyncSession, program_id: str, rule_id: str | None = None
) -> list[RuleVersion]:
    stmt = select(RuleVersion).where(RuleVersion.program_id == program_id)
    if rule_id is not None:
        stmt = stmt.where(RuleVersion.rule_id == rule_id)
    rows = await session.scalars(stmt.order_by(RuleVersion.rule_id, RuleVersion.version))
    return list(rows.all())


async def current(session: AsyncSession, program_id: str, *, at: datetime) -> list[RuleVersion]:
    """The version of each rule in force at ``at`` (including disabled ones)."""
    latest: dict[str, RuleVersion] = {}
    for row in await versions(session, program_id):
        if row.effective_from <= at:
            latest[row.rule_id] = row
    return list(latest.values())


async def get(session: AsyncSession, program_id: str, rule_id: str) -> list[RuleVersion]:
    rows = await versions(session, program_id, rule_id)
    if not rows:
        raise NotFound(f"rule {rule_id!r} not found", code="rule_not_found", field="rule_id")
    return rows


def view(row: RuleVersion) -> RuleVersionView:
    definition = RuleDefinition.model_validate(row.definition)
    return RuleVersionView(
        definition=definition, version=row.version, effective_from=row.effective_from
    )


async def load_views(
    session: AsyncSession, program_id: str, triggers: Sequence[str] | None = None
) -> list[RuleVersionView]:
    """Every version of the rules for these triggers (the evaluator picks per event time)."""
    stmt = select(RuleVersion.definition, RuleVersion.version, RuleVersion.effective_from).where(
        RuleVersion.program_id == program_id
    )
    if triggers is not None:
        stmt = stmt.where(RuleVersion.trigger.in_(sorted(set(triggers))))
    return [
        RuleVersionView(
            definition=parsed.parse(RuleDefinition, definition),
            version=version,
            effective_from=effective_from,
        )
        for definition, version, effective_from in await session.execute(stmt)
    ]


def export_definitions(rows: Sequence[RuleVersion]) -> list[dict[str, Any]]:
    return [{**r.definition, "effective_from": r.effective_from.isoformat()} for r in rows]
