"""The cash wallet: withdrawal requests held in the ledger until finance approves or rejects.

A request places a ledger hold on the member's ``cash`` (so the same fen cannot be withdrawn
twice); approval captures it (cash → redemption), rejection voids it, and "paid" records the
payout reference once finance has sent the money. Every decision is audited.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.clock import local_date, start_of_local_day
from jifen.db.engine import is_postgres
from jifen.errors import Conflict, NotFound, Unprocessable
from jifen.kit import program_config
from jifen.kit.idempotency import Outcome, derived_key, raise_for
from jifen.ledger import service as ledger
from jifen.ledger.schemas import CaptureIn, HoldIn, VoidIn
from jifen.members import service as members
from jifen.members.models import Member
from jifen.notify.service import enqueue_rows, message_row
from jifen.programs.context import ProgramContext
from jifen.programs.service import record_audit
from jifen.wallet.models import WalletSettings, Withdrawal
from jifen.wallet.schemas import (
    PayableReport,
    PayableTotal,
    WalletSettingsIn,
    WithdrawalIn,
    WithdrawalOut,
)

ASSET = "cash"
# Requests that count against the daily limit (and the money they hold or paid).
LIVE = ("requested", "approved", "paid")


class WithdrawalRefused(Unprocessable):
    default_code = "withdrawal_refused"
    title = "Withdrawal refused"


# --- settings ---------------------------------------------------------------------------------


async def get_settings(session: AsyncSession, program_id: str) -> WalletSettingsIn:
    return await program_config.load(session, WalletSettings, WalletSettingsIn, program_id)


async def save_settings(
    session: AsyncSession, ctx: ProgramContext, data: WalletSettingsIn, *, now: datetime, actor: str
) -> WalletSettingsIn:
    return await program_config.save(
        session, WalletSettings, ctx, data, now=now, actor=actor, action="wallet.settings"
    )


# --- requests ---------------------------------------------------------------------------------


def _out(row: Withdrawal, member: str) -> WithdrawalOut:
    return WithdrawalOut(
        id=row.id,
        member=member,
        asset=row.asset,
        amount=row.amount,
        status=row.status,
        payee=row.payee,
        hold_id=str(row.hold_id),
        capture_transaction_id=str(row.capture_transaction_id)
        if row.capture_transaction_id
        else None,
        reason=row.reason,
        decided_by=row.decided_by,
        payout_reference=row.payout_reference,
        requested_at=row.requested_at,
        decided_at=row.decided_at,
        paid_at=row.paid_at,
    )


async def request_withdrawal(
    session: AsyncSession,
    ctx: ProgramContext,
    external_id: str,
    data: WithdrawalIn,
    *,
    request_key: str,
    now: datetime,
) -> WithdrawalOut:
    settings = await get_settings(session, ctx.id)
    if data.amount < settings.min_amount:
        raise WithdrawalRefused(
            f"the minimum withdrawal is {settings.min_amount} fen",
            code="below_minimum",
            field="amount",
            extra={"min_amount": settings.min_amount},
        )
    if settings.max_amount is not None and data.amount > settings.max_amount:
        raise WithdrawalRefused(
            f"the maximum withdrawal is {settings.max_amount} fen",
            code="above_maximum",
            field="amount",
            extra={"max_amount": settings.max_amount},
        )
    member = await members.get(session, ctx.id, external_id)
    # The member's row lock serialises their requests, so two at once cannot both pass the limit.
    await members.by_ids(session, ctx.id, [member.id], lock=True)
    if settings.daily_limit is not None:
        tz = ctx.settings.timezone
        today = local_date(now, tz)
        # The next local midnight, not start + 24 h: a day across a DST change is 23 or 25 hours.
        start = start_of_local_day(today, tz)
        end = start_of_local_day(today + timedelta(days=1), tz)
        used = int(
            await session.scalar(
                select(func.coalesce(func.sum(Withdrawal.amount), 0)).where(
                    Withdrawal.program_id == ctx.id,
                    Withdrawal.member_id == member.id,
                    Withdrawal.requested_at >= start,
                    Withdrawal.requested_at < end,
                    Withdrawal.status.in_(LIVE),
                )
            )
            or 0
        )
        if used + data.amount > settings.daily_limit:
            raise WithdrawalRefused(
                f"the daily withdrawal limit is {settings.daily_limit} fen; "
                f"{used} already requested today",
                code="daily_limit_exceeded",
                field="amount",
                extra={"daily_limit": settings.daily_limit, "used": used},
            )
    outcome = raise_for(
        (
            await ledger.hold(
                session,
                ctx,
                [
                    HoldIn(
                        idempotency_key=derived_key("withdrawal", request_key),
                        member=member.external_id,
                        asset=ASSET,
                        amount=data.amount,
                        timeout_seconds=settings.hold_days * 24 * 3600,
                        reason="withdrawal request",
                    )
                ],
                now=now,
            )
        )[0]
    )
    row = Withdrawal(
        program_id=ctx.id,
        member_id=member.id,
        asset=ASSET,
        amount=data.amount,
        status="requested",
        payee=data.payee,
        hold_id=uuid.UUID(outcome.body["id"]),
        requested_at=now,
    )
    session.add(row)
    await session.flush()
    return _out(row, member.external_id)


async def _locked(session: AsyncSession, program_id: str, withdrawal_id: int) -> Withdrawal:
    stmt = select(Withdrawal).where(
        Withdrawal.program_id == program_id, Withdrawal.id == withdrawal_id
    )
    if is_postgres(session):
        stmt = stmt.with_for_update()
    row = (await session.scalars(stmt)).first()
    if row is None:
        raise NotFound(
            f"withdrawal {withdrawal_id} not found",
            code="withdrawal_not_found",
            field="withdrawal_id",
        )
    return row


def _not_in(row: Withdrawal, wanted: str) -> Conflict:
    return Conflict(
        f"withdrawal {row.id} is {row.status}, not {wanted}",
        code=f"withdrawal_not_{wanted}",
        field="withdrawal_id",
        extra={"withdrawal_status": row.status},
    )


async def _audit(
    session: AsyncSession,
    ctx: ProgramContext,
    row: Withdrawal,
    action: str,
    operator: str,
    before: str,
    now: datetime,
    reason: str | None = None,
) -> None:
    await record_audit(
        session,
        program_id=ctx.id,
        actor=operator,
        action=f"withdrawal.{action}",
        entity_type="withdrawal",
        entity_id=str(row.id),
        now=now,
        before={"status": before, "amount": row.amount},
        after={
            "status": row.status,
            "amount": row.amount,
            "payout_reference": row.payout_reference,
        },
        reason=reason,
    )


async def _notify(
    session: AsyncSession, ctx: ProgramContext, row: Withdrawal, now: datetime
) -> None:
    """Tell the member (``withdrawal.approved``, ``.rejected``, ``.paid``), with the outcome."""
    await enqueue_rows(
        session,
        [
            message_row(
                program_id=ctx.id,
                member_id=row.member_id,
                topic=f"withdrawal.{row.status}",
                payload={
                    "withdrawal_id": row.id,
                    "amount": row.amount,
                    "yuan": f"{row.amount // 100}.{row.amount % 100:02d}",
                    "reason": row.reason,
                    "payout_reference": row.payout_reference,
                },
                now=now,
            )
        ],
    )


async def approve(
    session: AsyncSession, ctx: ProgramContext, withdrawal_id: int, *, operator: str, now: datetime
) -> Outcome:
    """Capture the hold: the cash leaves the member's wallet and becomes payable."""
    row = await _locked(session, ctx.id, withdrawal_id)
    if row.status != "requested":
        raise _not_in(row, "requested")
    captured = await ledger.capture(
        session,
        ctx,
        row.hold_id,
        CaptureIn(
            idempotency_key=f"withdrawal:{row.id}:capture",
            reason="withdrawal approved",
            reference=f"withdrawal:{row.id}",
        ),
        now=now,
    )
    member = await members.external_id(session, row.program_id, row.member_id)
    if not captured.ok:
        if captured.body.get("code") != "hold_not_active":
            raise_for(captured)
        # The hold lapsed before anyone decided: the request is over, the cash never left.
        row.status = "expired"
        row.decided_at = now
        await session.flush()
        return Outcome(
            409,
            Conflict(
                f"withdrawal {row.id} expired before it was approved",
                code="withdrawal_expired",
                field="withdrawal_id",
            ).to_problem(),
        )
    row.status = "approved"
    row.capture_transaction_id = uuid.UUID(captured.body["id"])
    row.decided_by = operator
    row.decided_at = now
    await _audit(session, ctx, row, "approve", operator, "requested", now)
    await _notify(session, ctx, row, now)
    await session.flush()
    return Outcome(200, _out(row, member).model_dump(mode="json"))


async def reject(
    session: AsyncSession,
    ctx: ProgramContext,
    withdrawal_id: int,
    *,
    operator: str,
    reason: str,
    now: datetime,
) -> WithdrawalOut:
    """Void the hold: the cash is the member's again."""
    row = await _locked(session, ctx.id, withdrawal_id)
    if row.status != "requested":
        raise _not_in(row, "requested")
    voided = await ledger.void(
        session,
        ctx,
        row.hold_id,
        VoidIn(idempotency_key=f"withdrawal:{row.id}:void", reason=reason),
        now=now,
    )
    if not voided.ok and voided.body.get("code") != "hold_not_active":
        raise_for(voided)  # a lapsed hold already gave the cash back
    row.status = "rejected"
    row.reason = reason
    row.decided_by = operator
    row.decided_at = now
    await _audit(session, ctx, row, "reject", operator, "requested", now, reason)
    await _notify(session, ctx, row, now)
    await session.flush()
    return _out(row, await members.external_id(session, row.program_id, row.member_id))


async def mark_paid(
    session: AsyncSession,
    ctx: ProgramContext,
    withdrawal_id: int,
    *,
    operator: str,
    payout_reference: str,
    now: datetime,
) -> WithdrawalOut:
    row = await _locked(session, ctx.id, withdrawal_id)
    if row.status != "approved":
        raise _not_in(row, "approved")
    row.status = "paid"
    row.payout_reference = payout_reference
    row.paid_at = now
    await _audit(session, ctx, row, "paid", operator, "approved", now)
    await _notify(session, ctx, row, now)
    await session.flush()
    return _out(row, await members.external_id(session, row.program_id, row.member_id))


# --- reading ----------------------------------------------------------------------------------


async def get_withdrawal(
    session: AsyncSession, program_id: str, withdrawal_id: int, *, member_id: int | None = None
) -> WithdrawalOut:
    row = await session.get(Withdrawal, withdrawal_id)
    if (
        row is None
        or row.program_id != program_id
        or (member_id is not None and row.member_id != member_id)
    ):
        raise NotFound(
            f"withdrawal {withdrawal_id} not found",
            code="withdrawal_not_found",
            field="withdrawal_id",
        )
    return _out(row, await members.external_id(session, row.program_id, row.member_id))


async def list_withdrawals(
    session: AsyncSession,
    program_id: str,
    *,
    member_id: int | None,
    status: str | None,
    after_id: int | None,
    limit: int,
) -> tuple[list[WithdrawalOut], int | None]:
    """Newest first; returns the page and the id to continue after."""
    stmt = (
        select(Withdrawal, Member.external_id)
        .join(Member, Member.id == Withdrawal.member_id)
        .where(Withdrawal.program_id == program_id)
    )
    if member_id is not None:
        stmt = stmt.where(Withdrawal.member_id == member_id)
    if status is not None:
        stmt = stmt.where(Withdrawal.status == status)
    if after_id is not None:
        stmt = stmt.where(Withdrawal.id < after_id)
    rows = list(await session.execute(stmt.order_by(Withdrawal.id.desc()).limit(limit + 1)))
    items = [_out(w, ext) for w, ext in rows[:limit]]
    return items, (rows[limit - 1][0].id if len(rows) > limit else None)


async def payable(session: AsyncSession, program_id: str) -> PayableReport:
    rows = await session.execute(
        select(Withdrawal, Member.external_id)
        .join(Member, Member.id == Withdrawal.member_id)
        .where(
            Withdrawal.program_id == program_id,
            Withdrawal.status.in_(("requested", "approved")),
        )
        .order_by(Withdrawal.status, Withdrawal.id)
    )
    items = [_out(w, ext) for w, ext in rows]

    def total(status: str) -> PayableTotal:
        # The totals are of the listed rows themselves: no second query over the same rows.
        amounts = [w.amount for w in items if w.status == status]
        return PayableTotal(count=len(amounts), amount=sum(amounts))

    return PayableReport(
        asset=ASSET,
        approved_unpaid=total("approved"),
        pending=total("requested"),
        items=items,
    )


def payable_csv(report: PayableReport) -> str:
    """The payable report as CSV for finance: one row per withdrawal, amounts in fen and yuan."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(
        ["id", "member", "status", "amount_fen", "amount_yuan", "payee", "requested_at",
         "decided_at", "decided_by"]
    )  # fmt: skip
    for w in report.items:
        yuan = f"{w.amount // 100}.{w.amount % 100:02d}"
        writer.writerow(
            [w.id, w.member, w.status, w.amount, yuan, w.payee or "", w.requested_at.isoformat(),
             w.decided_at.isoformat() if w.decided_at else "", w.decided_by or ""]
        )  # fmt: skip
    return buf.getvalue()
