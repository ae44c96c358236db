"""Member-scoped tokens for the portal and ``/v1/me/...``: the merchant's backend asks for one
with its API key, and the token reads and acts as that one member only.

A token is ``<payload>.<signature>``: the payload (program, member, expiry) in URL-safe base64,
signed with HMAC-SHA256 under the server's secret key. Nothing is stored; a token lives until it
expires (at most 30 days) or the member is frozen.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Header, Query
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.api.deps import DbDep, SettingsDep
from jifen.errors import Forbidden, Unauthorized
from jifen.members import service as members
from jifen.programs import service as programs
from jifen.programs.context import ProgramContext

MAX_TTL = timedelta(days=30)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())


def issue(secret: str, *, program_id: str, member: str, expires_at: datetime) -> str:
    payload = _b64(
        json.dumps(
            {"p": program_id, "m": member, "exp": int(expires_at.timestamp())},
            separators=(",", ":"),
        ).encode()
    )
    return f"{payload}.{_sign(secret, payload)}"


@dataclass(frozen=True, slots=True)
class MemberClaims:
    program_id: str
    member: str
    expires_at: datetime


def read(secret: str, token: str, *, now: datetime) -> MemberClaims:
    """The claims of a valid token; ``Unauthorized`` (``invalid_member_token``) otherwise."""
    payload, _, signature = token.partition(".")
    if not payload or not signature or not hmac.compare_digest(signature, _sign(secret, payload)):
        raise Unauthorized("member token is not valid", code="invalid_member_token")
    try:
        data = json.loads(_unb64(payload))
        claims = MemberClaims(
            program_id=str(data["p"]),
            member=str(data["m"]),
            expires_at=datetime.fromtimestamp(int(data["exp"]), UTC),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise Unauthorized("member token is not valid", code="invalid_member_token") from exc
    if claims.expires_at <= now:
        raise Unauthorized("member token has expired", code="member_token_expired")
    return claims


@dataclass(frozen=True, slots=True)
class MemberContext:
    """The member a ``/v1/me/...`` request acts as, with its program."""

    program: ProgramContext
    member: str  # the merchant's own member id
    member_id: int


def token_from(authorization: str | None, query_token: str | None) -> str:
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    if query_token:  # EventSource cannot send headers: the live stream takes ?token=
        return query_token
    raise Unauthorized("missing member token (Authorization: Bearer <token>)", code="unauthorized")


async def current_member(
    db: DbDep,
    settings: SettingsDep,
    authorization: Annotated[str | None, Header()] = None,
    token: Annotated[str | None, Query(include_in_schema=False)] = None,
) -> MemberContext:
    claims = read(settings.secret_key, token_from(authorization, token), now=db.now())

    async def load(s: AsyncSession) -> MemberContext:
        ctx = await programs.get_context(s, claims.program_id)
        member = await members.get(s, ctx.id, claims.member)
        if member.status == "frozen":
            raise Forbidden(f"member {claims.member!r} is frozen", code="member_frozen")
        return MemberContext(program=ctx, member=member.external_id, member_id=member.id)

    return await db.read(load)


MemberDep = Annotated[MemberContext, Depends(current_member)]
