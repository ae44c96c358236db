"""The rewards catalog: items, what a member may redeem, redemption orders and their fulfilment.

A redemption is one unit of work: the member's row is locked first (so per-member limits are
checked against every earlier order), then the ledger debits the points (locking the member's
account), then one guarded ``UPDATE ... SET stock = stock - q WHERE stock >= q`` takes the stock
(the item's row is locked last and for the shortest time), then coupons are issued and the order
and its outbox message are written. Any refusal raises, and ``run_once`` rolls all of it back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.catalog.models import CatalogItem, RedemptionOrder
from jifen.catalog.schemas import (
    CatalogEntry,
    ItemIn,
    ItemOut,
    MemberLimit,
    OrderOut,
    OrderPage,
    RedeemIn,
)
from jifen.clock import local_date, start_of_local_day
from jifen.coupons import service as coupons
from jifen.db.engine import is_postgres
from jifen.errors import Conflict, InvalidInput, JifenError, NotFound, Unprocessable
from jifen.kit.idempotency import raise_for
from jifen.kit.ids import uuid7
from jifen.kit.sql import insert_ignore
from jifen.ledger import repository as ledger_repository
from jifen.ledger import service as ledger
from jifen.ledger.schemas import DebitIn, ReverseIn
from jifen.members import service as members
from jifen.members.models import Member
from jifen.notify.service import enqueue_rows, message_row
from jifen.programs.context import ProgramContext
from jifen.programs.service import record_audit
from jifen.tiers import service as tiers

# --- errors -----------------------------------------------------------------------------------


class ItemNotFound(NotFound):
    default_code = "item_not_found"


class OrderNotFound(NotFound):
    default_code = "order_not_found"


class RedemptionRefused(Unprocessable):
    """A redemption the rules do not allow now; ``code`` says which rule."""

    title = "Redemption refused"


class OrderStatusConflict(Conflict):
    default_code = "invalid_order_transition"
    title = "Order cannot change to this status"


# Why an item cannot be redeemed, in the order the checks run.
NOT_AVAILABLE = "item_not_available"
NOT_STARTED = "item_not_started"
TIER = "tier_not_eligible"
OUT_OF_STOCK = "out_of_stock"
LIMIT = "redemption_limit_reached"
POINTS = "insufficient_points"

_MESSAGES = {
    NOT_AVAILABLE: "item {item!r} is not available now",
    NOT_STARTED: "item {item!r} cannot be redeemed before its drop starts",
    TIER: "item {item!r} is not available to the member's tier",
    OUT_OF_STOCK: "item {item!r} is out of stock",
    LIMIT: "the member has reached the redemption limit of item {item!r}",
}


def _refused(code: str, item_id: str, **extra: Any) -> RedemptionRefused:
    return RedemptionRefused(
        _MESSAGES[code].format(item=item_id), code=code, field="item", extra=extra
    )


# --- other domains ---------------------------------------------------------------------------


async def member_tier(session: AsyncSession, program_id: str, member_id: int) -> str | None:
    """The member's tier code (None: the program has no tier scheme)."""
    view = (await tiers.tiers_of(session, program_id, [member_id])).get(member_id)
    return None if view is None else view.code


# --- items ------------------------------------------------------------------------------------


def item_out(row: CatalogItem) -> ItemOut:
    limit = (
        MemberLimit(count=row.limit_count, window=row.limit_window)
        if row.limit_count is not None and row.limit_window is not None
        else None
    )
    return ItemOut(
        id=row.item_id,
        name=row.name,
        description=row.description,
        kind=row.kind,
        category=row.category,
        price_points=row.price_points,
        cash_fen=row.cash_fen,
        stock=row.stock,
        coupon_template_id=row.coupon_template_id,
        tiers=list(row.tiers or []),
        limit=limit,
        available_from=row.available_from,
        available_until=row.available_until,
        drop_at=row.drop_at,
        enabled=row.enabled,
        meta=dict(row.meta or {}),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _item_row(
    session: AsyncSession, program_id: str, item_id: str, *, lock: bool = False
) -> CatalogItem:
    stmt = select(CatalogItem).where(
        CatalogItem.program_id == program_id, CatalogItem.item_id == item_id
    )
    if lock and is_postgres(session):
        stmt = stmt.with_for_update()
    row = (await session.scalars(stmt)).first()
    if row is None:
        raise ItemNotFound(f"item {item_id!r} not found", field="item")
    return row


async def save_item(
    session: AsyncSession,
    ctx: ProgramContext,
    item_id: str,
    data: ItemIn,
    *,
    now: datetime,
    actor: str,
) -> tuple[ItemOut, bool]:
    """Create or replace an item (audited); returns it and whether it was created."""
    values: dict[str, Any] = {
        "name": data.name,
        "description": data.description,
        "kind": data.kind,
        "category": data.category,
        "price_points": data.price_points,
        "cash_fen": data.cash_fen,
        "stock": data.stock,
        "coupon_template_id": data.coupon_template_id,
        "tiers": list(data.tiers),
        "limit_count": data.limit.count if data.limit else None,
        "limit_window": data.limit.window if data.limit else None,
        "available_from": data.available_from,
        "available_until": data.available_until,
        "drop_at": data.drop_at,
        "enabled": data.enabled,
        "meta": dict(data.meta),
        "updated_at": now,
    }
    # Insert-or-nothing, then lock: two first PUTs of one id race to a clean create and update
    # instead of a unique-key error.
    inserted = await session.execute(
        insert_ignore(session, CatalogItem)
        .values(program_id=ctx.id, item_id=item_id, created_at=now, **values)
        .returning(CatalogItem.id)
    )
    created = inserted.first() is not None
    row = await _item_row(session, ctx.id, item_id, lock=True)
    before = None if created else item_out(row).model_dump(mode="json")
    if not created:
        if row.kind != data.kind:
            raise InvalidInput(
                "an item's kind cannot change; define a new item",
                code="item_kind_immutable",
                field="kind",
            )
        for name, value in values.items():
            setattr(row, name, value)
    await session.flush()
    out = item_out(row)
    await record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="catalog.item.save",
        entity_type="catalog_item",
        entity_id=item_id,
        now=now,
        before=before,
        after=out.model_dump(mode="json"),
    )
    return out, created


async def restock(
    session: AsyncSession,
    ctx: ProgramContext,
    item_id: str,
    add: int,
    *,
    now: datetime,
    actor: str,
) -> ItemOut:
    """Change an item's stock by ``add`` in one guarded statement (never below zero), so units
    redeemed meanwhile are not overwritten the way a PUT of an absolute stock would."""
    row = await _item_row(session, ctx.id, item_id)
    if row.stock is None:
        raise Conflict(
            f"item {item_id!r} has unlimited stock", code="stock_unlimited", field="item"
        )
    changed = await session.execute(
        update(CatalogItem)
        .where(
            CatalogItem.id == row.id,
            CatalogItem.stock.is_not(None),
            CatalogItem.stock + add >= 0,
        )
        .values(stock=CatalogItem.stock + add, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidInput(
            f"item {item_id!r} has fewer than {-add} units in stock",
            code="invalid_amount",
            field="add",
        )
    await session.refresh(row)
    await record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="catalog.item.restock",
        entity_type="catalog_item",
        entity_id=item_id,
        now=now,
        before={"stock": row.stock - add if row.stock is not None else None},
        after={"stock": row.stock},
    )
    return item_out(row)


async def get_item(session: AsyncSession, program_id: str, item_id: str) -> ItemOut:
    return item_out(await _item_row(session, program_id, item_id))


def _listed_now(now: datetime) -> Any:
    return (
        CatalogItem.enabled.is_(True)
        & ((CatalogItem.available_from.is_(None)) | (CatalogItem.available_from <= now))
        & ((CatalogItem.available_until.is_(None)) | (CatalogItem.available_until > now))
    )


async def list_items(
    session: AsyncSession,
    program_id: str,
    *,
    kind: str | None = None,
    category: str | None = None,
    enabled: bool | None = None,
    available_at: datetime | None = None,
    in_stock: bool | None = None,
) -> list[ItemOut]:
    """Items by id; ``available_at`` keeps those enabled and inside their window then."""
    stmt = select(CatalogItem).where(CatalogItem.program_id == program_id)
    if kind is not None:
        stmt = stmt.where(CatalogItem.kind == kind)
    if category is not None:
        stmt = stmt.where(CatalogItem.category == category)
    if enabled is not None:
        stmt = stmt.where(CatalogItem.enabled.is_(enabled))
    if available_at is not None:
        stmt = stmt.where(_listed_now(available_at))
    if in_stock is True:
        stmt = stmt.where((CatalogItem.stock.is_(None)) | (CatalogItem.stock > 0))
    elif in_stock is False:
        stmt = stmt.where(CatalogItem.stock == 0)
    rows = await session.scalars(stmt.order_by(CatalogItem.item_id))
    return [item_out(r) for r in rows]


# --- eligibility ------------------------------------------------------------------------------


def period_start(window: str, now: datetime, tz: str) -> datetime | None:
    """When the limit period containing ``now`` began (None: ``lifetime``)."""
    day = local_date(now, tz)
    if window == "day":
        return start_of_local_day(day, tz)
    if window == "week":
        return start_of_local_day(day - timedelta(days=day.weekday()), tz)
    if window == "month":
        return start_of_local_day(day.replace(day=1), tz)
    return None


async def _used(
    session: AsyncSession,
    ctx: ProgramContext,
    member_id: int,
    items: Sequence[CatalogItem],
    now: datetime,
) -> dict[str, int]:
    """Units of each limited item the member took in its current limit period."""
    limited = [i for i in items if i.limit_count is not None and i.limit_window is not None]
    if not limited:
        return {}
    starts = {
        i.item_id: period_start(str(i.limit_window), now, ctx.settings.timezone) for i in limited
    }
    rows = await session.execute(
        select(RedemptionOrder.item_id, RedemptionOrder.created_at, RedemptionOrder.quantity).where(
            RedemptionOrder.program_id == ctx.id,
            RedemptionOrder.member_id == member_id,
            RedemptionOrder.item_id.in_(sorted(starts)),
            RedemptionOrder.status != "cancelled",
        )
    )
    used = dict.fromkeys(starts, 0)
    for item_id, created_at, quantity in rows:
        start = starts[item_id]
        if start is None or created_at >= start:
            used[item_id] += int(quantity)
    return used


@dataclass(frozen=True, slots=True)
class _Check:
    code: str | None
    remaining_limit: int | None


def _check(
    item: CatalogItem,
    *,
    now: datetime,
    tier: str | None,
    used: int,
    quantity: int,
    available_points: int | None,
) -> _Check:
    """The first rule redeeming ``quantity`` of ``item`` now breaks (code None: none)."""
    remaining = None if item.limit_count is None else max(item.limit_count - used, 0)
    code: str | None = None
    if (
        not item.enabled
        or (item.available_from is not None and now < item.available_from)
        or (item.available_until is not None and now >= item.available_until)
    ):
        code = NOT_AVAILABLE
    elif item.drop_at is not None and now < item.drop_at:
        code = NOT_STARTED
    elif item.tiers and tier not in item.tiers:
        code = TIER
    elif item.stock is not None and item.stock < quantity:
        code = OUT_OF_STOCK
    elif remaining is not None and remaining < quantity:
        code = LIMIT
    elif available_points is not None and available_points < item.price_points * quantity:
        code = POINTS
    return _Check(code, remaining)


async def member_catalog(
    session: AsyncSession, ctx: ProgramContext, member: Member, *, now: datetime
) -> list[CatalogEntry]:
    """Every enabled item not past its window, with whether this member may redeem one now."""
    rows = list(
        await session.scalars(
            select(CatalogItem)
            .where(
                CatalogItem.program_id == ctx.id,
                CatalogItem.enabled.is_(True),
                (CatalogItem.available_until.is_(None)) | (CatalogItem.available_until > now),
            )
            .order_by(CatalogItem.item_id)
        )
    )
    tier = await member_tier(session, ctx.id, member.id)
    used = await _used(session, ctx, member.id, rows, now)
    balances = await ledger_repository.balances(session, ctx.id, member, now=now)
    available = next((b.available for b in balances.balances if b.asset == "points"), 0)
    out = []
    for row in rows:
        check = _check(
            row,
            now=now,
            tier=tier,
            used=used.get(row.item_id, 0),
            quantity=1,
            available_points=available,
        )
        out.append(
            CatalogEntry(
                item=item_out(row),
                redeemable=check.code is None,
                reason=check.code,
                remaining_limit=check.remaining_limit,
            )
        )
    return out


# --- orders -----------------------------------------------------------------------------------


def order_out(row: RedemptionOrder, external_id: str) -> OrderOut:
    return OrderOut(
        id=row.id,
        member=external_id,
        item=row.item_id,
        kind=row.kind,
        quantity=row.quantity,
        points=row.points,
        cash_fen=row.cash_fen,
        status=row.status,
        address=row.address,
        tracking_no=row.tracking_no,
        debit_transaction_id=row.debit_transaction_id,
        refund_transaction_id=row.refund_transaction_id,
        coupons=list(row.coupons or []),
        cancel_reason=row.cancel_reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
        shipped_at=row.shipped_at,
        fulfilled_at=row.fulfilled_at,
        cancelled_at=row.cancelled_at,
    )


async def _lock_member(session: AsyncSession, program_id: str, member_id: int) -> None:
    """Serialise everything done for one member (as the events engine does): member row first,
    then the ledger's account, then the item."""
    await members.by_ids(session, program_id, [member_id], lock=True)


async def _outbox(
    session: AsyncSession,
    ctx: ProgramContext,
    member_id: int,
    order: OrderOut,
    topic: str,
    now: datetime,
) -> None:
    await enqueue_rows(
        session,
        [
            message_row(
                program_id=ctx.id,
                member_id=member_id,
                topic=topic,
                payload={
                    "order_id": str(order.id),
                    "member": order.member,
                    "item": order.item,
                    "kind": order.kind,
                    "quantity": order.quantity,
                    "points": order.points,
                    "cash_fen": order.cash_fen,
                    "status": order.status,
                    "tracking_no": order.tracking_no,
                },
                now=now,
            )
        ],
    )


async def _issue_coupons(
    session: AsyncSession,
    ctx: ProgramContext,
    *,
    member_id: int,
    template_id: str,
    order_id: uuid.UUID,
    quantity: int,
    now: datetime,
) -> list[dict[str, Any]]:
    issued = []
    for unit in range(quantity):
        coupon = await coupons.issue_coupon(
            session,
            ctx,
            member_id=member_id,
            template_id=template_id,
            now=now,
            source="catalog",
            source_ref=f"{order_id}:{unit}",
        )
        issued.append(coupon.model_dump(mode="json"))
    return issued


async def redeem(
    session: AsyncSession, ctx: ProgramContext, member: Member, data: RedeemIn, *, now: datetime
) -> OrderOut:
    """Redeem ``data.quantity`` of an item: debit, stock, coupons, order and outbox, all or none."""
    await _lock_member(session, ctx.id, member.id)
    item = await _item_row(session, ctx.id, data.item)
    if item.kind == "physical" and data.address is None:
        raise InvalidInput(
            "a physical item needs a shipping address", code="address_required", field="address"
        )
    tier = await member_tier(session, ctx.id, member.id) if item.tiers else None
    used = await _used(session, ctx, member.id, [item], now)
    check = _check(
        item,
        now=now,
        tier=tier,
        used=used.get(item.item_id, 0),
        quantity=data.quantity,
        available_points=None,  # the ledger checks the points under the account's lock
    )
    if check.code is not None:
        raise _refused(check.code, item.item_id, remaining_limit=check.remaining_limit)
    order_id = uuid7()
    points = item.price_points * data.quantity
    debit = raise_for(
        (
            await ledger.debit(
                session,
                ctx,
                [
                    DebitIn(
                        idempotency_key=f"catalog.redeem:{order_id}",
                        member=member.external_id,
                        amount=points,
                        reason=f"redeem {item.item_id} x{data.quantity}",
                        reference=f"order:{order_id}",
                        meta={"order_id": str(order_id), "item": item.item_id},
                    )
                ],
                now=now,
            )
        )[0]
    )
    if item.stock is not None:
        # The one guarded statement: concurrent redemptions queue on the row and re-check
        # ``stock >= q`` against the committed value, so stock never goes below zero.
        taken = await session.execute(
            update(CatalogItem)
            .where(CatalogItem.id == item.id, CatalogItem.stock >= data.quantity)
            .values(stock=CatalogItem.stock - data.quantity)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            raise _refused(OUT_OF_STOCK, item.item_id)
    issued: list[dict[str, Any]] = []
    if item.kind == "coupon":
        assert item.coupon_template_id is not None
        issued = await _issue_coupons(
            session,
            ctx,
            member_id=member.id,
            template_id=item.coupon_template_id,
            order_id=order_id,
            quantity=data.quantity,
            now=now,
        )
    physical = item.kind == "physical"
    row = RedemptionOrder(
        id=order_id,
        program_id=ctx.id,
        member_id=member.id,
        item_id=item.item_id,
        item_ref=item.id,
        kind=item.kind,
        quantity=data.quantity,
        points=points,
        cash_fen=item.cash_fen * data.quantity,
        status="pending" if physical else "fulfilled",
        address=data.address.model_dump() if data.address else None,
        debit_transaction_id=uuid.UUID(str(debit.body["id"])),
        coupons=issued,
        created_at=now,
        updated_at=now,
        fulfilled_at=None if physical else now,
    )
    session.add(row)
    await session.flush()
    out = order_out(row, member.external_id)
    await _outbox(session, ctx, member.id, out, "order.created", now)
    return out


async def _order_row(
    session: AsyncSession,
    program_id: str,
    order_id: uuid.UUID,
    *,
    member_id: int | None = None,
    lock: bool = False,
) -> RedemptionOrder:
    stmt = select(RedemptionOrder).where(
        RedemptionOrder.program_id == program_id, RedemptionOrder.id == order_id
    )
    if member_id is not None:
        stmt = stmt.where(RedemptionOrder.member_id == member_id)
    if lock and is_postgres(session):
        stmt = stmt.with_for_update()
    row = (await session.scalars(stmt)).first()
    if row is None:
        raise OrderNotFound(f"order {order_id} not found", field="order_id")
    return row


async def get_order(
    session: AsyncSession, program_id: str, order_id: uuid.UUID, *, member_id: int | None = None
) -> OrderOut:
    row = await _order_row(session, program_id, order_id, member_id=member_id)
    return order_out(row, await members.external_id(session, program_id, row.member_id))


async def list_orders(
    session: AsyncSession,
    program_id: str,
    *,
    member_id: int | None = None,
    status: str | None = None,
    item: str | None = None,
    before: uuid.UUID | None = None,
    limit: int = 50,
) -> OrderPage:
    """Orders newest first (ids are time-ordered); ``next_cursor`` pages on."""
    stmt = select(RedemptionOrder, Member.external_id).join(
        Member, Member.id == RedemptionOrder.member_id
    )
    stmt = stmt.where(RedemptionOrder.program_id == program_id)
    if member_id is not None:
        stmt = stmt.where(RedemptionOrder.member_id == member_id)
    if status is not None:
        stmt = stmt.where(RedemptionOrder.status == status)
    if item is not None:
        stmt = stmt.where(RedemptionOrder.item_id == item)
    if before is not None:
        stmt = stmt.where(RedemptionOrder.id < before)
    rows = list(
        (await session.execute(stmt.order_by(RedemptionOrder.id.desc()).limit(limit + 1))).all()
    )
    items = [order_out(r, ext) for r, ext in rows[:limit]]
    nxt = str(items[-1].id) if len(rows) > limit else None
    return OrderPage(items=items, next_cursor=nxt)


async def _moved(
    session: AsyncSession, ctx: ProgramContext, row: RedemptionOrder, topic: str, now: datetime
) -> OrderOut:
    """Save an order's new status and tell the member (``topic`` in the outbox)."""
    row.updated_at = now
    await session.flush()
    out = order_out(row, await members.external_id(session, ctx.id, row.member_id))
    await _outbox(session, ctx, row.member_id, out, topic, now)
    return out


async def ship(
    session: AsyncSession,
    ctx: ProgramContext,
    order_id: uuid.UUID,
    *,
    tracking_no: str,
    now: datetime,
) -> OrderOut:
    """pending → shipped, with the carrier's tracking number (physical goods only)."""
    row = await _order_row(session, ctx.id, order_id, lock=True)
    if row.status == "shipped" and row.tracking_no == tracking_no:
        return order_out(row, await members.external_id(session, ctx.id, row.member_id))
    if row.kind != "physical" or row.status != "pending":
        raise OrderStatusConflict(
            f"a {row.status} {row.kind} order cannot be shipped",
            field="status",
            extra={"order_status": row.status},
        )
    row.status = "shipped"
    row.tracking_no = tracking_no
    row.shipped_at = now
    return await _moved(session, ctx, row, "order.shipped", now)


async def fulfil(
    session: AsyncSession, ctx: ProgramContext, order_id: uuid.UUID, *, now: datetime
) -> OrderOut:
    """shipped (or pending, for a pick-up) → fulfilled; fulfilling again changes nothing."""
    row = await _order_row(session, ctx.id, order_id, lock=True)
    if row.status == "fulfilled":
        return order_out(row, await members.external_id(session, ctx.id, row.member_id))
    if row.status not in ("pending", "shipped"):
        raise OrderStatusConflict(
            f"a {row.status} order cannot be fulfilled",
            field="status",
            extra={"order_status": row.status},
        )
    row.status = "fulfilled"
    row.fulfilled_at = now
    return await _moved(session, ctx, row, "order.fulfilled", now)


async def _void_coupons(
    session: AsyncSession, ctx: ProgramContext, order: RedemptionOrder, now: datetime
) -> list[dict[str, Any]]:
    """Void the order's coupons. A used coupon refuses the cancellation (``coupon_used``: the
    member has had the benefit); an expired one is left as it is."""
    out = []
    for coupon in order.coupons:
        try:
            voided = await coupons.void(
                session,
                ctx,
                str(coupon["code"]),
                reason=f"redemption order {order.id} cancelled",
                actor="catalog",
                now=now,
            )
        except JifenError as exc:
            if exc.code != "coupon_expired":
                raise
            out.append(coupon)
            continue
        out.append(voided.model_dump(mode="json"))
    return out


async def cancel(
    session: AsyncSession,
    ctx: ProgramContext,
    order_id: uuid.UUID,
    *,
    reason: str | None,
    now: datetime,
) -> OrderOut:
    """Cancel an order: reverse its debit through the ledger (the points go back to the lots they
    came from), put the stock back and void its unused coupons. Cancelling again changes nothing.
    """
    peek = await _order_row(session, ctx.id, order_id)
    await _lock_member(session, ctx.id, peek.member_id)
    row = await _order_row(session, ctx.id, order_id, lock=True)
    external_id = await members.external_id(session, ctx.id, row.member_id)
    if row.status == "cancelled":
        return order_out(row, external_id)
    voided = await _void_coupons(session, ctx, row, now)
    refund = raise_for(
        await ledger.reverse(
            session,
            ctx,
            row.debit_transaction_id,
            ReverseIn(
                idempotency_key=f"catalog.cancel:{row.id}",
                reason=reason or f"order {row.id} cancelled",
            ),
            now=now,
        )
    )
    await session.execute(
        update(CatalogItem)
        .where(CatalogItem.id == row.item_ref, CatalogItem.stock.is_not(None))
        .values(stock=CatalogItem.stock + row.quantity)
        .execution_options(synchronize_session=False)
    )
    row.status = "cancelled"
    row.cancel_reason = reason
    row.cancelled_at = now
    row.updated_at = now
    row.refund_transaction_id = uuid.UUID(str(refund.body["id"]))
    if voided:
        row.coupons = voided
    await session.flush()
    out = order_out(row, external_id)
    await _outbox(session, ctx, row.member_id, out, "order.cancelled", now)
    return out
