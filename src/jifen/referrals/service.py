"""Referrals: invite codes, first-touch attribution with fraud checks, qualification and revocation.

The referral domain decides *whether* an invite counts; what it pays is the earning engine's
business. When an invite qualifies, an ``invite_accepted`` event for the inviter goes through
``jifen.events.service.ingest`` (client id ``referral:<id>``, attribute ``invitee``), so the
operators' rules pay ladders, milestones and cash with their limits and budgets. When the
invitee leaves, a ``member_left`` event for the invitee makes the engine reverse that invite's
payouts; a refund within the program's window (or an operator) reverses them directly.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.clock import Clock
from jifen.db.engine import is_postgres
from jifen.errors import AlreadyExists, Conflict, NotFound, Unprocessable
from jifen.events import service as events
from jifen.events.listeners import ProcessedEvent
from jifen.events.schemas import EventIn
from jifen.kit import program_config
from jifen.kit.idempotency import IdempotencyRace
from jifen.kit.sql import in_values, insert_ignore
from jifen.ledger import service as ledger
from jifen.ledger.schemas import ReverseIn
from jifen.members import service as members
from jifen.members.models import Member
from jifen.notify.service import enqueue_rows, message_row
from jifen.programs.context import ProgramContext
from jifen.programs.service import record_audit
from jifen.referrals.models import Referral, ReferralCode, ReferralSettings
from jifen.referrals.schemas import (
    AttributeIn,
    ReferralCodeOut,
    ReferralCounts,
    ReferralList,
    ReferralOut,
    ReferralSettingsIn,
)

# No 0/O, 1/I/L: codes are read aloud and typed by hand.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
JOB_SLICE = 100


class ReferralRefused(Unprocessable):
    default_code = "referral_refused"
    title = "Referral refused"


# --- settings ---------------------------------------------------------------------------------


async def get_settings(session: AsyncSession, program_id: str) -> ReferralSettingsIn:
    return await program_config.load(session, ReferralSettings, ReferralSettingsIn, program_id)


async def save_settings(
    session: AsyncSession,
    ctx: ProgramContext,
    data: ReferralSettingsIn,
    *,
    now: datetime,
    actor: str,
) -> ReferralSettingsIn:
    return await program_config.save(
        session, ReferralSettings, ctx, data, now=now, actor=actor, action="referrals.settings"
    )


# --- codes ------------------------------------------------------------------------------------


def link_for(settings: ReferralSettingsIn, code: str) -> str | None:
    base = settings.link_base_url
    if not base:
        return None
    if "{code}" in base:
        return base.replace("{code}", code)
    return f"{base}{'&' if '?' in base else '?'}invite_code={code}"


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


async def _code_row(session: AsyncSession, program_id: str, member_id: int) -> ReferralCode | None:
    return (
        await session.scalars(
            select(ReferralCode).where(
                ReferralCode.program_id == program_id, ReferralCode.member_id == member_id
            )
        )
    ).first()


async def ensure_code(
    session: AsyncSession, ctx: ProgramContext, member: Member, *, now: datetime
) -> str:
    """The member's invite code, made on first ask (two first asks at once agree on one)."""
    for _ in range(5):
        row = await _code_row(session, ctx.id, member.id)
        if row is not None:
            return row.code
        # Ignores a conflict on either key: the member's code made meanwhile, or a code clash.
        await session.execute(
            insert_ignore(session, ReferralCode),
            [
                {
                    "program_id": ctx.id,
                    "member_id": member.id,
                    "code": _new_code(),
                    "created_at": now,
                }
            ],
        )
    raise RuntimeError("could not allocate an invite code")


async def code_of(
    session: AsyncSession, ctx: ProgramContext, external_id: str, *, now: datetime
) -> ReferralCodeOut:
    member = await members.get(session, ctx.id, external_id)
    code = await ensure_code(session, ctx, member, now=now)
    settings = await get_settings(session, ctx.id)
    return ReferralCodeOut(member=member.external_id, code=code, link=link_for(settings, code))


# --- attribution ------------------------------------------------------------------------------


def _attr(member: Member, name: str, max_length: int) -> str | None:
    """A member attribute as a string (cut to its column's length), None when not one."""
    value = (member.attributes or {}).get(name)
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value)[:max_length]


async def _inviter_of_code(session: AsyncSession, program_id: str, code: str) -> Member:
    row = (
        await session.scalars(
            select(ReferralCode).where(
                ReferralCode.program_id == program_id, ReferralCode.code == code.upper()
            )
        )
    ).first()
    inviter = None if row is None else await session.get(Member, row.member_id)
    if inviter is None:
        raise NotFound(
            f"invite code {code!r} not found", code="referral_code_not_found", field="code"
        )
    return inviter


def _check(
    settings: ReferralSettingsIn,
    inviter: Member,
    invitee: Member,
    device_id: str | None,
    ip: str | None,
) -> None:
    """Refuse self-referral and an invitee on the inviter's device or network (per settings)."""
    if inviter.id == invitee.id:
        raise ReferralRefused(
            "a member cannot invite themselves", code="self_referral", field="invitee"
        )
    if (
        settings.refuse_shared_device
        and device_id
        and device_id == _attr(inviter, "device_id", 200)
    ):
        raise ReferralRefused(
            "the invitee registered on the inviter's device",
            code="shared_device",
            field="device_id",
        )
    if settings.refuse_shared_ip and ip and ip == _attr(inviter, "ip", 64):
        raise ReferralRefused(
            "the invitee shares the inviter's IP address", code="shared_ip", field="ip"
        )


async def _existing(session: AsyncSession, program_id: str, invitee_id: int) -> Referral | None:
    return (
        await session.scalars(
            select(Referral).where(
                Referral.program_id == program_id, Referral.invitee_id == invitee_id
            )
        )
    ).first()


async def attribute(
    session: AsyncSession,
    ctx: ProgramContext,
    data: AttributeIn,
    *,
    now: datetime,
    source: str = "api",
) -> ReferralOut:
    """Attribute ``data.invitee`` to the owner of ``data.code`` (first touch: once per invitee).

    Qualifies at once when the program's referrals qualify on registration."""
    settings = await get_settings(session, ctx.id)
    inviter = await _inviter_of_code(session, ctx.id, data.code)
    refs = await members.resolve(
        session, ctx.id, [data.invitee], create=ctx.settings.auto_create_members, now=now
    )
    invitee = await session.get(Member, refs[data.invitee].id)
    assert invitee is not None
    device_id = data.device_id or _attr(invitee, "device_id", 200)
    ip = data.ip or _attr(invitee, "ip", 64)
    _check(settings, inviter, invitee, device_id, ip)
    prior = await _existing(session, ctx.id, invitee.id)
    if prior is not None and prior.status != "refused":
        raise AlreadyExists(
            f"member {invitee.external_id!r} was already invited",
            code="already_referred",
            field="invitee",
        )
    if prior is None:
        row = Referral(program_id=ctx.id, invitee_id=invitee.id, created_at=now)
        session.add(row)
    else:
        row = prior  # a refused attempt from member attributes: this one replaces it
        row.created_at = now
    row.member_id = inviter.id
    row.code = data.code.upper()
    row.status = "pending"
    row.source = source
    row.device_id = device_id
    row.ip = ip
    row.refused_code = None
    row.rewards, row.reversed, row.transactions = {}, {}, []
    try:
        await session.flush()
    except IntegrityError as exc:
        # Another request attributed this invitee first: retry, and be refused as a duplicate.
        raise IdempotencyRace(str(exc)) from exc
    if settings.qualify_on == "registered":
        await qualify(session, ctx, row, at=now, now=now)
    return _out(row, inviter.external_id, invitee.external_id)


async def qualify(
    session: AsyncSession, ctx: ProgramContext, row: Referral, *, at: datetime, now: datetime
) -> None:
    """Count one invite now (``invite_event_refused`` if the engine refuses the event)."""
    refused = await qualify_many(session, ctx, [(row, at)], now=now)
    if refused:
        raise Unprocessable(
            f"the invite event was refused: {refused[0]}", code="invite_event_refused"
        )


async def qualify_many(
    session: AsyncSession,
    ctx: ProgramContext,
    todo: Sequence[tuple[Referral, datetime]],
    *,
    now: datetime,
) -> list[str]:
    """Count invites: each inviter's ``invite_accepted`` (at the qualifying moment) goes through
    the earning engine in one batch, so the rules pay ladders, milestones and capped cash.

    Returns the engine's reasons for the events it refused; those referrals stay pending."""
    if not todo:
        return []
    ext = await members.external_ids(
        session, ctx.id, [i for row, _ in todo for i in (row.member_id, row.invitee_id)]
    )
    results = await events.ingest(
        session,
        ctx,
        [
            EventIn(
                client_id=f"referral:{row.id}",
                type="invite_accepted",
                member=ext[row.member_id],
                occurred_at=min(at, now),
                attributes={
                    "invitee": ext[row.invitee_id],
                    "referral_id": row.id,
                    "code": row.code,
                },
            )
            for row, at in todo
        ],
        now=now,
    )
    refused: list[str] = []
    messages = []
    for (row, _), result in zip(todo, results, strict=True):
        if result.status == "refused":
            refused.append(str((result.error or {}).get("detail", "")))
            continue
        rewards: dict[str, int] = {}
        for p in result.postings:
            rewards[p.asset] = rewards.get(p.asset, 0) + p.amount
        row.rewards = rewards
        row.transactions = [p.transaction_id for p in result.postings]
        row.status = "qualified"
        row.qualified_at = now
        messages.append(
            message_row(
                program_id=ctx.id,
                member_id=row.member_id,
                topic="referral.qualified",
                payload={
                    "referral_id": row.id,
                    "invitee": ext[row.invitee_id],
                    "rewards": rewards,
                },
                now=now,
            )
        )
    await session.flush()
    if messages:
        await enqueue_rows(session, messages)
    return refused


# --- revocation -------------------------------------------------------------------------------


def _mark_revoked(row: Referral, reason: str, taken: dict[str, int], now: datetime) -> None:
    reversed_ = dict(row.reversed or {})
    for asset, amount in taken.items():
        reversed_[asset] = reversed_.get(asset, 0) + amount
    row.reversed = reversed_
    row.status = "revoked"
    row.revoke_reason = reason
    row.revoked_at = now


async def _reverse_rewards(
    session: AsyncSession, ctx: ProgramContext, row: Referral, *, reason: str, now: datetime
) -> dict[str, int]:
    """Reverse what is left of each payout of the invite; returns what was taken, per asset."""
    taken: dict[str, int] = {}
    for raw in row.transactions or []:
        outcome = await ledger.reverse(
            session,
            ctx,
            uuid.UUID(raw),
            ReverseIn(
                idempotency_key=f"referral:{row.id}:revoke:{raw}",
                reason=f"invite revoked: {reason}",
            ),
            now=now,
        )
        if outcome.ok:  # already reversed (e.g. by the engine) is fine: nothing left to take
            asset = str(outcome.body["asset"])
            taken[asset] = taken.get(asset, 0) + int(outcome.body["amount"])
    return taken


async def revoke(
    session: AsyncSession,
    ctx: ProgramContext,
    referral_id: int,
    *,
    reason: str,
    note: str | None,
    operator: str,
    now: datetime,
) -> ReferralOut:
    row = await _locked(session, ctx.id, referral_id)
    if row.status not in ("pending", "qualified"):
        raise Conflict(
            f"referral {referral_id} is {row.status}",
            code="referral_not_active",
            field="referral_id",
        )
    before = {"status": row.status, "rewards": row.rewards}
    ext = await members.external_ids(session, ctx.id, [row.member_id, row.invitee_id])
    if reason == "left":
        # The engine reverses the invite's payouts; the listener below marks the referral.
        await events.ingest(
            session,
            ctx,
            [
                EventIn(
                    client_id=f"referral:{row.id}:left",
                    type="member_left",
                    member=ext[row.invitee_id],
                    occurred_at=now,
                    attributes={"inviter": ext[row.member_id], "referral_id": row.id},
                )
            ],
            now=now,
        )
        if row.status != "revoked":  # the listener's notice was sent with the mark
            _mark_revoked(row, "left", {}, now)
            await _notify_revoked(session, ctx, [row], now)
    else:
        taken = await _reverse_rewards(session, ctx, row, reason=reason, now=now)
        _mark_revoked(row, reason, taken, now)
        await _notify_revoked(session, ctx, [row], now)
    await record_audit(
        session,
        program_id=ctx.id,
        actor=operator,
        action="referrals.revoke",
        entity_type="referral",
        entity_id=str(row.id),
        now=now,
        before=before,
        after={"status": row.status, "reversed": row.reversed},
        reason=note or reason,
    )
    await session.flush()
    return _out(row, ext[row.member_id], ext[row.invitee_id])


async def _locked(session: AsyncSession, program_id: str, referral_id: int) -> Referral:
    stmt = select(Referral).where(Referral.program_id == program_id, Referral.id == referral_id)
    if is_postgres(session):
        stmt = stmt.with_for_update()
    row = (await session.scalars(stmt)).first()
    if row is None:
        raise NotFound(
            f"referral {referral_id} not found", code="referral_not_found", field="referral_id"
        )
    return row


# --- the events listener ----------------------------------------------------------------------


async def on_events(
    session: AsyncSession, ctx: ProgramContext, processed: Sequence[ProcessedEvent], now: datetime
) -> None:
    """An invitee's first purchase qualifies the invite; leaving or an early refund revokes it."""
    relevant = [pe for pe in processed if pe.event.type in ("purchase", "refund", "member_left")]
    if not relevant:
        return
    invitees = sorted({pe.member_id for pe in relevant})
    rows = {
        r.invitee_id: r
        for r in await session.scalars(
            select(Referral).where(
                Referral.program_id == ctx.id,
                in_values(session, Referral.invitee_id, invitees),
                Referral.status.in_(("pending", "qualified")),
            )
        )
    }
    if not rows:
        return
    settings = await get_settings(session, ctx.id)
    to_qualify: dict[int, tuple[Referral, datetime]] = {}
    revoked: list[Referral] = []
    for pe in sorted(relevant, key=lambda x: (x.event.occurred_at, x.event_id)):
        row = rows.get(pe.member_id)
        if row is None or row.status == "revoked":
            continue
        kind = pe.event.type
        if kind == "member_left":
            to_qualify.pop(row.id, None)  # left in the same batch as the first purchase
            mine = set(row.transactions or [])
            taken: dict[str, int] = {}
            for rev in pe.result.reversals:
                if rev.reverses in mine:
                    taken[rev.asset] = taken.get(rev.asset, 0) + rev.amount
            _mark_revoked(row, "left", taken, now)
            revoked.append(row)
        elif (
            kind == "purchase"
            and row.status == "pending"
            and settings.qualify_on == "first_purchase"
        ):
            to_qualify.setdefault(row.id, (row, pe.event.occurred_at))
        elif (
            kind == "refund"
            and row.status == "qualified"
            and settings.refund_window_days > 0
            and row.qualified_at is not None
            and pe.event.occurred_at
            <= row.qualified_at + timedelta(days=settings.refund_window_days)
        ):
            taken = await _reverse_rewards(session, ctx, row, reason="refund", now=now)
            _mark_revoked(row, "refund", taken, now)
            revoked.append(row)
    # All first purchases of the batch qualify in one pass through the engine. A refused
    # invite event leaves its referral pending rather than failing the member's purchase.
    await qualify_many(session, ctx, list(to_qualify.values()), now=now)
    await _notify_revoked(session, ctx, revoked, now)
    await session.flush()


async def _notify_revoked(
    session: AsyncSession, ctx: ProgramContext, rows: Sequence[Referral], now: datetime
) -> None:
    if not rows:
        return
    ext = await members.external_ids(session, ctx.id, [r.invitee_id for r in rows])
    await enqueue_rows(
        session,
        [
            message_row(
                program_id=ctx.id,
                member_id=r.member_id,
                topic="referral.revoked",
                payload={
                    "referral_id": r.id,
                    "invitee": ext[r.invitee_id],
                    "reason": r.revoke_reason,
                    "reversed": dict(r.reversed or {}),
                },
                now=now,
            )
            for r in rows
        ],
    )


# --- the job ----------------------------------------------------------------------------------


async def run_job(session: AsyncSession, ctx: ProgramContext, clock: Clock) -> int:
    """Attribute members registered with ``attributes.invite_code``, and qualify invites whose
    invitee has stayed the program's number of days. A bounded slice per call."""
    now = clock.now()
    done = await _attribute_from_attributes(session, ctx, now)
    settings = await get_settings(session, ctx.id)
    if settings.qualify_on == "days_stayed":
        stmt = (
            select(Referral)
            .where(
                Referral.program_id == ctx.id,
                Referral.status == "pending",
                Referral.created_at <= now - timedelta(days=settings.qualify_days),
            )
            .order_by(Referral.id)
            .limit(JOB_SLICE)
        )
        if is_postgres(session):
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list(await session.scalars(stmt))
        refused = await qualify_many(session, ctx, [(r, now) for r in rows], now=now)
        # Only progress counts: refused invites stay pending and must not keep the job looping.
        done += len(rows) - len(refused)
    return done


async def _attribute_from_attributes(
    session: AsyncSession, ctx: ProgramContext, now: datetime
) -> int:
    code_attr = Member.attributes["invite_code"].as_string()
    stmt = (
        select(Member.external_id, code_attr)
        .where(
            Member.program_id == ctx.id,
            code_attr.is_not(None),
            ~exists().where(and_(Referral.program_id == ctx.id, Referral.invitee_id == Member.id)),
        )
        .order_by(Member.id)
        .limit(JOB_SLICE)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True, of=Member)
    todo = [(ext, str(code)) for ext, code in await session.execute(stmt)]
    for ext, code in todo:
        await attribute_registration(session, ctx, ext, code, now=now)
    return len(todo)


async def attribute_registration(
    session: AsyncSession, ctx: ProgramContext, external_id: str, code: str, *, now: datetime
) -> ReferralOut | None:
    """Attribute a member who registered with an invite code (``attributes.invite_code``).
    A refusal (self-referral, shared device, unknown code, already invited) is recorded, not
    raised: the registration itself stands. Called when the member is created, and by the job
    for members created otherwise (imports, events)."""
    try:
        async with session.begin_nested():
            return await attribute(
                session,
                ctx,
                AttributeIn.model_construct(
                    code=code, invitee=external_id, device_id=None, ip=None
                ),
                now=now,
                source="attributes",
            )
    except (ReferralRefused, NotFound, AlreadyExists, Unprocessable) as exc:
        await _record_refusal(session, ctx, external_id, code, exc.code, now)
        return None


async def _record_refusal(
    session: AsyncSession, ctx: ProgramContext, external_id: str, code: str, why: str, now: datetime
) -> None:
    """Keep a refused attribution so the job does not try it again; a later valid
    ``POST /v1/referrals`` for the same invitee replaces it."""
    invitee = await members.get(session, ctx.id, external_id)
    inviter_row = (
        await session.scalars(
            select(ReferralCode).where(
                ReferralCode.program_id == ctx.id, ReferralCode.code == code.upper()[:16]
            )
        )
    ).first()
    session.add(
        Referral(
            program_id=ctx.id,
            member_id=inviter_row.member_id if inviter_row else invitee.id,
            invitee_id=invitee.id,
            code=code.upper()[:16],
            status="refused",
            source="attributes",
            refused_code=why[:40],
            rewards={},
            reversed={},
            transactions=[],
            created_at=now,
        )
    )
    await session.flush()


# --- reading ----------------------------------------------------------------------------------


def _out(row: Referral, inviter: str, invitee: str) -> ReferralOut:
    rewards = {k: int(v) for k, v in (row.rewards or {}).items()}
    reversed_ = {k: int(v) for k, v in (row.reversed or {}).items()}
    net = {
        a: rewards.get(a, 0) - reversed_.get(a, 0) for a in sorted(set(rewards) | set(reversed_))
    }
    return ReferralOut(
        id=row.id,
        inviter=inviter,
        invitee=invitee,
        code=row.code,
        status=row.status,
        source=row.source,
        refused_code=row.refused_code,
        rewards=rewards,
        reversed=reversed_,
        net=net,
        revoke_reason=row.revoke_reason,
        created_at=row.created_at,
        qualified_at=row.qualified_at,
        revoked_at=row.revoked_at,
    )


async def get_referral(session: AsyncSession, program_id: str, referral_id: int) -> ReferralOut:
    row = await session.get(Referral, referral_id)
    if row is None or row.program_id != program_id:
        raise NotFound(
            f"referral {referral_id} not found", code="referral_not_found", field="referral_id"
        )
    ext = await members.external_ids(session, program_id, [row.member_id, row.invitee_id])
    return _out(row, ext[row.member_id], ext[row.invitee_id])


async def list_for(
    session: AsyncSession,
    program_id: str,
    external_id: str,
    *,
    after_id: int | None,
    limit: int,
) -> tuple[ReferralList, int | None]:
    """An inviter's referrals (refused attempts left out), newest first, with totals."""
    inviter = await members.get(session, program_id, external_id)
    mine = and_(
        Referral.program_id == program_id,
        Referral.member_id == inviter.id,
        Referral.status != "refused",
    )
    counts = ReferralCounts()
    for status, n in await session.execute(
        select(Referral.status, func.count()).where(mine).group_by(Referral.status)
    ):
        setattr(counts, str(status), int(n))
    earned: dict[str, int] = {}
    for rewards, reversed_ in await session.execute(
        select(Referral.rewards, Referral.reversed).where(mine, Referral.status != "pending")
    ):
        for asset, amount in (rewards or {}).items():
            earned[asset] = earned.get(asset, 0) + int(amount)
        for asset, amount in (reversed_ or {}).items():
            earned[asset] = earned.get(asset, 0) - int(amount)
    stmt = select(Referral).where(mine)
    if after_id is not None:
        stmt = stmt.where(Referral.id < after_id)
    rows = list(await session.scalars(stmt.order_by(Referral.id.desc()).limit(limit + 1)))
    ext = await members.external_ids(session, program_id, [r.invitee_id for r in rows])
    items = [_out(r, inviter.external_id, ext[r.invitee_id]) for r in rows[:limit]]
    code = await _code_row(session, program_id, inviter.id)
    out = ReferralList(
        member=inviter.external_id,
        code=code.code if code else None,
        counts=counts,
        earned=dict(sorted(earned.items())),
        items=items,
        next_cursor=None,
    )
    return out, rows[limit - 1].id if len(rows) > limit else None
