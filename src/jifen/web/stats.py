"""Numbers for the console's overview: points issued, redeemed and expired per local day,
outstanding liability, active members. Each is one grouped query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.clock import local_date, start_of_local_day
from jifen.db.engine import is_postgres
from jifen.ledger.models import Account, LedgerTransaction
from jifen.members.models import Member
from jifen.programs.context import ProgramContext

# Transaction kinds by what they mean for the program's points.
ISSUED = ("credit",)
REDEEMED = ("debit", "capture")
EXPIRED = ("expiry",)


@dataclass(frozen=True, slots=True)
class Overview:
    days: list[str]
    issued: list[int]
    redeemed: list[int]
    expired: list[int]
    outstanding_points: int
    liability_fen: Decimal
    active_members: int
    members: int


async def overview(
    session: AsyncSession, ctx: ProgramContext, *, now: datetime, days: int = 30
) -> Overview:
    tz = ctx.settings.timezone
    today = local_date(now, tz)
    first = today - timedelta(days=days - 1)
    since = start_of_local_day(first, tz)
    day: Any
    if is_postgres(session):
        day = cast(func.timezone(tz, LedgerTransaction.occurred_at), Date)
    else:
        # SQLite stores UTC; shift by the zone's offset now (exact for zones without DST).
        offset = int((now.astimezone(ZoneInfo(tz)).utcoffset() or timedelta()).total_seconds())
        day = func.date(LedgerTransaction.occurred_at, literal_column(f"'{offset} seconds'"))
    rows = await session.execute(
        select(day.label("d"), LedgerTransaction.kind, func.sum(LedgerTransaction.amount))
        .where(
            LedgerTransaction.program_id == ctx.id,
            LedgerTransaction.asset == "points",
            LedgerTransaction.occurred_at >= since,
            LedgerTransaction.kind.in_(ISSUED + REDEEMED + EXPIRED),
        )
        .group_by(day, LedgerTransaction.kind)
    )
    series = {k: dict.fromkeys(range(days), 0) for k in ("issued", "redeemed", "expired")}
    for d, kind, total in rows:
        when = d if isinstance(d, date) else date.fromisoformat(str(d))
        index = (when - first).days
        if not 0 <= index < days:
            continue
        name = "issued" if kind in ISSUED else "redeemed" if kind in REDEEMED else "expired"
        series[name][index] += abs(int(total or 0))
    outstanding = await session.scalar(
        select(func.coalesce(func.sum(Account.balance), 0)).where(
            Account.program_id == ctx.id,
            Account.asset == "points",
            Account.member_id.is_not(None),
        )
    )
    active = await session.scalar(
        select(func.count(func.distinct(LedgerTransaction.member_id))).where(
            LedgerTransaction.program_id == ctx.id,
            LedgerTransaction.occurred_at >= now - timedelta(days=30),
            LedgerTransaction.member_id.is_not(None),
        )
    )
    total_members = await session.scalar(
        select(func.count()).select_from(Member).where(Member.program_id == ctx.id)
    )
    points = int(outstanding or 0)
    return Overview(
        days=[(first + timedelta(days=i)).isoformat() for i in range(days)],
        issued=list(series["issued"].values()),
        redeemed=list(series["redeemed"].values()),
        expired=list(series["expired"].values()),
        outstanding_points=points,
        liability_fen=Decimal(points) * ctx.settings.point_value_fen,
        active_members=int(active or 0),
        members=int(total_members or 0),
    )


async def member_ids(session: AsyncSession, program_id: str, *, limit: int) -> list[int]:
    """The program's first ``limit`` member ids (for per-member lookups such as tiers)."""
    rows = await session.scalars(
        select(Member.id).where(Member.program_id == program_id).order_by(Member.id).limit(limit)
    )
    return list(rows)
