"""A domain's per-program settings stored as one validated JSON row (``program_id`` primary key,
``config``, ``updated_at``): read with defaults, saved whole and audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.programs.context import ProgramContext

S = TypeVar("S", bound=BaseModel)


class ConfigRow(Protocol):
    program_id: Any
    config: Any
    updated_at: Any

    def __init__(self, *, program_id: str, config: dict[str, Any], updated_at: datetime) -> None:
        """A new row."""


async def load(
    session: AsyncSession, table: type[ConfigRow], schema: type[S], program_id: str
) -> S:
    """The program's settings, or the schema's defaults when none were saved."""
    row = await session.get(table, program_id)
    return schema() if row is None else schema.model_validate(row.config)


async def save(
    session: AsyncSession,
    table: type[ConfigRow],
    ctx: ProgramContext,
    data: S,
    *,
    now: datetime,
    actor: str,
    action: str,
) -> S:
    """Replace the program's settings; the audit log records what they were and are."""
    from jifen.programs.service import record_audit

    row = await session.get(table, ctx.id)
    before = None if row is None else dict(row.config)
    config = data.model_dump(mode="json")
    if row is None:
        session.add(table(program_id=ctx.id, config=config, updated_at=now))
    else:
        row.config = config
        row.updated_at = now
    await record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action=action,
        entity_type=getattr(table, "__tablename__", "settings"),
        entity_id=ctx.id,
        now=now,
        before=before,
        after=config,
    )
    await session.flush()
    return data
