"""The member portal's pages and actions for the other domains, through their ``service.py``
only; a page (and its tab) appears once its domain's service exists."""

from __future__ import annotations

import importlib
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.errors import InvalidInput
from jifen.kit.idempotency import Outcome, raise_for, run_once
from jifen.members import service as members
from jifen.web.auth import PortalMember
from jifen.web.domains import service
from jifen.web.i18n import translator
from jifen.web.resources import svc as _svc

Loader = Callable[[AsyncSession, PortalMember, datetime], Awaitable[dict[str, Any]]]
Action = Callable[[AsyncSession, PortalMember, dict[str, str], datetime], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class PortalPage:
    domain: str
    template: str
    tab: str
    load: Loader
    # Loads that create something on first view (an invite code) run in a write transaction.
    writes: bool = False


@dataclass(frozen=True, slots=True)
class Tab:
    slug: str
    label: str
    icon: str


def _key() -> str:
    return f"portal-{uuid.uuid4()}"


# --- tier -------------------------------------------------------------------------------------


async def tier_card(
    session: AsyncSession, who: PortalMember, *, now: datetime
) -> dict[str, Any] | None:
    tiers = service("tiers")
    if tiers is None:
        return None
    try:
        out = await tiers.member_tier(session, who.program, who.member_id, who.member, now=now)
    except (LookupError, AttributeError):
        return None
    except Exception as exc:
        if getattr(exc, "status", 500) == 404:
            return None
        raise
    progress = out.progress
    total = progress.value + progress.needed
    percent = 100 if not progress.next or total <= 0 else int(100 * progress.value / total)
    return {
        "code": out.tier.code,
        "name": out.tier.name,
        "progress": percent,
        "next_text": progress.text,
        "value": progress.value,
        "needed": progress.needed,
        "next_name": progress.next_name,
    }


async def _tier(s: AsyncSession, who: PortalMember, now: datetime) -> dict[str, Any]:
    tiers = _svc("tiers")
    card = await tier_card(s, who, now=now)
    try:
        table = await tiers.comparison(s, who.program.id, member_id=who.member_id)
    except Exception as exc:
        if getattr(exc, "status", 500) != 404:
            raise
        table = None
    return {"tier": card, "comparison": table}


# --- check-in ---------------------------------------------------------------------------------


async def _checkin(s: AsyncSession, who: PortalMember, now: datetime) -> dict[str, Any]:
    checkin = _svc("checkin")
    cal = await checkin.calendar(s, who.program, member=who.member, month=None, now=now)
    streak = await checkin.current_streak(s, who.program, who.member_id, now=now)
    return {"calendar": cal, "streak": streak}


async def _do_checkin(
    s: AsyncSession, who: PortalMember, form: dict[str, str], now: datetime
) -> dict[str, Any]:
    checkin = _svc("checkin")
    out = raise_for(await checkin.check_in(s, who.program, member=who.member, now=now)).body
    t = translator(who.locale)
    if out.get("status") == "already_checked_in":
        return {"message": t("Checked in today"), "refresh": True}
    gifts = "".join(f" · {g.get('name')}" for g in out.get("gifts", []) if g.get("name"))
    return {
        "message": f"{t('Checked in')} +{out.get('points', 0)} · {t('Streak')} "
        f"{out.get('streak')}{gifts}",
        "refresh": True,
    }


# --- tasks ------------------------------------------------------------------------------------


async def _tasks(s: AsyncSession, who: PortalMember, now: datetime) -> dict[str, Any]:
    tasks = _svc("tasks")
    return {"tasks": await tasks.member_tasks(s, who.program, who.member, now=now)}


async def _submit_task(
    s: AsyncSession, who: PortalMember, form: dict[str, str], now: datetime
) -> dict[str, Any]:
    tasks = _svc("tasks")
    text = (form.get("proof_text") or "").strip() or None
    url = (form.get("proof_url") or "").strip() or None
    if text is None and url is None:
        raise InvalidInput("add a screenshot link or a note", code="proof_required", field="proof")
    out = await tasks.submit(
        s,
        who.program,
        member_id=who.member_id,
        member=who.member,
        task_id=form.get("task_id", ""),
        proof_url=url,
        proof_text=text,
        now=now,
    )
    t = translator(who.locale)
    return {"message": f"{t('Submitted for review')} #{out.id}", "refresh": True}


# --- badges, coupons --------------------------------------------------------------------------


async def _badges(s: AsyncSession, who: PortalMember, now: datetime) -> dict[str, Any]:
    return {"wall": await _svc("badges").wall(s, who.program, member=who.member, now=now)}


async def _coupons(s: AsyncSession, who: PortalMember, now: datetime) -> dict[str, Any]:
    coupons = _svc("coupons")
    return {"coupons": await coupons.member_coupons(s, who.program, who.member, now=now)}


# --- mall -------------------------------------------------------------------------------------


async def _mall(s: AsyncSession, who: PortalMember, now: datetime) -> dict[str, Any]:
    catalog = _svc("catalog")
    member = await members.get(s, who.program.id, who.member)
    entries = await catalog.member_catalog(s, who.program, member, now=now)
    orders = await catalog.list_orders(s, who.program.id, member_id=who.member_id, limit=10)
    return {"entries": entries, "orders": orders.items, "key": _key()}


async def _redeem(
    s: AsyncSession, who: PortalMember, form: dict[str, str], now: datetime
) -> dict[str, Any]:
    catalog = _svc("catalog")
    schemas = importlib.import_module("jifen.catalog.schemas")
    body = schemas.RedeemIn(item=form.get("item", ""), quantity=1)
    member = await members.get(s, who.program.id, who.member)
    payload = {"member": who.member, **body.model_dump(mode="json", exclude={"idempotency_key"})}

    async def apply() -> Outcome:
        order = await catalog.redeem(s, who.program, member, body, now=now)
        return Outcome(201, order.model_dump(mode="json"))

    outcome = raise_for(
        await run_once(
            s,
            who.program.id,
            key=form.get("key") or _key(),
            operation="catalog.redeem",
            payload=payload,
            now=now,
            apply=apply,
        )
    )
    order = outcome.body
    t = translator(who.locale)
    return {
        "message": f"{t('Redeemed')} −{order.get('points')} {t('Points')} · "
        f"{t('Orders')} {str(order.get('id'))[:8]}",
        "refresh": True,
    }


# --- lottery ----------------------------------------------------------------------------------


async def _lottery(s: AsyncSession, who: PortalMember, now: datetime) -> dict[str, Any]:
    lottery = _svc("lottery")
    pools = [p for p in await lottery.list_pools(s, who.program.id) if p.active]
    draws = await lottery.member_draws(s, who.program, who.member, limit=10)
    return {"pools": [(p, wheel(p.prizes)) for p in pools], "draws": draws, "key": _key()}


COLOURS = ("#ffd6d6", "#fff1c1", "#d9f2e6", "#dbe8ff", "#f3dcff", "#ffe3cc")


def wheel(prizes: list[Any]) -> dict[str, Any]:
    """The wheel's CSS: a conic gradient of equal segments and each label at its middle."""
    n = max(1, len(prizes))
    step = 360 / n
    stops = ", ".join(
        f"{COLOURS[i % len(COLOURS)]} {i * step:.2f}deg {(i + 1) * step:.2f}deg" for i in range(n)
    )
    labels = []
    for i, prize in enumerate(prizes):
        angle = math.radians((i + 0.5) * step)
        labels.append(
            {
                "name": prize.name,
                "left": f"{50 + 32 * math.sin(angle):.2f}%",
                "top": f"{50 - 32 * math.cos(angle):.2f}%",
                "rotate": f"{(i + 0.5) * step:.2f}deg",
            }
        )
    return {"gradient": f"conic-gradient({stops})", "labels": labels}


async def _draw(
    s: AsyncSession, who: PortalMember, form: dict[str, str], now: datetime
) -> dict[str, Any]:
    lottery = _svc("lottery")
    pool_id = form.get("pool", "")
    pool = await lottery.get_pool(s, who.program.id, pool_id)

    async def apply() -> Outcome:
        out = await lottery.draw(s, who.program, member=who.member, pool_id=pool_id, now=now)
        return Outcome(201, out.model_dump(mode="json"))

    key = form.get("key") or _key()
    outcome = raise_for(
        await run_once(
            s,
            who.program.id,
            key=f"lottery:{who.member}:{key}",
            operation="lottery.draw",
            payload={"member": who.member, "pool": pool_id},
            now=now,
            apply=apply,
        )
    )
    drawn = outcome.body
    prize = drawn.get("prize") or {}
    ids = [p.id for p in pool.prizes]
    shown = prize.get("id") or drawn.get("selected_prize_id")
    index = ids.index(shown) if shown in ids else 0
    name = prize.get("name") if drawn.get("won") else None
    t = translator(who.locale)
    return {
        "message": f"{t('You won')} {name}" if name else t("No prize this time"),
        "spin": index,
        "segments": len(ids),
        "refresh_after": 2600,
    }


# --- invite -----------------------------------------------------------------------------------


async def _invite(s: AsyncSession, who: PortalMember, now: datetime) -> dict[str, Any]:
    referrals = _svc("referrals")
    code = await referrals.code_of(s, who.program, who.member, now=now)
    invited, _ = await referrals.list_for(s, who.program.id, who.member, after_id=None, limit=20)
    return {"code": code, "invited": invited}


# --- notifications ----------------------------------------------------------------------------


async def recent_notifications(
    session: AsyncSession, who: PortalMember, *, limit: int = 5
) -> list[Any]:
    notify = service("notify")
    fn = getattr(notify, "list_notifications", None) if notify is not None else None
    if fn is None:
        return []
    page = await fn(session, who.program.id, who.member_id, cursor=None, limit=limit)
    return list(page.items)


PAGES: dict[str, PortalPage] = {
    "tier": PortalPage("tiers", "portal/tier.html", "home", _tier),
    "checkin": PortalPage("checkin", "portal/checkin.html", "checkin", _checkin),
    "tasks": PortalPage("tasks", "portal/tasks.html", "tasks", _tasks),
    "badges": PortalPage("badges", "portal/badges.html", "home", _badges),
    "mall": PortalPage("catalog", "portal/mall.html", "mall", _mall),
    "coupons": PortalPage("coupons", "portal/coupons.html", "home", _coupons),
    "lottery": PortalPage("lottery", "portal/lottery.html", "lottery", _lottery),
    "invite": PortalPage("referrals", "portal/invite.html", "invite", _invite, writes=True),
}

ACTIONS: dict[tuple[str, str], tuple[str, Action]] = {
    ("checkin", "do"): ("checkin", _do_checkin),
    ("tasks", "submit"): ("tasks", _submit_task),
    ("mall", "redeem"): ("catalog", _redeem),
    ("lottery", "draw"): ("lottery", _draw),
}


def ready(slug: str) -> PortalPage | None:
    page = PAGES.get(slug)
    return page if page is not None and service(page.domain) is not None else None


def tabs() -> list[Tab]:
    out = [Tab("", "Home", "首")]
    for slug, label, icon in (
        ("checkin", "Check-in", "签"),
        ("mall", "Mall", "兑"),
        ("lottery", "Lottery", "抽"),
        ("invite", "Invite friends", "邀"),
    ):
        if ready(slug) is not None:
            out.append(Tab(slug, label, icon))
    return out


def shortcuts() -> list[Tab]:
    """The home page's grid: every section, the tab bar's and the others."""
    out = []
    for slug, label, icon in (
        ("checkin", "Check-in", "签"),
        ("tasks", "Tasks", "任"),
        ("mall", "Mall", "兑"),
        ("lottery", "Lottery", "抽"),
        ("coupons", "My coupons", "券"),
        ("badges", "Badge wall", "章"),
        ("invite", "Invite friends", "邀"),
        ("tier", "Tier benefits", "级"),
    ):
        if ready(slug) is not None:
            out.append(Tab(slug, label, icon))
    return out
