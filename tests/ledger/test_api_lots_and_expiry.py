"""Lots, spending order, expiry and reversal back into lots, through the HTTP API."""

from __future__ import annotations

from datetime import timedelta

import httpx

from jifen.clock import FixedClock
from jifen.jobs.runner import run_job
from tests.conftest import api_program

ROLLING_12 = {"expiry": {"kind": "rolling", "months": 12}}


async def _post(
    client: httpx.AsyncClient, path: str, h: dict[str, str], key: str, **body: object
) -> httpx.Response:
    return await client.post(path, json=body, headers={**h, "Idempotency-Key": key})


async def test_spend_takes_soonest_expiring_lot_first(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client, ROLLING_12)
    await _post(
        client,
        "/v1/credits",
        h,
        "never",
        member="u1",
        amount=100,
        expires_at="2099-01-01T00:00:00+08:00",
    )
    await _post(client, "/v1/credits", h, "old", member="u1", amount=50)
    clock.advance(timedelta(days=30))
    await _post(client, "/v1/credits", h, "new", member="u1", amount=70)
    await _post(client, "/v1/debits", h, "d", member="u1", amount=80)
    lots = (await client.get("/v1/members/u1/lots?include_spent=true", headers=h)).json()
    remaining = {lot["amount"]: lot["remaining"] for lot in lots}
    assert remaining == {50: 0, 70: 40, 100: 100}


async def test_expiry_job_moves_unspent_rest_and_is_idempotent(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    pid, h = await api_program(client, ROLLING_12)
    r = await _post(client, "/v1/credits", h, "c1", member="u1", amount=100)
    # Earned 2026-03-01 12:00 Shanghai: usable through 2027-03-01, gone at 2027-03-02 00:00 local.
    assert r.json()["lot_expires_at"] == "2027-03-01T16:00:00Z"
    await _post(client, "/v1/debits", h, "d1", member="u1", amount=30)
    clock.set(clock.now().replace(year=2027, month=3, day=1, hour=15, minute=59))
    db = client._transport.app.state.db  # type: ignore[attr-defined]
    assert (await run_job("expire", db.sessionmaker, clock, program_id=pid))[0].count == 0
    clock.advance(timedelta(minutes=1))
    assert (await run_job("expire", db.sessionmaker, clock, program_id=pid))[0].count == 70
    assert (await run_job("expire", db.sessionmaker, clock, program_id=pid))[0].count == 0
    bal = (await client.get("/v1/members/u1/balances", headers=h)).json()["balances"][0]
    assert bal["balance"] == 0
    items = (await client.get("/v1/members/u1/statement", headers=h)).json()["items"]
    assert (items[0]["kind"], items[0]["amount"]) == ("expiry", -70)
    assert (await client.get("/v1/ledger/verify", headers=h)).json()["ok"]


async def test_a_write_after_expiry_sees_expired_points_gone(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client, ROLLING_12)
    await _post(client, "/v1/credits", h, "c1", member="u1", amount=100)
    clock.advance(timedelta(days=400))
    r = await _post(client, "/v1/debits", h, "d1", member="u1", amount=10)
    assert r.json()["code"] == "insufficient_points"
    assert r.json()["available"] == 0


async def test_refund_of_a_spend_returns_to_the_same_lots(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client, ROLLING_12)
    await _post(client, "/v1/credits", h, "c1", member="u1", amount=60)
    clock.advance(timedelta(days=200))
    await _post(client, "/v1/credits", h, "c2", member="u1", amount=60)
    d = (await _post(client, "/v1/debits", h, "d", member="u1", amount=100)).json()
    # Partial refund first goes back to the lot that lives longest.
    r = await _post(client, f"/v1/transactions/{d['id']}/reverse", h, "r1", amount=30)
    assert r.json()["balance"] == 50
    lots = sorted(
        (await client.get("/v1/members/u1/lots?include_spent=true", headers=h)).json(),
        key=lambda x: x["earned_at"],
    )
    assert [lot["remaining"] for lot in lots] == [0, 50]
    # The first lot expires; refunding the rest sends its share straight to the expiry account.
    clock.advance(timedelta(days=200))
    r = await _post(client, f"/v1/transactions/{d['id']}/reverse", h, "r2")
    assert r.status_code == 201, r.text
    assert r.json()["amount"] == 70
    assert r.json()["balance"] == 60
    t = (await client.get(f"/v1/transactions/{r.json()['id']}", headers=h)).json()
    assert {p["account"]: p["amount"] for p in t["postings"]} == {
        "system:redemption": -70,
        "member:u1": 10,
        "system:expiry": 60,
    }
    assert (await client.get("/v1/ledger/verify", headers=h)).json()["ok"]


async def test_reversing_an_expired_credit_takes_it_back_from_the_expiry_account(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    pid, h = await api_program(client, ROLLING_12)
    c = (await _post(client, "/v1/credits", h, "c1", member="u1", amount=100)).json()
    clock.advance(timedelta(days=400))
    db = client._transport.app.state.db  # type: ignore[attr-defined]
    await run_job("expire", db.sessionmaker, clock, program_id=pid)
    r = await _post(client, f"/v1/transactions/{c['id']}/reverse", h, "r")
    assert r.json()["balance"] == 0
    t = (await client.get(f"/v1/transactions/{r.json()['id']}", headers=h)).json()
    assert {p["account"]: p["amount"] for p in t["postings"]} == {
        "system:issuance": 100,
        "system:expiry": -100,
    }
    assert (await client.get("/v1/ledger/verify", headers=h)).json()["ok"]


async def test_partial_reversals_never_exceed_the_original(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    c = (await _post(client, "/v1/credits", h, "c", member="u1", amount=100)).json()
    assert (
        await _post(client, f"/v1/transactions/{c['id']}/reverse", h, "r1", amount=60)
    ).status_code == 201
    r = await _post(client, f"/v1/transactions/{c['id']}/reverse", h, "r2", amount=41)
    assert (r.status_code, r.json()["code"]) == (422, "invalid_amount")
    r = await _post(client, f"/v1/transactions/{c['id']}/reverse", h, "r3")
    assert r.json()["amount"] == 40
    r = await _post(client, f"/v1/transactions/{r.json()['id']}/reverse", h, "r4")
    assert (r.status_code, r.json()["code"]) == (409, "not_reversible")


async def test_adjustment_is_audited_with_operator_and_reason(client: httpx.AsyncClient) -> None:
    pid, h = await api_program(client)
    r = await _post(
        client,
        "/v1/adjustments",
        h,
        "a1",
        member="u1",
        amount=50,
        reason="goodwill",
        operator="alice",
    )
    assert r.status_code == 404  # adjustments never create members
    await client.put("/v1/members/u1", json={"name": "Li"}, headers=h)
    r = await _post(
        client,
        "/v1/adjustments",
        h,
        "a1b",
        member="u1",
        amount=50,
        reason="goodwill",
        operator="alice",
    )
    assert r.status_code == 201, r.text
    r = await _post(
        client, "/v1/adjustments", h, "a2", member="u1", amount=-80, reason="fix", operator="alice"
    )
    assert r.json()["code"] == "insufficient_points"
    r = await _post(
        client, "/v1/adjustments", h, "a3", member="u1", amount=-20, reason="fix", operator="bob"
    )
    assert r.json()["balance"] == 30
    audit = (await client.get(f"/v1/programs/{pid}/audit", headers=h)).json()
    adjust = [a for a in audit if a["action"] == "ledger.adjust"]
    assert [(a["actor"], a["reason"], a["after"]["balance"]) for a in adjust] == [
        ("bob", "fix", 30),
        ("alice", "goodwill", 50),
    ]


async def test_transfer_keeps_expiry_and_refuses_overdraft(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client, ROLLING_12)
    c = (await _post(client, "/v1/credits", h, "c", member="a", amount=100)).json()
    await client.put("/v1/members/b", json={}, headers=h)
    r = await _post(client, "/v1/transfers", h, "t1", from_member="a", to_member="b", amount=40)
    assert r.status_code == 201, r.text
    lots_b = (await client.get("/v1/members/b/lots", headers=h)).json()
    assert [(lot["remaining"], lot["expires_at"]) for lot in lots_b] == [(40, c["lot_expires_at"])]
    r = await _post(client, "/v1/transfers", h, "t2", from_member="a", to_member="b", amount=61)
    assert r.json()["code"] == "insufficient_points"
    r = await _post(client, "/v1/transfers", h, "t3", from_member="a", to_member="a", amount=1)
    assert r.json()["code"] == "same_member"


async def test_batch_credit_gives_a_result_per_item(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    items = [
        {"idempotency_key": f"b{i}", "member": f"u{i % 3}", "amount": 10 + i} for i in range(5)
    ]
    items.append({"idempotency_key": "bad", "member": "u1", "amount": 5, "asset": "nope"})
    items.append({"idempotency_key": "b0", "member": "u0", "amount": 10})  # same key twice: replay
    r = await client.post("/v1/credits/batch", json={"items": items}, headers=h)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [201] * 5 + [422, 201]
    assert results[6]["body"] == results[0]["body"]
    again = (await client.post("/v1/credits/batch", json={"items": items}, headers=h)).json()[
        "results"
    ]
    assert again == results
    bal = (await client.get("/v1/members/u0/balances", headers=h)).json()["balances"][0]["balance"]
    assert bal == 10 + 13


async def test_statement_pages_by_cursor(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    for i in range(7):
        await _post(client, "/v1/credits", h, f"c{i}", member="u1", amount=i + 1)
    seen: list[int] = []
    cursor = None
    while True:
        url = "/v1/members/u1/statement?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(url, headers=h)).json()
        seen += [i["amount"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [7, 6, 5, 4, 3, 2, 1]
    r = await client.get("/v1/members/u1/statement?cursor=%%%", headers=h)
    assert r.json()["code"] == "invalid_cursor"
