"""The lottery through the HTTP API: worked example 2 (50 points a draw), limits, stock, budget,
consolation, idempotency, and refused draws that charge nothing."""

from __future__ import annotations

from datetime import timedelta

import httpx

from jifen.clock import FixedClock
from tests.conftest import api_program
from tests.lottery.helpers import assert_verified, balance, draw, fund, pool

TEN = {"id": "ten", "name": "10 积分", "kind": "points", "points": 10, "weight": 1}
THANKS = {"id": "thanks", "name": "谢谢参与", "kind": "nothing", "weight": 0}


def code(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return str(r.json()["code"])


async def test_example_2_points_lottery_at_50_a_draw(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await fund(client, h, "u1", 120)
    await fund(client, h, "u2", 1000)
    p = await pool(client, h, "daily", [TEN, THANKS], daily_limit=3)
    assert p["cost_points"] == 50
    assert [x["id"] for x in p["prizes"]] == ["ten", "thanks"]

    r = await draw(client, h, "u1", "daily", key="d1")
    assert r.status_code == 201, r.text
    first = r.json()
    assert (first["won"], first["prize"]["id"], first["prize"]["points"]) == (True, "ten", 10)
    assert (first["period"], first["sequence"], first["cost_points"]) == ("2026-03-01", 1, 50)
    assert await balance(client, h, "u1") == 80
    replay = await draw(client, h, "u1", "daily", key="d1")
    assert replay.json() == first
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert await balance(client, h, "u1") == 80
    assert (await draw(client, h, "u1", "daily")).status_code == 201
    assert await balance(client, h, "u1") == 40
    # 40 points left: refused, nothing charged, no draw recorded.
    assert code(await draw(client, h, "u1", "daily"), 422) == "insufficient_points"
    assert await balance(client, h, "u1") == 40
    history = (await client.get("/v1/members/u1/lottery/draws", headers=h)).json()
    assert [d["sequence"] for d in history] == [2, 1]

    for _ in range(3):
        assert (await draw(client, h, "u2", "daily")).status_code == 201
    limited = await draw(client, h, "u2", "daily")
    assert code(limited, 422) == "lottery_daily_limit"
    assert limited.json()["limit"] == 3
    assert await balance(client, h, "u2") == 1000 - 3 * 50 + 3 * 10
    # A new day in Shanghai (midnight local), a new allowance.
    clock.set(clock.now().replace(hour=16))  # 2026-03-02 00:00 Shanghai
    again = await draw(client, h, "u2", "daily")
    assert again.status_code == 201
    assert again.json()["period"] == "2026-03-02"
    assert again.json()["sequence"] == 1
    assert await balance(client, h, "u2") == 880 - 40

    # The member's own token draws the same way.
    token = (await client.post("/v1/members/u2/tokens", headers=h)).json()["token"]
    me = {"Authorization": f"Bearer {token}", "Idempotency-Key": "me-1"}
    mine = await client.post("/v1/me/lottery/daily/draws", headers=me)
    assert mine.status_code == 201, mine.text
    assert mine.json()["member"] == "u2"
    assert mine.json()["sequence"] == 2
    await assert_verified(client, h)


async def test_stock_consolation_and_budget(client: httpx.AsyncClient, clock: FixedClock) -> None:
    _, h = await api_program(client)
    await fund(client, h, "u1", 10_000)
    r = await client.put(
        "/v1/coupon-templates/five",
        json={"name": "5元无门槛", "kind": "no_threshold", "discount_fen": 500, "valid_days": 7},
        headers=h,
    )
    assert r.status_code == 200, r.text
    phone = {"id": "phone", "name": "耳机", "kind": "item", "weight": 1, "stock": 1}
    five = {"id": "five", "name": "5元券", "kind": "coupon", "template_id": "five", "weight": 0}
    await pool(client, h, "cons", [phone, five, THANKS], consolation_prize="five")
    first = (await draw(client, h, "u1", "cons")).json()
    assert (first["prize"]["id"], first["prize"]["item"], first["fallback"]) == (
        "phone", "耳机", None,
    )  # fmt: skip
    second = (await draw(client, h, "u1", "cons")).json()
    assert (second["selected_prize_id"], second["fallback"]) == ("phone", "out_of_stock")
    assert second["prize"]["kind"] == "coupon"
    assert second["won"] is True
    coupons = (await client.get("/v1/members/u1/coupons", headers=h)).json()
    assert [(c["code"], c["source"]) for c in coupons] == [
        (second["prize"]["coupon_code"], "lottery")
    ]
    state = (await client.get("/v1/lottery/pools/cons", headers=h)).json()
    assert {p["id"]: (p["stock"], p["won"]) for p in state["prizes"]} == {
        "phone": (0, 1), "five": (None, 1), "thanks": (None, 0),
    }  # fmt: skip

    # Without a consolation prize, a prize that is gone gives nothing.
    await pool(client, h, "plain", [phone, THANKS])
    assert (await draw(client, h, "u1", "plain")).json()["won"] is True
    gone = (await draw(client, h, "u1", "plain")).json()
    assert (gone["won"], gone["prize"], gone["fallback"]) == (False, None, "out_of_stock")

    # The points budget: 250 pays two 100-point prizes, then nothing.
    hundred = {"id": "hundred", "name": "100 积分", "kind": "points", "points": 100, "weight": 1}
    await pool(client, h, "budget", [hundred, THANKS], budget_points=250)
    before = await balance(client, h, "u1")
    outcomes = [(await draw(client, h, "u1", "budget")).json() for _ in range(3)]
    assert [o["won"] for o in outcomes] == [True, True, False]
    assert outcomes[2]["fallback"] == "over_budget"
    assert await balance(client, h, "u1") == before - 3 * 50 + 200
    assert (await client.get("/v1/lottery/pools/budget", headers=h)).json()["budget_spent"] == 200
    await assert_verified(client, h)


async def test_refused_draws_change_nothing(client: httpx.AsyncClient, clock: FixedClock) -> None:
    _, h = await api_program(client)
    await fund(client, h, "u1", 100)
    await pool(client, h, "shut", [TEN], active=False)
    assert code(await draw(client, h, "u1", "shut"), 422) == "lottery_pool_closed"
    later = clock.now() + timedelta(days=1)
    await pool(client, h, "soon", [TEN], starts_at=later.isoformat())
    assert code(await draw(client, h, "u1", "soon"), 422) == "lottery_pool_closed"
    assert code(await draw(client, h, "u1", "nope"), 404) == "lottery_pool_not_found"
    assert code(await draw(client, h, "ghost", "soon"), 404) == "member_not_found"
    assert await balance(client, h, "u1") == 100
    assert (await client.get("/v1/members/u1/lottery/draws", headers=h)).json() == []
    bad = await client.put(
        "/v1/lottery/pools/bad",
        json={"name": "x", "cost_points": 50, "prizes": [THANKS], "consolation_prize": "thanks"},
        headers=h,
    )
    assert bad.status_code == 422
    no_key = await client.post("/v1/members/u1/lottery/soon/draws", headers=h)
    assert code(no_key, 400) == "idempotency_key_required"


async def test_list_pools_gives_each_pool_its_own_prizes_in_order(
    client: httpx.AsyncClient,
) -> None:
    _, h = await api_program(client)
    await pool(client, h, "weekly", [THANKS, TEN])
    await pool(client, h, "daily", [TEN, THANKS])
    r = await client.get("/v1/lottery/pools", headers=h)
    assert r.status_code == 200, r.text
    listed = {p["id"]: [x["id"] for x in p["prizes"]] for p in r.json()}
    assert [p["id"] for p in r.json()] == ["daily", "weekly"]
    assert listed == {"daily": ["ten", "thanks"], "weekly": ["thanks", "ten"]}
