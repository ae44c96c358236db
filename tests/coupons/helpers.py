"""HTTP helpers for the coupon tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

Headers = dict[str, str]


async def member(client: httpx.AsyncClient, h: Headers, external_id: str) -> None:
    r = await client.put(f"/v1/members/{external_id}", json={}, headers=h)
    assert r.status_code in (200, 201), r.text


async def template(
    client: httpx.AsyncClient, h: Headers, template_id: str, **definition: Any
) -> dict[str, Any]:
    body = {"name": template_id, **definition}
    r = await client.put(f"/v1/coupon-templates/{template_id}", json=body, headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def issue(
    client: httpx.AsyncClient, h: Headers, who: str, template_id: str, key: str | None = None
) -> httpx.Response:
    return await client.post(
        f"/v1/members/{who}/coupons",
        json={"template_id": template_id},
        headers={**h, "Idempotency-Key": key or uuid.uuid4().hex},
    )


async def issued(client: httpx.AsyncClient, h: Headers, who: str, template_id: str) -> str:
    r = await issue(client, h, who, template_id)
    assert r.status_code == 201, r.text
    return str(r.json()["code"])


def line(product: str, category: str, fen: int, quantity: int = 1) -> dict[str, Any]:
    return {"product_id": product, "category": category, "amount_fen": fen, "quantity": quantity}


async def validate(
    client: httpx.AsyncClient, h: Headers, who: str, code: str, lines: list[dict[str, Any]]
) -> httpx.Response:
    return await client.post(
        "/v1/coupons/validate", json={"member": who, "code": code, "lines": lines}, headers=h
    )


async def redeem(
    client: httpx.AsyncClient,
    h: Headers,
    who: str,
    code: str,
    order: str,
    lines: list[dict[str, Any]],
) -> httpx.Response:
    return await client.post(
        f"/v1/coupons/{code}/redeem",
        json={"member": who, "order_id": order, "lines": lines},
        headers=h,
    )


def problem(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return str(r.json()["code"])
