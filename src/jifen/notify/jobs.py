"""Scheduled notification jobs: reminders before points expire, birthday and anniversary gifts.

Both are steps of ``jifen.jobs.runner`` (``jifen jobs run reminders`` / ``birthdays``): each call
handles a bounded slice in one transaction and returns how much it did; what was done is
recorded (``expiry_reminders``, ``member_gifts``) with an insert that ignores what another run
already recorded, so running twice, or twice at once, sends and pays once.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Date,
    Table,
    and_,
    bindparam,
    exists,
    func,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.clock import Clock, as_utc, local_date, start_of_local_day
from jifen.db.engine import is_postgres
from jifen.kit.db import UTCDateTime
from jifen.kit.sql import insert_ignore
from jifen.ledger import service as ledger
from jifen.ledger.models import Lot
from jifen.ledger.schemas import CreditIn
from jifen.members import service as members
from jifen.members.models import Member
from jifen.notify import service
from jifen.notify.models import ExpiryReminder, MemberGift
from jifen.programs.context import ProgramContext

SLICE = 500
GIFT_SLICE = 200


# --- reminders -----------------------------------------------------------------------------------


def _days(now: datetime, tz: str, count: int) -> Any:
    """A row per local day from today to ``count`` days ahead: (day, start, end) in UTC."""
    today = local_date(now, tz)
    rows = []
    for i in range(count + 1):
        day = today + timedelta(days=i)
        lo = now if i == 0 else start_of_local_day(day, tz)
        hi = start_of_local_day(day + timedelta(days=1), tz)
        rows.append(
            select(
                literal(day, Date()).label("day"),
                literal(lo, UTCDateTime()).label("lo"),
                literal(hi, UTCDateTime()).label("hi"),
            )
        )
    return union_all(*rows).subquery("days")


async def remind_expiring(session: AsyncSession, ctx: ProgramContext, clock: Clock) -> int:
    """Send one ``points.expiring`` message per member and local day on which some of the
    member's points expire within the program's reminder window; never twice for a day."""
    settings = await service.get_settings(session, ctx.id)
    if not settings.reminders_enabled:
        return 0
    now = clock.now()
    tz = ctx.settings.timezone
    days = _days(now, tz, settings.reminder_days)
    horizon = start_of_local_day(
        local_date(now, tz) + timedelta(days=settings.reminder_days + 1), tz
    )
    sent = exists().where(
        ExpiryReminder.program_id == ctx.id,
        ExpiryReminder.member_id == Lot.member_id,
        ExpiryReminder.asset == "points",
        ExpiryReminder.expires_on == days.c.day,
    )
    rows = (
        await session.execute(
            select(
                Lot.member_id,
                days.c.day,
                func.sum(Lot.remaining - Lot.held),
                func.min(Lot.expires_at),
            )
            .join(days, and_(Lot.expires_at >= days.c.lo, Lot.expires_at < days.c.hi))
            .where(
                Lot.program_id == ctx.id,
                Lot.asset == "points",
                Lot.remaining > 0,
                Lot.remaining > Lot.held,
                Lot.expires_at.is_not(None),
                Lot.expires_at > now,
                Lot.expires_at < horizon,
                ~sent,
            )
            .group_by(Lot.member_id, days.c.day)
            .order_by(Lot.member_id, days.c.day)
            .limit(SLICE)
        )
    ).all()
    if not rows:
        return 0
    inserted = (
        await session.execute(
            insert_ignore(session, ExpiryReminder)
            .values(
                [
                    {
                        "program_id": ctx.id,
                        "member_id": mid,
                        "asset": "points",
                        "expires_on": day,
                        "amount": int(amount),
                        "sent_at": now,
                    }
                    for mid, day, amount, _ in rows
                ]
            )
            .returning(ExpiryReminder.member_id, ExpiryReminder.expires_on)
        )
    ).all()
    new = {(mid, day) for mid, day in inserted}
    ext = await members.external_ids(session, ctx.id, {mid for mid, _ in new})
    await service.enqueue_rows(
        session,
        [
            service.message_row(
                program_id=ctx.id,
                member_id=mid,
                topic="points.expiring",
                payload={
                    "member": ext.get(mid),
                    "asset": "points",
                    "amount": int(amount),
                    "expires_on": day.isoformat(),
                    "expires_at": _as_datetime(first).isoformat(),
                },
                now=now,
            )
            for mid, day, amount, first in rows
            if (mid, day) in new
        ],
    )
    return len(rows)


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite returns an aggregate's timestamp as text
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return as_utc(value)


# --- birthday and anniversary gifts --------------------------------------------------------------


def _month_days(today: date) -> list[str]:
    """Whose day it is today: 29 February birthdays are kept on 28 February in other years."""
    days = [today.strftime("%m-%d")]
    if (today.month, today.day) == (2, 28) and not calendar.isleap(today.year):
        days.append("02-29")
    return days


def _local_month_day(value: str | None, tz: str) -> str | None:
    """SQLite function: the month-day (``MM-DD``) of a stored UTC timestamp in ``tz``."""
    if value is None:
        return None
    instant = datetime.fromisoformat(value).replace(tzinfo=UTC)
    return instant.astimezone(ZoneInfo(tz)).strftime("%m-%d")


async def _joined_month_day(session: AsyncSession, tz: str) -> ColumnElement[str]:
    if is_postgres(session):
        return func.to_char(func.timezone(tz, Member.joined_at), "MM-DD")
    # SQLite has no time zones: the conversion runs in Python, registered on this connection.
    conn = await session.connection()
    await conn.run_sync(_register)
    return func.jifen_local_md(Member.joined_at, tz)


def _register(conn: Connection) -> None:
    dbapi: Any = conn.connection.dbapi_connection
    dbapi.create_function("jifen_local_md", 2, _local_month_day, deterministic=True)


async def _gift(
    session: AsyncSession,
    ctx: ProgramContext,
    kind: str,
    amount: int,
    now: datetime,
) -> int:
    tz = ctx.settings.timezone
    today = local_date(now, tz)
    if kind == "birthday":
        if is_postgres(session):
            month_day: ColumnElement[str] = func.to_char(Member.birthday, "MM-DD")
        else:
            month_day = func.strftime("%m-%d", Member.birthday)
        extra: list[ColumnElement[bool]] = [Member.birthday.is_not(None)]
    else:
        month_day = await _joined_month_day(session, tz)
        # Joined in an earlier year (local): the first anniversary is a year after joining.
        extra = [Member.joined_at < start_of_local_day(date(today.year, 1, 1), tz)]
    given = exists().where(
        MemberGift.program_id == ctx.id,
        MemberGift.member_id == Member.id,
        MemberGift.kind == kind,
        MemberGift.year == today.year,
    )
    candidates = (
        await session.execute(
            select(Member.id, Member.external_id, Member.joined_at)
            .where(
                Member.program_id == ctx.id,
                Member.status == "active",
                *extra,
                month_day.in_(_month_days(today)),
                ~given,
            )
            .order_by(Member.id)
            .limit(GIFT_SLICE)
        )
    ).all()
    if not candidates:
        return 0
    inserted = (
        await session.execute(
            insert_ignore(session, MemberGift)
            .values(
                [
                    {
                        "program_id": ctx.id,
                        "member_id": mid,
                        "kind": kind,
                        "year": today.year,
                        "amount": amount,
                        "status": "pending",
                        "transaction_id": None,
                        "created_at": now,
                    }
                    for mid, _, _ in candidates
                ]
            )
            .returning(MemberGift.member_id)
        )
    ).all()
    new = {mid for (mid,) in inserted}
    todo = [(mid, ext, joined) for mid, ext, joined in candidates if mid in new]
    if not todo:
        return len(candidates)
    items = [
        CreditIn(
            idempotency_key=f"{kind}:{ext}:{today.year}",
            member=ext,
            asset="points",
            amount=amount,
            reason=f"{kind} gift",
            reference=f"{kind}:{today.year}",
        )
        for _, ext, _ in todo
    ]
    outcomes = await ledger.credit(session, ctx, items, now=now)
    messages = []
    results = []
    for (mid, ext, joined), outcome in zip(todo, outcomes, strict=True):
        paid = outcome.ok
        txn = str(outcome.body.get("id")) if paid else None
        status = "paid" if paid else str(outcome.body.get("code", "refused"))[:40]
        results.append({"_member_id": mid, "_status": status, "_transaction_id": txn})
        if not paid:
            continue
        payload: dict[str, Any] = {
            "member": ext,
            "amount": amount,
            "year": today.year,
            "transaction_id": txn,
            "balance": outcome.body.get("balance"),
        }
        if kind == "anniversary":
            payload["years"] = today.year - local_date(as_utc(joined), tz).year
        messages.append(
            service.message_row(
                program_id=ctx.id,
                member_id=mid,
                topic=f"{kind}.gift",
                payload=payload,
                now=now,
            )
        )
    # One statement for the slice's outcomes (Core table: an executemany, not one per row).
    gifts = MemberGift.__table__
    assert isinstance(gifts, Table)
    await session.execute(
        update(gifts)
        .where(
            gifts.c.program_id == ctx.id,
            gifts.c.kind == kind,
            gifts.c.year == today.year,
            gifts.c.member_id == bindparam("_member_id"),
        )
        .values(status=bindparam("_status"), transaction_id=bindparam("_transaction_id")),
        results,
    )
    await service.enqueue_rows(session, messages)
    return len(candidates)


async def give_gifts(session: AsyncSession, ctx: ProgramContext, clock: Clock) -> int:
    """Credit the configured birthday and anniversary points (ledger key
    ``birthday:{member}:{year}`` / ``anniversary:{member}:{year}``) and send a message, on the
    member's day in the program's time zone."""
    settings = await service.get_settings(session, ctx.id)
    now = clock.now()
    done = 0
    if settings.birthday_points > 0:
        done += await _gift(session, ctx, "birthday", settings.birthday_points, now)
    if settings.anniversary_points > 0:
        done += await _gift(session, ctx, "anniversary", settings.anniversary_points, now)
    return done
