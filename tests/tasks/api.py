"""HTTP helpers for the tasks tests: define tasks and groups, submit, review, read task lists."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.events.engine_api import Headers


async def put_group(client: httpx.AsyncClient, h: Headers, group_id: str, **body: Any) -> None:
    r = await client.put(f"/v1/task-groups/{group_id}", json=body, headers=h)
    assert r.status_code == 200, r.text


async def put_task(
    client: httpx.AsyncClient, h: Headers, task_id: str, **body: Any
) -> dict[str, Any]:
    r = await client.put(f"/v1/tasks/{task_id}", json=body, headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


def by_event(trigger: str, condition: str = "true", count: int = 1) -> dict[str, Any]:
    return {"by": "event", "trigger": trigger, "condition": condition, "count": count}


def by_submission(**extra: Any) -> dict[str, Any]:
    return {"by": "submission", **extra}


async def member_token(client: httpx.AsyncClient, h: Headers, member: str) -> Headers:
    r = await client.post(
        f"/v1/members/{member}/tokens", json={"ttl_seconds": 7 * 24 * 3600}, headers=h
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def submit(
    client: httpx.AsyncClient,
    headers: Headers,
    task_id: str,
    *,
    member: str | None = None,
    expect: int = 201,
    key: str | None = None,
    **proof: Any,
) -> dict[str, Any]:
    """Submit as the member of a token (``member`` None) or for ``member`` with the API key."""
    path = (
        f"/v1/me/tasks/{task_id}/submissions"
        if member is None
        else f"/v1/members/{member}/tasks/{task_id}/submissions"
    )
    r = await client.post(
        path, json=proof, headers={**headers, "Idempotency-Key": key or uuid.uuid4().hex}
    )
    assert r.status_code == expect, r.text
    return dict(r.json())


async def review(
    client: httpx.AsyncClient,
    h: Headers,
    submission_id: int,
    action: str,
    reviewer: str,
    *,
    expect: int = 200,
    reason: str | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"reviewer": reviewer}
    if reason is not None:
        body["reason"] = reason
    headers = {**h, "Idempotency-Key": key} if key else h
    r = await client.post(
        f"/v1/task-submissions/{submission_id}/{action}", json=body, headers=headers
    )
    assert r.status_code == expect, r.text
    return dict(r.json())


async def tasks_of(
    client: httpx.AsyncClient, headers: Headers, member: str | None = None
) -> dict[str, Any]:
    path = "/v1/me/tasks" if member is None else f"/v1/members/{member}/tasks"
    r = await client.get(path, headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def statuses(task_list: dict[str, Any]) -> dict[str, str]:
    return {t["task_id"]: t["status"] for t in task_list["tasks"]}


async def held(client: httpx.AsyncClient, h: Headers, member: str) -> dict[str, int]:
    """The member's points, growth and cash (0 where no account exists yet)."""
    r = await client.get(f"/v1/members/{member}/balances", headers=h)
    assert r.status_code == 200, r.text
    found = {b["asset"]: b["balance"] for b in r.json()["balances"]}
    return {a: found.get(a, 0) for a in ("points", "growth", "cash")}
