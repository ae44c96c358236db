"""Coupons: templates, issue (by hand, in bulk, by other domains), validate and redeem against a
cart, the best coupon for a cart, void, restore after a refund, and expiry.

``issue_coupon`` is the contract other domains (catalog, tasks, check-in, lottery, rules) call.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.clock import as_utc
from jifen.coupons.models import Coupon, CouponTemplate
from jifen.coupons.schemas import (
    BestOut,
    BulkIssueIn,
    BulkIssueItem,
    BulkIssueOut,
    Candidate,
    Cart,
    CartLine,
    CouponOut,
    CouponStatus,
    RedeemIn,
    RedeemOut,
    RestoreIn,
    TemplateIn,
    TemplateOut,
    ValidateIn,
    ValidateOut,
)
from jifen.db.engine import is_postgres
from jifen.errors import Conflict, InvalidInput, JifenError, NotFound, Unprocessable
from jifen.members import service as members
from jifen.notify.service import enqueue_rows, message_row
from jifen.programs.context import ProgramContext
from jifen.programs.service import record_audit

# Crockford's base 32: no I, L, O or U, so a code read aloud or typed is not mistaken.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16  # 80 random bits: unguessable, and collisions are negligible

EXPIRY_SLICE = 1000


class CouponNotApplicable(Unprocessable):
    """The coupon cannot be used for this cart now; ``code`` says why."""

    default_code = "coupon_not_applicable"
    title = "Coupon does not apply"


class CouponStateConflict(Conflict):
    default_code = "coupon_used"
    title = "Coupon is not available"


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


# --- templates --------------------------------------------------------------------------------


def _template_out(row: CouponTemplate) -> TemplateOut:
    remaining = None
    if row.total_quantity is not None:
        remaining = max(row.total_quantity - row.issued, 0)
    return TemplateOut.model_validate(
        {**row.definition, "id": row.template_id, "issued": row.issued, "remaining": remaining}
    )


def _definition(row: CouponTemplate) -> TemplateIn:
    return TemplateIn.model_validate(row.definition)


async def _template_row(
    session: AsyncSession, program_id: str, template_id: str
) -> CouponTemplate | None:
    return (
        await session.scalars(
            select(CouponTemplate).where(
                CouponTemplate.program_id == program_id,
                CouponTemplate.template_id == template_id,
            )
        )
    ).first()


async def _template(session: AsyncSession, program_id: str, template_id: str) -> CouponTemplate:
    row = await _template_row(session, program_id, template_id)
    if row is None:
        raise NotFound(
            f"coupon template {template_id!r} not found",
            code="coupon_template_not_found",
            field="template_id",
        )
    return row


async def save_template(
    session: AsyncSession,
    ctx: ProgramContext,
    template_id: str,
    data: TemplateIn,
    *,
    now: datetime,
    actor: str,
) -> TemplateOut:
    """Create or change a template (audited). Coupons already issued keep their own validity."""
    row = await _template_row(session, ctx.id, template_id)
    definition = data.model_dump(mode="json")
    before = row.definition if row else None
    if row is None:
        row = CouponTemplate(
            program_id=ctx.id,
            template_id=template_id,
            definition=definition,
            active=data.active,
            total_quantity=data.total_quantity,
            per_member_limit=data.per_member_limit,
            issued=0,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
    else:
        row.definition = definition
        row.active = data.active
        row.total_quantity = data.total_quantity
        row.per_member_limit = data.per_member_limit
        row.updated_at = now
    await session.flush()
    await record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="coupon_template.save",
        entity_type="coupon_template",
        entity_id=template_id,
        now=now,
        before=before,
        after=definition,
    )
    return _template_out(row)


async def list_templates(session: AsyncSession, program_id: str) -> list[TemplateOut]:
    rows = await session.scalars(
        select(CouponTemplate)
        .where(CouponTemplate.program_id == program_id)
        .order_by(CouponTemplate.template_id)
    )
    return [_template_out(r) for r in rows]


async def get_template(session: AsyncSession, program_id: str, template_id: str) -> TemplateOut:
    return _template_out(await _template(session, program_id, template_id))


# --- coupons as seen from outside -------------------------------------------------------------


def effective_status(coupon: Coupon, now: datetime) -> CouponStatus:
    """What the coupon is now: an available coupon past its validity is expired already, before
    the expiry job has marked it."""
    if coupon.status == "available" and as_utc(coupon.valid_until) <= now:
        return "expired"
    status: CouponStatus = coupon.status  # type: ignore[assignment]
    return status


def _coupon_out(
    coupon: Coupon, template: TemplateIn, *, now: datetime, member: str | None = None
) -> CouponOut:
    return CouponOut(
        id=coupon.id,
        code=coupon.code,
        template_id=coupon.template_id,
        name=template.name,
        kind=template.kind,
        member=member,
        status=effective_status(coupon, now),
        valid_from=as_utc(coupon.valid_from),
        valid_until=as_utc(coupon.valid_until),
        source=coupon.source,
        source_ref=coupon.source_ref,
        issued_at=as_utc(coupon.issued_at),
        used_at=as_utc(coupon.used_at) if coupon.used_at else None,
        order_id=coupon.order_id,
        discount_fen=coupon.discount_fen,
    )


async def _templates_by_id(
    session: AsyncSession, program_id: str, template_ids: set[str]
) -> dict[str, TemplateIn]:
    if not template_ids:
        return {}
    rows = await session.scalars(
        select(CouponTemplate).where(
            CouponTemplate.program_id == program_id,
            CouponTemplate.template_id.in_(sorted(template_ids)),
        )
    )
    return {r.template_id: _definition(r) for r in rows}


# --- issue ------------------------------------------------------------------------------------


class _AlreadyIssued(Exception):
    """Raised inside the issue savepoint to undo the quantity taken when a concurrent issue with
    the same source reference won."""

    def __init__(self, coupon: Coupon) -> None:
        self.coupon = coupon


async def _issued_for(
    session: AsyncSession, program_id: str, template_id: str, source: str, source_ref: str
) -> Coupon | None:
    return (
        await session.scalars(
            select(Coupon).where(
                Coupon.program_id == program_id,
                Coupon.template_id == template_id,
                Coupon.source == source,
                Coupon.source_ref == source_ref,
            )
        )
    ).first()


def _validity(template: TemplateIn, now: datetime) -> tuple[datetime, datetime]:
    start = template.valid_from.astimezone(now.tzinfo) if template.valid_from else now
    ends = []
    if template.valid_until is not None:
        ends.append(template.valid_until)
    if template.valid_days is not None:
        try:
            ends.append(max(now, start) + timedelta(days=template.valid_days))
        except OverflowError as exc:
            raise InvalidInput(
                "the template's validity runs past the last representable date",
                code="invalid_validity",
                field="valid_days",
            ) from exc
    return start, min(ends)


async def issue_coupon(
    session: AsyncSession,
    ctx: ProgramContext,
    *,
    member_id: int,
    template_id: str,
    now: datetime,
    source: str,
    source_ref: str,
) -> CouponOut:
    """Issue one coupon of ``template_id`` to the member (the contract other domains call).

    Idempotent under ``(template_id, source, source_ref)``: issuing again returns the same
    coupon. Raises ``coupon_template_not_found``, ``coupon_template_inactive``,
    ``coupon_template_ended``, ``coupon_sold_out`` or ``coupon_limit_reached``, having written
    nothing. The total quantity is taken with a guarded single UPDATE, which also holds the
    template's row until commit, so per-member limits hold under concurrency on PostgreSQL.
    """
    if not source or not source_ref:
        raise InvalidInput("source and source_ref are required", code="invalid_source")
    existing = await _issued_for(session, ctx.id, template_id, source, source_ref)
    row = await _template(session, ctx.id, template_id)
    template = _definition(row)
    if existing is not None:
        return _coupon_out(
            existing,
            template,
            now=now,
            member=await members.external_id(session, ctx.id, member_id),
        )
    if not row.active:
        raise Unprocessable(
            f"coupon template {template_id!r} is not active",
            code="coupon_template_inactive",
            field="template_id",
        )
    valid_from, valid_until = _validity(template, now)
    if valid_until <= now:
        raise Unprocessable(
            f"coupon template {template_id!r} can no longer be issued: its validity has ended",
            code="coupon_template_ended",
            field="template_id",
        )
    try:
        async with session.begin_nested():
            taken = await session.execute(
                update(CouponTemplate)
                .where(
                    CouponTemplate.id == row.id,
                    (CouponTemplate.total_quantity.is_(None))
                    | (CouponTemplate.issued < CouponTemplate.total_quantity),
                )
                .values(issued=CouponTemplate.issued + 1, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                raise Unprocessable(
                    f"coupon template {template_id!r} has no coupons left",
                    code="coupon_sold_out",
                    field="template_id",
                )
            # Read after the template's row lock: a concurrent issue has committed by now.
            raced = await _issued_for(session, ctx.id, template_id, source, source_ref)
            if raced is not None:
                raise _AlreadyIssued(raced)
            if row.per_member_limit is not None:
                held = await session.scalar(
                    select(func.count())
                    .select_from(Coupon)
                    .where(
                        Coupon.program_id == ctx.id,
                        Coupon.member_id == member_id,
                        Coupon.template_id == template_id,
                    )
                )
                if (held or 0) >= row.per_member_limit:
                    raise Unprocessable(
                        f"the member already has the most coupons of {template_id!r} allowed "
                        f"({row.per_member_limit})",
                        code="coupon_limit_reached",
                        field="template_id",
                        extra={"limit": row.per_member_limit},
                    )
            coupon = Coupon(
                program_id=ctx.id,
                member_id=member_id,
                template_id=template_id,
                code=new_code(),
                status="available",
                valid_from=valid_from,
                valid_until=valid_until,
                source=source,
                source_ref=source_ref,
                issued_at=now,
                updated_at=now,
            )
            session.add(coupon)
            await session.flush()
    except _AlreadyIssued as already:
        return _coupon_out(
            already.coupon,
            template,
            now=now,
            member=await members.external_id(session, ctx.id, member_id),
        )
    external = await members.external_id(session, ctx.id, member_id)
    out = _coupon_out(coupon, template, now=now, member=external)
    await enqueue_rows(
        session,
        [
            message_row(
                program_id=ctx.id,
                member_id=member_id,
                topic="coupon.issued",
                payload={
                    "member": external,
                    "coupon_id": coupon.id,
                    "code": coupon.code,
                    "template_id": template_id,
                    "name": template.name,
                    "kind": template.kind,
                    "discount_fen": template.discount_fen,
                    "valid_from": out.valid_from.isoformat(),
                    "valid_until": out.valid_until.isoformat(),
                    "source": source,
                },
                now=now,
            )
        ],
    )
    return out


async def issue_by_hand(
    session: AsyncSession,
    ctx: ProgramContext,
    member: str,
    template_id: str,
    *,
    key: str,
    operator: str,
    reason: str | None,
    now: datetime,
) -> CouponOut:
    """An operator issues a coupon to one member (audited); the idempotency key is the source
    reference, so a retry returns the same coupon."""
    ref = await members.get(session, ctx.id, member)
    out = await issue_coupon(
        session,
        ctx,
        member_id=ref.id,
        template_id=template_id,
        now=now,
        source="manual",
        source_ref=key,
    )
    await record_audit(
        session,
        program_id=ctx.id,
        actor=operator,
        action="coupon.issue",
        entity_type="coupon",
        entity_id=out.code,
        now=now,
        after={"member": member, "template_id": template_id, "code": out.code},
        reason=reason,
    )
    return out


async def bulk_issue(
    session: AsyncSession,
    ctx: ProgramContext,
    template_id: str,
    data: BulkIssueIn,
    *,
    now: datetime,
) -> BulkIssueOut:
    """One coupon per listed member, each idempotent under ``reference`` (a re-run of the same
    campaign issues nothing twice); one result per member, in order."""
    await _template(session, ctx.id, template_id)
    found = await members.resolve_known(session, ctx.id, data.members, create=False, now=now)
    results: list[BulkIssueItem] = []
    issued = failed = 0
    for external in data.members:
        if external not in found:
            failed += 1
            results.append(
                BulkIssueItem(
                    member=external,
                    status=404,
                    code="member_not_found",
                    detail=f"member {external!r} not found",
                )
            )
            continue
        try:
            async with session.begin_nested():
                coupon = await issue_coupon(
                    session,
                    ctx,
                    member_id=found[external].id,
                    template_id=template_id,
                    now=now,
                    source="campaign",
                    source_ref=f"{data.reference}:{external}",
                )
        except JifenError as exc:
            failed += 1
            results.append(
                BulkIssueItem(member=external, status=exc.status, code=exc.code, detail=exc.detail)
            )
            continue
        issued += 1
        results.append(BulkIssueItem(member=external, status=201, coupon=coupon))
    await record_audit(
        session,
        program_id=ctx.id,
        actor=data.operator,
        action="coupon.bulk_issue",
        entity_type="coupon_template",
        entity_id=template_id,
        now=now,
        after={"reference": data.reference, "members": len(data.members), "issued": issued},
    )
    return BulkIssueOut(issued=issued, failed=failed, results=results)


# --- reading a member's coupons ---------------------------------------------------------------


async def member_coupons(
    session: AsyncSession,
    ctx: ProgramContext,
    member: str,
    *,
    now: datetime,
    status: CouponStatus | None = None,
) -> list[CouponOut]:
    """A member's coupons, soonest-expiring first; ``status`` filters by the effective status."""
    ref = await members.get(session, ctx.id, member)
    stmt = select(Coupon).where(Coupon.program_id == ctx.id, Coupon.member_id == ref.id)
    if status == "available":
        stmt = stmt.where(Coupon.status == "available", Coupon.valid_until > now)
    elif status == "expired":
        stmt = stmt.where(
            (Coupon.status == "expired")
            | ((Coupon.status == "available") & (Coupon.valid_until <= now))
        )
    elif status is not None:
        stmt = stmt.where(Coupon.status == status)
    rows = list(await session.scalars(stmt.order_by(Coupon.valid_until, Coupon.id)))
    templates = await _templates_by_id(session, ctx.id, {r.template_id for r in rows})
    return [_coupon_out(r, templates[r.template_id], now=now, member=member) for r in rows]


# --- discounts --------------------------------------------------------------------------------


def _in_scope(template: TemplateIn, line: CartLine) -> bool:
    if template.scope == "all":
        return True
    if template.scope == "categories":
        return line.category is not None and line.category in template.categories
    return line.product_id in template.product_ids


@dataclass(frozen=True, slots=True)
class Discount:
    eligible_fen: int
    total_fen: int
    discount_fen: int


def compute_discount(template: TemplateIn, lines: Sequence[CartLine]) -> Discount:
    """The discount the template gives on these cart lines, or ``CouponNotApplicable``
    (``coupon_out_of_scope``, ``below_threshold``). Rounds down to the fen, never above the
    in-scope subtotal."""
    total = sum(line.amount_fen * line.quantity for line in lines)
    scoped = [line for line in lines if _in_scope(template, line)]
    eligible = sum(line.amount_fen * line.quantity for line in scoped)
    if not scoped or eligible == 0:
        raise CouponNotApplicable(
            "no line of the cart is in the coupon's scope",
            code="coupon_out_of_scope",
            field="lines",
        )
    if eligible < template.threshold_fen:
        raise CouponNotApplicable(
            f"the coupon needs {template.threshold_fen} fen of eligible items, "
            f"the cart has {eligible}",
            code="below_threshold",
            field="lines",
            extra={"threshold_fen": template.threshold_fen, "eligible_fen": eligible},
        )
    if template.kind == "percent":
        off = (Decimal(eligible) * (1 - template.price_factor())).to_integral_value(
            rounding=ROUND_FLOOR
        )
        discount = int(off)
        if template.max_discount_fen is not None:
            discount = min(discount, template.max_discount_fen)
    else:
        assert template.discount_fen is not None
        discount = template.discount_fen
    return Discount(eligible, total, min(discount, eligible))


async def _coupon_by_code(
    session: AsyncSession, program_id: str, code: str, *, lock: bool = False
) -> Coupon:
    stmt = select(Coupon).where(Coupon.program_id == program_id, Coupon.code == code.upper())
    if lock and is_postgres(session):
        stmt = stmt.with_for_update()
    coupon = (await session.scalars(stmt)).first()
    if coupon is None:
        raise NotFound(f"coupon {code!r} not found", code="coupon_not_found", field="code")
    return coupon


def _check_usable(coupon: Coupon, member_id: int, now: datetime) -> None:
    """Refuse a coupon that is not this member's, or not usable at ``now``."""
    if coupon.member_id != member_id:
        raise CouponNotApplicable(
            "this coupon belongs to another member", code="coupon_not_owned", field="code"
        )
    status = effective_status(coupon, now)
    if status == "used":
        raise CouponStateConflict(
            f"coupon was used by order {coupon.order_id!r}",
            code="coupon_used",
            field="code",
        )
    if status == "void":
        raise CouponStateConflict("coupon was voided", code="coupon_void", field="code")
    if status == "expired":
        raise CouponNotApplicable(
            f"coupon expired at {as_utc(coupon.valid_until).isoformat()}",
            code="coupon_expired",
            field="code",
        )
    if now < as_utc(coupon.valid_from):
        raise CouponNotApplicable(
            f"coupon is valid from {as_utc(coupon.valid_from).isoformat()}",
            code="coupon_not_started",
            field="code",
        )


async def _template_of(session: AsyncSession, program_id: str, coupon: Coupon) -> TemplateIn:
    return _definition(await _template(session, program_id, coupon.template_id))


def _validate_out(coupon: Coupon, d: Discount) -> dict[str, Any]:
    return {
        "code": coupon.code,
        "template_id": coupon.template_id,
        "discount_fen": d.discount_fen,
        "eligible_fen": d.eligible_fen,
        "total_fen": d.total_fen,
        "payable_fen": d.total_fen - d.discount_fen,
        "valid_until": as_utc(coupon.valid_until),
    }


async def validate(
    session: AsyncSession, ctx: ProgramContext, data: ValidateIn, *, now: datetime
) -> ValidateOut:
    """The discount ``data.code`` gives on the cart, or the stable reason it does not apply."""
    ref = await members.get(session, ctx.id, data.member)
    coupon = await _coupon_by_code(session, ctx.id, data.code)
    _check_usable(coupon, ref.id, now)
    d = compute_discount(await _template_of(session, ctx.id, coupon), data.lines)
    return ValidateOut(**_validate_out(coupon, d))


async def redeem(
    session: AsyncSession, ctx: ProgramContext, code: str, data: RedeemIn, *, now: datetime
) -> RedeemOut:
    """Use the coupon on order ``data.order_id``, once. The same order again replays the first
    result; another order gets ``coupon_used``. The coupon's row is locked (PostgreSQL) and
    changed by a guarded UPDATE, so two orders can never both use it."""
    ref = await members.get(session, ctx.id, data.member)
    coupon = await _coupon_by_code(session, ctx.id, code, lock=True)
    if coupon.member_id == ref.id and coupon.status == "used" and coupon.order_id == data.order_id:
        assert coupon.used_at is not None
        assert coupon.discount_fen is not None
        template = await _template_of(session, ctx.id, coupon)
        total = sum(line.amount_fen * line.quantity for line in data.lines)
        eligible = sum(
            line.amount_fen * line.quantity for line in data.lines if _in_scope(template, line)
        )
        replay = Discount(eligible, total, coupon.discount_fen)
        return RedeemOut(
            **_validate_out(coupon, replay), order_id=data.order_id, used_at=as_utc(coupon.used_at)
        )
    _check_usable(coupon, ref.id, now)
    d = compute_discount(await _template_of(session, ctx.id, coupon), data.lines)
    done = await session.execute(
        update(Coupon)
        .where(Coupon.id == coupon.id, Coupon.status == "available")
        .values(
            status="used", used_at=now, order_id=data.order_id, discount_fen=d.discount_fen,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise CouponStateConflict("coupon was used by another order", code="coupon_used")
    await session.refresh(coupon)
    return RedeemOut(**_validate_out(coupon, d), order_id=data.order_id, used_at=now)


async def best(session: AsyncSession, ctx: ProgramContext, cart: Cart, *, now: datetime) -> BestOut:
    """The member's available coupon with the largest discount on the cart (a tie goes to the
    one that expires soonest, then the oldest); every candidate with its discount or reason."""
    ref = await members.get(session, ctx.id, cart.member)
    rows = list(
        await session.scalars(
            select(Coupon)
            .where(
                Coupon.program_id == ctx.id,
                Coupon.member_id == ref.id,
                Coupon.status == "available",
                Coupon.valid_until > now,
            )
            .order_by(Coupon.valid_until, Coupon.id)
        )
    )
    templates = await _templates_by_id(session, ctx.id, {r.template_id for r in rows})
    candidates: list[Candidate] = []
    chosen: Candidate | None = None
    for row in rows:
        try:
            _check_usable(row, ref.id, now)
            d = compute_discount(templates[row.template_id], cart.lines)
            c = Candidate(
                code=row.code,
                template_id=row.template_id,
                valid_until=as_utc(row.valid_until),
                discount_fen=d.discount_fen,
                reason=None,
            )
        except JifenError as exc:
            c = Candidate(
                code=row.code,
                template_id=row.template_id,
                valid_until=as_utc(row.valid_until),
                discount_fen=0,
                reason=exc.code,
            )
        candidates.append(c)
        # Rows come soonest-expiring first, so only a strictly larger discount replaces.
        if c.reason is None and (chosen is None or c.discount_fen > chosen.discount_fen):
            chosen = c
    return BestOut(best=chosen, candidates=candidates)


# --- void, restore, expiry --------------------------------------------------------------------


async def void(
    session: AsyncSession,
    ctx: ProgramContext,
    code: str,
    *,
    reason: str | None,
    actor: str,
    now: datetime,
) -> CouponOut:
    """Void an available coupon (audited). Voiding a void coupon again changes nothing; a used
    coupon must be restored first (``coupon_used``), an expired one cannot be voided."""
    coupon = await _coupon_by_code(session, ctx.id, code, lock=True)
    template = await _template_of(session, ctx.id, coupon)
    external = await members.external_id(session, ctx.id, coupon.member_id)
    status = effective_status(coupon, now)
    if status == "void":
        return _coupon_out(coupon, template, now=now, member=external)
    if status == "used":
        raise CouponStateConflict(
            f"coupon was used by order {coupon.order_id!r}; restore it first",
            code="coupon_used",
            field="code",
        )
    if status == "expired":
        raise CouponNotApplicable("coupon has expired", code="coupon_expired", field="code")
    coupon.status = "void"
    coupon.voided_at = now
    coupon.updated_at = now
    await session.flush()
    await record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="coupon.void",
        entity_type="coupon",
        entity_id=coupon.code,
        now=now,
        before={"status": status},
        after={"status": "void"},
        reason=reason,
    )
    return _coupon_out(coupon, template, now=now, member=external)


async def restore(
    session: AsyncSession,
    ctx: ProgramContext,
    code: str,
    data: RestoreIn,
    *,
    actor: str,
    now: datetime,
) -> CouponOut:
    """Give a used coupon back after its order ``data.order_id`` was refunded, if it is still
    within its validity (``coupon_expired`` otherwise; it stays used). Restoring again for the
    same order changes nothing."""
    coupon = await _coupon_by_code(session, ctx.id, code, lock=True)
    template = await _template_of(session, ctx.id, coupon)
    external = await members.external_id(session, ctx.id, coupon.member_id)
    if coupon.status != "used":
        restored = coupon.restored_at is not None and coupon.order_id == data.order_id
        if coupon.status == "available" and restored:
            return _coupon_out(coupon, template, now=now, member=external)
        raise CouponStateConflict(
            f"coupon is {effective_status(coupon, now)}, not used",
            code="coupon_not_used",
            field="code",
        )
    if coupon.order_id != data.order_id:
        raise CouponStateConflict(
            f"coupon was used by order {coupon.order_id!r}, not {data.order_id!r}",
            code="coupon_order_mismatch",
            field="order_id",
        )
    if as_utc(coupon.valid_until) <= now:
        raise CouponNotApplicable(
            "the coupon's validity has ended; it cannot be restored",
            code="coupon_expired",
            field="code",
        )
    coupon.status = "available"
    coupon.restored_at = now
    coupon.used_at = None
    coupon.discount_fen = None
    coupon.updated_at = now
    # The refunded order stays on the row as the last use, so a repeated restore replays.
    await session.flush()
    await record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="coupon.restore",
        entity_type="coupon",
        entity_id=coupon.code,
        now=now,
        before={"status": "used", "order_id": data.order_id},
        after={"status": "available"},
        reason=data.reason,
    )
    return _coupon_out(coupon, template, now=now, member=external)


async def expire_due(
    session: AsyncSession, ctx: ProgramContext, *, now: datetime, limit: int = EXPIRY_SLICE
) -> int:
    """Mark up to ``limit`` available coupons past their validity as expired, with one
    ``coupon.expired`` message each; returns how many. Set-based and safe to run twice at once:
    the guarded UPDATE only takes rows still available."""
    due = (
        select(Coupon.id)
        .where(Coupon.program_id == ctx.id, Coupon.status == "available", Coupon.valid_until <= now)
        .order_by(Coupon.valid_until, Coupon.id)
        .limit(limit)
    )
    if is_postgres(session):
        due = due.with_for_update(skip_locked=True)
    result = await session.execute(
        update(Coupon)
        .where(Coupon.id.in_(due.scalar_subquery()), Coupon.status == "available")
        .values(status="expired", updated_at=now)
        .returning(Coupon.member_id, Coupon.code, Coupon.template_id, Coupon.valid_until)
        .execution_options(synchronize_session=False)
    )
    rows = result.all()
    if rows:
        await enqueue_rows(
            session,
            [
                message_row(
                    program_id=ctx.id,
                    member_id=member_id,
                    topic="coupon.expired",
                    payload={
                        "code": code,
                        "template_id": template_id,
                        "valid_until": as_utc(until).isoformat(),
                    },
                    now=now,
                )
                for member_id, code, template_id, until in rows
            ],
        )
    return len(rows)
