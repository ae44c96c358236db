"""The other domains as the member 360° page sees them, through their ``service.py`` only: each
section appears once that domain's service exists (tier, tier history, check-in, badges,
coupons, orders, referrals, lottery draws)."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.errors import JifenError
from jifen.programs.context import ProgramContext

log = structlog.get_logger("jifen.web")


@dataclass
class Section:
    """A table on the member 360° page."""

    key: str
    title: str
    headers: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    error: str | None = None


def service(domain: str) -> Any | None:
    try:
        return importlib.import_module(f"jifen.{domain}.service")
    except ModuleNotFoundError:
        return None


@dataclass(frozen=True, slots=True)
class Who:
    ctx: ProgramContext
    member_id: int
    member: str
    now: datetime

    def when(self, value: datetime | None) -> str:
        if value is None:
            return ""
        return value.astimezone(ZoneInfo(self.ctx.settings.timezone)).strftime("%Y-%m-%d %H:%M")


async def _tier(s: AsyncSession, w: Who, svc: Any) -> list[list[Any]]:
    out = await svc.member_tier(s, w.ctx, w.member_id, w.member, now=w.now)
    return [[out.tier.name, out.tier.code, out.progress.text, w.when(out.since)]]


async def _tier_history(s: AsyncSession, w: Who, svc: Any) -> list[list[Any]]:
    page = await svc.history(s, w.ctx.id, w.member_id, before_id=None, limit=20)
    return [
        [w.when(h.created_at), h.from_tier or "", h.to_tier, h.direction, h.source]
        for h in page.items
    ]


async def _checkin(s: AsyncSession, w: Who, svc: Any) -> list[list[Any]]:
    totals = (await svc.stats_of(s, w.ctx.id, [w.member_id])).get(w.member_id)
    streak = await svc.current_streak(s, w.ctx, w.member_id, now=w.now)
    if totals is None:
        return []
    return [[streak, totals.best_streak, totals.cumulative_days, str(totals.last_day)]]


async def _badges(s: AsyncSession, w: Who, svc: Any) -> list[list[Any]]:
    wall = await svc.wall(s, w.ctx, member=w.member, now=w.now)
    return [[b.name, b.badge_id, w.when(b.awarded_at), b.source] for b in wall.earned]


async def _coupons(s: AsyncSession, w: Who, svc: Any) -> list[list[Any]]:
    rows = await svc.member_coupons(s, w.ctx, w.member, now=w.now)
    return [[c.name, c.code, c.status, w.when(c.valid_until), c.source] for c in rows]


async def _orders(s: AsyncSession, w: Who, svc: Any) -> list[list[Any]]:
    page = await svc.list_orders(s, w.ctx.id, member_id=w.member_id, limit=20)
    return [[w.when(o.created_at), o.item, o.quantity, o.points, o.status] for o in page.items]


async def _referrals(s: AsyncSession, w: Who, svc: Any) -> list[list[Any]]:
    page, _ = await svc.list_for(s, w.ctx.id, w.member, after_id=None, limit=20)
    return [[r.invitee, r.code, r.status, r.net] for r in page.items]


async def _draws(s: AsyncSession, w: Who, svc: Any) -> list[list[Any]]:
    rows = await svc.member_draws(s, w.ctx, w.member, limit=10)
    return [
        [str(d.get("created_at", ""))[:16], d.get("pool", ""), d.get("prize_id") or "—"]
        for d in rows
    ]


Loader = Callable[[AsyncSession, Who, Any], Awaitable[list[list[Any]]]]

SECTIONS: tuple[tuple[str, str, str, list[str], Loader], ...] = (
    ("tier", "tiers", "Tier", ["Tier", "Code", "to next tier", "Since"], _tier),
    (
        "tier-history",
        "tiers",
        "Tier history",
        ["When", "From", "To", "Direction", "Source"],
        _tier_history,
    ),
    (
        "checkin",
        "checkin",
        "Check-in",
        ["Streak", "Best streak", "Days in all", "Last check-in"],
        _checkin,
    ),
    ("badges", "badges", "Badges", ["Name", "ID", "Awarded", "Source"], _badges),
    (
        "coupons",
        "coupons",
        "Coupons",
        ["Name", "Code", "Status", "Valid until", "Source"],
        _coupons,
    ),
    ("orders", "catalog", "Orders", ["When", "Item", "Quantity", "Points", "Status"], _orders),
    ("referrals", "referrals", "Referrals", ["Invitee", "Code", "Status", "Net"], _referrals),
    ("lottery", "lottery", "Lottery", ["When", "Pool", "Prize"], _draws),
)


async def member_sections(
    session: AsyncSession, ctx: ProgramContext, member_id: int, member: str, *, now: datetime
) -> list[Section]:
    who = Who(ctx, member_id, member, now)
    out: list[Section] = []
    for key, domain, title, headers, load in SECTIONS:
        svc = service(domain)
        if svc is None:
            continue
        section = Section(key, title, headers)
        try:
            # A savepoint: one section's failed statement must not abort the others' reads.
            async with session.begin_nested():
                section.rows = await load(session, who, svc)
        except JifenError as exc:
            if exc.status != 404:  # 404: nothing of this kind for the program yet
                section.error = exc.detail
        out.append(section)
    return out
