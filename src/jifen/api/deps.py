"""Request dependencies: the database unit of work, the clock, and who is calling."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.api.combiner import WriteCombiner
from jifen.clock import Clock
from jifen.config import Settings
from jifen.db.engine import read_only
from jifen.errors import BadRequest, Forbidden, IdempotencyKeyRequired, Unauthorized
from jifen.kit.idempotency import IdempotencyRace
from jifen.programs import service as programs
from jifen.programs.context import ProgramContext

T = TypeVar("T")

# PostgreSQL errors after which the whole unit of work is safely retried.
_RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected


@dataclass
class Db:
    """The database as a request sees it: each call is one transaction, committed on success."""

    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Clock
    # Single credits, debits, holds and events that arrive together commit together.
    combiner: WriteCombiner = field(init=False)

    def __post_init__(self) -> None:
        self.combiner = WriteCombiner(self.write, self.now)

    def now(self) -> datetime:
        return self.clock.now()

    async def write(self, fn: Callable[[AsyncSession], Awaitable[T]], *, attempts: int = 4) -> T:
        for attempt in range(attempts):
            try:
                async with self.sessionmaker() as session, session.begin():
                    return await fn(session)
            except IdempotencyRace:
                if attempt == attempts - 1:
                    raise
            except DBAPIError as exc:
                sqlstate = getattr(exc.orig, "sqlstate", None)
                if sqlstate not in _RETRYABLE_SQLSTATES or attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        raise RuntimeError("unreachable")

    async def read(self, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with read_only(self.sessionmaker) as session:
            return await fn(session)


def get_db(request: Request) -> Db:
    return request.app.state.db  # type: ignore[no-any-return]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


DbDep = Annotated[Db, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("missing Authorization: Bearer header", code="unauthorized")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("expected Authorization: Bearer <key>", code="unauthorized")
    return token.strip()


async def _authenticate(db: Db, token: str) -> ProgramContext:
    """Authenticate in a read-only transaction; write only when last_used_at is due."""
    now = db.now()
    ctx, touch = await db.read(lambda s: programs.authenticate(s, token, now=now))
    if touch is not None:
        key_id = touch
        await db.write(lambda s: programs.touch_api_key(s, key_id, now=now))
    return ctx


async def current_program(
    db: DbDep, authorization: Annotated[str | None, Header()] = None
) -> ProgramContext:
    """The program whose API key signed the request."""
    token = _bearer(authorization)
    return await _authenticate(db, token)


ProgramDep = Annotated[ProgramContext, Depends(current_program)]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who may manage a program: the server administrator, or the program's own key."""

    admin: bool
    program: ProgramContext | None

    @property
    def actor(self) -> str:
        return "admin" if self.admin else f"api-key:{self.program.id if self.program else '?'}"

    def require_program(self, program_id: str) -> None:
        if self.admin:
            return
        if self.program is None or self.program.id != program_id:
            raise Forbidden(
                f"this API key belongs to another program than {program_id!r}", code="wrong_program"
            )

    def require_admin(self) -> None:
        if not self.admin:
            raise Forbidden("this needs the administrator token", code="admin_required")


async def current_caller(
    db: DbDep, settings: SettingsDep, authorization: Annotated[str | None, Header()] = None
) -> Caller:
    token = _bearer(authorization)
    if hmac.compare_digest(token.encode(), settings.admin_token.encode()):
        return Caller(admin=True, program=None)
    return Caller(admin=False, program=await _authenticate(db, token))


CallerDep = Annotated[Caller, Depends(current_caller)]


def idempotency_key(header: str | None, body: str | None) -> str:
    """The write's key, from the ``Idempotency-Key`` header or the body (they must agree)."""
    if header and body and header != body:
        raise BadRequest(
            "Idempotency-Key header and body idempotency_key differ",
            code="idempotency_key_mismatch",
            field="idempotency_key",
        )
    key = header or body
    if not key:
        raise IdempotencyKeyRequired(
            "send an Idempotency-Key header (or idempotency_key in the body) with every write",
            field="idempotency_key",
        )
    if len(key) > 200 or not key.isprintable() or " " in key:
        raise BadRequest(
            "idempotency key must be 1-200 visible characters",
            code="invalid_idempotency_key",
            field="idempotency_key",
        )
    return key


IdempotencyHeader = Annotated[str | None, Header(alias="Idempotency-Key")]
