"""Partner exchange through the HTTP API: rates, limits, exchanges out and in, settlement."""

from __future__ import annotations

from typing import Any

import httpx

from jifen.clock import FixedClock
from tests.conftest import api_program
from tests.events.engine_api import Headers, assert_verified, balance, set_member

AIRLINE = {
    "name": "凤凰知音",
    "rate_out": "10",  # 10 points for one mile
    "rate_in": "8",  # one mile received is worth 8 points
    "min_units_out": 10,
    "daily_units_out": 100,
}


async def _exchange(
    client: httpx.AsyncClient,
    h: Headers,
    direction: str,
    member: str,
    units: int,
    key: str,
    *,
    partner: str = "air",
    expect: int = 201,
    **extra: Any,
) -> dict[str, Any]:
    r = await client.post(
        f"/v1/partners/{partner}/exchange-{direction}",
        json={"member": member, "units": units, **extra},
        headers={**h, "Idempotency-Key": key},
    )
    assert r.status_code == expect, r.text
    return dict(r.json())


async def _settlement(
    client: httpx.AsyncClient, h: Headers, start: str, end: str, partner: str = "air"
) -> dict[str, Any]:
    r = await client.get(f"/v1/partners/{partner}/settlement?from={start}&to={end}", headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_exchange_out_and_in_with_limits_and_the_settlement_report(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    r = await client.put("/v1/partners/air", json=AIRLINE, headers=h)
    assert r.status_code == 200, r.text
    assert (r.json()["rate_out"], r.json()["daily_units_in"]) == ("10", None)
    await set_member(client, h, "flyer")
    r = await client.post(
        "/v1/credits",
        json={"member": "flyer", "amount": 2000},
        headers={**h, "Idempotency-Key": "seed"},
    )
    assert r.status_code == 201, r.text

    out = await _exchange(client, h, "out", "flyer", 50, "o-1", partner_reference="CA-1")
    assert (out["direction"], out["units"], out["points"], out["balance"]) == ("out", 50, 500, 1500)
    assert out["rate"] == "10"
    small = await _exchange(client, h, "out", "flyer", 9, "o-2", expect=422)
    assert (small["code"], small["min_units"]) == ("below_minimum", 10)
    over = await _exchange(client, h, "out", "flyer", 60, "o-3", expect=422)
    assert (over["code"], over["daily_units"], over["used"]) == ("daily_limit_exceeded", 100, 50)
    second = await _exchange(client, h, "out", "flyer", 50, "o-4")
    assert await balance(client, h, "flyer") == 1000
    # The same request again is answered from its key; nothing more is debited.
    assert await _exchange(client, h, "out", "flyer", 50, "o-4") == second
    assert await balance(client, h, "flyer") == 1000

    got = await _exchange(client, h, "in", "flyer", 30, "i-1", partner_reference="CA-IN-9")
    assert (got["direction"], got["points"], got["balance"]) == ("in", 240, 1240)
    # An exchange in may bring a member the program has not seen yet.
    await _exchange(client, h, "in", "newcomer", 5, "i-2")
    assert await balance(client, h, "newcomer") == 40

    statement = (await client.get("/v1/members/flyer/statement", headers=h)).json()["items"]
    assert [(e["kind"], e["amount"], e["reference"]) for e in statement[:3]] == [
        ("credit", 240, "partner:air"),
        ("debit", -500, "partner:air"),
        ("debit", -500, "partner:air"),
    ]

    today = await _settlement(client, h, "2026-03-01", "2026-03-01")
    assert {k: today[k] for k in ("exchanges_out", "units_out", "points_out")} == {
        "exchanges_out": 2, "units_out": 100, "points_out": 1000,
    }  # fmt: skip
    assert {k: today[k] for k in ("exchanges_in", "units_in", "points_in")} == {
        "exchanges_in": 2, "units_in": 35, "points_in": 280,
    }  # fmt: skip
    assert (today["net_units"], today["net_points"]) == (65, 720)

    # The next local day starts at 00:00 Shanghai: a new daily limit, a new settlement day.
    clock.set(clock.now().replace(hour=16))  # 00:00 on 2 March in Shanghai
    await _exchange(client, h, "out", "flyer", 100, "o-5")
    assert (await _settlement(client, h, "2026-03-01", "2026-03-01"))["units_out"] == 100
    assert (await _settlement(client, h, "2026-03-02", "2026-03-02"))["units_out"] == 100
    both = await _settlement(client, h, "2026-03-01", "2026-03-02")
    assert (both["units_out"], both["units_in"], both["net_units"]) == (200, 35, 165)
    bad = await client.get("/v1/partners/air/settlement?from=2026-03-02&to=2026-03-01", headers=h)
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_period")
    far = await client.get("/v1/partners/air/settlement?from=0001-01-01&to=9999-12-31", headers=h)
    assert (far.status_code, far.json()["code"]) == (422, "invalid_period")
    huge = await _exchange(client, h, "in", "flyer", 10**15, "i-huge", expect=422)
    assert huge["code"] == "invalid_amount"
    await assert_verified(client, h)


async def test_rounding_member_exchange_and_refusals(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await client.put(
        "/v1/partners/coffee",
        json={"name": "咖啡联名", "rate_out": "4", "rate_in": "2.5"},
        headers=h,
    )
    await set_member(client, h, "ann")
    got = await _exchange(client, h, "in", "ann", 3, "c-1", partner="coffee")
    assert got["points"] == 7  # 7.5 rounded down, the program's policy
    token = (await client.post("/v1/members/ann/tokens", headers=h)).json()["token"]
    r = await client.post(
        "/v1/me/partners/coffee/exchange-out",
        json={"units": 1},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "me-1"},
    )
    assert r.status_code == 201, r.text
    assert (r.json()["points"], r.json()["balance"]) == (4, 3)
    poor = await _exchange(client, h, "out", "ann", 1, "c-2", partner="coffee", expect=422)
    assert poor["code"] == "insufficient_points"
    missing = await _exchange(client, h, "out", "ann", 1, "c-3", partner="tea", expect=404)
    assert missing["code"] == "partner_not_found"
    await client.put(
        "/v1/partners/coffee",
        json={"name": "咖啡联名", "rate_out": "4", "rate_in": "2.5", "active": False},
        headers=h,
    )
    closed = await _exchange(client, h, "in", "ann", 1, "c-4", partner="coffee", expect=409)
    assert closed["code"] == "partner_inactive"
    report = await _settlement(client, h, "2026-03-01", "2026-03-31", partner="coffee")
    assert (report["units_out"], report["units_in"], report["net_units"]) == (1, 3, -2)
    assert (report["points_out"], report["points_in"], report["net_points"]) == (4, 7, -3)
    await assert_verified(client, h)
