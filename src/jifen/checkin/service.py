"""Daily check-in: one row per member and local day, paid through the earning engine.

A check-in (or a make-up for a missed day) locks the member, writes the day's row, ingests a
``check_in`` event (client id ``checkin:<member>:<yyyy-mm-dd>``) so the operators' rules, limits
and streak conditions pay it, gives the program's streak gift packs and awards check-in badges,
all in the caller's transaction. The unique (member, day) row makes a second check-in of the
same day answer with the first one and pay nothing.

The streak is derived exactly as the earning engine derives ``streak``: the days in a row with a
check-in, ending on the event's day, looking back at most ``STREAK_DAYS`` days. A make-up adds
its day to both (its event occurs on the made-up day), so the next check-in sees the restored
streak in the rules and here alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.checkin.models import CheckInDay, CheckInSettings, CheckInStats
from jifen.checkin.schemas import (
    CalendarDay,
    CalendarOut,
    CheckInOut,
    CheckInSettingsIn,
    GiftOut,
    GiftPack,
    PostingOut,
)
from jifen.clock import local_date, start_of_local_day
from jifen.coupons import service as coupons
from jifen.errors import InvalidInput, JifenError, NotFound, Unprocessable
from jifen.events import service as events
from jifen.events.schemas import EventIn, EventResult
from jifen.kit.idempotency import IdempotencyRace, Outcome, OutcomeFailed, raise_for
from jifen.ledger import service as ledger
from jifen.ledger.schemas import CreditIn, DebitIn
from jifen.members import service as members
from jifen.members.models import Member
from jifen.programs.context import ProgramContext
from jifen.programs.service import record_audit

# The earning engine looks this far back for ``streak``; so do we, so that both agree.
STREAK_DAYS = events.STREAK_DAYS
EVENT_TYPE = "check_in"


class CheckInError(Unprocessable):
    default_code = "check_in_refused"


def event_client_id(member: str, day: date) -> str:
    """The deterministic client id of a day's check-in event (also for a make-up)."""
    return f"checkin:{member}:{day.isoformat()}"


# ---------------------------------------------------------------------------------------------
# Settings


async def get_settings(session: AsyncSession, program_id: str) -> CheckInSettingsIn:
    row = await _settings_row(session, program_id)
    return CheckInSettingsIn.model_validate(row.definition) if row else CheckInSettingsIn()


async def _settings_row(session: AsyncSession, program_id: str) -> CheckInSettings | None:
    return (
        await session.scalars(
            select(CheckInSettings).where(CheckInSettings.program_id == program_id)
        )
    ).first()


async def save_settings(
    session: AsyncSession,
    ctx: ProgramContext,
    data: CheckInSettingsIn,
    *,
    now: datetime,
    actor: str,
) -> CheckInSettingsIn:
    """Replace the program's check-in settings (audited). Gift badges must exist."""
    from jifen.badges import service as badges

    wanted = sorted({p.badge_id for p in data.gift_packs if p.badge_id})
    missing = await badges.missing_badges(session, ctx.id, wanted)
    if missing:
        raise InvalidInput(
            f"badge {missing[0]!r} is not defined", code="badge_not_found", field="gift_packs"
        )
    for template_id in sorted(
        {p.coupon_template_id for p in data.gift_packs if p.coupon_template_id}
    ):
        try:
            await coupons.get_template(session, ctx.id, template_id)
        except NotFound as exc:
            raise InvalidInput(
                f"coupon template {template_id!r} is not defined",
                code="coupon_template_not_found",
                field="gift_packs",
            ) from exc
    row = await _settings_row(session, ctx.id)
    before = row.definition if row else None
    definition = data.model_dump(mode="json")
    if row is None:
        session.add(CheckInSettings(program_id=ctx.id, definition=definition, updated_at=now))
    else:
        row.definition = definition
        row.updated_at = now
    await session.flush()
    await record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="checkin.settings",
        entity_type="checkin_settings",
        entity_id=ctx.id,
        now=now,
        before=before,
        after=definition,
    )
    return data


# ---------------------------------------------------------------------------------------------
# Streaks


def run_ending(days: set[date], day: date) -> int:
    """Days in a row with a check-in, ending on ``day`` (the engine's ``streak``)."""
    n = 0
    while day - timedelta(days=n) in days:
        n += 1
    return n


def run_through(days: set[date], day: date) -> int:
    """The length of the run of days that contains ``day`` (0 if ``day`` is not in it)."""
    if day not in days:
        return 0
    after = 0
    while day + timedelta(days=after + 1) in days:
        after += 1
    return run_ending(days, day) + after


async def _days_between(
    session: AsyncSession, program_id: str, member_id: int, first: date, last: date
) -> dict[date, str]:
    rows = await session.execute(
        select(CheckInDay.day, CheckInDay.kind).where(
            CheckInDay.program_id == program_id,
            CheckInDay.member_id == member_id,
            CheckInDay.day >= first,
            CheckInDay.day <= last,
        )
    )
    return dict(rows.tuples().all())


def current_streak_of(days: set[date], today: date) -> int:
    """The streak a member holds today: ending today, or ending yesterday while today is open."""
    if today in days:
        return run_ending(days, today)
    return run_ending(days, today - timedelta(days=1))


# ---------------------------------------------------------------------------------------------
# Check-in and make-up


async def check_in(
    session: AsyncSession, ctx: ProgramContext, *, member: str, now: datetime
) -> Outcome:
    """Check the member in for today (program time zone). 201 with what it paid; 200 with the
    first answer (``status: already_checked_in``) if the member already checked in today."""
    ref = (
        await members.resolve(
            session, ctx.id, [member], create=ctx.settings.auto_create_members, now=now
        )
    )[member]
    row = await _lock(session, ctx.id, ref.id)
    today = local_date(now, ctx.settings.timezone)
    return await _record(session, ctx, row, day=today, kind="check_in", now=now)


async def make_up(
    session: AsyncSession, ctx: ProgramContext, *, member: str, day: date, now: datetime
) -> Outcome:
    """A make-up check-in (补签) for a missed day of the current month, for the program's points
    cost (debited in the same transaction) within its monthly limit."""
    ref = await members.get(session, ctx.id, member)
    row = await _lock(session, ctx.id, ref.id)
    today = local_date(now, ctx.settings.timezone)
    return await _record(session, ctx, row, day=day, kind="makeup", now=now, today=today)


async def _lock(session: AsyncSession, program_id: str, member_id: int) -> Member:
    # The member lock serialises everything done for one member (the engine takes it too).
    return (await members.by_ids(session, program_id, [member_id], lock=True))[member_id]


async def _existing(
    session: AsyncSession, program_id: str, member_id: int, day: date
) -> CheckInDay | None:
    return (
        await session.scalars(
            select(CheckInDay).where(
                CheckInDay.program_id == program_id,
                CheckInDay.member_id == member_id,
                CheckInDay.day == day,
            )
        )
    ).first()


def _makeups_used(known: dict[date, str], month_of: date) -> int:
    """The make-ups among ``known`` (days read over the whole month) in ``month_of``'s month."""
    first, last = _month_bounds(month_of.year, month_of.month)
    return sum(1 for d, k in known.items() if first <= d <= last and k == "makeup")


def _check_makeup(member: Member, day: date, today: date, tz: str) -> None:
    if day >= today:
        raise CheckInError(
            f"{day.isoformat()} is not a past day; check in today instead",
            code="makeup_not_past",
            field="day",
        )
    if (day.year, day.month) != (today.year, today.month):
        raise CheckInError(
            f"only days of the current month ({today:%Y-%m}) can be made up",
            code="makeup_outside_month",
            field="day",
        )
    if day < local_date(member.joined_at, tz):
        raise CheckInError(
            f"{day.isoformat()} is before the member joined",
            code="makeup_before_joined",
            field="day",
        )


async def _record(
    session: AsyncSession,
    ctx: ProgramContext,
    member: Member,
    *,
    day: date,
    kind: str,
    now: datetime,
    today: date | None = None,
) -> Outcome:
    tz = ctx.settings.timezone
    today = today or day
    first = await _existing(session, ctx.id, member.id, day)
    if first is not None:
        return Outcome(200, {**first.result, "status": "already_checked_in"})
    settings = await get_settings(session, ctx.id)
    client_id = event_client_id(member.external_id, day)
    cost = 0
    cost_txn: str | None = None
    makeups_left = 0
    occurred_at = now
    if kind == "makeup":
        _check_makeup(member, day, today, tz)  # first: the window below needs a sane day
    # The days already recorded, far enough back for the streak; they cover today's month too.
    known = await _days_between(
        session, ctx.id, member.id, min(day, today) - timedelta(days=STREAK_DAYS), today
    )
    if kind == "makeup":
        # The end of the made-up day: the engine counts the event on that day.
        occurred_at = start_of_local_day(day + timedelta(days=1), tz) - timedelta(seconds=1)
        if settings.makeup_monthly_limit == 0:
            raise CheckInError(
                "make-up check-ins are not enabled in this program", code="makeup_not_enabled"
            )
        used = _makeups_used(known, today)
        if used >= settings.makeup_monthly_limit:
            raise CheckInError(
                f"the monthly limit of {settings.makeup_monthly_limit} make-up check-ins is used up",
                code="makeup_limit_reached",
                field="day",
            )
        makeups_left = settings.makeup_monthly_limit - used - 1
        cost = settings.makeup_cost
        if cost > 0:
            debit = raise_for(
                (
                    await ledger.debit(
                        session,
                        ctx,
                        [
                            DebitIn(
                                idempotency_key=f"checkin-makeup:{member.id}:{day.isoformat()}",
                                member=member.external_id,
                                amount=cost,
                                reason=f"make-up check-in {day.isoformat()}",
                                reference=client_id,
                            )
                        ],
                        now=now,
                    )
                )[0]
            )
            cost_txn = str(debit.body["id"])
    else:
        if settings.makeup_monthly_limit > 0:
            used = _makeups_used(known, day)
            makeups_left = max(0, settings.makeup_monthly_limit - used)
    # Streak and totals, including this day.
    days = set(known) | {day}
    streak = run_ending(days, day)
    stats = (
        await session.scalars(
            select(CheckInStats).where(
                CheckInStats.program_id == ctx.id, CheckInStats.member_id == member.id
            )
        )
    ).first()
    if stats is None:
        stats = CheckInStats(
            program_id=ctx.id,
            member_id=member.id,
            cumulative_days=0,
            best_streak=0,
            last_day=day,
            updated_at=now,
        )
        session.add(stats)
    stats.cumulative_days += 1
    stats.best_streak = max(stats.best_streak, run_through(days, day))
    stats.last_day = max(stats.last_day, day)
    stats.updated_at = now
    await session.flush()  # the badges read the totals below (sessions do not autoflush)
    # Through the earning engine: the operators' rules, limits and streak conditions pay.
    result = (
        await events.ingest(
            session,
            ctx,
            [
                EventIn(
                    client_id=client_id,
                    type=EVENT_TYPE,
                    member=member.external_id,
                    occurred_at=occurred_at,
                    attributes={"makeup": kind == "makeup"},
                )
            ],
            now=now,
        )
    )[0]
    if result.status == "refused":
        problem = result.error or {}
        raise OutcomeFailed(Outcome(int(problem.get("status", 422)), problem))
    gifts = await _give_gifts(
        session, ctx, member, settings.gift_packs, day=day, streak=streak, now=now
    )
    from jifen.badges import service as badges

    awarded = await badges.evaluate(
        session, ctx, [member.id], now=now, source="check_in", kinds=badges.CHECKIN_KINDS
    )
    gift_badges = {g.badge_id for g in gifts if g.badge_awarded and g.badge_id}
    badge_ids = sorted({b for _, b in awarded} | gift_badges)
    out = CheckInOut(
        status="checked_in" if kind == "check_in" else "made_up",
        member=member.external_id,
        day=day,
        kind="check_in" if kind == "check_in" else "makeup",
        streak=streak,
        cumulative_days=stats.cumulative_days,
        best_streak=stats.best_streak,
        cost=cost,
        cost_transaction_id=cost_txn,
        points=_points(result, gifts),
        postings=[
            PostingOut(
                transaction_id=p.transaction_id, rule_id=p.rule_id, asset=p.asset, amount=p.amount
            )
            for p in result.postings
        ],
        skipped=[s.model_dump(mode="json") for s in result.skipped],
        gifts=gifts,
        badges=badge_ids,
        event_client_id=client_id,
        event_status=result.status,
        created_at=now,
        makeups_left=makeups_left,
    )
    body = out.model_dump(mode="json")
    session.add(
        CheckInDay(
            program_id=ctx.id,
            member_id=member.id,
            day=day,
            kind=kind,
            streak=streak,
            cost=cost,
            event_client_id=client_id,
            created_at=now,
            result=body,
        )
    )
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent check-in of the same day won: replay it
        raise IdempotencyRace(str(exc)) from exc
    return Outcome(201, body)


def _points(result: EventResult, gifts: Sequence[GiftOut]) -> int:
    return sum(p.amount for p in result.postings if p.asset == "points") + sum(
        g.amount for g in gifts if g.asset == "points" and g.transaction_id
    )


async def _give_gifts(
    session: AsyncSession,
    ctx: ProgramContext,
    member: Member,
    packs: Sequence[GiftPack],
    *,
    day: date,
    streak: int,
    now: datetime,
) -> list[GiftOut]:
    """The gift packs due at this streak. A part that cannot be given (an exhausted coupon
    template, a removed badge) is reported in ``errors`` and does not undo the check-in."""
    from jifen.badges import service as badges

    out: list[GiftOut] = []
    for index, pack in enumerate(packs):
        if not pack.due(streak):
            continue
        gift = GiftOut(streak=streak, name=pack.name)
        ref = f"{member.id}:{day.isoformat()}:{index}"
        if pack.amount:
            gift.asset = pack.asset
            gift.amount = pack.amount
            outcome = (
                await ledger.credit(
                    session,
                    ctx,
                    [
                        CreditIn(
                            idempotency_key=f"checkin-gift:{ref}",
                            member=member.external_id,
                            asset=pack.asset,
                            amount=pack.amount,
                            reason=f"check-in streak {streak}: {pack.name or 'gift pack'}",
                            reference=event_client_id(member.external_id, day),
                        )
                    ],
                    now=now,
                )
            )[0]
            if outcome.ok:
                gift.transaction_id = str(outcome.body["id"])
            else:
                gift.errors.append(outcome.body)
        if pack.coupon_template_id:
            try:
                async with session.begin_nested():
                    coupon = await coupons.issue_coupon(
                        session,
                        ctx,
                        member_id=member.id,
                        template_id=pack.coupon_template_id,
                        now=now,
                        source="checkin_gift",
                        source_ref=ref,
                    )
                gift.coupon = coupon.model_dump(mode="json")
            except JifenError as exc:
                gift.errors.append(exc.to_problem())
        if pack.badge_id:
            try:
                async with session.begin_nested():
                    gift.badge_awarded = await badges.award(
                        session,
                        ctx,
                        member_id=member.id,
                        badge_id=pack.badge_id,
                        now=now,
                        source="checkin_gift",
                    )
                gift.badge_id = pack.badge_id
            except JifenError as exc:
                gift.errors.append(exc.to_problem())
        out.append(gift)
    return out


# ---------------------------------------------------------------------------------------------
# Reading


def _month_bounds(year: int, month: int) -> tuple[date, date]:
    first = date(year, month, 1)
    nxt = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return first, nxt - timedelta(days=1)


async def calendar(
    session: AsyncSession,
    ctx: ProgramContext,
    *,
    member: str,
    month: str | None,
    now: datetime,
) -> CalendarOut:
    """A month of a member's check-ins: each day checked, made up, missed, today or future."""
    ref = await members.get(session, ctx.id, member)
    today = local_date(now, ctx.settings.timezone)
    year, mon = (int(month[:4]), int(month[5:7])) if month else (today.year, today.month)
    first, last = _month_bounds(year, mon)
    settings = await get_settings(session, ctx.id)
    window_start = min(first, today - timedelta(days=STREAK_DAYS))
    known = await _days_between(session, ctx.id, ref.id, window_start, max(last, today))
    days: list[CalendarDay] = []
    d = first
    while d <= last:
        kind = known.get(d)
        if kind == "check_in":
            status = "checked"
        elif kind == "makeup":
            status = "made_up"
        elif d < today:
            status = "missed"
        elif d == today:
            status = "today"
        else:
            status = "future"
        days.append(CalendarDay(day=d, status=status))
        d += timedelta(days=1)
    totals = (await stats_of(session, ctx.id, [ref.id])).get(ref.id)
    used = _makeups_used(known, first)
    current = (year, mon) == (today.year, today.month)
    return CalendarOut(
        member=ref.external_id,
        month=f"{year:04d}-{mon:02d}",
        today=today,
        days=days,
        checked_in_today=today in known,
        streak=current_streak_of(set(known), today),
        best_streak=totals.best_streak if totals else 0,
        cumulative_days=totals.cumulative_days if totals else 0,
        checked_days_in_month=sum(1 for k in known if first <= k <= last),
        makeups_used=used,
        makeups_left=max(0, settings.makeup_monthly_limit - used) if current else 0,
        makeup_cost=settings.makeup_cost,
    )


@dataclass(frozen=True, slots=True)
class CheckInTotals:
    cumulative_days: int
    best_streak: int
    last_day: date


async def stats_of(
    session: AsyncSession, program_id: str, member_ids: Iterable[int]
) -> dict[int, CheckInTotals]:
    """Members' check-in totals in one query per 1,000 members (absent: never checked in)."""
    ids = sorted(set(member_ids))
    out: dict[int, CheckInTotals] = {}
    for start in range(0, len(ids), 1000):
        rows = await session.execute(
            select(
                CheckInStats.member_id,
                CheckInStats.cumulative_days,
                CheckInStats.best_streak,
                CheckInStats.last_day,
            ).where(
                CheckInStats.program_id == program_id,
                CheckInStats.member_id.in_(ids[start : start + 1000]),
            )
        )
        for mid, cumulative, best, last in rows:
            out[mid] = CheckInTotals(cumulative, best, last)
    return out


async def current_streak(
    session: AsyncSession, ctx: ProgramContext, member_id: int, *, now: datetime
) -> int:
    today = local_date(now, ctx.settings.timezone)
    known = await _days_between(
        session, ctx.id, member_id, today - timedelta(days=STREAK_DAYS), today
    )
    return current_streak_of(set(known), today)
