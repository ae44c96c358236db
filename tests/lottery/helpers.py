"""HTTP helpers for the lottery tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

Headers = dict[str, str]


async def fund(client: httpx.AsyncClient, h: Headers, member: str, points: int) -> None:
    r = await client.put(f"/v1/members/{member}", json={}, headers=h)
    assert r.status_code in (200, 201), r.text
    if points:
        body = {"member": member, "amount": points, "idempotency_key": uuid.uuid4().hex}
        r = await client.post("/v1/credits", json=body, headers=h)
        assert r.status_code == 201, r.text


async def balance(client: httpx.AsyncClient, h: Headers, member: str) -> int:
    r = await client.get(f"/v1/members/{member}/balances", headers=h)
    assert r.status_code == 200, r.text
    return sum(b["balance"] for b in r.json()["balances"] if b["asset"] == "points")


async def pool(
    client: httpx.AsyncClient, h: Headers, pool_id: str, prizes: list[dict[str, Any]], **kw: Any
) -> dict[str, Any]:
    body = {"name": pool_id, "cost_points": 50, "prizes": prizes, **kw}
    r = await client.put(f"/v1/lottery/pools/{pool_id}", json=body, headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def draw(
    client: httpx.AsyncClient, h: Headers, member: str, pool_id: str, key: str | None = None
) -> httpx.Response:
    return await client.post(
        f"/v1/members/{member}/lottery/{pool_id}/draws",
        headers={**h, "Idempotency-Key": key or uuid.uuid4().hex},
    )


async def assert_verified(client: httpx.AsyncClient, h: Headers) -> None:
    r = await client.get("/v1/ledger/verify", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True, r.json()
