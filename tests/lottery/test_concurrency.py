"""64 concurrent draws on PostgreSQL against a prize with stock 3: exactly 3 won, stock 0,
every member charged exactly for the draws that happened."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from tests.conftest import api_program
from tests.lottery.helpers import assert_verified, balance, draw, fund, pool


async def test_64_concurrent_draws_stock_3(client: httpx.AsyncClient, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL")
    _, h = await api_program(client)
    members = [f"m{i}" for i in range(16)]
    for m in members:
        await fund(client, h, m, 175)  # enough for 3 draws at 50, not 4 (a win adds 10)
    prizes = [
        {"id": "gift", "name": "10 积分", "kind": "points", "points": 10, "weight": 1, "stock": 3},
        {"id": "thanks", "name": "谢谢参与", "kind": "nothing", "weight": 0},
    ]
    await pool(client, h, "hot", prizes)
    results = await asyncio.gather(*(draw(client, h, m, "hot") for m in members * 4))
    ok = [r.json() for r in results if r.status_code == 201]
    refused = [r for r in results if r.status_code != 201]
    assert len(ok) == 48
    assert {r.json()["code"] for r in refused} == {"insufficient_points"}
    assert len(refused) == 16
    winners = Counter(d["member"] for d in ok if d["won"])
    assert sum(winners.values()) == 3
    assert sorted(d["sequence"] for d in ok) == list(range(1, 49))
    state = (await client.get("/v1/lottery/pools/hot", headers=h)).json()
    assert {p["id"]: (p["stock"], p["won"]) for p in state["prizes"]}["gift"] == (0, 3)
    made = Counter(d["member"] for d in ok)
    assert set(made.values()) == {3}
    for m in members:
        assert await balance(client, h, m) == 175 - 50 * made[m] + 10 * winners[m]
    await assert_verified(client, h)
