"""Partner exchange: members trade points for a partner's units (out) and back (in).

Each exchange is one ledger transaction against the partner's own system account
``partner:<id>`` (a debit out, a credit in, referenced ``partner:<id>``), recorded with the
units and rate it used, so a settlement report per partner and period is one grouped query.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.clock import local_date, start_of_local_day
from jifen.errors import Conflict, InvalidInput, NotFound, Unprocessable
from jifen.kit.idempotency import Outcome, derived_key, raise_for
from jifen.kit.money import to_units
from jifen.ledger import service as ledger
from jifen.ledger.schemas import MAX_AMOUNT, CreditIn, DebitIn
from jifen.members import service as members
from jifen.partners.models import Partner, PartnerExchange
from jifen.partners.schemas import ExchangeOut, PartnerIn, PartnerOut, SettlementOut
from jifen.programs.context import ProgramContext
from jifen.programs.service import record_audit

ASSET = "points"


class ExchangeRefused(Unprocessable):
    default_code = "exchange_refused"
    title = "Exchange refused"


def _plain(value: Decimal) -> Decimal:
    """A rate as an operator wrote it: ``10`` rather than ``10.000000`` (as stored)."""
    value = Decimal(value)
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _out(row: Partner) -> PartnerOut:
    return PartnerOut(
        id=row.partner_id,
        name=row.name,
        rate_out=_plain(row.rate_out),
        rate_in=_plain(row.rate_in),
        min_units_out=row.min_units_out,
        min_units_in=row.min_units_in,
        daily_units_out=row.daily_units_out,
        daily_units_in=row.daily_units_in,
        active=row.active,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _partner(session: AsyncSession, program_id: str, partner_id: str) -> Partner:
    row = (
        await session.scalars(
            select(Partner).where(
                Partner.program_id == program_id, Partner.partner_id == partner_id
            )
        )
    ).first()
    if row is None:
        raise NotFound(
            f"partner {partner_id!r} not found", code="partner_not_found", field="partner_id"
        )
    return row


async def get_partner(session: AsyncSession, program_id: str, partner_id: str) -> PartnerOut:
    return _out(await _partner(session, program_id, partner_id))


async def list_partners(session: AsyncSession, program_id: str) -> list[PartnerOut]:
    rows = await session.scalars(
        select(Partner).where(Partner.program_id == program_id).order_by(Partner.partner_id)
    )
    return [_out(r) for r in rows]


async def save_partner(
    session: AsyncSession,
    ctx: ProgramContext,
    partner_id: str,
    data: PartnerIn,
    *,
    now: datetime,
    actor: str,
) -> PartnerOut:
    try:
        row = await _partner(session, ctx.id, partner_id)
        before = _out(row).model_dump(mode="json", exclude={"created_at", "updated_at"})
    except NotFound:
        row = Partner(program_id=ctx.id, partner_id=partner_id, created_at=now)
        session.add(row)
        before = None
    for name, value in data.model_dump().items():
        setattr(row, name, value)
    row.updated_at = now
    await record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="partners.save",
        entity_type="partner",
        entity_id=partner_id,
        now=now,
        before=before,
        after=data.model_dump(mode="json"),
    )
    await session.flush()
    return _out(row)


async def exchange(
    session: AsyncSession,
    ctx: ProgramContext,
    partner_id: str,
    *,
    direction: str,
    member: str,
    units: int,
    partner_reference: str | None,
    request_key: str,
    now: datetime,
) -> ExchangeOut:
    """Exchange ``units`` of the partner's currency: ``out`` debits the member the points they
    cost and records the units owed at the partner; ``in`` credits the points they are worth."""
    partner = await _partner(session, ctx.id, partner_id)
    if not partner.active:
        raise Conflict(f"partner {partner_id!r} is inactive", code="partner_inactive")
    outbound = direction == "out"
    rate = _plain(partner.rate_out if outbound else partner.rate_in)
    minimum = partner.min_units_out if outbound else partner.min_units_in
    daily = partner.daily_units_out if outbound else partner.daily_units_in
    if units < minimum:
        raise ExchangeRefused(
            f"the smallest exchange {direction} is {minimum} units",
            code="below_minimum",
            field="units",
            extra={"min_units": minimum},
        )
    points = to_units(units * rate, ctx.settings.rounding)
    if points > MAX_AMOUNT:
        raise InvalidInput(
            f"{units} units are worth more points than one transaction may move",
            code="invalid_amount",
            field="units",
        )
    if points <= 0:
        raise InvalidInput(
            f"{units} units are worth no whole point at rate {rate}",
            code="amount_too_small",
            field="units",
        )
    # An inbound exchange may introduce a member (as any credit does, by program setting).
    refs = await members.resolve(
        session, ctx.id, [member], create=not outbound and ctx.settings.auto_create_members, now=now
    )
    ref = refs[member]
    # The member's row lock serialises their exchanges, so the daily limit holds under load.
    await members.by_ids(session, ctx.id, [ref.id], lock=True)
    if daily is not None:
        tz = ctx.settings.timezone
        today = local_date(now, tz)
        # The next local midnight, not start + 24 h: a day across a DST change is 23 or 25 hours.
        start = start_of_local_day(today, tz)
        end = start_of_local_day(today + timedelta(days=1), tz)
        used = int(
            await session.scalar(
                select(func.coalesce(func.sum(PartnerExchange.units), 0)).where(
                    PartnerExchange.program_id == ctx.id,
                    PartnerExchange.member_id == ref.id,
                    PartnerExchange.partner_id == partner_id,
                    PartnerExchange.direction == direction,
                    PartnerExchange.created_at >= start,
                    PartnerExchange.created_at < end,
                )
            )
            or 0
        )
        if used + units > daily:
            raise ExchangeRefused(
                f"a member may exchange {daily} units {direction} a day; {used} already today",
                code="daily_limit_exceeded",
                field="units",
                extra={"daily_units": daily, "used": used},
            )
    account = f"partner:{partner_id}"
    meta = {"partner": partner_id, "units": units, "rate": str(rate)}
    outcome: Outcome
    if outbound:
        outcome = (
            await ledger.debit(
                session,
                ctx,
                [
                    DebitIn(
                        idempotency_key=derived_key("partner-out", request_key),
                        member=member,
                        asset=ASSET,
                        amount=points,
                        reason=f"exchange to {partner.name}: {units} units",
                        reference=account,
                        meta=meta,
                        counter=account,
                    )
                ],
                now=now,
            )
        )[0]
    else:
        outcome = (
            await ledger.credit(
                session,
                ctx,
                [
                    CreditIn(
                        idempotency_key=derived_key("partner-in", request_key),
                        member=member,
                        asset=ASSET,
                        amount=points,
                        reason=f"exchange from {partner.name}: {units} units",
                        reference=account,
                        meta=meta,
                        source=account,
                    )
                ],
                now=now,
            )
        )[0]
    raise_for(outcome)
    row = PartnerExchange(
        program_id=ctx.id,
        partner_id=partner_id,
        member_id=ref.id,
        direction=direction,
        units=units,
        points=points,
        rate=rate,
        partner_reference=partner_reference,
        transaction_id=uuid.UUID(str(outcome.body["id"])),
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return ExchangeOut(
        id=row.id,
        partner=partner_id,
        member=member,
        direction=direction,
        units=units,
        points=points,
        rate=rate,
        partner_reference=partner_reference,
        transaction_id=str(outcome.body["id"]),
        balance=outcome.body.get("balance"),
        created_at=now,
    )


async def settlement(
    session: AsyncSession, ctx: ProgramContext, partner_id: str, start: date, end: date
) -> SettlementOut:
    """Units and points each way between the local dates ``start`` and ``end`` (inclusive)."""
    if end < start:
        raise InvalidInput("to must not be before from", code="invalid_period", field="to")
    await _partner(session, ctx.id, partner_id)
    tz = ctx.settings.timezone
    try:
        lo = start_of_local_day(start, tz)
        hi = start_of_local_day(end + timedelta(days=1), tz)
    except (OverflowError, ValueError) as exc:
        raise InvalidInput("the period is out of range", code="invalid_period", field="to") from exc
    sums = {
        str(direction): (int(n), int(units or 0), int(points or 0))
        for direction, n, units, points in await session.execute(
            select(
                PartnerExchange.direction,
                func.count(),
                func.sum(PartnerExchange.units),
                func.sum(PartnerExchange.points),
            )
            .where(
                PartnerExchange.program_id == ctx.id,
                PartnerExchange.partner_id == partner_id,
                PartnerExchange.created_at >= lo,
                PartnerExchange.created_at < hi,
            )
            .group_by(PartnerExchange.direction)
        )
    }
    n_out, units_out, points_out = sums.get("out", (0, 0, 0))
    n_in, units_in, points_in = sums.get("in", (0, 0, 0))
    return SettlementOut(
        partner=partner_id,
        from_date=start,
        to_date=end,
        timezone=tz,
        exchanges_out=n_out,
        units_out=units_out,
        points_out=points_out,
        exchanges_in=n_in,
        units_in=units_in,
        points_in=points_in,
        net_units=units_out - units_in,
        net_points=points_out - points_in,
    )
