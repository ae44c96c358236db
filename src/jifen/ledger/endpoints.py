"""Ledger API: credit, debit, holds, reversal, adjustment, transfer, balances, statement, verify."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from jifen.api.deps import DbDep, IdempotencyHeader, ProgramDep, idempotency_key
from jifen.api.problems import PROBLEM
from jifen.kit.idempotency import Outcome
from jifen.ledger import repository, service
from jifen.ledger import verify as verify_mod
from jifen.ledger.schemas import (
    AdjustIn,
    BatchItemResult,
    CaptureIn,
    CreditIn,
    DebitIn,
    HoldIn,
    HoldOut,
    IdempotencyKey,
    LotOut,
    MemberBalancesOut,
    ReverseIn,
    StatementPage,
    TransactionOut,
    TransferIn,
    VoidIn,
)
from jifen.members import service as members

M = TypeVar("M", bound=BaseModel)

router = APIRouter(prefix="/v1", tags=["ledger"])

PROBLEMS: dict[int | str, dict[str, Any]] = {
    s: {"description": d, "content": {PROBLEM: {}}}
    for s, d in (
        (400, "Bad request (e.g. idempotency_key_required)"),
        (401, "invalid_api_key"),
        (404, "member_not_found, transaction_not_found, hold_not_found"),
        (409, "idempotency_conflict, hold_not_active, not_reversible, already_reversed"),
        (422, "validation_error, invalid_amount, insufficient_points, unknown_asset"),
    )
}


def respond(outcome: Outcome) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    media = PROBLEM if outcome.status >= 400 else "application/json"
    return JSONResponse(outcome.body, status_code=outcome.status, media_type=media, headers=headers)


class CreditBody(CreditIn):
    idempotency_key: IdempotencyKey | None = None  # type: ignore[assignment]


class DebitBody(DebitIn):
    idempotency_key: IdempotencyKey | None = None  # type: ignore[assignment]


class HoldBody(HoldIn):
    idempotency_key: IdempotencyKey | None = None  # type: ignore[assignment]


class CaptureBody(CaptureIn):
    idempotency_key: IdempotencyKey | None = None  # type: ignore[assignment]


class VoidBody(VoidIn):
    idempotency_key: IdempotencyKey | None = None  # type: ignore[assignment]


class ReverseBody(ReverseIn):
    idempotency_key: IdempotencyKey | None = None  # type: ignore[assignment]


class AdjustBody(AdjustIn):
    idempotency_key: IdempotencyKey | None = None  # type: ignore[assignment]


class TransferBody(TransferIn):
    idempotency_key: IdempotencyKey | None = None  # type: ignore[assignment]


def _keyed(model: type[M], body: BaseModel, header: str | None) -> M:
    key = idempotency_key(header, getattr(body, "idempotency_key", None))
    return model.model_validate({**body.model_dump(), "idempotency_key": key})


class CreditBatch(BaseModel):
    items: list[CreditIn] = Field(min_length=1, max_length=1000)


class DebitBatch(BaseModel):
    items: list[DebitIn] = Field(min_length=1, max_length=1000)


class BatchResult(BaseModel):
    results: list[BatchItemResult]


@router.post("/credits", status_code=201, response_model=TransactionOut, responses=PROBLEMS)
async def credit(
    body: CreditBody, program: ProgramDep, db: DbDep, key: IdempotencyHeader = None
) -> JSONResponse:
    """Credit a member: a new lot that expires by the program's policy (or ``expires_at``)."""
    item = _keyed(CreditIn, body, key)
    return respond(await db.combiner.outcome("credit", program, item))


@router.post("/credits/batch", response_model=BatchResult, responses=PROBLEMS)
async def credit_batch(body: CreditBatch, program: ProgramDep, db: DbDep) -> BatchResult:
    """Up to 1,000 credits in one transaction; one result per item, in order."""
    now = db.now()
    outcomes = await db.write(lambda s: service.credit(s, program, body.items, now=now))
    return BatchResult(results=[BatchItemResult(status=o.status, body=o.body) for o in outcomes])


@router.post("/debits", status_code=201, response_model=TransactionOut, responses=PROBLEMS)
async def debit(
    body: DebitBody, program: ProgramDep, db: DbDep, key: IdempotencyHeader = None
) -> JSONResponse:
    """Spend points, soonest-expiring lots first."""
    item = _keyed(DebitIn, body, key)
    return respond(await db.combiner.outcome("debit", program, item))


@router.post("/debits/batch", response_model=BatchResult, responses=PROBLEMS)
async def debit_batch(body: DebitBatch, program: ProgramDep, db: DbDep) -> BatchResult:
    now = db.now()
    outcomes = await db.write(lambda s: service.debit(s, program, body.items, now=now))
    return BatchResult(results=[BatchItemResult(status=o.status, body=o.body) for o in outcomes])


@router.post("/holds", status_code=201, response_model=HoldOut, responses=PROBLEMS)
async def create_hold(
    body: HoldBody, program: ProgramDep, db: DbDep, key: IdempotencyHeader = None
) -> JSONResponse:
    """Reserve points with a time-out; capture or void it later, or let it lapse."""
    item = _keyed(HoldIn, body, key)
    return respond(await db.combiner.outcome("hold", program, item))


@router.get("/holds/{hold_id}", response_model=HoldOut, responses=PROBLEMS)
async def get_hold(hold_id: uuid.UUID, program: ProgramDep, db: DbDep) -> HoldOut:
    now = db.now()
    return await db.read(lambda s: repository.get_hold(s, program.id, hold_id, now=now))


@router.post(
    "/holds/{hold_id}/capture", status_code=201, response_model=TransactionOut, responses=PROBLEMS
)
async def capture_hold(
    hold_id: uuid.UUID,
    body: CaptureBody,
    program: ProgramDep,
    db: DbDep,
    key: IdempotencyHeader = None,
) -> JSONResponse:
    """Capture all of a hold, or part of it (the rest is released)."""
    item = _keyed(CaptureIn, body, key)
    now = db.now()
    return respond(await db.write(lambda s: service.capture(s, program, hold_id, item, now=now)))


@router.post("/holds/{hold_id}/void", response_model=HoldOut, responses=PROBLEMS)
async def void_hold(
    hold_id: uuid.UUID,
    body: VoidBody,
    program: ProgramDep,
    db: DbDep,
    key: IdempotencyHeader = None,
) -> JSONResponse:
    item = _keyed(VoidIn, body, key)
    now = db.now()
    return respond(await db.write(lambda s: service.void(s, program, hold_id, item, now=now)))


@router.get("/transactions/{transaction_id}", responses=PROBLEMS)
async def get_transaction(
    transaction_id: uuid.UUID, program: ProgramDep, db: DbDep
) -> dict[str, Any]:
    """A transaction with its postings, hash and chain position."""
    return await db.read(lambda s: repository.get_transaction(s, program.id, transaction_id))


@router.post(
    "/transactions/{transaction_id}/reverse",
    status_code=201,
    response_model=TransactionOut,
    responses=PROBLEMS,
)
async def reverse(
    transaction_id: uuid.UUID,
    body: ReverseBody,
    program: ProgramDep,
    db: DbDep,
    key: IdempotencyHeader = None,
) -> JSONResponse:
    """Reverse all or part of a credit, debit, capture or adjustment."""
    item = _keyed(ReverseIn, body, key)
    now = db.now()
    return respond(
        await db.write(lambda s: service.reverse(s, program, transaction_id, item, now=now))
    )


@router.post("/adjustments", status_code=201, response_model=TransactionOut, responses=PROBLEMS)
async def adjust(
    body: AdjustBody, program: ProgramDep, db: DbDep, key: IdempotencyHeader = None
) -> JSONResponse:
    """A manual correction (positive or negative) by a named operator with a reason."""
    item = _keyed(AdjustIn, body, key)
    now = db.now()
    return respond(await db.write(lambda s: service.adjust(s, program, item, now=now)))


@router.post("/transfers", status_code=201, response_model=TransactionOut, responses=PROBLEMS)
async def transfer(
    body: TransferBody, program: ProgramDep, db: DbDep, key: IdempotencyHeader = None
) -> JSONResponse:
    """Move points from one member to another; expiry dates travel with them."""
    item = _keyed(TransferIn, body, key)
    now = db.now()
    return respond(await db.write(lambda s: service.transfer(s, program, item, now=now)))


@router.get("/members/{member_id}/balances", response_model=MemberBalancesOut, responses=PROBLEMS)
async def balances(member_id: str, program: ProgramDep, db: DbDep) -> MemberBalancesOut:
    """Balance, held and available per asset, and the points that expire soonest."""
    now = db.now()

    async def run(s: Any) -> MemberBalancesOut:
        member = await members.get(s, program.id, member_id)
        return await repository.balances(s, program.id, member, now=now)

    return await db.read(run)


@router.get("/members/{member_id}/statement", response_model=StatementPage, responses=PROBLEMS)
async def statement(
    member_id: str,
    program: ProgramDep,
    db: DbDep,
    asset: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> StatementPage:
    """The member's statement (流水), newest first; pass ``next_cursor`` back for the next page."""

    async def run(s: Any) -> StatementPage:
        member = await members.get(s, program.id, member_id)
        return await repository.statement(
            s, program.id, member, asset=asset, cursor=cursor, limit=limit
        )

    return await db.read(run)


@router.get("/members/{member_id}/lots", response_model=list[LotOut], responses=PROBLEMS)
async def member_lots(
    member_id: str, program: ProgramDep, db: DbDep, include_spent: bool = False
) -> list[LotOut]:
    """The member's lots (积分批次) in spending order."""

    async def run(s: Any) -> list[LotOut]:
        member = await members.get(s, program.id, member_id)
        return await repository.lots(s, program.id, member, include_spent=include_spent)

    return await db.read(run)


@router.get("/members/{member_id}/holds", response_model=list[HoldOut], responses=PROBLEMS)
async def member_holds(
    member_id: str,
    program: ProgramDep,
    db: DbDep,
    status: Annotated[str | None, Query(max_length=16)] = None,
) -> list[HoldOut]:
    async def run(s: Any) -> list[HoldOut]:
        member = await members.get(s, program.id, member_id)
        return await repository.member_holds(s, program.id, member, status=status)

    return await db.read(run)


class VerifyOut(BaseModel):
    ok: bool
    summary: str
    transactions: int
    sealed: int
    postings: int
    accounts: int
    lots: int
    breaches: list[dict[str, str]]


@router.get("/ledger/verify", response_model=VerifyOut, responses=PROBLEMS)
async def verify(program: ProgramDep, db: DbDep) -> VerifyOut:
    """Check conservation, balances, lots, holds and the hash chain of this program's ledger."""
    report = await db.read(lambda s: verify_mod.verify(s, program.id))
    return VerifyOut(
        ok=report.ok,
        summary=report.summary(),
        transactions=report.transactions,
        sealed=report.sealed,
        postings=report.postings,
        accounts=report.accounts,
        lots=report.lots,
        breaches=[
            {"check": b.check, "subject": b.subject, "detail": b.detail} for b in report.breaches
        ],
    )
