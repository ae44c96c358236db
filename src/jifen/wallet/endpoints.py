"""The cash wallet API: withdrawal requests (member and server), finance decisions, payables."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.api.deps import DbDep, IdempotencyHeader, ProgramDep, idempotency_key
from jifen.api.member_auth import MemberDep
from jifen.kit.idempotency import Outcome, run_once
from jifen.ledger.endpoints import PROBLEMS, respond
from jifen.ledger.repository import decode_cursor, encode_cursor
from jifen.members import service as members
from jifen.members.endpoints import MemberId
from jifen.programs.context import ProgramContext
from jifen.wallet import service
from jifen.wallet.schemas import (
    DecisionIn,
    PaidIn,
    PayableReport,
    RejectIn,
    WalletSettingsIn,
    WithdrawalIn,
    WithdrawalOut,
    WithdrawalPage,
    WithdrawalStatus,
)

router = APIRouter(prefix="/v1", tags=["wallet"])

WithdrawalIdPath = Annotated[int, Path(ge=1, le=2**62)]
Cursor = Annotated[str | None, Query(max_length=64)]
Limit = Annotated[int, Query(ge=1, le=200)]


@router.get("/wallet/settings", response_model=WalletSettingsIn, responses=PROBLEMS)
async def get_settings(program: ProgramDep, db: DbDep) -> WalletSettingsIn:
    return await db.read(lambda s: service.get_settings(s, program.id))


@router.put("/wallet/settings", response_model=WalletSettingsIn, responses=PROBLEMS)
async def save_settings(
    body: WalletSettingsIn, program: ProgramDep, db: DbDep, actor: str = "api"
) -> WalletSettingsIn:
    """Minimum and maximum withdrawal, daily limit per member, hold time (audited)."""
    now = db.now()
    return await db.write(lambda s: service.save_settings(s, program, body, now=now, actor=actor))


async def _request(
    db: DbDep, program: ProgramContext, member: str, body: WithdrawalIn, key: str
) -> JSONResponse:
    now = db.now()
    payload = {"member": member, **body.model_dump(mode="json", exclude={"idempotency_key"})}

    async def run(s: Any) -> Outcome:
        async def apply() -> Outcome:
            out = await service.request_withdrawal(
                s, program, member, body, request_key=key, now=now
            )
            return Outcome(201, out.model_dump(mode="json"))

        return await run_once(
            s, program.id, key=key, operation="wallet.withdraw", payload=payload, now=now,
            apply=apply,
        )  # fmt: skip

    return respond(await db.write(run))


@router.post(
    "/members/{member_id}/withdrawals",
    response_model=WithdrawalOut,
    status_code=201,
    responses=PROBLEMS,
)
async def request_withdrawal(
    member_id: MemberId,
    body: WithdrawalIn,
    program: ProgramDep,
    db: DbDep,
    header: IdempotencyHeader = None,
) -> JSONResponse:
    """Ask to withdraw cash: the amount is held until finance decides.

    Refused: ``below_minimum``, ``above_maximum``, ``daily_limit_exceeded``,
    ``insufficient_points`` (not enough cash available) (422)."""
    return await _request(
        db, program, member_id, body, idempotency_key(header, body.idempotency_key)
    )


@router.post("/me/withdrawals", response_model=WithdrawalOut, status_code=201, responses=PROBLEMS)
async def my_withdrawal(
    body: WithdrawalIn, who: MemberDep, db: DbDep, header: IdempotencyHeader = None
) -> JSONResponse:
    # Keys are unique per program: a member's own keys are namespaced by the member.
    key = f"me:{who.member_id}:{idempotency_key(header, body.idempotency_key)}"
    return await _request(db, who.program, who.member, body, key)


@router.get("/me/withdrawals", response_model=WithdrawalPage, responses=PROBLEMS)
async def my_withdrawals(
    who: MemberDep, db: DbDep, cursor: Cursor = None, limit: Limit = 50
) -> WithdrawalPage:
    return await _page(db, who.program.id, who.member_id, None, cursor, limit)


async def _page(
    db: DbDep,
    program_id: str,
    member_id: int | None,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> WithdrawalPage:
    after = decode_cursor(cursor)

    async def run(s: Any) -> WithdrawalPage:
        items, last = await service.list_withdrawals(
            s, program_id, member_id=member_id, status=status, after_id=after, limit=limit
        )
        return WithdrawalPage(
            items=items, next_cursor=encode_cursor(last) if last is not None else None
        )

    return await db.read(run)


@router.get("/withdrawals", response_model=WithdrawalPage, responses=PROBLEMS)
async def list_withdrawals(
    program: ProgramDep,
    db: DbDep,
    status: WithdrawalStatus | None = None,
    member: Annotated[str | None, Query(max_length=128)] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> WithdrawalPage:
    member_id = None
    if member is not None:
        ref = await db.read(lambda s: members.get(s, program.id, member))
        member_id = ref.id
    return await _page(db, program.id, member_id, status, cursor, limit)


@router.get("/withdrawals/{withdrawal_id}", response_model=WithdrawalOut, responses=PROBLEMS)
async def get_withdrawal(
    withdrawal_id: WithdrawalIdPath, program: ProgramDep, db: DbDep
) -> WithdrawalOut:
    return await db.read(lambda s: service.get_withdrawal(s, program.id, withdrawal_id))


async def _decide(
    db: DbDep,
    program: ProgramContext,
    withdrawal_id: int,
    operation: str,
    body: DecisionIn,
    key: str,
    act: Callable[[AsyncSession, datetime], Awaitable[WithdrawalOut | Outcome]],
) -> JSONResponse:
    now = db.now()
    payload = {
        "withdrawal_id": withdrawal_id,
        **body.model_dump(mode="json", exclude={"idempotency_key"}),
    }

    async def run(s: Any) -> Outcome:
        async def apply() -> Outcome:
            result = await act(s, now)
            if isinstance(result, Outcome):
                return result
            return Outcome(200, result.model_dump(mode="json"))

        return await run_once(
            s, program.id, key=key, operation=operation, payload=payload, now=now, apply=apply
        )

    return respond(await db.write(run))


@router.post(
    "/withdrawals/{withdrawal_id}/approve", response_model=WithdrawalOut, responses=PROBLEMS
)
async def approve(
    withdrawal_id: WithdrawalIdPath,
    body: DecisionIn,
    program: ProgramDep,
    db: DbDep,
    header: IdempotencyHeader = None,
) -> JSONResponse:
    """Finance approves: the held cash is captured (audited). ``withdrawal_not_requested`` (409)
    when already decided, ``withdrawal_expired`` (409) when the hold lapsed first."""
    key = idempotency_key(header, body.idempotency_key)
    return await _decide(
        db, program, withdrawal_id, "wallet.approve", body, key,
        lambda s, now: service.approve(
            s, program, withdrawal_id, operator=body.operator, now=now
        ),
    )  # fmt: skip


@router.post(
    "/withdrawals/{withdrawal_id}/reject", response_model=WithdrawalOut, responses=PROBLEMS
)
async def reject(
    withdrawal_id: WithdrawalIdPath,
    body: RejectIn,
    program: ProgramDep,
    db: DbDep,
    header: IdempotencyHeader = None,
) -> JSONResponse:
    """Finance rejects with a reason: the hold is voided and the cash is the member's again."""
    key = idempotency_key(header, body.idempotency_key)
    return await _decide(
        db, program, withdrawal_id, "wallet.reject", body, key,
        lambda s, now: service.reject(
            s, program, withdrawal_id, operator=body.operator, reason=body.reason, now=now
        ),
    )  # fmt: skip


@router.post("/withdrawals/{withdrawal_id}/paid", response_model=WithdrawalOut, responses=PROBLEMS)
async def mark_paid(
    withdrawal_id: WithdrawalIdPath,
    body: PaidIn,
    program: ProgramDep,
    db: DbDep,
    header: IdempotencyHeader = None,
) -> JSONResponse:
    """Record that an approved withdrawal was paid out, with the payment's reference."""
    key = idempotency_key(header, body.idempotency_key)
    return await _decide(
        db, program, withdrawal_id, "wallet.paid", body, key,
        lambda s, now: service.mark_paid(
            s, program, withdrawal_id, operator=body.operator,
            payout_reference=body.payout_reference, now=now,
        ),
    )  # fmt: skip


@router.get(
    "/wallet/payable",
    response_model=PayableReport,
    responses={**PROBLEMS, 200: {"content": {"text/csv": {}}}},
)
async def payable(program: ProgramDep, db: DbDep, format: Literal["json", "csv"] = "json") -> Any:
    """Approved-but-unpaid and pending withdrawals with totals; ``?format=csv`` for finance."""
    report = await db.read(lambda s: service.payable(s, program.id))
    if format == "csv":
        return Response(
            service.payable_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="payable-{program.id}.csv"'},
        )
    return report
