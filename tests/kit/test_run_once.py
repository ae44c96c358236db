"""run_once: the first outcome under a key is final, failures included, and a failure leaves
no partial write behind."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.clock import FixedClock
from jifen.errors import InvalidInput
from jifen.kit import idempotency as idem
from jifen.programs.context import ProgramContext
from jifen.programs.models import AuditEntry
from jifen.programs.service import record_audit


async def _audits(s: AsyncSession, program_id: str) -> int:
    return int(await s.scalar(select(func.count()).where(AuditEntry.program_id == program_id)) or 0)


async def test_failure_is_stored_final_and_rolls_back_its_writes(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FixedClock, program: ProgramContext
) -> None:
    calls = 0

    async def failing(s: AsyncSession) -> idem.Outcome:
        nonlocal calls
        calls += 1
        await record_audit(
            s,
            program_id=program.id,
            actor="t",
            action="x",
            entity_type="t",
            entity_id="1",
            now=clock.now(),
        )
        await s.flush()
        raise InvalidInput("no", code="nope", field="f")

    async with sessionmaker() as s, s.begin():
        before = await _audits(s, program.id)
        first = await idem.run_once(
            s,
            program.id,
            key="k1",
            operation="op",
            payload={"a": 1},
            now=clock.now(),
            apply=lambda: failing(s),
        )
        assert first.status == 422
        assert first.body["code"] == "nope"
        assert await _audits(s, program.id) == before  # the savepoint undid the write
    async with sessionmaker() as s, s.begin():
        again = await idem.run_once(
            s,
            program.id,
            key="k1",
            operation="op",
            payload={"a": 1},
            now=clock.now(),
            apply=lambda: failing(s),
        )
        assert again.replayed
        assert again.body["code"] == "nope"
        other = await idem.run_once(
            s,
            program.id,
            key="k1",
            operation="op",
            payload={"a": 2},
            now=clock.now(),
            apply=lambda: failing(s),
        )
        assert other.status == 409
    assert calls == 1


async def test_raise_for_keeps_the_failed_outcome_problem() -> None:
    ok = idem.Outcome(201, {"id": 1})
    assert idem.raise_for(ok) is ok
    bad = idem.Outcome(422, {"code": "insufficient_points", "detail": "short", "status": 422})
    with pytest.raises(idem.OutcomeFailed) as info:
        idem.raise_for(bad)
    assert info.value.status == 422
    assert info.value.to_problem()["code"] == "insufficient_points"
