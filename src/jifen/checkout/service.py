"""Checkout deduction (积分抵扣): quote how many points an order can take, hold them, capture the
hold when the order is paid or void it when not, and give points back in proportion to refunds.

Every point movement is a ledger operation (hold, capture, void, reverse) under a key derived from
the deduction's own id, so a retried request never moves points twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.checkout.models import CheckoutSettings, Deduction
from jifen.checkout.schemas import (
    CheckoutSettingsIn,
    CheckoutSettingsOut,
    DeductionIn,
    DeductionOut,
    QuoteOut,
    RefundOut,
)
from jifen.db.engine import is_postgres
from jifen.errors import Conflict, InvalidAmount, NotFound, Unprocessable
from jifen.kit.idempotency import raise_for
from jifen.kit.ids import uuid7
from jifen.kit.money import to_units
from jifen.kit.sql import insert_ignore
from jifen.ledger import repository as ledger_repository
from jifen.ledger import service as ledger
from jifen.ledger.schemas import CaptureIn, HoldIn, ReverseIn, VoidIn
from jifen.members import service as members
from jifen.members.models import Member
from jifen.programs.context import ProgramContext
from jifen.programs.service import record_audit


class DeductionNotFound(NotFound):
    default_code = "deduction_not_found"


class DeductionNotActive(Conflict):
    default_code = "deduction_not_active"
    title = "Deduction is not in a state that allows this"


class DeductionRefused(Unprocessable):
    title = "Deduction refused"


@dataclass(frozen=True, slots=True)
class Rates:
    point_value_fen: Decimal
    from_program: bool
    max_share: Decimal
    min_points: int
    step: int
    enabled: bool
    updated_at: datetime | None


async def _settings_row(
    session: AsyncSession, program_id: str, *, lock: bool = False
) -> CheckoutSettings | None:
    stmt = select(CheckoutSettings).where(CheckoutSettings.program_id == program_id)
    if lock and is_postgres(session):
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt)).first()


async def rates(session: AsyncSession, ctx: ProgramContext) -> Rates:
    row = await _settings_row(session, ctx.id)
    defaults = CheckoutSettingsIn()
    if row is None:
        return Rates(
            ctx.settings.point_value_fen,
            True,
            defaults.max_share,
            defaults.min_points,
            defaults.step,
            defaults.enabled,
            None,
        )
    return Rates(
        row.point_value_fen if row.point_value_fen is not None else ctx.settings.point_value_fen,
        row.point_value_fen is None,
        Decimal(row.max_share),
        row.min_points,
        row.step,
        row.enabled,
        row.updated_at,
    )


def _plain(value: Decimal) -> Decimal:
    """A decimal without the column's trailing zeros (``0.5000`` → ``0.5``, ``20.0000`` → ``20``)."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def settings_out(ctx: ProgramContext, r: Rates) -> CheckoutSettingsOut:
    return CheckoutSettingsOut(
        point_value_fen=_plain(r.point_value_fen),
        point_value_from_program=r.from_program,
        max_share=_plain(r.max_share),
        min_points=r.min_points,
        step=r.step,
        enabled=r.enabled,
        rounding=ctx.settings.rounding,
        updated_at=r.updated_at,
    )


async def save_settings(
    session: AsyncSession,
    ctx: ProgramContext,
    data: CheckoutSettingsIn,
    *,
    now: datetime,
    actor: str,
) -> CheckoutSettingsOut:
    inserted = await session.execute(
        insert_ignore(session, CheckoutSettings)
        .values(program_id=ctx.id, updated_at=now, **data.model_dump())
        .returning(CheckoutSettings.id)
    )
    created = inserted.first() is not None
    row = await _settings_row(session, ctx.id, lock=True)
    assert row is not None
    before = None
    if not created:
        before = settings_out(ctx, await rates(session, ctx)).model_dump(mode="json")
        for name, value in data.model_dump().items():
            setattr(row, name, value)
        row.updated_at = now
    await session.flush()
    out = settings_out(ctx, await rates(session, ctx))
    await record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="checkout.settings.save",
        entity_type="checkout_settings",
        entity_id=ctx.id,
        now=now,
        before=before,
        after=out.model_dump(mode="json"),
    )
    return out


# --- quote ------------------------------------------------------------------------------------


def cap_points(r: Rates, order_amount_fen: int) -> int:
    """The most points the share cap and the step allow on an order, whatever the balance."""
    if r.point_value_fen <= 0:
        return 0
    cap_fen = (Decimal(order_amount_fen) * r.max_share).to_integral_value(rounding=ROUND_FLOOR)
    points = int((cap_fen / r.point_value_fen).to_integral_value(rounding=ROUND_FLOOR))
    return points - points % r.step


def points_fen(ctx: ProgramContext, r: Rates, points: int) -> int:
    """What ``points`` pay, in fen, by the program's rounding."""
    return to_units(Decimal(points) * r.point_value_fen, ctx.settings.rounding)


async def _available(
    session: AsyncSession, ctx: ProgramContext, member: Member, now: datetime
) -> int:
    balances = await ledger_repository.balances(session, ctx.id, member, now=now)
    return next((b.available for b in balances.balances if b.asset == "points"), 0)


async def quote(
    session: AsyncSession,
    ctx: ProgramContext,
    member: Member,
    order_amount_fen: int,
    *,
    now: datetime,
) -> QuoteOut:
    """The most points this member can use on an order of this amount, and the fen they pay."""
    r = await rates(session, ctx)
    available = max(await _available(session, ctx, member, now), 0)
    points = min(available, cap_points(r, order_amount_fen))
    points -= points % r.step
    reason = None
    if not r.enabled:
        points, reason = 0, "checkout_disabled"
    elif available == 0:
        reason = "no_points"
    elif points < max(r.min_points, 1):
        points, reason = 0, "below_minimum"
    return QuoteOut(
        member=member.external_id,
        order_amount_fen=order_amount_fen,
        available_points=available,
        point_value_fen=_plain(r.point_value_fen),
        max_points=points,
        max_fen=points_fen(ctx, r, points),
        min_points=r.min_points,
        step=r.step,
        reason=reason,
    )


# --- deductions -------------------------------------------------------------------------------


def deduction_out(row: Deduction, external_id: str, now: datetime) -> DeductionOut:
    status = row.status
    if status == "held" and row.expires_at <= now:
        status = "lapsed"
    return DeductionOut(
        id=row.id,
        order_id=row.order_id,
        member=external_id,
        order_amount_fen=row.order_amount_fen,
        points=row.points,
        fen=row.fen,
        status=status,
        hold_id=row.hold_id,
        expires_at=row.expires_at,
        capture_transaction_id=row.capture_transaction_id,
        refunded_fen=row.refunded_fen,
        refunded_points=row.refunded_points,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _row(
    session: AsyncSession, program_id: str, order_id: str, *, lock: bool = False
) -> tuple[Deduction, str]:
    stmt = (
        select(Deduction, Member.external_id)
        .join(Member, Member.id == Deduction.member_id)
        .where(Deduction.program_id == program_id, Deduction.order_id == order_id)
    )
    if lock and is_postgres(session):
        stmt = stmt.with_for_update(of=Deduction)
    found = (await session.execute(stmt)).first()
    if found is None:
        raise DeductionNotFound(
            f"no deduction for order {order_id!r}", field="order_id", extra={"order_id": order_id}
        )
    return found[0], found[1]


async def get_deduction(
    session: AsyncSession, program_id: str, order_id: str, *, now: datetime
) -> DeductionOut:
    row, external_id = await _row(session, program_id, order_id)
    return deduction_out(row, external_id, now)


def _exists(order_id: str) -> Conflict:
    return Conflict(
        f"order {order_id!r} already has a deduction", code="deduction_exists", field="order_id"
    )


async def create(
    session: AsyncSession, ctx: ProgramContext, data: DeductionIn, *, now: datetime
) -> DeductionOut:
    """Hold ``points`` for the order; they are spent on capture, freed on void or time-out."""
    member = await members.get(session, ctx.id, data.member)
    existing = (
        await session.scalars(
            select(Deduction).where(
                Deduction.program_id == ctx.id, Deduction.order_id == data.order_id
            )
        )
    ).first()
    if existing is not None:
        raise _exists(data.order_id)
    r = await rates(session, ctx)
    if not r.enabled:
        raise DeductionRefused("checkout deduction is disabled", code="checkout_disabled")
    if data.points < r.min_points:
        raise DeductionRefused(
            f"at least {r.min_points} points must be used",
            code="below_minimum_points",
            field="points",
            extra={"min_points": r.min_points},
        )
    if data.points % r.step:
        raise DeductionRefused(
            f"points are used in multiples of {r.step}",
            code="invalid_points_step",
            field="points",
            extra={"step": r.step},
        )
    cap = cap_points(r, data.order_amount_fen)
    if data.points > cap:
        raise DeductionRefused(
            f"this order can take at most {cap} points",
            code="exceeds_max_share",
            field="points",
            extra={"max_points": cap},
        )
    deduction_id = uuid7()
    held = raise_for(
        (
            await ledger.hold(
                session,
                ctx,
                [
                    HoldIn(
                        idempotency_key=f"checkout.hold:{deduction_id}",
                        member=member.external_id,
                        amount=data.points,
                        timeout_seconds=data.timeout_seconds,
                        reason="checkout deduction",
                        reference=f"order:{data.order_id}",
                    )
                ],
                now=now,
            )
        )[0]
    )
    timeout = data.timeout_seconds or ctx.settings.hold_timeout_seconds
    values: dict[str, Any] = {
        "id": deduction_id,
        "program_id": ctx.id,
        "member_id": member.id,
        "order_id": data.order_id,
        "order_amount_fen": data.order_amount_fen,
        "points": data.points,
        "fen": points_fen(ctx, r, data.points),
        "status": "held",
        "hold_id": uuid.UUID(str(held.body["id"])),
        "expires_at": now + timedelta(seconds=timeout),
        "capture_transaction_id": None,
        "refunded_fen": 0,
        "refunded_points": 0,
        "refunds": 0,
        "created_at": now,
        "updated_at": now,
    }
    # A concurrent deduction for the same order may have won: then this one (and its hold,
    # rolled back with it) is refused instead of failing on the unique key.
    inserted = await session.execute(
        insert_ignore(session, Deduction).values(**values).returning(Deduction.id)
    )
    if inserted.first() is None:
        raise _exists(data.order_id)
    row, external_id = await _row(session, ctx.id, data.order_id)
    return deduction_out(row, external_id, now)


def _not_active(row: Deduction, action: str, now: datetime) -> DeductionNotActive:
    status = "lapsed" if row.status == "held" and row.expires_at <= now else row.status
    return DeductionNotActive(
        f"a {status} deduction cannot be {action}",
        field="order_id",
        extra={"deduction_status": status},
    )


async def capture(
    session: AsyncSession, ctx: ProgramContext, order_id: str, *, now: datetime
) -> DeductionOut:
    """The order is paid: spend the held points. Capturing again changes nothing."""
    row, external_id = await _row(session, ctx.id, order_id, lock=True)
    if row.status == "captured":
        return deduction_out(row, external_id, now)
    if row.status != "held":
        raise _not_active(row, "captured", now)
    outcome = await ledger.capture(
        session,
        ctx,
        row.hold_id,
        CaptureIn(idempotency_key=f"checkout.capture:{row.id}", reference=f"order:{order_id}"),
        now=now,
    )
    if not outcome.ok and outcome.body.get("code") == "hold_not_active":
        raise _not_active(row, "captured", now)
    raise_for(outcome)
    row.status = "captured"
    row.capture_transaction_id = uuid.UUID(str(outcome.body["id"]))
    row.updated_at = now
    await session.flush()
    return deduction_out(row, external_id, now)


async def void(
    session: AsyncSession, ctx: ProgramContext, order_id: str, *, now: datetime
) -> DeductionOut:
    """The order was not paid: free the held points. Voiding again (or after a lapse) is fine."""
    row, external_id = await _row(session, ctx.id, order_id, lock=True)
    if row.status == "voided":
        return deduction_out(row, external_id, now)
    if row.status != "held":
        raise _not_active(row, "voided", now)
    outcome = await ledger.void(
        session, ctx, row.hold_id, VoidIn(idempotency_key=f"checkout.void:{row.id}"), now=now
    )
    # A hold that lapsed already freed its points: the deduction is void all the same.
    if not outcome.ok and outcome.body.get("hold_status") not in ("lapsed", "voided"):
        raise_for(outcome)
    row.status = "voided"
    row.updated_at = now
    await session.flush()
    return deduction_out(row, external_id, now)


async def refund(
    session: AsyncSession, ctx: ProgramContext, order_id: str, amount_fen: int, *, now: datetime
) -> RefundOut:
    """Part (or all) of a paid order is refunded: give back the same share of the points.

    The points owed back are computed on the running total of refunds (refunded fen / order fen ×
    captured points, by the program's rounding), so several partial refunds add up to exactly
    what one refund of their sum would give, and a full refund returns every point.
    """
    row, external_id = await _row(session, ctx.id, order_id, lock=True)
    if row.status != "captured" or row.capture_transaction_id is None:
        raise _not_active(row, "refunded", now)
    left = row.order_amount_fen - row.refunded_fen
    if amount_fen > left:
        raise InvalidAmount(
            f"only {left} fen of order {order_id!r} is left to refund",
            field="amount_fen",
            extra={"refundable_fen": left},
        )
    total_fen = row.refunded_fen + amount_fen
    owed = to_units(
        Decimal(row.points) * Decimal(total_fen) / Decimal(row.order_amount_fen),
        ctx.settings.rounding,
    )
    back = min(owed, row.points) - row.refunded_points
    txn_id: uuid.UUID | None = None
    if back > 0:
        reversal = raise_for(
            await ledger.reverse(
                session,
                ctx,
                row.capture_transaction_id,
                ReverseIn(
                    idempotency_key=f"checkout.refund:{row.id}:{row.refunds + 1}",
                    amount=back,
                    reason=f"order {order_id} refunded {amount_fen} fen",
                ),
                now=now,
            )
        )
        txn_id = uuid.UUID(str(reversal.body["id"]))
    row.refunds += 1
    row.refunded_fen = total_fen
    row.refunded_points += max(back, 0)
    row.updated_at = now
    await session.flush()
    return RefundOut(
        deduction=deduction_out(row, external_id, now),
        amount_fen=amount_fen,
        points=max(back, 0),
        transaction_id=txn_id,
    )
