"""The ledger through the HTTP API, as a merchant's backend uses it."""

from __future__ import annotations

from datetime import timedelta

import httpx

from jifen.clock import FixedClock
from tests.conftest import api_program


async def _credit(
    client: httpx.AsyncClient,
    h: dict[str, str],
    key: str,
    member: str,
    amount: int,
    **extra: object,
) -> httpx.Response:
    return await client.post(
        "/v1/credits",
        json={"member": member, "amount": amount, **extra},
        headers={**h, "Idempotency-Key": key},
    )


async def test_credit_then_debit_shows_in_balance_and_statement(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    r = await _credit(client, h, "c1", "u1", 500, reason="purchase")
    assert r.status_code == 201, r.text
    assert r.json()["balance"] == 500
    r = await client.post(
        "/v1/debits", json={"member": "u1", "amount": 120}, headers={**h, "Idempotency-Key": "d1"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["balance"] == 380
    r = await client.get("/v1/members/u1/balances", headers=h)
    points = next(b for b in r.json()["balances"] if b["asset"] == "points")
    assert points == {"asset": "points", "balance": 380, "held": 0, "available": 380}
    r = await client.get("/v1/members/u1/statement", headers=h)
    items = r.json()["items"]
    assert [(i["kind"], i["amount"], i["balance_after"]) for i in items] == [
        ("debit", -120, 380),
        ("credit", 500, 500),
    ]


async def test_replay_returns_first_result_and_conflict_on_different_request(
    client: httpx.AsyncClient,
) -> None:
    _, h = await api_program(client)
    first = await _credit(client, h, "k", "u1", 100)
    again = await _credit(client, h, "k", "u1", 100)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await _credit(client, h, "k", "u1", 101)
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_conflict"
    r = await client.get("/v1/members/u1/balances", headers=h)
    assert r.json()["balances"][0]["balance"] == 100


async def test_failure_is_final_under_its_key(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    await _credit(client, h, "c", "u1", 10)
    r = await client.post(
        "/v1/debits", json={"member": "u1", "amount": 50}, headers={**h, "Idempotency-Key": "d"}
    )
    assert r.status_code == 422
    assert r.json()["code"] == "insufficient_points"
    assert r.headers["content-type"].startswith("application/problem+json")
    await _credit(client, h, "c2", "u1", 100)
    # The same key still answers with the first outcome, though the member could now pay.
    r = await client.post(
        "/v1/debits", json={"member": "u1", "amount": 50}, headers={**h, "Idempotency-Key": "d"}
    )
    assert r.status_code == 422


async def test_hold_capture_part_releases_rest(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    await _credit(client, h, "c", "u1", 1000)
    r = await client.post(
        "/v1/holds", json={"member": "u1", "amount": 300}, headers={**h, "Idempotency-Key": "h"}
    )
    assert r.status_code == 201, r.text
    hold = r.json()
    assert hold["available"] == 700
    r = await client.post(
        f"/v1/holds/{hold['id']}/capture",
        json={"amount": 200},
        headers={**h, "Idempotency-Key": "cap"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["balance"] == 800
    assert r.json()["available"] == 800
    r = await client.post(
        f"/v1/holds/{hold['id']}/void", json={}, headers={**h, "Idempotency-Key": "void"}
    )
    assert r.status_code == 409
    assert r.json()["code"] == "hold_not_active"


async def test_hold_lapses_after_timeout(client: httpx.AsyncClient, clock: FixedClock) -> None:
    _, h = await api_program(client)
    await _credit(client, h, "c", "u1", 100)
    r = await client.post(
        "/v1/holds",
        json={"member": "u1", "amount": 100, "timeout_seconds": 60},
        headers={**h, "Idempotency-Key": "h"},
    )
    hold_id = r.json()["id"]
    r = await client.post(
        "/v1/debits", json={"member": "u1", "amount": 1}, headers={**h, "Idempotency-Key": "d1"}
    )
    assert r.json()["code"] == "insufficient_points"
    clock.advance(timedelta(seconds=61))
    r = await client.post(
        "/v1/debits", json={"member": "u1", "amount": 100}, headers={**h, "Idempotency-Key": "d2"}
    )
    assert r.status_code == 201, r.text
    r = await client.get(f"/v1/holds/{hold_id}", headers=h)
    assert r.json()["status"] == "lapsed"
    r = await client.post(
        f"/v1/holds/{hold_id}/capture", json={}, headers={**h, "Idempotency-Key": "cap"}
    )
    assert r.json()["code"] == "hold_not_active"


async def test_reverse_credit_after_spend_goes_negative_under_allow(
    client: httpx.AsyncClient,
) -> None:
    _, h = await api_program(client)
    c = (await _credit(client, h, "c", "u1", 100)).json()
    await client.post(
        "/v1/debits", json={"member": "u1", "amount": 80}, headers={**h, "Idempotency-Key": "d"}
    )
    r = await client.post(
        f"/v1/transactions/{c['id']}/reverse",
        json={"reason": "refund"},
        headers={**h, "Idempotency-Key": "r"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["balance"] == -80
    # The debt is paid back first by the next credit.
    r = await _credit(client, h, "c2", "u1", 100)
    assert r.json()["balance"] == 20
    r = await client.get("/v1/members/u1/lots", headers=h)
    assert sum(lot["remaining"] for lot in r.json()) == 20
    r = await client.get("/v1/ledger/verify", headers=h)
    assert r.json()["ok"], r.json()


async def test_reverse_credit_books_shortfall_to_loss_under_loss_policy(
    client: httpx.AsyncClient,
) -> None:
    _, h = await api_program(client, settings={"negative_balance": "loss"})
    c = (await _credit(client, h, "c", "u1", 100)).json()
    await client.post(
        "/v1/debits", json={"member": "u1", "amount": 80}, headers={**h, "Idempotency-Key": "d"}
    )
    r = await client.post(
        f"/v1/transactions/{c['id']}/reverse", json={}, headers={**h, "Idempotency-Key": "r"}
    )
    assert r.json()["balance"] == 0
    t = (await client.get(f"/v1/transactions/{r.json()['id']}", headers=h)).json()
    assert {p["account"]: p["amount"] for p in t["postings"]} == {
        "system:issuance": 100,
        "member:u1": -20,
        "system:loss": -80,
    }
    r = await client.post(
        f"/v1/transactions/{c['id']}/reverse", json={}, headers={**h, "Idempotency-Key": "r2"}
    )
    assert r.json()["code"] == "already_reversed"


async def test_bad_inputs_get_problem_codes(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    cases = [
        ({"member": "u1", "amount": 0}, "validation_error", "amount"),
        ({"member": "u1", "amount": 1.5}, "validation_error", "amount"),
        ({"member": "u1", "amount": "10"}, "validation_error", "amount"),
        ({"member": "u1", "amount": 10, "asset": "stars"}, "unknown_asset", "asset"),
        (
            {"member": "u1", "amount": 10, "occurred_at": "2030-01-01T00:00:00Z"},
            "occurred_in_future",
            "occurred_at",
        ),
        (
            {"member": "u1", "amount": 10, "occurred_at": "2026-01-01T00:00:00"},
            "validation_error",
            "occurred_at",
        ),
        (
            {"member": "u1", "amount": 10, "expires_at": "2020-01-01T00:00:00Z"},
            "invalid_expiry",
            "expires_at",
        ),
        ({"member": "u 1", "amount": 10}, "validation_error", "member"),
    ]
    for i, (body, code, field) in enumerate(cases):
        r = await client.post("/v1/credits", json=body, headers={**h, "Idempotency-Key": f"bad{i}"})
        assert r.status_code in (400, 422), r.text
        assert r.json()["code"] == code, r.json()
        assert r.json()["field"] == field
    r = await client.post("/v1/credits", json={"member": "u1", "amount": 5}, headers=h)
    assert r.json()["code"] == "idempotency_key_required"
    r = await client.post(
        "/v1/debits", json={"member": "ghost", "amount": 5}, headers={**h, "Idempotency-Key": "g"}
    )
    assert (r.status_code, r.json()["code"]) == (404, "member_not_found")
    r = await client.post(
        "/v1/credits",
        json={"member": "u1", "amount": 5},
        headers={"Authorization": "Bearer jf_nope_nope", "Idempotency-Key": "x"},
    )
    assert (r.status_code, r.json()["code"]) == (401, "invalid_api_key")
    r = await client.get("/v1/members/u1/balances", headers=h)
    assert r.status_code == 404  # nothing was written by any of the above


async def test_key_of_one_program_cannot_touch_another(client: httpx.AsyncClient) -> None:
    pid_a, ha = await api_program(client)
    _, hb = await api_program(client)
    await _credit(client, ha, "c", "u1", 100)
    r = await client.get("/v1/members/u1/balances", headers=hb)
    assert r.json()["code"] == "member_not_found"
    r = await client.get(f"/v1/programs/{pid_a}", headers=hb)
    assert (r.status_code, r.json()["code"]) == (403, "wrong_program")
