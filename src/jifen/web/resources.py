"""Console pages for the other domains (tiers, check-in, tasks, badges, leaderboards, catalog,
coupons, lottery, referrals, webhooks), described as data: what to list and how to save an
edited JSON definition, each through that domain's ``service.py``. A page appears once its
domain's service (and the functions it names) exists."""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.errors import JifenError
from jifen.kit.idempotency import raise_for
from jifen.programs.context import ProgramContext
from jifen.users.roles import Permission
from jifen.web import forms

log = structlog.get_logger("jifen.web")

Lister = Callable[[AsyncSession, ProgramContext, datetime], Awaitable[Any]]


@dataclass(frozen=True)
class Listing:
    title: str
    load: Lister
    # Row actions: (label, action name) posted to /console/p/{pid}/x/{slug}/{action}/{row id}.
    actions: tuple[tuple[str, str], ...] = ()
    id_field: str = "id"
    columns: tuple[str, ...] = ()  # the columns to show, in order (default: the first fields)


@dataclass(frozen=True)
class Editor:
    """A JSON editor whose text is validated by ``schema`` and saved by ``save``."""

    schema: str  # class name in the domain's schemas module
    save: str  # function name in the domain's service
    # The id is a separate argument of ``save`` (taken out of the JSON's "id").
    id_argument: bool = False
    example: dict[str, Any] = field(default_factory=dict)
    current: Lister | None = None  # a single definition to prefill the editor with


Act = Callable[[AsyncSession, ProgramContext, str, str, str | None, datetime, str], Awaitable[None]]


@dataclass(frozen=True)
class Resource:
    slug: str
    domain: str
    title: str
    listings: tuple[Listing, ...]
    editor: Editor | None = None
    permission: Permission = "rules.edit"
    # Row actions (session, ctx, action, row id, reason, now, actor) and who may take them.
    act: Act | None = None
    act_permission: Permission = "reviews.decide"


def module(domain: str, name: str) -> Any | None:
    try:
        return importlib.import_module(f"jifen.{domain}.{name}")
    except ModuleNotFoundError:
        return None


def svc(domain: str) -> Any:
    mod = module(domain, "service")
    if mod is None:
        raise LookupError(f"jifen.{domain}.service is not there yet")
    return mod


def by_program(domain: str, function: str, **kwargs: Any) -> Lister:
    """A loader that calls ``domain``'s service ``function(session, program_id, **kwargs)``."""

    async def load(s: AsyncSession, ctx: ProgramContext, now: datetime) -> Any:
        return await getattr(svc(domain), function)(s, ctx.id, **kwargs)

    return load


def rows_of(value: Any) -> list[dict[str, Any]]:
    """Any list/page/model as rows of JSON-able dicts."""
    if isinstance(value, BaseModel):
        data = value.model_dump(mode="json")
        for key in ("items", "tiers", "rows"):
            if isinstance(data.get(key), list) and len(data) <= 3:
                return [r if isinstance(r, dict) else {"value": r} for r in data[key]]
        return [data]
    if isinstance(value, tuple):
        return rows_of(value[0])
    if isinstance(value, dict):
        return [value]
    out = []
    for item in value or []:
        if isinstance(item, BaseModel):
            out.append(item.model_dump(mode="json"))
        elif isinstance(item, dict):
            out.append(item)
        else:
            out.append({"value": str(item)})
    return out


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 120 else text[:117] + "…"
    return str(value)


# A listing's column headers: each field name's English label (translated on the page).
COLUMNS: dict[str, str] = {
    "id": "ID",
    "code": "Code",
    "name": "Name",
    "rank": "Rank",
    "min": "Threshold",
    "discount_rate": "Discount",
    "points_multiplier": "Points multiplier",
    "exclusive_activities_per_month": "Exclusive activities / month",
    "free_returns": "Free returns",
    "dedicated_support": "Dedicated support",
    "custom": "Custom benefits",
    "current": "Current",
    "description": "Description",
    "kind": "Kind",
    "completion": "Completion",
    "reward": "Reward",
    "group": "Group",
    "repeat": "Repeat",
    "starts_at": "Starts",
    "ends_at": "Ends",
    "deadline": "Deadline",
    "enabled": "Enabled",
    "active": "Active",
    "position": "Position",
    "task_id": "Task",
    "member": "Member",
    "period": "Period",
    "proof_url": "Proof link",
    "proof_text": "Proof note",
    "status": "Status",
    "claimed_by": "Claimed by",
    "claimed_at": "Claimed at",
    "decided_by": "Decided by",
    "decided_at": "Decided at",
    "decision_reason": "Reason",
    "created_at": "Created",
    "updated_at": "Updated",
    "icon": "Icon",
    "color": "Colour",
    "criterion": "Criterion",
    "sort_order": "Order",
    "metric": "Metric",
    "asset": "Asset",
    "event_type": "Event type",
    "event_types": "Event types",
    "rewards": "Rewards",
    "board": "Leaderboard",
    "score": "Score",
    "reached_at": "Reached at",
    "category": "Category",
    "price_points": "Price (points)",
    "cash_fen": "Cash (yuan)",
    "stock": "Stock",
    "coupon_template_id": "Coupon template",
    "tiers": "Tiers allowed",
    "limit": "Limit per member",
    "available_from": "Available from",
    "available_until": "Available until",
    "drop_at": "Drop at",
    "meta": "Meta",
    "item": "Item",
    "quantity": "Quantity",
    "points": "Points",
    "address": "Address",
    "tracking_no": "Tracking number",
    "debit_transaction_id": "Debit transaction",
    "refund_transaction_id": "Refund transaction",
    "coupons": "Coupons",
    "cancel_reason": "Cancel reason",
    "shipped_at": "Shipped",
    "fulfilled_at": "Fulfilled",
    "cancelled_at": "Cancelled",
    "discount_fen": "Discount (yuan)",
    "threshold_fen": "Threshold (yuan)",
    "percent": "Price paid",
    "percent_off": "Percent off",
    "max_discount_fen": "Max discount (yuan)",
    "scope": "Scope",
    "categories": "Categories",
    "product_ids": "Product ids",
    "valid_from": "Valid from",
    "valid_until": "Valid until",
    "valid_days": "Valid for (days)",
    "per_member_limit": "Per member limit",
    "total_quantity": "Total quantity",
    "issued": "Issued",
    "remaining": "Remaining",
    "cost_points": "Cost per draw (points)",
    "daily_limit": "Daily limit",
    "budget_points": "Points budget",
    "budget_spent": "Budget spent",
    "consolation_prize": "Consolation prize",
    "prizes": "Prizes",
    "url": "URL",
    "events": "Events",
    "max_attempts": "Max attempts",
    "endpoint_id": "Endpoint",
    "message_id": "Message",
    "type": "Type",
    "attempts": "Attempts",
    "failures": "Failures",
    "next_attempt_at": "Next attempt",
    "last_status_code": "Last status code",
    "last_error": "Last error",
    "delivered_at": "Delivered",
    "dead_at": "Dead at",
    "log": "Log",
    "amount": "Amount",
    "payee": "Payee",
    "hold_id": "Hold",
    "capture_transaction_id": "Capture transaction",
    "reason": "Reason",
    "payout_reference": "Payout reference",
    "requested_at": "Requested",
    "paid_at": "Paid at",
    "approved_unpaid": "Approved, unpaid",
    "pending": "Pending",
    "items": "Items",
    "rate_out": "Rate out",
    "rate_in": "Rate in",
    "min_units_out": "Min units out",
    "min_units_in": "Min units in",
    "daily_units_out": "Daily units out",
    "daily_units_in": "Daily units in",
    "value": "Value",
    "count": "Count",
}

# Select values shown in listings (the forms' choices add theirs, see ``forms.options_of``).
VALUES: dict[str, str] = {
    "pending": "Pending",
    "approved": "Approved",
    "rejected": "Rejected",
    "shipped": "Shipped",
    "fulfilled": "Fulfilled",
    "cancelled": "Cancelled",
    "paid": "Paid",
}


ASSET_NAMES = {"points": "points", "growth": "growth", "cash": "Cash (fen)"}


def header(column: str) -> str:
    """A column's English label (an unknown field as words)."""
    return COLUMNS.get(column, column.replace("_", " ").capitalize())


def _trim(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def formatted(
    column: str,
    value: Any,
    t: Callable[[str], str],
    locale: str = "zh-CN",
    choices: dict[str, dict[str, str]] | None = None,
    tz: str = "Asia/Shanghai",
) -> str:
    """A cell as an operator reads it: Yes/No, a discount as "9 折" (10% off in English),
    a multiplier as "1.5×", money in yuan, times in the program's zone, choices by label."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return t("Yes") if value else t("No")
    labels = (choices or {}).get(column, {})
    if isinstance(value, list) and all(isinstance(v, (str, int)) for v in value):
        return ", ".join(str(v) for v in value)  # tier codes, categories; [] as nothing
    if column == "prizes" and isinstance(value, list):  # 100 积分 ×1 · 谢谢参与 ×3
        return " · ".join(
            f"{p.get('name')} ×{p.get('weight')}" for p in value if isinstance(p, dict)
        )
    if column == "limit" and isinstance(value, dict):  # 2 / 每天
        window = str(value.get("window", ""))
        return f"{value.get('count')} / {t(dict(forms.WINDOWS).get(window, window))}"
    if column in ("reward", "bonus") and isinstance(value, dict):  # 30 积分 · 优惠券 x
        parts = [f"{v} {t(ASSET_NAMES[k])}" for k, v in value.items() if k in ASSET_NAMES and v]
        if value.get("coupon_template"):
            parts.append(f"{t('Coupon')} {value['coupon_template']}")
        return " · ".join(parts)
    if column == "rewards" and isinstance(value, list):  # 1: 500 积分; 2–10: 100 积分 · 20 成长值
        return "; ".join(
            (f"{r.get('from', 1)}" if r.get("from", 1) == r.get("to") else
             f"{r.get('from', 1)}–{r.get('to')}")
            + ": " + formatted("reward", r.get("reward"), t, locale, choices, tz)
            for r in value
            if isinstance(r, dict)
        )  # fmt: skip
    if column == "criterion" and isinstance(value, dict):  # 连续签到 N 天 (7)
        kind = str(value.get("kind", ""))
        detail = [str(value[k]) for k in ("event_type", "tier", "n") if value.get(k)]
        label = t(dict(forms.CRITERIA).get(kind, kind))
        return f"{label} ({', '.join(detail)})" if detail else label
    if column == "completion" and isinstance(value, dict):
        if value.get("by") == "event":
            return f"{value.get('trigger')} ×{value.get('count', 1)}"
        return t("By submission (reviewed)")
    try:
        if column == "discount_rate":
            rate = Decimal(str(value))
            if rate >= 1:
                return t("No discount")
            if locale.startswith("zh"):  # 9 折, 8.5 折
                return f"{_trim(str(rate * 10))} 折"
            return f"{_trim(str((1 - rate) * 100))}% off"
        if column in ("points_multiplier", "multiplier"):
            return f"{_trim(str(Decimal(str(value))))}×"
        if column == "percent":
            return f"{_trim(str(Decimal(str(value)) * 100))}%"
        if column == "percent_off":
            return f"{_trim(str(value))}%"
        if column.endswith("_fen") and isinstance(value, int):
            return f"¥{Decimal(value) / 100:,.2f}"
    except (ArithmeticError, ValueError):
        return cell(value)
    if isinstance(value, str):
        if value in labels:
            return t(labels[value])
        if column == "status" and value in VALUES:
            return t(VALUES[value])
        if column.endswith(("_at", "_from", "_until")) and "T" in value:
            try:
                instant = datetime.fromisoformat(value)
            except ValueError:
                return value
            if instant.tzinfo is not None:
                return instant.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
    return cell(value)


def columns(rows: list[dict[str, Any]], limit: int = 9) -> list[str]:
    cols: list[str] = []
    for row in rows[:20]:
        for key in row:
            if key not in cols:
                cols.append(key)
    return cols[:limit]


# --- loaders ----------------------------------------------------------------------------------


_tiers_scheme = by_program("tiers", "get_scheme")
_tiers_rows = by_program("tiers", "comparison")
_checkin_settings = by_program("checkin", "get_settings")
_tasks = by_program("tasks", "list_tasks")
_submissions = by_program(
    "tasks",
    "list_submissions",
    status="pending",
    task_id=None,
    member=None,
    after_id=None,
    limit=100,
)


_badges = by_program("badges", "list_badges")


async def _boards(s: AsyncSession, ctx: ProgramContext, now: datetime) -> Any:
    """By alias: a reward's ranks as ``from``/``to``, as the API takes and the schema's errors
    name them (the form's inputs and the JSON editor alike)."""
    boards = await svc("leaderboards").list_boards(s, ctx.id)
    return [b.model_dump(mode="json", by_alias=True) for b in boards]


async def _board_tops(s: AsyncSession, ctx: ProgramContext, now: datetime) -> Any:
    """The top 10 of each board's current period (the first 5 boards)."""
    boards = svc("leaderboards")
    periods = module("leaderboards", "periods")
    rows: list[dict[str, Any]] = []
    for board in (await boards.list_boards(s, ctx.id))[:5]:
        key = periods.key_of(board.period, now, ctx.settings.timezone) if periods else ""
        for entry in await boards.top(s, ctx.id, board.id, key, limit=10):
            rows.append({"board": board.id, "period": key, **rows_of(entry)[0]})
    return rows


async def _deliveries(s: AsyncSession, ctx: ProgramContext, now: datetime) -> Any:
    """The latest deliveries of each endpoint (the first 5 endpoints)."""
    hooks = svc("webhooks")
    rows: list[dict[str, Any]] = []
    for endpoint in (await hooks.list_endpoints(s, ctx.id))[:5]:
        page = await hooks.deliveries(s, ctx.id, endpoint.id, limit=20)
        rows.extend(rows_of(page))
    return rows


_dead_letters = by_program("webhooks", "dead_letters", limit=50)


async def _withdrawals(s: AsyncSession, ctx: ProgramContext, now: datetime) -> Any:
    rows, _ = await svc("wallet").list_withdrawals(
        s, ctx.id, member_id=None, status=None, after_id=None, limit=50
    )
    return rows


_payable = by_program("wallet", "payable")
_wallet_settings = by_program("wallet", "get_settings")


async def _checkout_settings(s: AsyncSession, ctx: ProgramContext, now: datetime) -> Any:
    checkout = svc("checkout")
    out = checkout.settings_out(ctx, await checkout.rates(s, ctx))
    return {
        "point_value_fen": None if out.point_value_from_program else str(out.point_value_fen),
        "max_share": str(out.max_share),
        "min_points": out.min_points,
        "step": out.step,
        "enabled": out.enabled,
    }


_gift_settings = by_program("transfers", "get_settings")
_partners = by_program("partners", "list_partners")


async def _tasks_act(
    s: AsyncSession,
    ctx: ProgramContext,
    action: str,
    row_id: str,
    reason: str | None,
    now: datetime,
    actor: str,
) -> None:
    """Task submissions: claim, approve (pays the reward once), reject."""
    tasks = svc("tasks")
    if action == "claim":
        await tasks.claim(s, ctx, int(row_id), reviewer=actor, now=now)
    elif action in ("approve", "reject"):
        await tasks.decide(
            s, ctx, int(row_id), approve=action == "approve", reviewer=actor, reason=reason,
            now=now,
        )  # fmt: skip
    else:
        raise LookupError(action)


async def _wallet_act(
    s: AsyncSession,
    ctx: ProgramContext,
    action: str,
    row_id: str,
    reason: str | None,
    now: datetime,
    actor: str,
) -> None:
    """Withdrawals: approve (captures the hold), reject (with a reason), paid (the payout
    reference goes in the reason field)."""
    wallet = svc("wallet")
    wid = int(row_id)
    if action == "approve":
        raise_for(await wallet.approve(s, ctx, wid, operator=actor, now=now))
    elif action == "reject":
        await wallet.reject(s, ctx, wid, operator=actor, reason=reason or "rejected", now=now)
    elif action == "paid":
        if not reason:
            raise ValueError("give the payout reference in the reason field")
        await wallet.mark_paid(s, ctx, wid, operator=actor, payout_reference=reason, now=now)
    else:
        raise LookupError(action)


async def _orders_act(
    s: AsyncSession,
    ctx: ProgramContext,
    action: str,
    row_id: str,
    reason: str | None,
    now: datetime,
    actor: str,
) -> None:
    """Orders: ship (the tracking number goes in the reason field), fulfil, cancel (refunds)."""
    catalog = svc("catalog")
    order = uuid.UUID(row_id)
    if action == "ship":
        if not reason:
            raise ValueError("give the tracking number in the reason field")
        await catalog.ship(s, ctx, order, tracking_no=reason, now=now)
    elif action == "fulfil":
        await catalog.fulfil(s, ctx, order, now=now)
    elif action == "cancel":
        await catalog.cancel(s, ctx, order, reason=reason, now=now)
    else:
        raise LookupError(action)


_items = by_program("catalog", "list_items")
_orders = by_program("catalog", "list_orders", limit=50)
_templates = by_program("coupons", "list_templates")
_pools = by_program("lottery", "list_pools")
_referral_settings = by_program("referrals", "get_settings")
_webhooks = by_program("webhooks", "list_endpoints")


RESOURCES: tuple[Resource, ...] = (
    Resource(
        "tiers",
        "tiers",
        "Tiers",
        (Listing("Tiers", _tiers_rows, id_field="code"),),
        Editor(
            "TierSchemeIn",
            "save_scheme",
            example={
                "name": "会员等级",
                "tiers": [
                    {"code": "normal", "name": "普通会员", "min": 0},
                    {
                        "code": "silver",
                        "name": "银卡",
                        "min": 1000,
                        "benefits": {"discount_rate": "0.95", "points_multiplier": "1.2"},
                    },
                    {
                        "code": "gold",
                        "name": "金卡",
                        "min": 5000,
                        "benefits": {
                            "discount_rate": "0.9",
                            "points_multiplier": "1.5",
                            "free_returns": True,
                            "dedicated_support": True,
                        },
                    },
                ],
            },
            current=_tiers_scheme,
        ),
    ),
    Resource(
        "checkin",
        "checkin",
        "Check-in",
        (),
        Editor(
            "CheckInSettingsIn",
            "save_settings",
            example={"makeup_cost": 20, "makeup_monthly_limit": 2, "gift_packs": []},
            current=_checkin_settings,
        ),
    ),
    Resource(
        "tasks",
        "tasks",
        "Tasks",
        (
            Listing(
                "Tasks",
                _tasks,
                columns=(
                    "id",
                    "name",
                    "kind",
                    "repeat",
                    "group",
                    "completion",
                    "reward",
                    "position",
                    "enabled",
                ),
            ),
            Listing(
                "Pending",
                _submissions,
                actions=(("Claim", "claim"), ("Approve", "approve"), ("Reject", "reject")),
            ),
        ),
        Editor(
            "TaskDefinition",
            "save_task",
            example={
                "id": "share-screenshot",
                "name": "分享截图",
                "kind": "daily",
                "completion": {"by": "submission"},
                "reward": {"points": 30},
            },
        ),
        act=_tasks_act,
    ),
    Resource(
        "badges",
        "badges",
        "Badges",
        (
            Listing(
                "Badges",
                _badges,
                columns=("id", "name", "icon", "criterion", "sort_order", "enabled"),
            ),
        ),
        Editor(
            "BadgeIn",
            "save_badge",
            id_argument=True,
            example={
                "id": "checkin-7",
                "name": "连续签到 7 天",
                "icon": "🔥",
                "criterion": {"kind": "checkin_streak", "n": 7},
            },
        ),
    ),
    Resource(
        "leaderboards",
        "leaderboards",
        "Leaderboards",
        (
            Listing(
                "Leaderboards",
                _boards,
                columns=("id", "name", "metric", "event_type", "period", "rewards", "enabled"),
            ),
            Listing("Top 10", _board_tops),
        ),
        Editor(
            "LeaderboardDefinition",
            "save_board",
            example={
                "id": "weekly-speakers",
                "name": "本周发言榜",
                "metric": "event_count",
                "event_type": "message",
                "period": "week",
                "rewards": [
                    {"from": 1, "to": 1, "reward": {"points": 500}},
                    {"from": 2, "to": 10, "reward": {"points": 100}},
                ],
            },
        ),
    ),
    Resource(
        "catalog",
        "catalog",
        "Catalog & orders",
        (
            Listing(
                "Catalog items",
                _items,
                columns=(
                    "id",
                    "name",
                    "kind",
                    "category",
                    "price_points",
                    "cash_fen",
                    "stock",
                    "limit",
                    "tiers",
                    "enabled",
                ),
            ),
            Listing(
                "Orders",
                _orders,
                actions=(("Ship", "ship"), ("Fulfil", "fulfil"), ("Cancel", "cancel")),
            ),
        ),
        Editor(
            "ItemIn",
            "save_item",
            id_argument=True,
            example={
                "id": "mug",
                "name": "定制马克杯",
                "kind": "virtual",
                "price_points": 500,
                "stock": 100,
            },
        ),
        permission="catalog.edit",
        act=_orders_act,
        act_permission="catalog.edit",
    ),
    Resource(
        "coupons",
        "coupons",
        "Coupons",
        (
            Listing(
                "Coupons",
                _templates,
                columns=(
                    "id",
                    "name",
                    "kind",
                    "discount_fen",
                    "threshold_fen",
                    "percent_off",
                    "max_discount_fen",
                    "scope",
                    "valid_days",
                    "valid_until",
                    "per_member_limit",
                    "issued",
                    "remaining",
                    "active",
                ),
            ),
        ),
        Editor(
            "TemplateIn",
            "save_template",
            id_argument=True,
            example={
                "id": "no-threshold-50",
                "name": "50 元无门槛券",
                "kind": "no_threshold",
                "discount_fen": 5000,
                "valid_days": 30,
            },
        ),
        permission="catalog.edit",
    ),
    Resource(
        "lottery",
        "lottery",
        "Lottery",
        (
            Listing(
                "Lottery",
                _pools,
                columns=(
                    "id",
                    "name",
                    "cost_points",
                    "daily_limit",
                    "budget_points",
                    "budget_spent",
                    "consolation_prize",
                    "prizes",
                    "active",
                ),
            ),
        ),
        Editor(
            "PoolIn",
            "save_pool",
            id_argument=True,
            example={
                "id": "wheel",
                "name": "幸运大转盘",
                "cost_points": 50,
                "prizes": [
                    {
                        "id": "p100",
                        "name": "100 积分",
                        "kind": "points",
                        "weight": 1,
                        "points": 100,
                    },
                    {"id": "none", "name": "谢谢参与", "kind": "nothing", "weight": 3},
                ],
            },
        ),
    ),
    Resource(
        "referrals",
        "referrals",
        "Referrals",
        (),
        Editor(
            "ReferralSettingsIn",
            "save_settings",
            example={"link_base_url": "https://example.cn/invite", "qualify_on": "registered"},
            current=_referral_settings,
        ),
    ),
    Resource(
        "webhooks",
        "webhooks",
        "Webhooks",
        (
            Listing("Webhooks", _webhooks),
            Listing("Deliveries", _deliveries),
            Listing("Dead letters", _dead_letters),
        ),
        Editor(
            "WebhookIn",
            "create_endpoint",
            example={"url": "https://example.cn/jifen-hook", "events": ["points.*"]},
        ),
        permission="settings.edit",
    ),
    Resource(
        "wallet",
        "wallet",
        "Wallet",
        (
            Listing(
                "Withdrawals",
                _withdrawals,
                actions=(("Approve", "approve"), ("Reject", "reject"), ("Mark paid", "paid")),
            ),
            Listing("Payable", _payable),
        ),
        Editor(
            "WalletSettingsIn",
            "save_settings",
            example={"min_amount": 100, "daily_limit": 20000},
            current=_wallet_settings,
        ),
        permission="budgets.edit",
        act=_wallet_act,
        act_permission="points.adjust",
    ),
    Resource(
        "checkout",
        "checkout",
        "Checkout",
        (),
        Editor(
            "CheckoutSettingsIn",
            "save_settings",
            example={"max_share": "0.5", "min_points": 100, "step": 10},
            current=_checkout_settings,
        ),
        permission="settings.edit",
    ),
    Resource(
        "transfers",
        "transfers",
        "Gifts & donations",
        (),
        Editor(
            "GiftSettingsIn",
            "save_settings",
            example={"daily_limit": 500, "eligible_tiers": ["silver", "gold"]},
            current=_gift_settings,
        ),
    ),
    Resource(
        "partners",
        "partners",
        "Partners",
        (Listing("Partners", _partners),),
        Editor(
            "PartnerIn",
            "save_partner",
            id_argument=True,
            example={"id": "air-miles", "name": "航空里程", "rate_out": "10", "rate_in": "8"},
        ),
        permission="settings.edit",
    ),
)

BY_SLUG = {r.slug: r for r in RESOURCES}


async def load(
    resource: Resource,
    session: AsyncSession,
    ctx: ProgramContext,
    now: datetime,
    edit: str | None = None,
) -> dict[str, Any]:
    """Each listing's rows, the form's inputs (filled from the row ``edit`` names, or from the
    current definition) and the JSON editor's text; a part whose domain code fails shows why
    instead of taking the whole page down (other helpers' services are still being built)."""
    tables: list[dict[str, Any]] = []
    first: list[dict[str, Any]] = []  # the first listing's rows (the definitions a form edits)
    for listing in resource.listings:
        try:
            rows = rows_of(await listing.load(session, ctx, now))
            error = None
        except JifenError as exc:
            rows = []
            error = None if exc.status == 404 else exc.detail
        except Exception as exc:  # shown on the page and logged: the domain may be unfinished
            log.warning("console_listing_failed", resource=resource.slug, error=repr(exc))
            rows, error = [], f"{type(exc).__name__}: {exc}"
        if not tables:
            first = rows
        tables.append(
            {
                "title": listing.title,
                "rows": rows,
                "columns": [c for c in listing.columns if any(c in r for r in rows)]
                or columns(rows),
                "actions": listing.actions,
                "id_field": listing.id_field,
                "error": error,
            }
        )
    text = ""
    if resource.editor is not None:
        current: Any = None
        if resource.editor.current is not None:
            try:
                current = await resource.editor.current(session, ctx, now)
            except JifenError:
                current = None  # nothing defined yet: the example
            except Exception as exc:  # the example, and the reason logged
                log.warning("console_editor_failed", resource=resource.slug, error=repr(exc))
        data = rows_of(current)[0] if current is not None else resource.editor.example
        text = json.dumps(data, ensure_ascii=False, indent=2)
    form = forms.FORMS.get(resource.slug)
    state = None
    if form is not None:
        chosen: dict[str, Any] | None = None
        if not form.multi:
            chosen = json.loads(text) if text else None
        elif edit:
            found = [r for r in first if str(r.get("id")) == edit]
            chosen = found[0] if found else None
        state = forms.state_of(form, chosen, ctx.settings.timezone)
    return {"tables": tables, "text": text, "form": form, "state": state, "edit": edit}


async def save(
    resource: Resource,
    session: AsyncSession,
    ctx: ProgramContext,
    raw: Any,
    *,
    now: datetime,
    actor: str,
) -> None:
    editor = resource.editor
    assert editor is not None
    schemas = module(resource.domain, "schemas")
    model = getattr(schemas, editor.schema, None) if schemas is not None else None
    if model is None:
        model = getattr(svc(resource.domain), editor.schema)
    if not isinstance(raw, dict):
        raise ValueError("a JSON object is expected")
    fn = getattr(svc(resource.domain), editor.save)
    if editor.id_argument:
        body = dict(raw)
        ident = str(body.pop("id", ""))
        await fn(session, ctx, ident, model.model_validate(body), now=now, actor=actor)
    else:
        await fn(session, ctx, model.model_validate(raw), now=now, actor=actor)


async def act(
    resource: Resource,
    session: AsyncSession,
    ctx: ProgramContext,
    action: str,
    row_id: str,
    *,
    reason: str | None,
    now: datetime,
    actor: str,
) -> None:
    """A row action (task submissions, withdrawals)."""
    if resource.act is None:
        raise LookupError(action)
    await resource.act(session, ctx, action, row_id, reason, now, actor)
