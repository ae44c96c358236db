"""Small HTTP helpers for the earning-engine tests: save rules, send events, read balances."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")

Headers = dict[str, str]


def sh(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    """A wall-clock instant in Asia/Shanghai (the default program time zone)."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


async def save_rule(client: httpx.AsyncClient, h: Headers, **definition: Any) -> dict[str, Any]:
    r = await client.post("/v1/rules", json=definition, headers=h)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def set_member(
    client: httpx.AsyncClient, h: Headers, member: str, **fields: Any
) -> dict[str, Any]:
    r = await client.put(f"/v1/members/{member}", json=fields, headers=h)
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


async def set_tier(client: httpx.AsyncClient, h: Headers, member: str, tier: str) -> None:
    await set_member(client, h, member, attributes={"tier": tier})


def event_body(
    client_id: str, type_: str, member: str, at: datetime, **attributes: Any
) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "type": type_,
        "member": member,
        "occurred_at": at.isoformat(),
        "attributes": attributes,
    }


async def send(
    client: httpx.AsyncClient,
    h: Headers,
    client_id: str,
    type_: str,
    member: str,
    at: datetime,
    *,
    expect: int = 201,
    **attributes: Any,
) -> dict[str, Any]:
    """POST one event; asserts the HTTP status and returns the result (or problem) body."""
    r = await client.post(
        "/v1/events", json=event_body(client_id, type_, member, at, **attributes), headers=h
    )
    assert r.status_code == expect, r.text
    return dict(r.json())


async def send_batch(
    client: httpx.AsyncClient, h: Headers, events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    r = await client.post("/v1/events/batch", json={"events": events}, headers=h)
    assert r.status_code == 200, r.text
    results = list(r.json()["results"])
    assert len(results) == len(events)
    return results


async def balances(client: httpx.AsyncClient, h: Headers, member: str) -> dict[str, int]:
    r = await client.get(f"/v1/members/{member}/balances", headers=h)
    assert r.status_code == 200, r.text
    return {b["asset"]: b["balance"] for b in r.json()["balances"]}


async def balance(client: httpx.AsyncClient, h: Headers, member: str, asset: str = "points") -> int:
    return (await balances(client, h, member)).get(asset, 0)


async def assert_verified(client: httpx.AsyncClient, h: Headers) -> None:
    r = await client.get("/v1/ledger/verify", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] is True, body


async def explain(client: httpx.AsyncClient, h: Headers, transaction_id: str) -> dict[str, Any]:
    r = await client.get(f"/v1/transactions/{transaction_id}/explain", headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


def paid(result: dict[str, Any], asset: str = "points") -> int:
    """What one event result paid in ``asset``."""
    return sum(p["amount"] for p in result["postings"] if p["asset"] == asset)


def amounts(result: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(rule, asset, amount) of each posting an event caused, in order."""
    return [(p["rule_id"], p["asset"], p["amount"]) for p in result["postings"]]


def reasons(result: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(s["rule_id"], s["reason"]) for s in result["skipped"]]
