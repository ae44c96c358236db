"""Gifting and donations through the HTTP API, and gifts both ways at once on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from jifen.clock import FixedClock
from tests.conftest import api_program
from tests.events.engine_api import Headers, assert_verified, balance, set_member, set_tier


async def _points(client: httpx.AsyncClient, h: Headers, member: str, amount: int) -> None:
    await set_member(client, h, member)
    if amount == 0:
        return
    r = await client.post(
        "/v1/credits",
        json={"member": member, "amount": amount, "reason": "seed"},
        headers={**h, "Idempotency-Key": f"seed-{member}-{amount}"},
    )
    assert r.status_code == 201, r.text


async def _gift(
    client: httpx.AsyncClient,
    h: Headers,
    sender: str,
    to: str,
    amount: int,
    key: str,
    expect: int = 201,
) -> dict[str, Any]:
    r = await client.post(
        "/v1/gifts",
        json={"from_member": sender, "to": to, "amount": amount},
        headers={**h, "Idempotency-Key": key},
    )
    assert r.status_code == expect, r.text
    return dict(r.json())


async def test_example4_gifting_at_most_500_a_day_silver_and_above(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    r = await client.put(
        "/v1/gift/settings",
        json={"daily_limit": 500, "eligible_tiers": ["silver", "gold", "platinum"]},
        headers=h,
    )
    assert r.status_code == 200, r.text
    await _points(client, h, "ann", 2000)
    await _points(client, h, "bob", 0)

    await set_tier(client, h, "ann", "bronze")
    bronze = await _gift(client, h, "ann", "bob", 100, "g-bronze", expect=403)
    assert (bronze["code"], bronze["tier"]) == ("tier_not_eligible", "bronze")
    await set_tier(client, h, "ann", "silver")
    first = await _gift(client, h, "ann", "bob", 300, "g-1")
    assert (first["amount"], first["fee"], first["from_member"], first["to"]) == (
        300, 0, "ann", "bob"
    )  # fmt: skip
    over = await _gift(client, h, "ann", "bob", 201, "g-2", expect=422)
    assert (over["code"], over["daily_limit"], over["used"]) == ("daily_limit_exceeded", 500, 300)
    await _gift(client, h, "ann", "bob", 200, "g-3")
    assert (await _gift(client, h, "ann", "bob", 1, "g-4", expect=422))["code"] == (
        "daily_limit_exceeded"
    )
    self_gift = await _gift(client, h, "ann", "ann", 1, "g-self", expect=422)
    assert self_gift["code"] == "same_member"
    assert (await balance(client, h, "ann"), await balance(client, h, "bob")) == (1500, 500)

    # The day is the program's (Asia/Shanghai): 23:59 is still today, 00:00 is tomorrow.
    clock.set(clock.now().replace(hour=15, minute=59))  # 23:59 in Shanghai
    assert (await _gift(client, h, "ann", "bob", 1, "g-5", expect=422))["code"] == (
        "daily_limit_exceeded"
    )
    clock.advance(timedelta(minutes=1))
    await _gift(client, h, "ann", "bob", 500, "g-6")
    # A bronze member may receive but not give.
    await set_tier(client, h, "bob", "bronze")
    assert (await _gift(client, h, "bob", "ann", 10, "g-7", expect=403))["code"] == (
        "tier_not_eligible"
    )
    # The member's own endpoint shares the rules.
    token = (await client.post("/v1/members/ann/tokens", headers=h)).json()["token"]
    me = {"Authorization": f"Bearer {token}"}
    r = await client.post(
        "/v1/me/gifts", json={"to": "bob", "amount": 1}, headers={**me, "Idempotency-Key": "x"}
    )
    assert (r.status_code, r.json()["code"]) == (422, "daily_limit_exceeded")
    gifts = (await client.get("/v1/me/gifts", headers=me)).json()
    assert [g["amount"] for g in gifts] == [500, 200, 300]
    assert (await balance(client, h, "ann"), await balance(client, h, "bob")) == (1000, 1000)
    await assert_verified(client, h)


async def test_minimum_tier_comes_from_the_programs_tier_scheme(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    """Example 4's tiers by points earned (bronze 0, silver 1,000, gold 5,000, platinum 20,000):
    with a scheme, eligibility follows ``tiers_of``, not the member attribute."""
    _, h = await api_program(client)
    r = await client.put(
        "/v1/tier-scheme",
        json={
            "name": "成长体系",
            "qualification": {"metric": "points_earned", "window_months": 12},
            "evaluation": {"downgrade_after_periods": None},
            "tiers": [
                {"code": "bronze", "name": "青铜", "min": 0},
                {"code": "silver", "name": "白银", "min": 1000},
                {"code": "gold", "name": "黄金", "min": 5000},
                {"code": "platinum", "name": "铂金", "min": 20000},
            ],
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    await client.put(
        "/v1/gift/settings",
        json={"daily_limit": 500, "eligible_tiers": ["silver", "gold", "platinum"]},
        headers=h,
    )
    february = (clock.now() - timedelta(days=10)).isoformat()
    for member, amount in (("ann", 1200), ("bob", 900)):
        await set_member(client, h, member, attributes={"tier": "gold"})  # ignored: a scheme rules
        r = await client.post(
            "/v1/credits",
            json={"member": member, "amount": amount, "occurred_at": february},
            headers={**h, "Idempotency-Key": f"earn-{member}"},
        )
        assert r.status_code == 201, r.text
    r = await client.post("/v1/tiers/evaluate", headers=h)
    assert r.status_code == 200, r.text
    tiers = {
        m: (await client.get(f"/v1/members/{m}/tier", headers=h)).json()["tier"]["code"]
        for m in ("ann", "bob")
    }
    assert tiers == {"ann": "silver", "bob": "bronze"}
    await _gift(client, h, "ann", "bob", 500, "t-1")
    refused = await _gift(client, h, "bob", "ann", 10, "t-2", expect=403)
    assert (refused["code"], refused["tier"]) == ("tier_not_eligible", "bronze")
    assert (await _gift(client, h, "ann", "bob", 1, "t-3", expect=422))["code"] == (
        "daily_limit_exceeded"
    )


async def test_gift_fee_is_rounded_down_and_charged_to_the_sender(
    client: httpx.AsyncClient,
) -> None:
    _, h = await api_program(client)
    r = await client.put("/v1/gift/settings", json={"fee_rate": "0.05"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["fee_rate"] == "0.05"
    await _points(client, h, "ann", 1000)
    await _points(client, h, "bob", 0)
    gift = await _gift(client, h, "ann", "bob", 199, "fee-1")  # 9.95 → 9
    assert (gift["amount"], gift["fee"]) == (199, 9)
    assert gift["fee_transaction_id"] is not None
    assert (await balance(client, h, "ann"), await balance(client, h, "bob")) == (792, 199)
    # Not enough for gift + fee: nothing moves at all.
    short = await _gift(client, h, "ann", "bob", 760, "fee-2", expect=422)
    assert short["code"] == "insufficient_points"
    assert (await balance(client, h, "ann"), await balance(client, h, "bob")) == (792, 199)
    await assert_verified(client, h)


async def test_donation_pool_totals_and_anonymous_donors(client: httpx.AsyncClient) -> None:
    pid, h = await api_program(client)
    r = await client.put(
        "/v1/donation-pools/books-for-kids",
        json={"name": "山区儿童图书", "goal": 10000},
        headers=h,
    )
    assert r.status_code == 200, r.text
    await _points(client, h, "ann", 1000)
    await _points(client, h, "bob", 1000)
    await set_member(client, h, "ann", name="Ann", consent={"public_donor": True})
    await set_member(client, h, "bob", name="Bob", consent={"public_donor": False})

    async def donate(member: str, amount: int, key: str, expect: int = 201) -> dict[str, Any]:
        r = await client.post(
            "/v1/donations",
            json={"member": member, "pool": "books-for-kids", "amount": amount},
            headers={**h, "Idempotency-Key": key},
        )
        assert r.status_code == expect, r.text
        return dict(r.json())

    assert (await donate("ann", 100, "d-1"))["pool_total"] == 100
    assert (await donate("bob", 300, "d-2"))["pool_total"] == 400
    token = (await client.post("/v1/members/ann/tokens", headers=h)).json()["token"]
    r = await client.post(
        "/v1/me/donations",
        json={"pool": "books-for-kids", "amount": 50},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "d-1"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["pool_total"] == 450
    assert (await donate("ann", 5000, "d-3", expect=422))["code"] == "insufficient_points"

    public = await client.get(f"/v1/public/programs/{pid}/donation-pools/books-for-kids")
    assert public.status_code == 200, public.text
    body = public.json()
    assert (body["total"], body["donations"], body["donors"], body["goal"]) == (450, 3, 2, 10000)
    assert body["top_donors"] == [
        {"name": None, "anonymous": True, "amount": 300, "donations": 1},
        {"name": "Ann", "anonymous": False, "amount": 150, "donations": 2},
    ]
    assert (await client.get("/v1/donation-pools/books-for-kids", headers=h)).json() == body
    assert (await balance(client, h, "ann"), await balance(client, h, "bob")) == (850, 700)

    await client.put(
        "/v1/donation-pools/books-for-kids", json={"name": "closed", "active": False}, headers=h
    )
    assert (await donate("ann", 1, "d-4", expect=409))["code"] == "pool_inactive"
    missing = await client.get(f"/v1/public/programs/{pid}/donation-pools/nope")
    assert (missing.status_code, missing.json()["code"]) == (404, "pool_not_found")
    await assert_verified(client, h)


async def test_gifts_both_ways_at_once_never_deadlock_and_conserve_points(
    client: httpx.AsyncClient, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("concurrency is only meaningful on PostgreSQL")
    _, h = await api_program(client)
    await _points(client, h, "left", 1000)
    await _points(client, h, "right", 1000)
    # Every database error the app meets: a deadlock would be retried silently by the request's
    # unit of work, so the test watches for it underneath.
    app: Any = client._transport.app  # type: ignore[attr-defined]
    errors: list[str | None] = []

    def seen(context: Any) -> None:
        errors.append(getattr(context.original_exception, "sqlstate", None))

    event.listen(app.state.engine.sync_engine, "handle_error", seen)

    async def gift(sender: str, to: str, i: int) -> int:
        r = await client.post(
            "/v1/gifts",
            json={"from_member": sender, "to": to, "amount": 1 + i % 3},
            headers={**h, "Idempotency-Key": f"c-{sender}-{i}"},
        )
        return r.status_code

    statuses = await asyncio.gather(
        *[gift("left", "right", i) for i in range(32)],
        *[gift("right", "left", i) for i in range(32)],
    )
    assert statuses == [201] * 64
    assert errors == []  # no deadlock (40P01), no serialisation failure, nothing retried
    # Each side sent the same 32 amounts, so both end where they began; together always 2,000.
    assert (await balance(client, h, "left"), await balance(client, h, "right")) == (1000, 1000)
    sent = (await client.get("/v1/members/left/gifts?limit=200", headers=h)).json()
    assert len(sent) == 64
    await assert_verified(client, h)


async def test_concurrent_gifts_never_pass_the_daily_limit(
    client: httpx.AsyncClient, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("concurrency is only meaningful on PostgreSQL")
    _, h = await api_program(client)
    await client.put("/v1/gift/settings", json={"daily_limit": 500}, headers=h)
    await _points(client, h, "giver", 5000)
    for i in range(4):
        await _points(client, h, f"r{i}", 0)

    async def gift(i: int) -> int:
        r = await client.post(
            "/v1/gifts",
            json={"from_member": "giver", "to": f"r{i % 4}", "amount": 100},
            headers={**h, "Idempotency-Key": f"lim-{i}"},
        )
        return r.status_code

    statuses = await asyncio.gather(*[gift(i) for i in range(12)])
    assert sorted(statuses) == [201] * 5 + [422] * 7
    assert await balance(client, h, "giver") == 4500
    await assert_verified(client, h)
