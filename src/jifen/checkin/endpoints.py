"""The check-in API: check in, make up a missed day, the month calendar, and settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.api.deps import Db, DbDep, IdempotencyHeader, ProgramDep, idempotency_key
from jifen.api.member_auth import MemberDep
from jifen.checkin import service
from jifen.checkin.schemas import (
    CalendarOut,
    CheckInIn,
    CheckInOut,
    CheckInSettingsIn,
    MakeUpIn,
    Month,
)
from jifen.kit.idempotency import Outcome, run_once
from jifen.ledger.endpoints import PROBLEMS, respond
from jifen.members.endpoints import MemberId
from jifen.programs.context import ProgramContext

router = APIRouter(prefix="/v1", tags=["checkin"])

MonthQuery = Annotated[Month | None, Query(description="yyyy-mm; the current month if omitted")]


async def _write(
    db: Db,
    program: ProgramContext,
    *,
    header: str | None,
    body_key: str | None,
    operation: str,
    payload: dict[str, Any],
    apply: Callable[[AsyncSession, datetime], Awaitable[Outcome]],
) -> JSONResponse:
    """A check-in write. It is idempotent by its day already; an ``Idempotency-Key``, when sent,
    also makes a retry return exactly the first response (failures included)."""
    key = idempotency_key(header, body_key) if header or body_key else None
    now = db.now()

    async def run(s: AsyncSession) -> Outcome:
        if key is None:
            return await apply(s, now)
        return await run_once(
            s, program.id, key=key, operation=operation, payload=payload, now=now,
            apply=lambda: apply(s, now),
        )  # fmt: skip

    return respond(await db.write(run))


async def _check_in(
    db: Db, program: ProgramContext, member: str, body: CheckInIn | None, header: str | None
) -> JSONResponse:
    return await _write(
        db,
        program,
        header=header,
        body_key=body.idempotency_key if body else None,
        operation="checkin",
        payload={"member": member},
        apply=lambda s, now: service.check_in(s, program, member=member, now=now),
    )


async def _make_up(
    db: Db, program: ProgramContext, member: str, body: MakeUpIn, header: str | None
) -> JSONResponse:
    return await _write(
        db,
        program,
        header=header,
        body_key=body.idempotency_key,
        operation="checkin.makeup",
        payload={"member": member, "day": body.day.isoformat()},
        apply=lambda s, now: service.make_up(s, program, member=member, day=body.day, now=now),
    )


CHECKIN_DOC = (
    "201 with what the check-in paid (rules, gift packs, badges); 200 with the first answer and "
    "`status: already_checked_in` when the member already checked in this local day."
)


@router.post(
    "/members/{member_id}/check-ins",
    status_code=201,
    response_model=CheckInOut,
    responses=PROBLEMS,
    description=CHECKIN_DOC,
)
async def check_in(
    member_id: MemberId,
    program: ProgramDep,
    db: DbDep,
    body: CheckInIn | None = None,
    key: IdempotencyHeader = None,
) -> JSONResponse:
    """Check a member in for today (the program's time zone)."""
    return await _check_in(db, program, member_id, body, key)


@router.post(
    "/me/check-ins",
    status_code=201,
    response_model=CheckInOut,
    responses=PROBLEMS,
    description=CHECKIN_DOC,
)
async def my_check_in(
    who: MemberDep, db: DbDep, body: CheckInIn | None = None, key: IdempotencyHeader = None
) -> JSONResponse:
    """Check in for today, as the member of the token."""
    return await _check_in(db, who.program, who.member, body, key)


@router.post(
    "/members/{member_id}/check-ins/makeups",
    status_code=201,
    response_model=CheckInOut,
    responses=PROBLEMS,
)
async def make_up(
    member_id: MemberId,
    body: MakeUpIn,
    program: ProgramDep,
    db: DbDep,
    key: IdempotencyHeader = None,
) -> JSONResponse:
    """Make up (补签) a missed day of the current month for the program's points cost."""
    return await _make_up(db, program, member_id, body, key)


@router.post(
    "/me/check-ins/makeups", status_code=201, response_model=CheckInOut, responses=PROBLEMS
)
async def my_make_up(
    body: MakeUpIn, who: MemberDep, db: DbDep, key: IdempotencyHeader = None
) -> JSONResponse:
    """Make up a missed day of the current month, as the member of the token."""
    return await _make_up(db, who.program, who.member, body, key)


@router.get("/members/{member_id}/check-ins", response_model=CalendarOut, responses=PROBLEMS)
async def calendar(
    member_id: MemberId, program: ProgramDep, db: DbDep, month: MonthQuery = None
) -> CalendarOut:
    """A month of check-ins: each day checked, made up, missed, today or future; the streak,
    the totals and the make-ups left this month."""
    now = db.now()
    return await db.read(
        lambda s: service.calendar(s, program, member=member_id, month=month, now=now)
    )


@router.get("/me/check-ins", response_model=CalendarOut, responses=PROBLEMS)
async def my_calendar(who: MemberDep, db: DbDep, month: MonthQuery = None) -> CalendarOut:
    now = db.now()
    return await db.read(
        lambda s: service.calendar(s, who.program, member=who.member, month=month, now=now)
    )


@router.get("/check-in/settings", response_model=CheckInSettingsIn, responses=PROBLEMS)
async def get_settings(program: ProgramDep, db: DbDep) -> CheckInSettingsIn:
    return await db.read(lambda s: service.get_settings(s, program.id))


@router.put("/check-in/settings", response_model=CheckInSettingsIn, responses=PROBLEMS)
async def save_settings(
    body: CheckInSettingsIn, program: ProgramDep, db: DbDep, actor: str = "api"
) -> CheckInSettingsIn:
    """Make-up cost and monthly limit, and the streak gift packs (audited)."""
    now = db.now()
    return await db.write(lambda s: service.save_settings(s, program, body, now=now, actor=actor))
