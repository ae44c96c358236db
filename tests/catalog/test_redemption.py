"""Redeeming catalog items over HTTP: orders, stock, limits, windows, drops and refusals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.clock import FixedClock
from jifen.notify.models import OutboxMessage
from tests.catalog.api import (
    credit,
    item,
    key,
    member_token,
    orders,
    points,
    redeem,
    save_item,
    verified,
)
from tests.conftest import api_program

ADDRESS = {"name": "张三", "phone": "13800000000", "line": "上海市徐汇区漕溪北路 1 号"}


async def _state(client: httpx.AsyncClient, h: dict[str, str], member: str, item_id: str) -> Any:
    """What a refused redemption must leave untouched: balance, stock, orders."""
    return (
        await points(client, h, member),
        (await item(client, h, item_id))["stock"],
        len(await orders(client, h)),
    )


async def test_virtual_item_debits_points_takes_stock_and_is_fulfilled(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    pid, h = await api_program(client)
    await credit(client, h, "u1", 1000)
    await save_item(client, h, "vip-week", name="7 天会员", price_points=300, stock=5)

    order = await redeem(client, h, "u1", "vip-week", quantity=2, idem="r-1")
    assert (order["status"], order["points"], order["quantity"], order["cash_fen"]) == (
        "fulfilled", 600, 2, 0,
    )  # fmt: skip
    assert await points(client, h, "u1") == (400, 400)
    assert (await item(client, h, "vip-week"))["stock"] == 3

    # The same key again replays the order and takes nothing more.
    r = await client.post(
        "/v1/members/u1/redemptions",
        json={"item": "vip-week", "quantity": 2},
        headers={**h, "Idempotency-Key": "r-1"},
    )
    assert r.status_code == 201
    assert r.headers["Idempotent-Replayed"] == "true"
    assert r.json()["id"] == order["id"]
    assert await points(client, h, "u1") == (400, 400)
    assert (await item(client, h, "vip-week"))["stock"] == 3
    # ... and the same key with another request is a conflict.
    again = await redeem(client, h, "u1", "vip-week", quantity=1, idem="r-1", expect=409)
    assert again["code"] == "idempotency_conflict"

    listed = await orders(client, h, "u1")
    assert [o["id"] for o in listed] == [order["id"]]
    r = await client.get(f"/v1/orders/{order['id']}", headers=h)
    assert r.json()["member"] == "u1"
    r = await client.get(f"/v1/transactions/{order['debit_transaction_id']}", headers=h)
    assert (r.json()["kind"], r.json()["amount"]) == ("debit", 600)
    async with sessionmaker() as s:
        n = await s.scalar(
            select(func.count()).where(
                OutboxMessage.program_id == pid, OutboxMessage.topic == "order.created"
            )
        )
    assert n == 1
    await verified(client, h)


async def test_points_plus_cash_item_records_the_cash_part(client: httpx.AsyncClient) -> None:
    # Worked example 4: points + cash payment. The merchant's checkout takes the cash.
    _, h = await api_program(client)
    await credit(client, h, "u1", 2000)
    await save_item(
        client, h, "earbuds", name="蓝牙耳机", kind="physical", price_points=1500, cash_fen=9900
    )
    order = await redeem(client, h, "u1", "earbuds", address=ADDRESS)
    assert (order["points"], order["cash_fen"], order["status"]) == (1500, 9900, "pending")
    assert order["address"]["line"] == ADDRESS["line"]
    assert await points(client, h, "u1") == (500, 500)


async def test_physical_order_ships_then_is_fulfilled(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    await credit(client, h, "u1", 1000)
    await save_item(client, h, "mug", kind="physical", price_points=200, stock=2)
    before = await _state(client, h, "u1", "mug")
    missing = await redeem(client, h, "u1", "mug", expect=422)
    assert (missing["code"], missing["field"]) == ("address_required", "address")
    assert await _state(client, h, "u1", "mug") == before

    order = await redeem(client, h, "u1", "mug", address=ADDRESS)
    assert order["status"] == "pending"
    oid = order["id"]
    r = await client.post(f"/v1/orders/{oid}/fulfil", headers={**h, **key()})
    assert r.status_code == 200
    order = await redeem(client, h, "u1", "mug", address=ADDRESS)
    oid = order["id"]
    r = await client.post(
        f"/v1/orders/{oid}/ship", json={"tracking_no": "SF1234567890"}, headers={**h, **key()}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["tracking_no"]) == ("shipped", "SF1234567890")
    r = await client.post(f"/v1/orders/{oid}/fulfil", headers={**h, **key()})
    assert r.json()["status"] == "fulfilled"
    assert r.json()["fulfilled_at"] is not None
    r = await client.post(
        f"/v1/orders/{oid}/ship", json={"tracking_no": "SF0"}, headers={**h, **key()}
    )
    assert (r.status_code, r.json()["code"]) == (409, "invalid_order_transition")
    r = await client.get("/v1/orders", params={"status": "fulfilled"}, headers=h)
    assert len(r.json()["items"]) == 2


async def test_limited_quantity_drop_refuses_before_its_start_then_sells_out(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    # Worked example 4: limited-quantity items.
    _, h = await api_program(client)
    for m in ("a", "b", "c", "d"):
        await credit(client, h, m, 500)
    drop = clock.now() + timedelta(hours=1)
    await save_item(
        client, h, "drop", name="限量徽章", price_points=100, stock=3, drop_at=drop.isoformat()
    )
    early = await redeem(client, h, "a", "drop", expect=422)
    assert early["code"] == "item_not_started"
    me = await member_token(client, h, "a")
    r = await client.get("/v1/me/catalog", headers=me)
    entry = next(e for e in r.json() if e["item"]["id"] == "drop")
    assert (entry["redeemable"], entry["reason"]) == (False, "item_not_started")

    clock.set(drop)
    for m in ("a", "b", "c"):
        await redeem(client, h, m, "drop")
    gone = await redeem(client, h, "d", "drop", expect=422)
    assert gone["code"] == "out_of_stock"
    assert (await item(client, h, "drop"))["stock"] == 0
    assert await points(client, h, "d") == (500, 500)
    r = await client.get("/v1/me/catalog", headers=me)
    entry = next(e for e in r.json() if e["item"]["id"] == "drop")
    assert (entry["redeemable"], entry["reason"]) == (False, "out_of_stock")


async def test_refusals_have_stable_codes_and_change_nothing(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await credit(client, h, "u1", 250)
    now = clock.now()
    await save_item(client, h, "big", price_points=300, stock=5)
    await save_item(
        client, h, "old", price_points=10, stock=5,
        available_from=(now - timedelta(days=10)).isoformat(),
        available_until=(now - timedelta(days=1)).isoformat(),
    )  # fmt: skip
    await save_item(client, h, "gold-only", price_points=10, stock=5, tiers=["gold"])
    await save_item(
        client, h, "daily", price_points=10, stock=5, limit={"count": 1, "window": "day"}
    )
    await save_item(client, h, "off", price_points=10, stock=5, enabled=False)

    for item_id, code in (
        ("big", "insufficient_points"),
        ("old", "item_not_available"),
        ("gold-only", "tier_not_eligible"),
        ("off", "item_not_available"),
    ):
        before = await _state(client, h, "u1", item_id)
        problem = await redeem(client, h, "u1", item_id, expect=422)
        assert problem["code"] == code, problem
        assert problem["status"] == 422
        assert await _state(client, h, "u1", item_id) == before

    await redeem(client, h, "u1", "daily")
    before = await _state(client, h, "u1", "daily")
    assert before == ((240, 240), 4, 1)
    problem = await redeem(client, h, "u1", "daily", expect=422)
    assert (problem["code"], problem["remaining_limit"]) == ("redemption_limit_reached", 0)
    assert await _state(client, h, "u1", "daily") == before
    two = await redeem(client, h, "u1", "daily", expect=422, quantity=2)
    assert two["code"] == "redemption_limit_reached"

    # The limit is per local day (Asia/Shanghai): just after midnight there it resets.
    clock.set(now.replace(hour=16, minute=0, second=1))  # 00:00:01 on 3-02 in Shanghai
    await redeem(client, h, "u1", "daily")
    assert await points(client, h, "u1") == (230, 230)

    me = await member_token(client, h, "u1")
    r = await client.get("/v1/me/catalog", headers=me)
    view = {e["item"]["id"]: (e["redeemable"], e["reason"]) for e in r.json()}
    assert view == {
        "big": (False, "insufficient_points"),
        "daily": (False, "redemption_limit_reached"),
        "gold-only": (False, "tier_not_eligible"),
    }
    await verified(client, h)


async def test_cancel_refunds_to_the_original_lots_once_and_restores_stock(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    soon = clock.now() + timedelta(days=30)
    later = clock.now() + timedelta(days=365)
    await credit(client, h, "u1", 100, expires_at=soon)
    await credit(client, h, "u1", 500, expires_at=later)
    await save_item(client, h, "gift", price_points=300, stock=4)
    order = await redeem(client, h, "u1", "gift")
    r = await client.get("/v1/members/u1/lots", headers=h)
    assert [(lot["remaining"], lot["expires_at"]) for lot in r.json()] == [
        (300, later.isoformat().replace("+00:00", "Z"))
    ]

    clock.advance(timedelta(days=1))
    r = await client.post(
        f"/v1/orders/{order['id']}/cancel", json={"reason": "缺货"}, headers={**h, **key()}
    )
    assert r.status_code == 200, r.text
    cancelled = r.json()
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("cancelled", "缺货")
    # Both lots are whole again, each with its own expiry: the 100 soonest-expiring points
    # did not become long-lived ones.
    r = await client.get("/v1/members/u1/lots", headers=h)
    lots = [(lot["amount"], lot["remaining"], lot["expires_at"]) for lot in r.json()]
    z = "+00:00"
    assert lots == [
        (100, 100, soon.isoformat().replace(z, "Z")),
        (500, 500, later.isoformat().replace(z, "Z")),
    ]
    assert await points(client, h, "u1") == (600, 600)
    assert (await item(client, h, "gift"))["stock"] == 4
    r = await client.get(f"/v1/transactions/{cancelled['refund_transaction_id']}", headers=h)
    assert (r.json()["kind"], r.json()["amount"]) == ("reversal", 300)
    assert r.json()["reverses_id"] == order["debit_transaction_id"]

    # Cancelling again (another key) refunds nothing more.
    r = await client.post(f"/v1/orders/{order['id']}/cancel", headers={**h, **key()})
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled"
    assert await points(client, h, "u1") == (600, 600)
    assert (await item(client, h, "gift"))["stock"] == 4
    r = await client.get(f"/v1/orders/{order['id']}/ship", headers=h)
    assert r.status_code == 405
    # A cancelled order does not count against a limit, and its lots can be spent again.
    await redeem(client, h, "u1", "gift", quantity=2)
    assert await points(client, h, "u1") == (0, 0)
    await verified(client, h)


async def test_member_token_redeems_and_lists_own_orders(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    await credit(client, h, "u1", 500)
    await credit(client, h, "u2", 500)
    await save_item(client, h, "lecture", kind="privilege", price_points=200)
    me = await member_token(client, h, "u1")
    r = await client.post("/v1/me/redemptions", json={"item": "lecture"}, headers={**me, **key()})
    assert r.status_code == 201, r.text
    mine = r.json()
    assert (mine["member"], mine["status"], mine["kind"]) == ("u1", "fulfilled", "privilege")
    other = await redeem(client, h, "u2", "lecture")
    r = await client.get("/v1/me/orders", headers=me)
    assert [o["id"] for o in r.json()["items"]] == [mine["id"]]
    r = await client.get(f"/v1/me/orders/{other['id']}", headers=me)
    assert (r.status_code, r.json()["code"]) == (404, "order_not_found")
    r = await client.get("/v1/me/catalog", headers=me)
    assert [(e["item"]["id"], e["redeemable"]) for e in r.json()] == [("lecture", True)]
    assert await points(client, h, "u1") == (300, 300)


async def test_item_listing_filters(client: httpx.AsyncClient, clock: FixedClock) -> None:
    _, h = await api_program(client)
    await save_item(client, h, "a", kind="virtual", category="digital")
    await save_item(client, h, "b", kind="physical", category="goods", stock=0)
    await save_item(client, h, "c", kind="privilege", enabled=False)
    await save_item(client, h, "d", available_from=(clock.now() + timedelta(days=1)).isoformat())

    async def ids(**params: Any) -> list[str]:
        r = await client.get("/v1/catalog/items", params=params, headers=h)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()]

    assert await ids() == ["a", "b", "c", "d"]
    body = {"name": "a2", "kind": "virtual", "price_points": 5, "category": "digital"}
    r = await client.put("/v1/catalog/items/a", json=body, headers=h)
    assert (r.status_code, r.json()["name"], r.json()["price_points"]) == (200, "a2", 5)
    r = await client.put("/v1/catalog/items/e", json={**body, "enabled": False}, headers=h)
    assert r.status_code == 201
    assert await ids() == ["a", "b", "c", "d", "e"]
    assert await ids(kind="physical") == ["b"]
    assert await ids(category="digital") == ["a", "e"]
    assert await ids(enabled="false") == ["c", "e"]
    assert await ids(available="true") == ["a", "b"]
    assert await ids(in_stock="true") == ["a", "c", "d", "e"]
    r = await client.put(
        "/v1/catalog/items/a", json={"name": "a", "kind": "physical", "price_points": 1}, headers=h
    )
    assert (r.status_code, r.json()["code"]) == (422, "item_kind_immutable")
    r = await client.put(
        "/v1/catalog/items/x", json={"name": "x", "kind": "coupon", "price_points": 1}, headers=h
    )
    assert r.status_code == 422
    r = await client.get("/v1/catalog/items/nope", headers=h)
    assert (r.status_code, r.json()["code"]) == (404, "item_not_found")


async def test_restock_adds_to_what_redemptions_left_and_orders_page(
    client: httpx.AsyncClient,
) -> None:
    _, h = await api_program(client)
    await credit(client, h, "u1", 1000)
    await save_item(client, h, "tea", price_points=100, stock=3)
    placed = [await redeem(client, h, "u1", "tea") for _ in range(3)]
    assert (await redeem(client, h, "u1", "tea", expect=422))["code"] == "out_of_stock"
    r = await client.post("/v1/catalog/items/tea/restock", json={"add": 5}, headers={**h, **key()})
    assert r.status_code == 200, r.text
    assert r.json()["stock"] == 5
    r = await client.post("/v1/catalog/items/tea/restock", json={"add": -6}, headers={**h, **key()})
    assert (r.status_code, r.json()["code"]) == (422, "invalid_amount")
    assert (await item(client, h, "tea"))["stock"] == 5
    await save_item(client, h, "free-tea", price_points=100)
    r = await client.post(
        "/v1/catalog/items/free-tea/restock", json={"add": 1}, headers={**h, **key()}
    )
    assert (r.status_code, r.json()["code"]) == (409, "stock_unlimited")

    # Orders page newest first.
    r = await client.get("/v1/members/u1/orders", params={"limit": 2}, headers=h)
    page = r.json()
    assert [o["id"] for o in page["items"]] == [placed[2]["id"], placed[1]["id"]]
    r = await client.get(
        "/v1/members/u1/orders", params={"limit": 2, "cursor": page["next_cursor"]}, headers=h
    )
    assert [o["id"] for o in r.json()["items"]] == [placed[0]["id"]]
    assert r.json()["next_cursor"] is None
