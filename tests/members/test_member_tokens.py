"""Member tokens: issued by the merchant's backend, they read one member of one program only."""

from __future__ import annotations

from datetime import timedelta

import httpx

from jifen.clock import FixedClock
from tests.conftest import api_program


async def _token(client: httpx.AsyncClient, h: dict[str, str], member: str, **body: int) -> str:
    r = await client.post(f"/v1/members/{member}/tokens", json=body or None, headers=h)
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


async def test_member_token_reads_only_its_own_member(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    for m, amount in (("alice", 120), ("bob", 30)):
        r = await client.post(
            "/v1/credits",
            json={"member": m, "amount": amount, "idempotency_key": f"c-{m}"},
            headers=h,
        )
        assert r.status_code == 201, r.text
    token = await _token(client, h, "alice")
    me = {"Authorization": f"Bearer {token}"}
    r = await client.get("/v1/me", headers=me)
    assert r.status_code == 200
    assert r.json()["id"] == "alice"
    r = await client.get("/v1/me/balances", headers=me)
    assert {b["asset"]: b["balance"] for b in r.json()["balances"]}["points"] == 120
    r = await client.get("/v1/me/statement", headers=me)
    assert [e["amount"] for e in r.json()["items"]] == [120]
    # The token is not an API key: the server-to-server API refuses it.
    r = await client.get("/v1/members/bob/balances", headers=me)
    assert r.status_code == 401


async def test_member_token_of_another_program_or_tampered_or_expired_is_refused(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await client.put("/v1/members/alice", json={}, headers=h)
    token = await _token(client, h, "alice", ttl_seconds=600)
    payload, _, sig = token.partition(".")
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + sig
    r = await client.get("/v1/me", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_member_token"
    clock.advance(timedelta(seconds=601))
    r = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert r.json()["code"] == "member_token_expired"
    r = await client.post("/v1/members/nobody/tokens", headers=h)
    assert r.status_code == 404
