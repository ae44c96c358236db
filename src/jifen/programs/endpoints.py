"""Programs API: create (administrator), settings, assets, API keys, audit log."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel
from sqlalchemy import select

from jifen.api.deps import CallerDep, DbDep
from jifen.ledger import service as ledger
from jifen.ledger.endpoints import PROBLEMS
from jifen.programs import service
from jifen.programs.models import ApiKey, AuditEntry, Program
from jifen.programs.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    AssetCreate,
    AssetOut,
    ProgramCreate,
    ProgramOut,
    ProgramSettings,
    ProgramUpdate,
)

router = APIRouter(prefix="/v1/programs", tags=["programs"])

ProgramPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,39}$")]


def _out(p: Program) -> ProgramOut:
    return ProgramOut(
        id=p.id,
        name=p.name,
        settings=ProgramSettings.model_validate(p.settings),
        settings_version=p.settings_version,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def _key_out(k: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=str(k.id),
        name=k.name,
        prefix=k.prefix,
        created_at=k.created_at,
        last_used_at=k.last_used_at,
        revoked_at=k.revoked_at,
    )


@router.post("", status_code=201, response_model=ProgramOut, responses=PROBLEMS)
async def create_program(body: ProgramCreate, caller: CallerDep, db: DbDep) -> ProgramOut:
    """Create a program (tenant) with the assets points, growth and cash. Administrator only."""
    caller.require_admin()
    now = db.now()
    return await db.write(lambda s: _created(s, body, now, caller.actor))


async def _created(s: Any, body: ProgramCreate, now: Any, actor: str) -> ProgramOut:
    return _out(await service.create_program(s, body, now=now, actor=actor))


@router.get("", response_model=list[ProgramOut], responses=PROBLEMS)
async def list_programs(caller: CallerDep, db: DbDep) -> list[ProgramOut]:
    """All programs for the administrator; the key's own program otherwise."""

    async def run(s: Any) -> list[ProgramOut]:
        if caller.admin:
            return [_out(p) for p in await service.list_programs(s)]
        assert caller.program is not None
        return [_out(await service.get_program(s, caller.program.id))]

    return await db.read(run)


@router.get("/{program_id}", response_model=ProgramOut, responses=PROBLEMS)
async def get_program(program_id: ProgramPath, caller: CallerDep, db: DbDep) -> ProgramOut:
    caller.require_program(program_id)

    async def run(s: Any) -> ProgramOut:
        return _out(await service.get_program(s, program_id))

    return await db.read(run)


@router.patch("/{program_id}", response_model=ProgramOut, responses=PROBLEMS)
async def update_program(
    program_id: ProgramPath, body: ProgramUpdate, caller: CallerDep, db: DbDep
) -> ProgramOut:
    """Change the name or settings; each change bumps ``settings_version`` and is audited."""
    caller.require_program(program_id)
    now = db.now()

    async def run(s: Any) -> ProgramOut:
        return _out(await service.update_program(s, program_id, body, now=now, actor=caller.actor))

    return await db.write(run)


@router.get("/{program_id}/assets", response_model=list[AssetOut], responses=PROBLEMS)
async def list_assets(program_id: ProgramPath, caller: CallerDep, db: DbDep) -> list[AssetOut]:
    caller.require_program(program_id)

    async def run(s: Any) -> list[AssetOut]:
        await service.get_program(s, program_id)
        return [
            AssetOut(code=a.code, name=a.name, kind=a.kind, expires=a.expires)
            for a in await ledger.list_assets(s, program_id)
        ]

    return await db.read(run)


@router.post("/{program_id}/assets", status_code=201, response_model=AssetOut, responses=PROBLEMS)
async def add_asset(
    program_id: ProgramPath, body: AssetCreate, caller: CallerDep, db: DbDep
) -> AssetOut:
    """Define a custom asset (e.g. ``stars``); it gets its own system accounts."""
    caller.require_program(program_id)
    now = db.now()

    async def run(s: Any) -> AssetOut:
        await service.add_asset(s, program_id, body, now=now, actor=caller.actor)
        return AssetOut(code=body.code, name=body.name, kind="custom", expires=body.expires)

    return await db.write(run)


@router.post(
    "/{program_id}/api-keys", status_code=201, response_model=ApiKeyCreated, responses=PROBLEMS
)
async def create_api_key(
    program_id: ProgramPath, body: ApiKeyCreate, caller: CallerDep, db: DbDep
) -> ApiKeyCreated:
    """Issue an API key. The key is in this response only; jifen stores just its hash."""
    caller.require_program(program_id)
    now = db.now()

    async def run(s: Any) -> ApiKeyCreated:
        key, plaintext = await service.create_api_key(
            s, program_id, body.name, now=now, actor=caller.actor
        )
        return ApiKeyCreated(**_key_out(key).model_dump(), key=plaintext)

    return await db.write(run)


@router.get("/{program_id}/api-keys", response_model=list[ApiKeyOut], responses=PROBLEMS)
async def list_api_keys(program_id: ProgramPath, caller: CallerDep, db: DbDep) -> list[ApiKeyOut]:
    caller.require_program(program_id)

    async def run(s: Any) -> list[ApiKeyOut]:
        return [_key_out(k) for k in await service.list_api_keys(s, program_id)]

    return await db.read(run)


@router.delete("/{program_id}/api-keys/{key_id}", response_model=ApiKeyOut, responses=PROBLEMS)
async def revoke_api_key(
    program_id: ProgramPath, key_id: uuid.UUID, caller: CallerDep, db: DbDep
) -> ApiKeyOut:
    caller.require_program(program_id)
    now = db.now()

    async def run(s: Any) -> ApiKeyOut:
        return _key_out(
            await service.revoke_api_key(s, program_id, key_id, now=now, actor=caller.actor)
        )

    return await db.write(run)


class AuditOut(BaseModel):
    id: int
    actor: str
    action: str
    entity_type: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    created_at: Any


@router.get("/{program_id}/audit", response_model=list[AuditOut], responses=PROBLEMS)
async def audit_log(
    program_id: ProgramPath,
    caller: CallerDep,
    db: DbDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AuditOut]:
    """Who changed what, newest first."""
    caller.require_program(program_id)

    async def run(s: Any) -> list[AuditOut]:
        rows = await s.scalars(
            select(AuditEntry)
            .where(AuditEntry.program_id == program_id)
            .order_by(AuditEntry.id.desc())
            .limit(limit)
        )
        return [
            AuditOut(
                id=r.id,
                actor=r.actor,
                action=r.action,
                entity_type=r.entity_type,
                entity_id=r.entity_id,
                before=r.before,
                after=r.after,
                reason=r.reason,
                created_at=r.created_at,
            )
            for r in rows
        ]

    return await db.read(run)
