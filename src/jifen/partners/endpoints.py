"""The partner exchange API: partner programs, exchanges out and in, settlement reports."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from jifen.api.deps import DbDep, IdempotencyHeader, ProgramDep, idempotency_key
from jifen.api.member_auth import MemberDep
from jifen.kit.idempotency import Outcome, run_once
from jifen.ledger.endpoints import PROBLEMS, respond
from jifen.partners import service
from jifen.partners.schemas import (
    ExchangeIn,
    ExchangeOut,
    MyExchangeIn,
    PartnerIn,
    PartnerOut,
    SettlementOut,
)
from jifen.programs.context import ProgramContext

router = APIRouter(prefix="/v1", tags=["partners"])

PartnerPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,22}$")]


@router.put("/partners/{partner_id}", response_model=PartnerOut, responses=PROBLEMS)
async def save_partner(
    partner_id: PartnerPath, body: PartnerIn, program: ProgramDep, db: DbDep, actor: str = "api"
) -> PartnerOut:
    """Create or change a partner program: rates each way, minimums, daily limits (audited)."""
    now = db.now()
    return await db.write(
        lambda s: service.save_partner(s, program, partner_id, body, now=now, actor=actor)
    )


@router.get("/partners", response_model=list[PartnerOut], responses=PROBLEMS)
async def list_partners(program: ProgramDep, db: DbDep) -> list[PartnerOut]:
    return await db.read(lambda s: service.list_partners(s, program.id))


@router.get("/partners/{partner_id}", response_model=PartnerOut, responses=PROBLEMS)
async def get_partner(partner_id: PartnerPath, program: ProgramDep, db: DbDep) -> PartnerOut:
    return await db.read(lambda s: service.get_partner(s, program.id, partner_id))


async def _exchange(
    db: DbDep,
    program: ProgramContext,
    partner_id: str,
    direction: str,
    member: str,
    units: int,
    reference: str | None,
    key: str,
) -> JSONResponse:
    now = db.now()
    payload = {"partner": partner_id, "member": member, "units": units, "reference": reference}

    async def run(s: Any) -> Outcome:
        async def apply() -> Outcome:
            out = await service.exchange(
                s, program, partner_id, direction=direction, member=member, units=units,
                partner_reference=reference, request_key=key, now=now,
            )  # fmt: skip
            return Outcome(201, out.model_dump(mode="json"))

        return await run_once(
            s, program.id, key=key, operation=f"partners.exchange_{direction}", payload=payload,
            now=now, apply=apply,
        )  # fmt: skip

    return respond(await db.write(run))


@router.post(
    "/partners/{partner_id}/exchange-out",
    response_model=ExchangeOut,
    status_code=201,
    responses=PROBLEMS,
)
async def exchange_out(
    partner_id: PartnerPath,
    body: ExchangeIn,
    program: ProgramDep,
    db: DbDep,
    header: IdempotencyHeader = None,
) -> JSONResponse:
    """Debit the member the points ``units`` partner units cost; the units are owed at the
    partner. Refused: ``partner_not_found`` (404), ``partner_inactive`` (409),
    ``below_minimum``, ``daily_limit_exceeded``, ``insufficient_points`` (422)."""
    key = idempotency_key(header, body.idempotency_key)
    return await _exchange(
        db, program, partner_id, "out", body.member, body.units, body.partner_reference, key
    )


@router.post(
    "/partners/{partner_id}/exchange-in",
    response_model=ExchangeOut,
    status_code=201,
    responses=PROBLEMS,
)
async def exchange_in(
    partner_id: PartnerPath,
    body: ExchangeIn,
    program: ProgramDep,
    db: DbDep,
    header: IdempotencyHeader = None,
) -> JSONResponse:
    """Credit the member the points ``units`` received from the partner are worth."""
    key = idempotency_key(header, body.idempotency_key)
    return await _exchange(
        db, program, partner_id, "in", body.member, body.units, body.partner_reference, key
    )


@router.post(
    "/me/partners/{partner_id}/exchange-out",
    response_model=ExchangeOut,
    status_code=201,
    responses=PROBLEMS,
)
async def my_exchange_out(
    partner_id: PartnerPath,
    body: MyExchangeIn,
    who: MemberDep,
    db: DbDep,
    header: IdempotencyHeader = None,
) -> JSONResponse:
    key = f"me:{who.member_id}:{idempotency_key(header, body.idempotency_key)}"
    return await _exchange(db, who.program, partner_id, "out", who.member, body.units, None, key)


@router.get("/partners/{partner_id}/settlement", response_model=SettlementOut, responses=PROBLEMS)
async def settlement(
    partner_id: PartnerPath,
    program: ProgramDep,
    db: DbDep,
    from_: Annotated[date, Query(alias="from", description="First local day")],
    to: Annotated[date, Query(description="Last local day, included")],
) -> SettlementOut:
    """Units and points out and in with the partner over a period of local days, and the net."""
    return await db.read(lambda s: service.settlement(s, program, partner_id, from_, to))
