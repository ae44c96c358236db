"""Rewards held for manual review: approve pays through the ledger once; reject pays nothing."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.db.engine import is_postgres
from jifen.errors import Conflict, NotFound
from jifen.events.models import Event
from jifen.ledger import service as ledger
from jifen.ledger.schemas import CreditIn
from jifen.members.models import Member
from jifen.programs.context import ProgramContext
from jifen.programs.service import record_audit
from jifen.rules.models import PendingReward


class ReviewOut(BaseModel):
    id: int
    member: str
    event: str
    rule_id: str
    rule_version: int
    asset: str
    amount: int
    status: str
    decided_by: str | None
    decision_reason: str | None
    transaction_id: str | None
    created_at: datetime
    decided_at: datetime | None


async def _out(session: AsyncSession, row: PendingReward) -> ReviewOut:
    member = await session.get(Member, row.member_id)
    return _to_out(row, member.external_id if member else "?")


def _to_out(row: PendingReward, member: str) -> ReviewOut:
    return ReviewOut(
        id=row.id,
        member=member,
        event=row.event_client_id,
        rule_id=row.rule_id,
        rule_version=row.rule_version,
        asset=row.asset,
        amount=row.amount,
        status=row.status,
        decided_by=row.decided_by,
        decision_reason=row.decision_reason,
        transaction_id=row.transaction_id,
        created_at=row.created_at,
        decided_at=row.decided_at,
    )


async def list_reviews(session: AsyncSession, program_id: str, *, status: str) -> list[ReviewOut]:
    rows = await session.execute(
        select(PendingReward, Member.external_id)
        .join(Member, Member.id == PendingReward.member_id)
        .where(PendingReward.program_id == program_id, PendingReward.status == status)
        .order_by(PendingReward.id)
        .limit(500)
    )
    return [_to_out(row, external_id) for row, external_id in rows]


async def decide(
    session: AsyncSession,
    ctx: ProgramContext,
    review_id: int,
    *,
    approve: bool,
    reviewer: str,
    reason: str | None,
    now: datetime,
) -> ReviewOut:
    stmt = select(PendingReward).where(
        PendingReward.program_id == ctx.id, PendingReward.id == review_id
    )
    if is_postgres(session):
        stmt = stmt.with_for_update()
    row = (await session.scalars(stmt)).first()
    if row is None:
        raise NotFound(f"review {review_id} not found", code="review_not_found", field="review_id")
    if row.status != "pending":
        raise Conflict(f"review {review_id} is already {row.status}", code="review_decided")
    row.status = "approved" if approve else "rejected"
    row.decided_by = reviewer
    row.decision_reason = reason
    row.decided_at = now
    if approve:
        member = await session.get(Member, row.member_id)
        event = (
            await session.scalars(
                select(Event).where(
                    Event.program_id == ctx.id, Event.client_id == row.event_client_id
                )
            )
        ).first()
        assert member is not None
        assert event is not None
        outcome = (
            await ledger.credit(
                session,
                ctx,
                [
                    CreditIn(
                        idempotency_key=f"review:{row.id}",
                        member=member.external_id,
                        asset=row.asset,
                        amount=row.amount,
                        reason=f"{event.type}: {row.rule_id} (reviewed)",
                        reference=event.subject or event.client_id,
                        rule_id=row.rule_id,
                        rule_version=row.rule_version,
                        meta={
                            "explain": {**row.explanation, "review": row.id, "reviewer": reviewer}
                        },
                    )
                ],
                now=now,
            )
        )[0]
        row.transaction_id = outcome.body.get("id")
    await session.flush()
    await record_audit(
        session,
        program_id=ctx.id,
        actor=reviewer,
        action="review.approve" if approve else "review.reject",
        entity_type="review",
        entity_id=str(row.id),
        now=now,
        after={"status": row.status, "amount": row.amount, "asset": row.asset},
        reason=reason,
    )
    return await _out(session, row)
