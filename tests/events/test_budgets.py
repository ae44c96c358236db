"""Budgets are a hard stop: exactly the limit is paid, even under concurrent ingestion."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from jifen.clock import FixedClock
from tests.conftest import api_program
from tests.events.engine_api import (
    Headers,
    assert_verified,
    balance,
    event_body,
    explain,
    paid,
    reasons,
    save_rule,
    send,
    send_batch,
    sh,
)


async def _budget(
    client: httpx.AsyncClient, h: Headers, budget_id: str, limit: int, **extra: Any
) -> None:
    body = {"id": budget_id, "name": f"budget {budget_id}", "limit": limit, **extra}
    r = await client.put(f"/v1/budgets/{budget_id}", json=body, headers=h)
    assert r.status_code == 200, r.text


async def _use(client: httpx.AsyncClient, h: Headers) -> dict[str, dict[str, Any]]:
    r = await client.get("/v1/budgets", headers=h)
    assert r.status_code == 200, r.text
    return {b["id"]: b for b in r.json()}


async def _promo_rule(client: httpx.AsyncClient, h: Headers) -> None:
    await _budget(client, h, "promo", 1000)
    await save_rule(
        client, h, id="promo", name="拉新活动 30 积分, 预算 1000", trigger="check_in",
        effects=[{"amount": {"fixed": 30}}], budget="promo",
    )  # fmt: skip


async def test_rule_budget_pays_exactly_1000_then_stops(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await _promo_rule(client, h)
    t = clock.now()
    first = await send_batch(
        client, h, [event_body(f"a{i}", "check_in", f"m{i}", t) for i in range(10)]
    )
    assert [paid(r) for r in first] == [30] * 10
    use = (await _use(client, h))["promo"]
    assert (use["spent"], use["remaining"], use["limit"], use["period"]) == (300, 700, 1000, "all")

    rest = await send_batch(
        client, h, [event_body(f"b{i}", "check_in", f"m{i}", t) for i in range(40)]
    )
    got = [paid(r) for r in rest]
    # 700 left: 23 × 30 = 690, the 24th gets the last 10, the other 16 get nothing.
    assert got == [30] * 23 + [10] + [0] * 16
    cut = rest[23]
    why = await explain(client, h, cut["postings"][0]["transaction_id"])
    assert why["explanation"]["budget"] == {"id": "promo", "cut_to": 10}
    assert why["explanation"]["computed"] == 30
    for r in rest[24:]:
        assert r["postings"] == []
        assert reasons(r) == [("promo", "budget_spent")]
    late = await send(client, h, "late", "check_in", "z", t)
    assert reasons(late) == [("promo", "budget_spent")]

    total = sum(paid(r) for r in first + rest)
    assert total == 1000
    members = {f"m{i}" for i in range(40)}
    assert sum([await balance(client, h, m) for m in sorted(members)]) == 1000
    use = (await _use(client, h))["promo"]
    assert (use["spent"], use["remaining"]) == (1000, 0)

    # Raising the limit takes effect for the current period at once.
    await _budget(client, h, "promo", 1030)
    more = await send(client, h, "more", "check_in", "z", t)
    assert paid(more) == 30
    assert (await _use(client, h))["promo"]["remaining"] == 0
    await assert_verified(client, h)


async def test_daily_budget_starts_again_each_local_day(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await _budget(client, h, "daily", 50, window="day")
    await save_rule(
        client, h, id="msg", name="发言 20, 日预算 50", trigger="message_posted",
        effects=[{"amount": {"fixed": 20}}], budget="daily",
    )  # fmt: skip
    t = clock.now()
    day1 = await send_batch(
        client, h, [event_body(f"d1-{i}", "message_posted", f"u{i}", t) for i in range(4)]
    )
    assert [paid(r) for r in day1] == [20, 20, 10, 0]
    assert (await _use(client, h))["daily"]["period"] == "d:2026-03-01"
    clock.set(sh(2026, 3, 2, 0, 1))
    day2 = await send(client, h, "d2", "message_posted", "u0", clock.now())
    assert paid(day2) == 20
    use = (await _use(client, h))["daily"]
    assert (use["period"], use["spent"], use["remaining"]) == ("d:2026-03-02", 20, 30)
    await assert_verified(client, h)


async def test_16_concurrent_clients_never_overspend_the_budget(
    client: httpx.AsyncClient, clock: FixedClock, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises them)")
    _, h = await api_program(client)
    await _promo_rule(client, h)
    t = clock.now()
    per_client = 5  # 16 × 5 × 30 = 2,400 asked for, 1,000 available

    async def member_client(n: int) -> list[dict[str, Any]]:
        out = []
        for i in range(per_client):
            body = event_body(f"c{n}-{i}", "check_in", f"w{n}", t + timedelta(seconds=i))
            r = await client.post("/v1/events", json=body, headers=h)
            assert r.status_code == 201, r.text
            out.append(r.json())
        return out

    results = [r for rs in await asyncio.gather(*(member_client(n) for n in range(16))) for r in rs]
    assert len(results) == 16 * per_client
    amounts = sorted((paid(r) for r in results), reverse=True)
    assert sum(amounts) == 1000
    assert amounts[:34] == [30] * 33 + [10]
    assert set(amounts[34:]) == {0}
    assert all(reasons(r) == [("promo", "budget_spent")] for r in results if paid(r) == 0)
    assert sum([await balance(client, h, f"w{n}") for n in range(16)]) == 1000
    use = (await _use(client, h))["promo"]
    assert (use["spent"], use["remaining"]) == (1000, 0)
    await assert_verified(client, h)


async def test_campaign_budget_caps_only_the_campaigns_extra_points(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await save_rule(
        client, h, id="content", name="内容 10 积分", trigger="content_published",
        effects=[{"amount": {"fixed": 10}}],
    )  # fmt: skip
    await _budget(client, h, "double-extra", 25)
    campaign = {
        "id": "double",
        "name": "双倍积分, 额外部分预算 25",
        "starts_at": sh(2026, 3, 1, 0).isoformat(),
        "ends_at": sh(2026, 3, 8, 0).isoformat(),
        "multiplier": "2",
        "budget": "double-extra",
    }
    r = await client.put("/v1/campaigns/double", json=campaign, headers=h)
    assert r.status_code == 200, r.text
    t = clock.now()
    got = [
        await send(client, h, f"c{i}", "content_published", "writer", t + timedelta(seconds=i))
        for i in range(5)
    ]
    # Extra points 10 + 10 + 5 (cut) + 0 + 0 = 25; the rule's own 10 are always paid.
    assert [paid(x) for x in got] == [20, 20, 15, 10, 10]
    why = await explain(client, h, got[2]["postings"][0]["transaction_id"])
    assert why["explanation"]["campaign_budget"] == {"id": "double-extra", "extra_cut_to": 5}
    assert await balance(client, h, "writer") == 75
    use = (await _use(client, h))["double-extra"]
    assert (use["spent"], use["remaining"]) == (25, 0)
    # A campaign cannot name a budget that does not exist.
    bad = await client.put(
        "/v1/campaigns/bad", json={**campaign, "id": "bad", "budget": "nope"}, headers=h
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "unknown_budget"
    await assert_verified(client, h)
