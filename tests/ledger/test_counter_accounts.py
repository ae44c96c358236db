"""Credits and debits against named system accounts (partners, donation pools, fees) stay
balanced, and a made-up account name is refused."""

from __future__ import annotations

import httpx

from tests.conftest import api_program


async def test_partner_and_donation_counters_balance(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    r = await client.post(
        "/v1/credits",
        json={"member": "m1", "amount": 300, "source": "partner:airline", "idempotency_key": "in"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/v1/debits",
        json={"member": "m1", "amount": 120, "counter": "donation:school", "idempotency_key": "d"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert r.json()["balance"] == 180
    r = await client.get("/v1/ledger/verify", headers=h)
    assert r.json()["ok"] is True, r.text


async def test_unknown_counter_account_is_refused(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    r = await client.post(
        "/v1/credits",
        json={"member": "m1", "amount": 5, "source": "expiry", "idempotency_key": "x"},
        headers=h,
    )
    assert r.status_code == 422
    assert r.json()["field"].endswith("source")
