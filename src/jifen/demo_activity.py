"""The demo program's configuration and three weeks of member activity, made through the HTTP API
(in process) exactly as a merchant's backend would: rules, a tier scheme, check-in, tasks,
badges, a leaderboard, coupons, a rewards catalog, checkout, a lottery and referrals, then days
of check-ins, purchases, messages, redemptions and draws with the clock walking forward."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import httpx

from jifen.api.app import create_app
from jifen.clock import FixedClock
from jifen.config import Settings

DAYS = 21

RULES: list[dict[str, Any]] = [
    {"id": "checkin-daily", "name": "每日签到 10 积分", "trigger": "check_in",
     "condition": "!event.attributes.makeup",
     "effects": [{"amount": {"fixed": 10}}], "limits": [{"window": "day", "max_count": 1}]},
    {"id": "checkin-7", "name": "连续签到 7 天 +20", "trigger": "check_in",
     "condition": "streak > 0 && streak % 7 == 0", "effects": [{"amount": {"fixed": 20}}]},
    {"id": "purchase-points", "name": "每消费 1 元得 1 积分、1 成长值", "trigger": "purchase",
     "effects": [
         {"amount": {"per_unit": {"attribute": "amount_fen", "unit": 100, "rate": "1"}}},
         {"asset": "growth", "multiply": False,
          "amount": {"per_unit": {"attribute": "amount_fen", "unit": 100, "rate": "1"}}},
     ]},
    {"id": "first-order-coupon", "name": "首单送 50 元券", "trigger": "purchase",
     "effects": [{"coupon": "welcome-50", "when": "first"}]},
    {"id": "invite-ladder", "name": "邀请:阶梯积分 10/15/20 + 每位 5 元", "trigger": "invite_accepted",
     "effects": [
         {"amount": {"ladder": [{"from": 1, "to": 3, "amount": 10},
                                {"from": 4, "to": 5, "amount": 15},
                                {"from": 6, "amount": 20}]}},
         {"asset": "cash", "multiply": False, "amount": {"fixed": 500}},
     ],
     "limits": [{"window": "month", "max_amount": 10000, "asset": "cash"}],
     "budget": "invite-points"},
    {"id": "message-points", "name": "发言 1 积分,每日最多 20", "trigger": "message_posted",
     "effects": [{"amount": {"fixed": 1}, "multiply": False}],
     "limits": [{"window": "day", "max_amount": 20}], "budget": "community-month"},
    {"id": "ugc-post", "name": "UGC 晒单 100 积分(人工审核)", "trigger": "content_published",
     "effects": [{"amount": {"fixed": 100}}], "review": True},
]  # fmt: skip

TIERS: dict[str, Any] = {
    "name": "成长值等级",
    "qualification": {"metric": "growth"},
    "evaluation": {"period": "month", "downgrade_after_periods": 3, "downgrade_to": "one_step",
                   "protection_months": 1},
    "tiers": [
        {"code": "normal", "name": "普通会员", "min": 0,
         "benefits": {"discount_rate": "0.98", "points_multiplier": "1"}},
        {"code": "silver", "name": "银卡会员", "min": 1000,
         "benefits": {"discount_rate": "0.95", "points_multiplier": "1.2"}},
        {"code": "gold", "name": "金卡会员", "min": 3000,
         "benefits": {"discount_rate": "0.9", "points_multiplier": "1.5", "free_returns": True}},
        {"code": "diamond", "name": "钻石会员", "min": 8000,
         "benefits": {"discount_rate": "0.85", "points_multiplier": "2", "free_returns": True,
                      "dedicated_support": True, "exclusive_activities_per_month": 2}},
    ],
}  # fmt: skip

COUPONS: dict[str, dict[str, Any]] = {
    "welcome-50": {"name": "50 元无门槛券", "kind": "no_threshold", "discount_fen": 5000,
                   "valid_days": 30},
    "course-100": {"name": "100 元课程券(满 300)", "kind": "fixed", "discount_fen": 10000,
                   "threshold_fen": 30000, "scope": "categories", "categories": ["course"],
                   "valid_days": 30},
    "nine-off": {"name": "九折券(最高减 80 元)", "kind": "percent", "percent": "0.9",
                 "max_discount_fen": 8000, "valid_days": 14},
}  # fmt: skip

ITEMS: dict[str, dict[str, Any]] = {
    "coupon-50": {"name": "50 元无门槛券", "kind": "coupon", "category": "coupon",
                  "price_points": 1000, "coupon_template_id": "welcome-50",
                  "limit": {"count": 2, "window": "month"}},
    "mug": {"name": "品牌马克杯", "kind": "physical", "category": "gift", "price_points": 300,
            "stock": 50},
    "earbuds": {"name": "蓝牙耳机(积分 + 现金)", "kind": "physical", "category": "digital",
                "price_points": 1500, "cash_fen": 9900, "stock": 10},
    "vip-lecture": {"name": "金卡专属讲座", "kind": "privilege", "category": "course",
                    "price_points": 200, "tiers": ["gold", "diamond"]},
}  # fmt: skip

LOTTERY: dict[str, Any] = {
    "name": "每日积分抽奖", "cost_points": 50, "daily_limit": 3, "consolation_prize": "five",
    "budget_points": 100000,
    "prizes": [
        {"id": "p100", "name": "100 积分", "kind": "points", "points": 100, "weight": 5},
        {"id": "mug", "name": "马克杯", "kind": "item", "weight": 2, "stock": 10},
        {"id": "c50", "name": "50 元券", "kind": "coupon", "template_id": "welcome-50",
         "weight": 3, "stock": 20},
        {"id": "five", "name": "5 积分", "kind": "points", "points": 5, "weight": 40},
        {"id": "thanks", "name": "谢谢参与", "kind": "nothing", "weight": 50},
    ],
}  # fmt: skip

TASKS: dict[str, dict[str, Any]] = {
    "newbie-avatar": {"name": "设置头像", "kind": "newbie", "group": "newbie",
                      "completion": {"by": "event", "trigger": "profile_completed",
                                     "condition": "event.attributes.step == 'avatar'"},
                      "reward": {"points": 20}},
    "newbie-phone": {"name": "绑定手机", "kind": "newbie", "group": "newbie",
                     "completion": {"by": "event", "trigger": "profile_completed",
                                    "condition": "event.attributes.step == 'phone'"},
                     "reward": {"points": 20}},
    "share-screenshot": {"name": "分享活动并上传截图", "kind": "growth",
                         "completion": {"by": "submission", "require_url": True},
                         "reward": {"points": 30}},
    "daily-login": {"name": "每日登录", "kind": "daily",
                    "completion": {"by": "event", "trigger": "login"},
                    "reward": {"points": 5}},
}  # fmt: skip

BADGES: dict[str, dict[str, Any]] = {
    "streak-7": {"name": "连续签到 7 天", "icon": "🔥", "color": "#e4572e",
                 "criterion": {"kind": "checkin_streak", "n": 7}, "sort_order": 10},
    "days-30": {"name": "累计签到 30 天", "icon": "📅", "color": "#2e86de",
                "criterion": {"kind": "checkin_days", "n": 30}, "sort_order": 20},
    "gold": {"name": "金卡会员", "icon": "🥇", "color": "#d4a017",
             "criterion": {"kind": "tier", "tier": "gold"}, "sort_order": 30},
}  # fmt: skip


async def _ok(r: httpx.Response) -> Any:
    if r.status_code >= 400:
        raise RuntimeError(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text}")
    return r.json()


async def run(settings: Settings, key: str, members: list[str], now: datetime) -> None:
    """Configure the demo program and play ``DAYS`` days of activity ending at ``now``."""
    rng = random.Random(20261203)
    start = (now - timedelta(days=DAYS)).replace(hour=1, minute=0, second=0, microsecond=0)
    clock = FixedClock(start)
    app = create_app(settings.model_copy(update={"embedded_worker_interval_s": 0}), clock)
    h = {"Authorization": f"Bearer {key}"}
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as c:
            await _configure(c, h, start)
            for day in range(DAYS):
                await _day(c, h, clock, rng, members, start + timedelta(days=day), day)
            clock.set(now)
            await _ok(await c.post("/v1/tiers/evaluate", headers=h))
    finally:
        await app.state.engine.dispose()


async def _configure(c: httpx.AsyncClient, h: dict[str, str], start: datetime) -> None:
    since = (start - timedelta(days=1)).isoformat()
    for tid, body in COUPONS.items():
        await _ok(await c.put(f"/v1/coupon-templates/{tid}", json=body, headers=h))
    budgets = {
        "invite-points": {"name": "邀请积分总预算", "asset": "points", "limit": 5000,
                          "window": "total"},
        "community-month": {"name": "社群发言积分(月)", "asset": "points", "limit": 20000,
                            "window": "month"},
    }  # fmt: skip
    for bid, body in budgets.items():
        await _ok(await c.put(f"/v1/budgets/{bid}", json=body, headers=h))
    for rule in RULES:
        await _ok(await c.post("/v1/rules", json={**rule, "effective_from": since}, headers=h))
    await _ok(await c.put("/v1/tier-scheme", json=TIERS, headers=h))
    checkin = {"makeup_cost": 20, "makeup_monthly_limit": 2,
               "gift_packs": [{"streak": 14, "name": "两周礼包", "coupon_template_id": "nine-off"}]}  # fmt: skip
    await _ok(await c.put("/v1/check-in/settings", json=checkin, headers=h))
    for bid, body in BADGES.items():
        await _ok(await c.put(f"/v1/badges/{bid}", json=body, headers=h))
    group = {"name": "新手任务", "bonus": {"cash": 200}}
    await _ok(await c.put("/v1/task-groups/newbie", json=group, headers=h))
    for tid, body in TASKS.items():
        await _ok(await c.put(f"/v1/tasks/{tid}", json=body, headers=h))
    board = {"name": "每周发言榜", "metric": "event_count", "event_type": "message_posted",
             "period": "week", "rewards": [{"from": 1, "to": 5, "reward": {"points": 100}}]}  # fmt: skip
    await _ok(await c.put("/v1/leaderboards/speakers", json=board, headers=h))
    for iid, body in ITEMS.items():
        await _ok(await c.put(f"/v1/catalog/items/{iid}", json=body, headers=h))
    await _ok(
        await c.put(
            "/v1/checkout/settings",
            json={"max_share": "0.5", "min_points": 100, "step": 10},
            headers=h,
        )
    )
    await _ok(await c.put("/v1/lottery/pools/daily", json=LOTTERY, headers=h))
    await _ok(
        await c.put(
            "/v1/referral/settings",
            json={"link_base_url": "https://m.example.com/invite", "qualify_on": "first_purchase"},
            headers=h,
        )
    )
    campaign = {"id": "weekend-double", "name": "周末双倍积分(金卡及以上)",
                "starts_at": (start + timedelta(days=5)).isoformat(),
                "ends_at": (start + timedelta(days=7)).isoformat(), "multiplier": "2",
                "triggers": ["purchase"], "audience": {"tiers": ["gold", "diamond"]}}  # fmt: skip
    await _ok(await c.put("/v1/campaigns/weekend-double", json=campaign, headers=h))


async def _day(
    c: httpx.AsyncClient,
    h: dict[str, str],
    clock: FixedClock,
    rng: random.Random,
    members: list[str],
    day: datetime,
    n: int,
) -> None:
    clock.set(day + timedelta(hours=1))  # 09:00 in Shanghai
    events: list[dict[str, Any]] = []
    for i, m in enumerate(members):
        if rng.random() < 0.75 - i * 0.02:
            await _ok(await c.post(f"/v1/members/{m}/check-ins", headers=h))
        at = (day + timedelta(minutes=rng.randint(0, 50))).isoformat()
        big = i < 3  # a few big spenders climb to gold and diamond
        if rng.random() < (0.6 if big else 0.25):
            amount = rng.choice([29900, 52000, 99900] if big else [3900, 9900, 12800, 19900])
            events.append({"client_id": f"demo-buy-{m}-{n}", "type": "purchase", "member": m,
                           "occurred_at": at,
                           "attributes": {"amount_fen": amount, "order_id": f"o-{m}-{n}"}})  # fmt: skip
        for k in range(rng.randint(0, 9 - i // 3)):
            events.append({"client_id": f"demo-msg-{m}-{n}-{k}", "type": "message_posted",
                           "member": m, "occurred_at": at})  # fmt: skip
        if rng.random() < 0.3:
            events.append({"client_id": f"demo-login-{m}-{n}", "type": "login", "member": m,
                           "occurred_at": at})  # fmt: skip
        if n == 0 and i < 12:
            for step in ("avatar", "phone")[: 1 + i % 2]:
                events.append({"client_id": f"demo-profile-{m}-{step}", "type": "profile_completed",
                               "member": m, "occurred_at": at, "attributes": {"step": step}})  # fmt: skip
        if rng.random() < 0.04:
            events.append({"client_id": f"demo-ugc-{m}-{n}", "type": "content_published",
                           "member": m, "occurred_at": at})  # fmt: skip
    clock.set(day + timedelta(hours=2))
    for start in range(0, len(events), 1000):
        await _ok(await c.post("/v1/events/batch", json={"events": events[start : start + 1000]},
                               headers=h))  # fmt: skip
    clock.set(day + timedelta(hours=3))
    if n in (3, 9, 15):  # new friends invited by the first members register, then buy
        inviter = members[n // 6]
        code = (await _ok(await c.get(f"/v1/members/{inviter}/referral-code", headers=h)))["code"]
        friend = f"friend-{n:02d}"
        await _ok(await c.put(f"/v1/members/{friend}", json={"name": f"新朋友{n}"}, headers=h))
        await _ok(
            await c.post(
                "/v1/referrals",
                json={"code": code, "invitee": friend},
                headers={**h, "Idempotency-Key": f"demo-referral-{friend}"},
            )
        )
        buy = {"client_id": f"demo-friend-buy-{n}", "type": "purchase", "member": friend,
               "occurred_at": clock.now().isoformat(),
               "attributes": {"amount_fen": 9900, "order_id": f"f-{n}"}}  # fmt: skip
        await _ok(await c.post("/v1/events", json=buy, headers=h))
    if n % 3 == 2:  # a few redemptions, by members with points to spend
        m = members[rng.randrange(6)]
        body: dict[str, Any] = (
            {
                "item": "mug",
                "quantity": 1,
                "address": {"name": m, "phone": "13800000000", "line": "上海市长宁区"},
            }
            if n % 2
            else {"item": "coupon-50", "quantity": 1}
        )
        r = await c.post(
            f"/v1/members/{m}/redemptions",
            json=body,
            headers={**h, "Idempotency-Key": f"demo-redeem-{n}"},
        )
        if r.status_code >= 500 or (
            r.status_code == 422 and r.json()["code"] == "validation_error"
        ):
            await _ok(r)
    for m in rng.sample(members, 3):
        r = await c.post(
            f"/v1/members/{m}/lottery/daily/draws",
            headers={**h, "Idempotency-Key": f"demo-draw-{m}-{n}"},
        )
        if r.status_code >= 500:  # refusals (not enough points, daily limit) are fine
            await _ok(r)
    if n == DAYS - 2:  # proof submitted for review, for the console's queue
        for m in members[2:5]:
            await _ok(
                await c.post(
                    f"/v1/members/{m}/tasks/share-screenshot/submissions",
                    json={"proof_url": f"https://img.example.com/{m}.png", "proof_text": "已分享"},
                    headers={**h, "Idempotency-Key": f"demo-share-{m}"},
                )
            )
