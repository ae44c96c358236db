"""Console users: accounts with argon2 password hashes, roles per program, sessions, claims."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.errors import AlreadyExists, Conflict, InvalidInput, NotFound, Unauthorized
from jifen.kit.idempotency import IdempotencyRace
from jifen.programs.service import get_program, record_audit
from jifen.users.models import ConsoleGrant, ConsoleSession, ConsoleUser, ReviewClaim
from jifen.users.roles import ROLES

SESSION_TTL = timedelta(hours=12)
_hasher = PasswordHasher()
# Verified against when the email is unknown, so a login takes as long either way.
_DUMMY_HASH = _hasher.hash("not-a-password")


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The user behind a console session and their roles per program."""

    user_id: int
    email: str
    name: str
    session_id: str
    roles: dict[str, frozenset[str]]


def _normal_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 200 or " " in email:
        raise InvalidInput("a valid email address is required", code="invalid_email", field="email")
    return email


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(
            f"unknown role {role!r}; one of {', '.join(ROLES)}", code="unknown_role", field="role"
        )


async def find_user(session: AsyncSession, email: str) -> ConsoleUser | None:
    stmt = select(ConsoleUser).where(ConsoleUser.email == email.strip().lower())
    return (await session.scalars(stmt)).first()


async def create_user(
    session: AsyncSession, *, email: str, password: str, name: str | None, now: datetime
) -> ConsoleUser:
    email = _normal_email(email)
    if len(password) < 8:
        raise InvalidInput(
            "a password needs at least 8 characters", code="weak_password", field="password"
        )
    if await find_user(session, email) is not None:
        raise AlreadyExists(f"user {email!r} already exists", code="user_exists", field="email")
    user = ConsoleUser(
        email=email,
        name=name or email.split("@")[0],
        password_hash=_hasher.hash(password),
        status="active",
        created_at=now,
    )
    session.add(user)
    await session.flush()
    return user


async def grant(
    session: AsyncSession,
    *,
    program_id: str,
    user: ConsoleUser,
    role: str,
    now: datetime,
    actor: str,
) -> bool:
    """Give ``user`` ``role`` in the program; False when they had it already."""
    _check_role(role)
    await get_program(session, program_id)
    if await session.get(ConsoleGrant, (program_id, user.id, role)) is not None:
        return False
    session.add(ConsoleGrant(program_id=program_id, user_id=user.id, role=role, created_at=now))
    await session.flush()
    await record_audit(
        session,
        program_id=program_id,
        actor=actor,
        action="user.grant",
        entity_type="console_user",
        entity_id=user.email,
        now=now,
        after={"role": role},
    )
    return True


async def revoke(
    session: AsyncSession, *, program_id: str, email: str, role: str, now: datetime, actor: str
) -> None:
    user = await find_user(session, email)
    row = None if user is None else await session.get(ConsoleGrant, (program_id, user.id, role))
    if user is None or row is None:
        raise NotFound(f"{email!r} has no role {role!r} here", code="grant_not_found")
    await session.delete(row)
    await record_audit(
        session,
        program_id=program_id,
        actor=actor,
        action="user.revoke",
        entity_type="console_user",
        entity_id=user.email,
        now=now,
        before={"role": role},
    )
    await session.flush()


async def ensure_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    program_id: str,
    role: str,
    now: datetime,
    actor: str,
    name: str | None = None,
) -> tuple[ConsoleUser, bool]:
    """Create the user if new (with ``password``) and give them ``role`` in the program.
    Returns (user, created)."""
    _check_role(role)
    user = await find_user(session, email)
    created = user is None
    if user is None:
        user = await create_user(session, email=email, password=password, name=name, now=now)
    await grant(session, program_id=program_id, user=user, role=role, now=now, actor=actor)
    return user, created


async def program_users(session: AsyncSession, program_id: str) -> list[tuple[str, str, str]]:
    """(email, name, role) of everyone with a role in the program."""
    rows = await session.execute(
        select(ConsoleUser.email, ConsoleUser.name, ConsoleGrant.role)
        .join(ConsoleGrant, ConsoleGrant.user_id == ConsoleUser.id)
        .where(ConsoleGrant.program_id == program_id)
        .order_by(ConsoleUser.email, ConsoleGrant.role)
    )
    return [(e, n, r) for e, n, r in rows]


# --- login and sessions ----------------------------------------------------------------------


def _session_id(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def login(
    session: AsyncSession, *, email: str, password: str, now: datetime
) -> tuple[ConsoleUser, str]:
    """Check the password and open a session; returns the user and the session secret (for
    the cookie; only its hash is stored)."""
    user = await find_user(session, email)
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        user = None
    if user is None or user.status != "active":
        raise Unauthorized("wrong email or password", code="invalid_login")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = now
    secret = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            id=_session_id(secret), user_id=user.id, created_at=now, expires_at=now + SESSION_TTL
        )
    )
    # Sessions past their expiry are of no use to anyone: clear this user's on each login.
    await session.execute(
        delete(ConsoleSession).where(
            ConsoleSession.user_id == user.id, ConsoleSession.expires_at <= now
        )
    )
    await session.flush()
    return user, secret


async def signed_in(session: AsyncSession, secret: str, *, now: datetime) -> SignedIn | None:
    """The user of a live session, or None."""
    sid = _session_id(secret)
    row = (
        await session.execute(
            select(ConsoleUser, ConsoleSession.expires_at)
            .join(ConsoleSession, ConsoleSession.user_id == ConsoleUser.id)
            .where(ConsoleSession.id == sid)
        )
    ).first()
    if row is None:
        return None
    user, expires_at = row._tuple()
    if expires_at <= now or user.status != "active":
        return None
    grants = await session.execute(
        select(ConsoleGrant.program_id, ConsoleGrant.role).where(ConsoleGrant.user_id == user.id)
    )
    roles: dict[str, set[str]] = {}
    for program_id, role in grants:
        roles.setdefault(program_id, set()).add(role)
    return SignedIn(
        user_id=user.id,
        email=user.email,
        name=user.name,
        session_id=sid,
        roles={p: frozenset(r) for p, r in roles.items()},
    )


async def logout(session: AsyncSession, secret: str) -> None:
    await session.execute(delete(ConsoleSession).where(ConsoleSession.id == _session_id(secret)))


# --- review claims ---------------------------------------------------------------------------


async def claims(session: AsyncSession, program_id: str) -> dict[int, str]:
    """Review id → email of the reviewer who claimed it."""
    rows = await session.execute(
        select(ReviewClaim.review_id, ReviewClaim.user_email).where(
            ReviewClaim.program_id == program_id
        )
    )
    return {int(r): str(e) for r, e in rows.tuples()}


async def claim(
    session: AsyncSession,
    program_id: str,
    review_id: int,
    *,
    user_id: int,
    email: str,
    now: datetime,
) -> None:
    """Take a review; refused (``review_claimed``) when someone else holds it."""
    row = await session.get(ReviewClaim, (program_id, review_id))
    if row is not None and row.user_id != user_id:
        raise Conflict(f"review {review_id} is claimed by {row.user_email}", code="review_claimed")
    if row is None:
        session.add(
            ReviewClaim(
                program_id=program_id,
                review_id=review_id,
                user_id=user_id,
                user_email=email,
                claimed_at=now,
            )
        )
        try:
            await session.flush()
        except IntegrityError as exc:
            # Another reviewer claimed it at the same moment: retried, and refused then.
            raise IdempotencyRace(str(exc)) from exc


async def check_claim(session: AsyncSession, program_id: str, review_id: int, user_id: int) -> None:
    """A decision on a review someone else has claimed is refused; a decided review needs no
    claim any more (the claim goes in the decision's transaction)."""
    row = await session.get(ReviewClaim, (program_id, review_id))
    if row is not None and row.user_id != user_id:
        raise Conflict(f"review {review_id} is claimed by {row.user_email}", code="review_claimed")
    if row is not None:
        await session.delete(row)
