"""Catalog items that depend on other domains: tier-only items and coupon items (example 5)."""

from __future__ import annotations

from datetime import timedelta

import httpx

from jifen.clock import FixedClock
from tests.catalog.api import credit, item, key, member_token, points, redeem, save_item, verified
from tests.conftest import api_program
from tests.events.engine_api import save_rule
from tests.tiers.tiers_api import GROWTH_TIERS, buy, code_of, put_scheme


async def test_tier_only_item_is_redeemable_by_gold_members_only(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await put_scheme(
        client, h,
        {"qualification": {"metric": "points_earned"}, "evaluation": {"downgrade_after_periods": None},
         "tiers": GROWTH_TIERS},
    )  # fmt: skip
    await save_rule(
        client, h, id="purchase", name="消费 1 元 1 积分", trigger="purchase",
        effects=[{"amount": {"per_unit": {"attribute": "amount_fen", "unit": 100, "rate": "1"}}}],
    )  # fmt: skip
    assert await buy(client, h, "o-g", "g", clock.now(), 500000) == 5000
    assert await buy(client, h, "o-s", "s", clock.now(), 200000) == 2000
    assert (await code_of(client, h, "g"), await code_of(client, h, "s")) == ("gold", "silver")
    await save_item(
        client, h, "lounge", kind="privilege", price_points=1000, stock=5,
        tiers=["gold", "platinum"],
    )  # fmt: skip

    refused = await redeem(client, h, "s", "lounge", expect=422)
    assert (refused["code"], refused["field"]) == ("tier_not_eligible", "item")
    assert await points(client, h, "s") == (2000, 2000)
    assert (await item(client, h, "lounge"))["stock"] == 5
    me = await member_token(client, h, "s")
    r = await client.get("/v1/me/catalog", headers=me)
    assert [(e["redeemable"], e["reason"]) for e in r.json()] == [(False, "tier_not_eligible")]

    order = await redeem(client, h, "g", "lounge")
    assert (order["status"], order["points"]) == ("fulfilled", 1000)
    assert await points(client, h, "g") == (4000, 4000)
    assert (await item(client, h, "lounge"))["stock"] == 4


async def _coupon_item(client: httpx.AsyncClient, h: dict[str, str]) -> None:
    r = await client.put(
        "/v1/coupon-templates/free50",
        json={"name": "50 元无门槛券", "kind": "no_threshold", "discount_fen": 5000,
              "valid_days": 30},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    await save_item(
        client, h, "coupon-50", name="1000 积分兑 50 元无门槛券", kind="coupon",
        price_points=1000, coupon_template_id="free50",
    )  # fmt: skip


async def test_example5_1000_points_for_a_50_yuan_no_threshold_coupon(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await credit(client, h, "u1", 2500)
    await _coupon_item(client, h)
    order = await redeem(client, h, "u1", "coupon-50")
    assert (order["status"], order["points"], order["kind"]) == ("fulfilled", 1000, "coupon")
    [coupon] = order["coupons"]
    assert (coupon["template_id"], coupon["status"], coupon["kind"]) == (
        "free50", "available", "no_threshold",
    )  # fmt: skip
    assert coupon["source"] == "catalog"
    assert await points(client, h, "u1") == (1500, 1500)
    r = await client.get("/v1/members/u1/coupons", headers=h)
    assert [c["code"] for c in r.json()] == [coupon["code"]]
    # The coupon takes 50 yuan off any order.
    r = await client.post(
        "/v1/coupons/validate",
        json={"member": "u1", "code": coupon["code"],
              "lines": [{"product_id": "p1", "amount_fen": 12000}]},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["discount_fen"] == 5000

    # Cancelling voids the unused coupon and gives the 1000 points back.
    r = await client.post(f"/v1/orders/{order['id']}/cancel", headers={**h, **key()})
    assert r.status_code == 200, r.text
    assert r.json()["coupons"][0]["status"] == "void"
    assert await points(client, h, "u1") == (2500, 2500)
    r = await client.get("/v1/members/u1/coupons", headers=h)
    assert [c["status"] for c in r.json()] == ["void"]
    await verified(client, h)


async def test_an_order_whose_coupon_was_used_cannot_be_cancelled(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await credit(client, h, "u1", 1000)
    await _coupon_item(client, h)
    order = await redeem(client, h, "u1", "coupon-50")
    code = order["coupons"][0]["code"]
    clock.advance(timedelta(hours=1))
    r = await client.post(
        f"/v1/coupons/{code}/redeem",
        json={"member": "u1", "order_id": "SO-1", "lines": [{"product_id": "p", "amount_fen": 9000}]},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    r = await client.post(f"/v1/orders/{order['id']}/cancel", headers={**h, **key()})
    assert (r.status_code, r.json()["code"]) == (409, "coupon_used")
    assert await points(client, h, "u1") == (0, 0)
    r = await client.get(f"/v1/orders/{order['id']}", headers=h)
    assert r.json()["status"] == "fulfilled"


async def test_a_coupon_the_coupons_domain_refuses_charges_nothing(
    client: httpx.AsyncClient,
) -> None:
    _, h = await api_program(client)
    await credit(client, h, "u1", 3000)
    r = await client.put(
        "/v1/coupon-templates/once",
        json={"name": "限领一张", "kind": "no_threshold", "discount_fen": 1000, "valid_days": 7,
              "per_member_limit": 1},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    await save_item(
        client, h, "once", kind="coupon", price_points=500, stock=10, coupon_template_id="once"
    )
    await redeem(client, h, "u1", "once")
    refused = await redeem(client, h, "u1", "once", expect=422)
    assert refused["code"] == "coupon_limit_reached"
    assert await points(client, h, "u1") == (2500, 2500)
    assert (await item(client, h, "once"))["stock"] == 9
    r = await client.get("/v1/members/u1/orders", headers=h)
    assert len(r.json()["items"]) == 1
    await verified(client, h)
