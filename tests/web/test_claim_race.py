"""Two reviewers claiming one review at the same moment: one holds it, the other is told who
does (409 review_claimed), never a server error."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.api.deps import Db
from jifen.clock import FixedClock
from jifen.errors import Conflict
from jifen.programs.context import ProgramContext
from jifen.users import service as users


async def test_concurrent_claims_leave_one_holder(
    backend: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FixedClock,
    program: ProgramContext,
) -> None:
    if backend != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises them)")
    db = Db(sessionmaker, clock)
    ids = []
    for n in range(2):
        email = f"r{n}-{uuid.uuid4().hex[:6]}@example.cn"
        user, _ = await db.write(
            lambda s, e=email: users.ensure_user(
                s, email=e, password="long-enough-pw", program_id=program.id,
                role="reviewer", now=clock.now(), actor="test",
            )
        )  # fmt: skip
        ids.append((user.id, email))

    async def claim(user_id: int, email: str) -> str:
        try:
            await db.write(
                lambda s: users.claim(
                    s, program.id, 7, user_id=user_id, email=email, now=clock.now()
                )
            )
        except Conflict as exc:
            return exc.code
        return "claimed"

    outcomes = await asyncio.gather(*(claim(u, e) for u, e in ids))
    assert sorted(outcomes) == ["claimed", "review_claimed"]
    async with sessionmaker() as s:
        holders = await users.claims(s, program.id)
    assert holders[7] in {e for _, e in ids}
