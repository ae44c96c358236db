"""64 members race for 10 units: exactly 10 orders, no oversell, nobody charged for a failure."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest

from jifen.catalog import service
from tests.catalog.api import item, key, orders, points, save_item, verified
from tests.conftest import api_program


@pytest.mark.parametrize("precheck", [True, False], ids=["precheck", "guarded-update-only"])
async def test_64_concurrent_redemptions_of_10_units(
    client: httpx.AsyncClient, backend: str, precheck: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises them)")
    if not precheck:
        # Without the read-time stock check every request reaches the debit and the guarded
        # UPDATE: that one statement alone must keep the stock from going below zero.
        original = service._check

        def no_stock_precheck(*args: Any, **kwargs: Any) -> Any:
            found = original(*args, **kwargs)
            return (
                service._Check(None, found.remaining_limit)
                if found.code == "out_of_stock"
                else found
            )

        monkeypatch.setattr(service, "_check", no_stock_precheck)
    _, h = await api_program(client)
    members = [f"m{i:02d}" for i in range(64)]
    r = await client.post(
        "/v1/credits/batch",
        json={"items": [{"member": m, "amount": 150, "idempotency_key": f"seed-{m}"}
                        for m in members]},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    await save_item(client, h, "hot", name="限量 10 件", price_points=100, stock=10)

    async def attempt(member: str) -> httpx.Response:
        return await client.post(
            f"/v1/members/{member}/redemptions", json={"item": "hot"}, headers={**h, **key()}
        )

    responses = await asyncio.gather(*(attempt(m) for m in members))
    outcome = Counter(
        (r.status_code, r.json().get("code") if r.status_code != 201 else None) for r in responses
    )
    assert outcome == {(201, None): 10, (422, "out_of_stock"): 54}
    assert (await item(client, h, "hot"))["stock"] == 0
    placed = await orders(client, h)
    assert len(placed) == 10
    winners = {o["member"] for o in placed}
    assert winners == {m for m, r in zip(members, responses, strict=True) if r.status_code == 201}
    for m in members:
        assert await points(client, h, m) == ((50, 50) if m in winners else (150, 150))
    await verified(client, h)
