"""Checkout deduction over HTTP: quote, hold, capture, void, proportional refunds (example 5)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from jifen.clock import FixedClock
from tests.catalog.api import credit, key, member_token, points, verified
from tests.conftest import api_program

Headers = dict[str, str]


async def _settings(client: httpx.AsyncClient, h: Headers, **body: Any) -> dict[str, Any]:
    r = await client.put("/v1/checkout/settings", json=body, headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _quote(client: httpx.AsyncClient, h: Headers, member: str, fen: int) -> dict[str, Any]:
    r = await client.post(
        "/v1/checkout/quote", json={"member": member, "order_amount_fen": fen}, headers=h
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _deduct(
    client: httpx.AsyncClient,
    h: Headers,
    member: str,
    order: str,
    fen: int,
    pts: int,
    *,
    expect: int = 201,
    **extra: Any,
) -> dict[str, Any]:
    body = {"member": member, "order_id": order, "order_amount_fen": fen, "points": pts, **extra}
    r = await client.post("/v1/checkout/deductions", json=body, headers={**h, **key()})
    assert r.status_code == expect, r.text
    return dict(r.json())


async def _act(
    client: httpx.AsyncClient, h: Headers, order: str, action: str, expect: int = 200, **body: Any
) -> dict[str, Any]:
    r = await client.post(
        f"/v1/checkout/deductions/{order}/{action}", json=body or None, headers={**h, **key()}
    )
    assert r.status_code == expect, r.text
    return dict(r.json())


async def test_example5_one_point_is_a_tenth_of_a_yuan_with_a_50_percent_cap(
    client: httpx.AsyncClient,
) -> None:
    _, h = await api_program(client)
    settings = await _settings(client, h, max_share="0.5")
    # The point value comes from the program: 10 fen = 1 point = 0.1 yuan.
    assert (settings["point_value_fen"], settings["point_value_from_program"]) == ("10", True)
    await credit(client, h, "rich", 800)
    await credit(client, h, "poor", 300)
    # A 100-yuan order: at most 50 yuan in points, 500 points.
    q = await _quote(client, h, "rich", 10000)
    assert (q["available_points"], q["max_points"], q["max_fen"], q["reason"]) == (
        800, 500, 5000, None,
    )  # fmt: skip
    q = await _quote(client, h, "poor", 10000)
    assert (q["max_points"], q["max_fen"]) == (300, 3000)
    me = await member_token(client, h, "rich")
    r = await client.post("/v1/me/checkout/quote", json={"order_amount_fen": 10000}, headers=me)
    assert (r.json()["max_points"], r.json()["max_fen"]) == (500, 5000)
    # An odd amount: 50% of 99.99 yuan is 49.99 yuan (rounded down), which 499 points cover.
    q = await _quote(client, h, "rich", 9999)
    assert (q["max_points"], q["max_fen"]) == (499, 4990)


async def test_hold_capture_then_proportional_partial_refunds(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    await _settings(client, h, max_share="0.5")
    await credit(client, h, "u1", 800)
    held = await _deduct(client, h, "u1", "SO-1", 10000, 500)
    assert (held["status"], held["points"], held["fen"]) == ("held", 500, 5000)
    assert await points(client, h, "u1") == (800, 300)
    r = await client.get(f"/v1/holds/{held['hold_id']}", headers=h)
    assert (r.json()["status"], r.json()["reference"]) == ("active", "order:SO-1")

    paid = await _act(client, h, "SO-1", "capture")
    assert paid["status"] == "captured"
    assert await points(client, h, "u1") == (300, 300)
    # Capturing again (another key) changes nothing.
    again = await _act(client, h, "SO-1", "capture")
    assert again["capture_transaction_id"] == paid["capture_transaction_id"]
    assert await points(client, h, "u1") == (300, 300)

    # 30% of the order is refunded: 30% of the 500 points come back.
    first = await _act(client, h, "SO-1", "refund", 201, amount_fen=3000)
    assert (first["points"], first["deduction"]["refunded_points"]) == (150, 150)
    assert await points(client, h, "u1") == (450, 450)
    r = await client.get(f"/v1/transactions/{first['transaction_id']}", headers=h)
    assert (r.json()["kind"], r.json()["amount"]) == ("reversal", 150)
    assert r.json()["reverses_id"] == paid["capture_transaction_id"]
    # 33.33 yuan more: 43.33% of 500 is 216.65, rounded down to 216: 66 more.
    second = await _act(client, h, "SO-1", "refund", 201, amount_fen=1333)
    assert second["points"] == 66
    # The rest of the order: every point is back, nothing more.
    last = await _act(client, h, "SO-1", "refund", 201, amount_fen=5667)
    assert (last["points"], last["deduction"]["refunded_points"]) == (284, 500)
    assert await points(client, h, "u1") == (800, 800)
    over = await _act(client, h, "SO-1", "refund", 422, amount_fen=1)
    assert (over["code"], over["refundable_fen"]) == ("invalid_amount", 0)
    assert await points(client, h, "u1") == (800, 800)
    await verified(client, h)


async def test_refund_replay_under_its_key_gives_points_back_once(
    client: httpx.AsyncClient,
) -> None:
    _, h = await api_program(client)
    await credit(client, h, "u1", 1000)
    await _deduct(client, h, "u1", "SO-2", 20000, 1000)
    await _act(client, h, "SO-2", "capture")
    headers = {**h, "Idempotency-Key": "refund-SO-2-a"}
    url = "/v1/checkout/deductions/SO-2/refund"
    r1 = await client.post(url, json={"amount_fen": 5000}, headers=headers)
    r2 = await client.post(url, json={"amount_fen": 5000}, headers=headers)
    assert (r1.status_code, r2.status_code) == (201, 201)
    assert r2.headers["Idempotent-Replayed"] == "true"
    assert r1.json() == r2.json()
    assert await points(client, h, "u1") == (250, 250)


async def test_void_when_not_paid_frees_the_points(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    await credit(client, h, "u1", 800)
    await _deduct(client, h, "u1", "SO-3", 10000, 500)
    assert await points(client, h, "u1") == (800, 300)
    voided = await _act(client, h, "SO-3", "void")
    assert voided["status"] == "voided"
    assert await points(client, h, "u1") == (800, 800)
    assert (await _act(client, h, "SO-3", "void"))["status"] == "voided"
    late = await _act(client, h, "SO-3", "capture", 409)
    assert (late["code"], late["deduction_status"]) == ("deduction_not_active", "voided")
    refund = await _act(client, h, "SO-3", "refund", 409, amount_fen=100)
    assert refund["code"] == "deduction_not_active"
    # The order id is taken: a second deduction for it is refused.
    dup = await _deduct(client, h, "u1", "SO-3", 10000, 100, expect=409)
    assert dup["code"] == "deduction_exists"
    assert await points(client, h, "u1") == (800, 800)
    await verified(client, h)


async def test_a_lapsed_hold_frees_the_points_and_cannot_be_captured(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await credit(client, h, "u1", 800)
    d = await _deduct(client, h, "u1", "SO-4", 10000, 400, timeout_seconds=600)
    clock.advance(timedelta(seconds=601))
    r = await client.get("/v1/checkout/deductions/SO-4", headers=h)
    assert r.json()["status"] == "lapsed"
    late = await _act(client, h, "SO-4", "capture", 409)
    assert (late["code"], late["deduction_status"]) == ("deduction_not_active", "lapsed")
    # Voiding it is fine: the ledger records the lapse, and the points are free again.
    assert (await _act(client, h, "SO-4", "void"))["status"] == "voided"
    assert await points(client, h, "u1") == (800, 800)
    r = await client.get(f"/v1/holds/{d['hold_id']}", headers=h)
    assert r.json()["status"] == "lapsed"
    await verified(client, h)


async def test_minimum_step_cap_and_balance_are_enforced(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    s = await _settings(client, h, max_share="0.5", min_points=100, step=50)
    assert (s["min_points"], s["step"], s["max_share"]) == (100, 50, "0.5")
    await credit(client, h, "u1", 275)
    await credit(client, h, "u2", 80)
    q = await _quote(client, h, "u1", 100000)
    assert (q["max_points"], q["max_fen"]) == (250, 2500)
    q = await _quote(client, h, "u2", 100000)
    assert (q["max_points"], q["max_fen"], q["reason"]) == (0, 0, "below_minimum")
    q = await _quote(client, h, "u1", 1000)  # 5 yuan cap: 50 points, under the minimum
    assert (q["max_points"], q["reason"]) == (0, "below_minimum")

    for pts, fen, code in (
        (260, 100000, "invalid_points_step"),
        (50, 100000, "below_minimum_points"),
        (600, 10000, "exceeds_max_share"),
        (300, 100000, "insufficient_points"),
    ):
        problem = await _deduct(client, h, "u1", f"SO-{pts}", fen, pts, expect=422)
        assert problem["code"] == code, problem
    assert await points(client, h, "u1") == (275, 275)
    r = await client.get("/v1/checkout/deductions/SO-300", headers=h)
    assert (r.status_code, r.json()["code"]) == (404, "deduction_not_found")

    # A program's own point value: 1 point = 0.2 yuan here.
    await _settings(client, h, point_value_fen="20", max_share="1")
    q = await _quote(client, h, "u1", 1000)
    assert (q["max_points"], q["max_fen"]) == (50, 1000)
    r = await client.get("/v1/checkout/settings", headers=h)
    assert (r.json()["point_value_fen"], r.json()["point_value_from_program"]) == ("20", False)
