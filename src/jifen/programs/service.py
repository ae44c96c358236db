"""Programs (tenants): creation with their default assets, settings changes, API keys, audit."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.errors import AlreadyExists, InvalidInput, NotFound, Unauthorized
from jifen.kit.ids import uuid7
from jifen.ledger import service as ledger_service
from jifen.programs.context import ProgramContext, to_context
from jifen.programs.models import ApiKey, AuditEntry, Program
from jifen.programs.schemas import AssetCreate, ProgramCreate, ProgramSettings, ProgramUpdate

KEY_PREFIX = "jf"

# The assets every program starts with.
DEFAULT_ASSETS: tuple[tuple[str, str, str, bool], ...] = (
    ("points", "积分 Points", "points", True),
    ("growth", "成长值 Growth", "growth", False),
    ("cash", "现金奖励 Cash (fen)", "cash", False),
)


def _settings_json(settings: ProgramSettings) -> dict[str, Any]:
    return settings.model_dump(mode="json")


async def record_audit(
    session: AsyncSession,
    *,
    program_id: str,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    now: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    session.add(
        AuditEntry(
            program_id=program_id,
            actor=actor,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            before=before,
            after=after,
            reason=reason,
            created_at=now,
        )
    )


async def create_program(
    session: AsyncSession, data: ProgramCreate, *, now: datetime, actor: str
) -> Program:
    if await session.get(Program, data.id) is not None:
        raise AlreadyExists(
            f"program {data.id!r} already exists", code="program_exists", field="id"
        )
    program = Program(
        id=data.id,
        name=data.name,
        settings=_settings_json(data.settings),
        settings_version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(program)
    await session.flush()
    for code, name, kind, expires in DEFAULT_ASSETS:
        await ledger_service.create_asset(
            session, program.id, code=code, name=name, kind=kind, expires=expires, now=now
        )
    await ledger_service.init_chain(session, program.id, now=now)
    await record_audit(
        session,
        program_id=program.id,
        actor=actor,
        action="program.create",
        entity_type="program",
        entity_id=program.id,
        now=now,
        after={"name": data.name, "settings": _settings_json(data.settings)},
    )
    return program


async def get_program(session: AsyncSession, program_id: str) -> Program:
    program = await session.get(Program, program_id)
    if program is None:
        raise NotFound(f"program {program_id!r} not found", code="program_not_found")
    return program


async def list_programs(session: AsyncSession) -> list[Program]:
    return list((await session.scalars(select(Program).order_by(Program.id))).all())


async def get_context(session: AsyncSession, program_id: str) -> ProgramContext:
    return to_context(await get_program(session, program_id))


async def update_program(
    session: AsyncSession, program_id: str, data: ProgramUpdate, *, now: datetime, actor: str
) -> Program:
    program = await get_program(session, program_id)
    before = {"name": program.name, "settings": program.settings}
    if data.name is not None:
        program.name = data.name
    if data.settings is not None:
        merged = {**program.settings, **data.settings}
        try:
            settings = ProgramSettings.model_validate(merged)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(["settings", *(str(p) for p in first["loc"])])
            raise InvalidInput(f"{field}: {first['msg']}", field=field) from exc
        program.settings = _settings_json(settings)
        program.settings_version += 1
    program.updated_at = now
    await record_audit(
        session,
        program_id=program.id,
        actor=actor,
        action="program.update",
        entity_type="program",
        entity_id=program.id,
        now=now,
        before=before,
        after={"name": program.name, "settings": program.settings},
        reason=data.reason,
    )
    await session.flush()
    return program


async def add_asset(
    session: AsyncSession, program_id: str, data: AssetCreate, *, now: datetime, actor: str
) -> None:
    await get_program(session, program_id)
    await ledger_service.create_asset(
        session,
        program_id,
        code=data.code,
        name=data.name,
        kind="custom",
        expires=data.expires,
        now=now,
    )
    await record_audit(
        session,
        program_id=program_id,
        actor=actor,
        action="asset.create",
        entity_type="asset",
        entity_id=data.code,
        now=now,
        after=data.model_dump(),
    )


# --- API keys -------------------------------------------------------------------------------


def _hash_secret(secret: str) -> str:
    # API keys carry 256 bits of entropy, so a fast hash is enough (no password stretching).
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_api_key(
    session: AsyncSession, program_id: str, name: str, *, now: datetime, actor: str
) -> tuple[ApiKey, str]:
    """Create a key; the plaintext is returned here once and never stored."""
    await get_program(session, program_id)
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        id=uuid7(),
        program_id=program_id,
        name=name,
        prefix=prefix,
        secret_hash=_hash_secret(secret),
        created_at=now,
    )
    session.add(key)
    await record_audit(
        session,
        program_id=program_id,
        actor=actor,
        action="api_key.create",
        entity_type="api_key",
        entity_id=prefix,
        now=now,
        after={"name": name, "prefix": prefix},
    )
    await session.flush()
    return key, f"{KEY_PREFIX}_{prefix}_{secret}"


async def list_api_keys(session: AsyncSession, program_id: str) -> list[ApiKey]:
    stmt = select(ApiKey).where(ApiKey.program_id == program_id).order_by(ApiKey.created_at)
    return list((await session.scalars(stmt)).all())


async def revoke_api_key(
    session: AsyncSession, program_id: str, key_id: uuid.UUID, *, now: datetime, actor: str
) -> ApiKey:
    key = await session.get(ApiKey, key_id)
    if key is None or key.program_id != program_id:
        raise NotFound("API key not found", code="api_key_not_found")
    if key.revoked_at is None:
        key.revoked_at = now
        await record_audit(
            session,
            program_id=program_id,
            actor=actor,
            action="api_key.revoke",
            entity_type="api_key",
            entity_id=key.prefix,
            now=now,
        )
    await session.flush()
    return key


async def authenticate(
    session: AsyncSession, token: str, *, now: datetime
) -> tuple[ProgramContext, uuid.UUID | None]:
    """Resolve a bearer API key to its program, or raise ``invalid_api_key``. Reads only; the
    second value is the key's id when its ``last_used_at`` is due to be touched."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        raise Unauthorized("malformed API key", code="invalid_api_key")
    _, prefix, secret = parts
    row = (
        await session.execute(
            select(ApiKey, Program)
            .join(Program, Program.id == ApiKey.program_id)
            .where(ApiKey.prefix == prefix)
        )
    ).first()
    if row is None:
        raise Unauthorized("unknown API key", code="invalid_api_key")
    key, program = row._tuple()
    if not hmac.compare_digest(key.secret_hash, _hash_secret(secret)):
        raise Unauthorized("unknown API key", code="invalid_api_key")
    if key.revoked_at is not None:
        raise Unauthorized("API key revoked", code="invalid_api_key")
    return to_context(program), key.id if _touch_due(key.last_used_at, now) else None


def _touch_due(last_used_at: datetime | None, now: datetime) -> bool:
    # At most once a minute, so that authentication is not a write per request.
    return last_used_at is None or (now - last_used_at).total_seconds() > 60


async def touch_api_key(session: AsyncSession, key_id: uuid.UUID, *, now: datetime) -> None:
    """Record that a key was used (``last_used_at``)."""
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
