"""HTTP helpers for the check-in and badge tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from jifen.clock import FixedClock
from tests.events.engine_api import Headers, balance, save_rule, set_member, sh

__all__ = ["Headers", "balance", "save_rule", "set_member", "sh"]


async def check_in(
    client: httpx.AsyncClient,
    h: Headers,
    member: str,
    *,
    expect: int = 201,
    headers: Headers | None = None,
) -> dict[str, Any]:
    r = await client.post(f"/v1/members/{member}/check-ins", headers={**h, **(headers or {})})
    assert r.status_code == expect, r.text
    return dict(r.json())


async def make_up(
    client: httpx.AsyncClient, h: Headers, member: str, day: str, *, expect: int = 201
) -> dict[str, Any]:
    r = await client.post(f"/v1/members/{member}/check-ins/makeups", json={"day": day}, headers=h)
    assert r.status_code == expect, r.text
    return dict(r.json())


async def calendar(
    client: httpx.AsyncClient, h: Headers, member: str, month: str | None = None
) -> dict[str, Any]:
    params = {"month": month} if month else {}
    r = await client.get(f"/v1/members/{member}/check-ins", params=params, headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def settings(client: httpx.AsyncClient, h: Headers, **body: Any) -> dict[str, Any]:
    r = await client.put("/v1/check-in/settings", json=body, headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def badge(
    client: httpx.AsyncClient, h: Headers, badge_id: str, name: str, **criterion: Any
) -> dict[str, Any]:
    r = await client.put(
        f"/v1/badges/{badge_id}", json={"name": name, "criterion": criterion}, headers=h
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def member_token(client: httpx.AsyncClient, h: Headers, member: str) -> Headers:
    r = await client.post(f"/v1/members/{member}/tokens", headers=h)
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def at(clock: FixedClock, instant: datetime) -> None:
    clock.set(instant)


def day_statuses(cal: dict[str, Any]) -> dict[str, str]:
    return {d["day"]: d["status"] for d in cal["days"]}


async def joined(client: httpx.AsyncClient, h: Headers, member: str, when: str) -> None:
    await set_member(client, h, member, joined_at=when)
