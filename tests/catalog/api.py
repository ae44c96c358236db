"""HTTP helpers for the catalog and checkout tests: credit points, save items, redeem, read."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx

Headers = dict[str, str]


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"t-{uuid.uuid4().hex}"}


async def credit(
    client: httpx.AsyncClient,
    h: Headers,
    member: str,
    amount: int,
    *,
    expires_at: datetime | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"member": member, "amount": amount}
    if expires_at is not None:
        body["expires_at"] = expires_at.isoformat()
    r = await client.post("/v1/credits", json=body, headers={**h, **key()})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def points(client: httpx.AsyncClient, h: Headers, member: str) -> tuple[int, int]:
    """(balance, available) of the member's points."""
    r = await client.get(f"/v1/members/{member}/balances", headers=h)
    assert r.status_code == 200, r.text
    for b in r.json()["balances"]:
        if b["asset"] == "points":
            return int(b["balance"]), int(b["available"])
    return 0, 0


async def save_item(
    client: httpx.AsyncClient, h: Headers, item_id: str, **fields: Any
) -> dict[str, Any]:
    body = {"name": item_id, "kind": "virtual", "price_points": 100, **fields}
    r = await client.put(f"/v1/catalog/items/{item_id}", json=body, headers=h)
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


async def item(client: httpx.AsyncClient, h: Headers, item_id: str) -> dict[str, Any]:
    r = await client.get(f"/v1/catalog/items/{item_id}", headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def redeem(
    client: httpx.AsyncClient,
    h: Headers,
    member: str,
    item_id: str,
    *,
    expect: int = 201,
    idem: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    headers = {**h, "Idempotency-Key": idem} if idem else {**h, **key()}
    r = await client.post(
        f"/v1/members/{member}/redemptions", json={"item": item_id, **fields}, headers=headers
    )
    assert r.status_code == expect, r.text
    return dict(r.json())


async def orders(
    client: httpx.AsyncClient, h: Headers, member: str | None = None
) -> list[dict[str, Any]]:
    url = f"/v1/members/{member}/orders" if member else "/v1/orders"
    r = await client.get(url, params={"limit": 200}, headers=h)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def verified(client: httpx.AsyncClient, h: Headers) -> None:
    r = await client.get("/v1/ledger/verify", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True, r.json()


async def member_token(client: httpx.AsyncClient, h: Headers, member: str) -> Headers:
    r = await client.post(f"/v1/members/{member}/tokens", headers=h)
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}
