"""Gifting between members and donations to charity pools, both through the ledger.

A gift is ``ledger.transfer`` (the receiver's lots keep the sender's expiry dates) plus an
optional fee debited from the sender. Both members' rows are locked in id order first, so a
member's daily limit is checked under a lock and gifts in both directions at once never
deadlock (the ledger then locks the two accounts in id order too). A donation debits the member
into the pool's own system account ``donation:<pool>``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.clock import local_date, start_of_local_day
from jifen.errors import Conflict, Forbidden, InvalidInput, NotFound, Unprocessable
from jifen.events.service import member_tier
from jifen.kit import program_config
from jifen.kit.idempotency import derived_key, raise_for
from jifen.kit.money import to_units
from jifen.ledger import service as ledger
from jifen.ledger.schemas import DebitIn, TransferIn
from jifen.members import service as members
from jifen.members.models import Member
from jifen.programs.context import ProgramContext
from jifen.programs.service import record_audit
from jifen.tiers import service as tiers
from jifen.transfers.models import Donation, DonationPool, Gift, GiftSettings
from jifen.transfers.schemas import (
    DonationOut,
    Donor,
    GiftOut,
    GiftSettingsIn,
    PoolIn,
    PoolOut,
)


class GiftRefused(Unprocessable):
    default_code = "gift_refused"
    title = "Gift refused"


# --- settings ---------------------------------------------------------------------------------


async def get_settings(session: AsyncSession, program_id: str) -> GiftSettingsIn:
    return await program_config.load(session, GiftSettings, GiftSettingsIn, program_id)


async def save_settings(
    session: AsyncSession, ctx: ProgramContext, data: GiftSettingsIn, *, now: datetime, actor: str
) -> GiftSettingsIn:
    return await program_config.save(
        session, GiftSettings, ctx, data, now=now, actor=actor, action="gifts.settings"
    )


# --- gifts ------------------------------------------------------------------------------------


async def tier_code(session: AsyncSession, program_id: str, member: Member) -> str:
    """The member's tier code: from the tiers domain when the program has a tier scheme, else
    the ``tier`` member attribute (as the earning engine reads it)."""
    views = await tiers.tiers_of(session, program_id, [member.id])
    return member_tier(member, views.get(member.id))


def _gift_out(row: Gift, sender: str, receiver: str) -> GiftOut:
    return GiftOut(
        id=row.id,
        from_member=sender,
        to=receiver,
        asset=row.asset,
        amount=row.amount,
        fee=row.fee,
        message=row.message,
        transaction_id=str(row.transaction_id),
        fee_transaction_id=str(row.fee_transaction_id) if row.fee_transaction_id else None,
        created_at=row.created_at,
    )


async def send_gift(
    session: AsyncSession,
    ctx: ProgramContext,
    *,
    sender: str,
    receiver: str,
    amount: int,
    message: str | None,
    request_key: str,
    now: datetime,
) -> GiftOut:
    settings = await get_settings(session, ctx.id)
    if not settings.enabled:
        raise Forbidden("gifting is not enabled in this program", code="gifting_disabled")
    if sender == receiver:
        raise InvalidInput("a member cannot gift to themselves", code="same_member", field="to")
    refs = await members.resolve(session, ctx.id, [sender, receiver], create=False, now=now)
    # Both rows, in id order: the limit check below is serialised per sender, and gifts both
    # ways at once take their locks in the same order.
    locked = await members.by_ids(session, ctx.id, [r.id for r in refs.values()], lock=True)
    from_row, to_row = locked[refs[sender].id], locked[refs[receiver].id]
    if settings.eligible_tiers is not None:
        tier = await tier_code(session, ctx.id, from_row)
        if tier not in settings.eligible_tiers:
            raise Forbidden(
                f"gifting needs one of the tiers {', '.join(settings.eligible_tiers)}",
                code="tier_not_eligible",
                field="from_member",
                extra={"tier": tier or None, "eligible_tiers": settings.eligible_tiers},
            )
    if amount < settings.min_amount:
        raise GiftRefused(
            f"the smallest gift is {settings.min_amount}",
            code="below_minimum",
            field="amount",
            extra={"min_amount": settings.min_amount},
        )
    if settings.max_amount is not None and amount > settings.max_amount:
        raise GiftRefused(
            f"the largest gift is {settings.max_amount}",
            code="above_maximum",
            field="amount",
            extra={"max_amount": settings.max_amount},
        )
    if settings.daily_limit is not None:
        tz = ctx.settings.timezone
        today = local_date(now, tz)
        # The next local midnight, not start + 24 h: a day across a DST change is 23 or 25 hours.
        start = start_of_local_day(today, tz)
        end = start_of_local_day(today + timedelta(days=1), tz)
        used = int(
            await session.scalar(
                select(func.coalesce(func.sum(Gift.amount), 0)).where(
                    Gift.program_id == ctx.id,
                    Gift.member_id == from_row.id,
                    Gift.created_at >= start,
                    Gift.created_at < end,
                )
            )
            or 0
        )
        if used + amount > settings.daily_limit:
            raise GiftRefused(
                f"a member may give {settings.daily_limit} a day; {used} given today",
                code="daily_limit_exceeded",
                field="amount",
                extra={"daily_limit": settings.daily_limit, "used": used},
            )
    moved = raise_for(
        await ledger.transfer(
            session,
            ctx,
            TransferIn(
                idempotency_key=derived_key("gift", request_key),
                from_member=sender,
                to_member=receiver,
                asset=settings.asset,
                amount=amount,
                reason=f"gift to {receiver}" + (f": {message}" if message else ""),
                reference=f"gift:{request_key}"[:200],
            ),
            now=now,
        )
    )
    fee = to_units(amount * settings.fee_rate, "down")
    fee_txn: uuid.UUID | None = None
    if fee > 0:
        charged = raise_for(
            (
                await ledger.debit(
                    session,
                    ctx,
                    [
                        DebitIn(
                            idempotency_key=derived_key("gift-fee", request_key),
                            member=sender,
                            asset=settings.asset,
                            amount=fee,
                            reason=f"gift fee ({settings.fee_rate})",
                            reference=f"gift:{moved.body['id']}",
                            counter=settings.fee_account,
                        )
                    ],
                    now=now,
                )
            )[0]
        )
        fee_txn = uuid.UUID(charged.body["id"])
    row = Gift(
        program_id=ctx.id,
        member_id=from_row.id,
        to_member_id=to_row.id,
        asset=settings.asset,
        amount=amount,
        fee=fee,
        message=message,
        transaction_id=uuid.UUID(moved.body["id"]),
        fee_transaction_id=fee_txn,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return _gift_out(row, sender, receiver)


async def list_gifts(
    session: AsyncSession, program_id: str, external_id: str, *, limit: int
) -> list[GiftOut]:
    """The member's gifts, sent and received, newest first."""
    member = await members.get(session, program_id, external_id)
    rows = list(
        await session.scalars(
            select(Gift)
            .where(
                Gift.program_id == program_id,
                (Gift.member_id == member.id) | (Gift.to_member_id == member.id),
            )
            .order_by(Gift.id.desc())
            .limit(limit)
        )
    )
    ids = {r.member_id for r in rows} | {r.to_member_id for r in rows}
    ext = await members.external_ids(session, program_id, ids)
    return [_gift_out(r, ext[r.member_id], ext[r.to_member_id]) for r in rows]


# --- donation pools ---------------------------------------------------------------------------


async def _pool(session: AsyncSession, program_id: str, pool_id: str) -> DonationPool:
    row = (
        await session.scalars(
            select(DonationPool).where(
                DonationPool.program_id == program_id, DonationPool.pool_id == pool_id
            )
        )
    ).first()
    if row is None:
        raise NotFound(f"donation pool {pool_id!r} not found", code="pool_not_found", field="pool")
    return row


async def save_pool(
    session: AsyncSession,
    ctx: ProgramContext,
    pool_id: str,
    data: PoolIn,
    *,
    now: datetime,
    actor: str,
) -> PoolOut:
    assets = {a.code for a in await ledger.list_assets(session, ctx.id)}
    if data.asset not in assets:
        raise InvalidInput(
            f"asset {data.asset!r} is not defined", code="unknown_asset", field="asset"
        )
    try:
        row = await _pool(session, ctx.id, pool_id)
        before: dict[str, Any] | None = {"name": row.name, "active": row.active, "goal": row.goal}
        if row.asset != data.asset:
            raise Conflict(
                "a pool's asset cannot change once it exists",
                code="pool_asset_fixed",
                field="asset",
            )
    except NotFound:
        row = DonationPool(program_id=ctx.id, pool_id=pool_id, created_at=now)
        session.add(row)
        before = None
    row.name = data.name
    row.description = data.description
    row.asset = data.asset
    row.goal = data.goal
    row.active = data.active
    row.updated_at = now
    await record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="donations.pool",
        entity_type="donation_pool",
        entity_id=pool_id,
        now=now,
        before=before,
        after=data.model_dump(mode="json"),
    )
    await session.flush()
    return await pool_view(session, ctx.id, pool_id)


async def pool_view(
    session: AsyncSession, program_id: str, pool_id: str, *, top: int = 20
) -> PoolOut:
    """The pool with its public totals and top donors (anonymous without consent)."""
    pool = await _pool(session, program_id, pool_id)
    mine = (Donation.program_id == program_id) & (Donation.pool_id == pool_id)
    total, count, donors = (
        await session.execute(
            select(
                func.coalesce(func.sum(Donation.amount), 0),
                func.count(),
                func.count(func.distinct(Donation.member_id)),
            ).where(mine)
        )
    ).one()
    per_donor = (
        select(
            Donation.member_id.label("member_id"),
            func.sum(Donation.amount).label("given"),
            func.count().label("n"),
        )
        .where(mine)
        .group_by(Donation.member_id)
        .subquery()
    )
    rows = await session.execute(
        select(Member.external_id, Member.name, Member.consent, per_donor.c.given, per_donor.c.n)
        .join(Member, Member.id == per_donor.c.member_id)
        .order_by(per_donor.c.given.desc(), Member.id)
        .limit(top)
    )
    top_donors = []
    for ext, name, consent, amount, n in rows:
        public = bool((consent or {}).get("public_donor") is True)
        top_donors.append(
            Donor(
                name=(name or ext) if public else None,
                anonymous=not public,
                amount=int(amount),
                donations=int(n),
            )
        )
    return PoolOut(
        id=pool.pool_id,
        name=pool.name,
        description=pool.description,
        asset=pool.asset,
        goal=pool.goal,
        active=pool.active,
        total=int(total),
        donations=int(count),
        donors=int(donors),
        top_donors=top_donors,
    )


async def donate(
    session: AsyncSession,
    ctx: ProgramContext,
    *,
    member: str,
    pool_id: str,
    amount: int,
    request_key: str,
    now: datetime,
) -> DonationOut:
    pool = await _pool(session, ctx.id, pool_id)
    if not pool.active:
        raise Conflict(f"donation pool {pool_id!r} is closed", code="pool_inactive", field="pool")
    ref = (await members.resolve(session, ctx.id, [member], create=False, now=now))[member]
    debited = raise_for(
        (
            await ledger.debit(
                session,
                ctx,
                [
                    DebitIn(
                        idempotency_key=derived_key("donation", request_key),
                        member=member,
                        asset=pool.asset,
                        amount=amount,
                        reason=f"donation: {pool.name}"[:500],
                        reference=f"donation:{pool_id}",
                        counter=f"donation:{pool_id}",
                    )
                ],
                now=now,
            )
        )[0]
    )
    row = Donation(
        program_id=ctx.id,
        pool_id=pool_id,
        member_id=ref.id,
        asset=pool.asset,
        amount=amount,
        transaction_id=uuid.UUID(debited.body["id"]),
        created_at=now,
    )
    session.add(row)
    await session.flush()
    total = await session.scalar(
        select(func.coalesce(func.sum(Donation.amount), 0)).where(
            Donation.program_id == ctx.id, Donation.pool_id == pool_id
        )
    )
    return DonationOut(
        id=row.id,
        pool=pool_id,
        member=member,
        asset=pool.asset,
        amount=amount,
        transaction_id=str(row.transaction_id),
        pool_total=int(total or 0),
        created_at=now,
    )
