"""Shared steps of the webhook and notification tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

Headers = dict[str, str]


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def credit(
    client: httpx.AsyncClient,
    h: Headers,
    member: str,
    amount: int,
    reason: str = "signup",
    **extra: Any,
) -> dict[str, Any]:
    body = {"member": member, "amount": amount, "reason": reason, **extra}
    r = await client.post("/v1/credits", json=body, headers={**h, **key()})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def debit(client: httpx.AsyncClient, h: Headers, member: str, amount: int) -> None:
    body = {"member": member, "amount": amount, "reason": "redeem"}
    r = await client.post("/v1/debits", json=body, headers={**h, **key()})
    assert r.status_code == 201, r.text


async def webhook(
    client: httpx.AsyncClient, h: Headers, url: str, events: list[str], **extra: Any
) -> dict[str, Any]:
    r = await client.post(
        "/v1/webhooks", json={"url": url, "events": events, **extra}, headers={**h, **key()}
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def notifications(client: httpx.AsyncClient, h: Headers, member: str) -> list[dict[str, Any]]:
    r = await client.get(f"/v1/members/{member}/notifications", headers=h)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def texts(client: httpx.AsyncClient, h: Headers, member: str) -> list[str]:
    """The member's notification texts, oldest first."""
    return [n["text"] for n in reversed(await notifications(client, h, member))]
