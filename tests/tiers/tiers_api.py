"""HTTP helpers for the tiers tests: schemes, purchases, tiers and history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from tests.events.engine_api import Headers, paid, send

RETAIL_TIERS = [
    {"code": "normal", "name": "普通会员", "min": 0,
     "benefits": {"discount_rate": "0.98", "points_multiplier": "1"}},
    {"code": "silver", "name": "银卡会员", "min": 3,
     "benefits": {"discount_rate": "0.95", "points_multiplier": "1.2",
                  "exclusive_activities_per_month": 1}},
    {"code": "gold", "name": "金卡会员", "min": 5,
     "benefits": {"discount_rate": "0.90", "points_multiplier": "1.5",
                  "exclusive_activities_per_month": 2, "free_returns": True}},
    {"code": "diamond", "name": "钻石会员", "min": 7,
     "benefits": {"discount_rate": "0.85", "points_multiplier": "2",
                  "exclusive_activities_per_month": 4, "free_returns": True,
                  "dedicated_support": True, "custom": {"birthday_gift": "cake"}}},
]  # fmt: skip

# RFM over the month before the evaluation: bought within 30 days +1; 2 / 4 / 8 purchases +1
# each; 500 / 2,000 yuan +1 each. normal 0, silver 3, gold 5, diamond 7.
RETAIL_SCHEME: dict[str, Any] = {
    "name": "零售会员 RFM",
    "qualification": {
        "metric": "rfm",
        "window_months": 1,
        "rfm": {"recency_days": [30], "frequency": [2, 4, 8], "monetary_fen": [50000, 200000]},
    },
    "evaluation": {"period": "month", "downgrade_after_periods": 3, "downgrade_to": "one_step"},
    "tiers": RETAIL_TIERS,
}

GROWTH_TIERS = [
    {"code": "bronze", "name": "青铜", "min": 0},
    {"code": "silver", "name": "白银", "min": 1000},
    {"code": "gold", "name": "黄金", "min": 5000},
    {"code": "platinum", "name": "铂金", "min": 20000},
]


async def put_scheme(
    client: httpx.AsyncClient, h: Headers, scheme: dict[str, Any], expect: int = 200
) -> dict[str, Any]:
    r = await client.put("/v1/tier-scheme", json=scheme, headers=h)
    assert r.status_code == expect, r.text
    return dict(r.json())


async def tier_of(client: httpx.AsyncClient, h: Headers, member: str) -> dict[str, Any]:
    r = await client.get(f"/v1/members/{member}/tier", headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def code_of(client: httpx.AsyncClient, h: Headers, member: str) -> str:
    return str((await tier_of(client, h, member))["tier"]["code"])


async def history_of(client: httpx.AsyncClient, h: Headers, member: str) -> list[tuple[Any, ...]]:
    """(from, to, direction, source, period) of each change, oldest first."""
    r = await client.get(f"/v1/members/{member}/tier-history", headers=h)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    return [
        (i["from_tier"], i["to_tier"], i["direction"], i["source"], i["period"])
        for i in reversed(items)
    ]


async def evaluate(client: httpx.AsyncClient, h: Headers) -> dict[str, Any]:
    r = await client.post("/v1/tiers/evaluate", headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def buy(
    client: httpx.AsyncClient, h: Headers, order: str, member: str, at: datetime, fen: int
) -> int:
    """A purchase event; returns the points it paid."""
    r = await send(client, h, order, "purchase", member, at, order_id=order, amount_fen=fen)
    return paid(r)


async def member_token(client: httpx.AsyncClient, h: Headers, member: str) -> Headers:
    r = await client.post(f"/v1/members/{member}/tokens", headers=h)
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}
