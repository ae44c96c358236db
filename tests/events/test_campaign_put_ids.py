"""Campaigns and budgets are named by their path; a body id must agree."""

from __future__ import annotations

import httpx

from tests.conftest import api_program


async def test_put_takes_the_id_from_the_path_and_refuses_a_different_body_id(
    client: httpx.AsyncClient,
) -> None:
    _, h = await api_program(client)
    r = await client.put("/v1/budgets/b1", json={"name": "B", "limit": 100}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == "b1"
    r = await client.put("/v1/budgets/b1", json={"id": "b2", "name": "B", "limit": 100}, headers=h)
    assert (r.status_code, r.json()["code"]) == (422, "id_mismatch")
    r = await client.put("/v1/budgets/B%20x", json={"name": "B", "limit": 100}, headers=h)
    assert r.status_code == 422
    body = {
        "name": "D11",
        "starts_at": "2026-11-11T00:00:00+08:00",
        "ends_at": "2026-11-12T00:00:00+08:00",
        "multiplier": "5",
        "budget": "b1",
    }
    r = await client.put("/v1/campaigns/d11", json=body, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == "d11"


async def test_review_ids_beyond_64_bits_are_refused_not_crashed(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    r = await client.post(
        "/v1/reviews/99999999999999999999999/approve", json={"reviewer": "a"}, headers=h
    )
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
