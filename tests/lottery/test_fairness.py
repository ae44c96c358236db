"""Provable fairness: the seed committed before a period reproduces every draw after it, and the
selection follows the configured weights (chi-square over 100,000 draws)."""

from __future__ import annotations

import secrets
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.clock import FixedClock
from jifen.jobs.runner import run_job
from jifen.lottery import fairness
from tests.conftest import api_program
from tests.lottery.helpers import draw, fund, pool

# Chi-square critical values at p = 0.001 by degrees of freedom (standard table).
CHI2_CRITICAL_P001 = {1: 10.828, 2: 13.816, 3: 16.266, 4: 18.467, 5: 20.515, 6: 22.458}


def _chi_square(observed: list[int], weights: list[int]) -> float:
    n = sum(observed)
    total = sum(weights)
    return sum(
        (o - n * w / total) ** 2 / (n * w / total) for o, w in zip(observed, weights, strict=True)
    )


def test_100k_draws_follow_the_weights() -> None:
    weights = [500, 300, 150, 45, 5]
    seed = secrets.token_hex(32)
    counts = [0] * len(weights)
    for sequence in range(1, 100_001):
        number = fairness.random_below(seed, "pool", "2026-03-01", sequence, sum(weights))
        counts[fairness.select(weights, number)] += 1
    statistic = _chi_square(counts, weights)
    assert statistic < CHI2_CRITICAL_P001[len(weights) - 1], (counts, statistic)
    # The test can fail: a selection that ignores the weights is far off.
    flat = [sum(counts) // len(weights)] * len(weights)
    assert _chi_square(flat, weights) > CHI2_CRITICAL_P001[len(weights) - 1]


def test_selection_edges_and_rejection_sampling() -> None:
    assert [fairness.select([2, 0, 3], n) for n in range(5)] == [0, 0, 2, 2, 2]
    with pytest.raises(ValueError, match="total"):
        fairness.select([1, 1], 2)
    seed = "00" * 32
    # Same inputs, same number; another sequence, another message.
    a = fairness.random_below(seed, "p", "2026-03-01", 1, 10**9)
    assert a == fairness.random_below(seed, "p", "2026-03-01", 1, 10**9)
    assert 0 <= a < 10**9
    # A total that leaves almost half of the 256-bit space above the last multiple rejects about
    # half of the values; the result is still reproducible and in range.
    big = (1 << 255) + 1
    values = [fairness.random_below(seed, "p", "d", s, big) for s in range(1, 50)]
    assert all(0 <= v < big for v in values)
    assert values == [fairness.random_below(seed, "p", "d", s, big) for s in range(1, 50)]


async def test_recompute_every_draw_after_the_period(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    prizes = [
        {
            "id": "big",
            "name": "100 积分",
            "kind": "points",
            "points": 100,
            "weight": 10,
            "stock": 2,
        },
        {"id": "small", "name": "5 积分", "kind": "points", "points": 5, "weight": 30},
        {"id": "mug", "name": "马克杯", "kind": "item", "weight": 20, "stock": 3},
        {"id": "thanks", "name": "谢谢参与", "kind": "nothing", "weight": 40},
    ]
    await pool(client, h, "fair", prizes, cost_points=10, consolation_prize="small")
    published = (await client.get("/v1/lottery/fair/commitments", headers=h)).json()
    today = {c["period"]: c for c in published}["2026-03-01"]
    assert today["seed"] is None
    assert len(today["commitment"]) == 64
    assert {c["period"] for c in published} == {"2026-03-01", "2026-03-02"}

    for m in range(4):
        await fund(client, h, f"u{m}", 1000)
    won = []
    for i in range(16):
        r = await draw(client, h, f"u{i % 4}", "fair")
        assert r.status_code == 201, r.text
        won.append(r.json()["prize"]["id"] if r.json()["prize"] else None)
    # Every draw wins something (consolation), and stock caps the big prize and the mug.
    assert None not in won
    assert "thanks" not in won
    assert won.count("big") <= 2
    assert won.count("mug") <= 3

    hidden = (await client.get("/v1/lottery/fair/periods/2026-03-01/draws", headers=h)).json()
    assert hidden["seed"] is None
    assert hidden["revealed"] is False
    assert len(hidden["draws"]) == 16

    clock.set(clock.now().replace(hour=16))  # the period ends at midnight in Shanghai
    listing = (await client.get("/v1/lottery/fair/periods/2026-03-01/draws", headers=h)).json()
    assert listing["revealed"] is True
    seed = listing["seed"]
    assert fairness.commitment(seed) == today["commitment"] == listing["commitment"]
    draws = listing["draws"]
    assert [d["sequence"] for d in draws] == list(range(1, 17))
    assert fairness.recompute(seed, "fair", "2026-03-01", draws) == [d["prize_id"] for d in draws]
    assert [d["prize_id"] for d in draws] == won
    assert fairness.verify(listing) is True
    # Claiming another prize for a draw, another number, or another seed is caught.
    other = "mug" if draws[0]["prize_id"] != "mug" else "big"
    assert fairness.verify({**listing, "draws": [{**draws[0], "prize_id": other}]}) is False
    shifted = str((int(draws[0]["number"]) + 1) % 100)
    assert fairness.verify({**listing, "draws": [{**draws[0], "number": shifted}]}) is False
    assert fairness.verify({**listing, "seed": secrets.token_hex(32)}) is False
    revealed = (await client.get("/v1/lottery/fair/commitments", headers=h)).json()
    assert {c["period"]: c["seed"] for c in revealed}["2026-03-01"] == seed
    assert {c["period"]: c["seed"] for c in revealed}["2026-03-02"] is None

    clock.advance(timedelta(days=1))
    bad = await client.get("/v1/lottery/fair/periods/2026-02-30/draws", headers=h)
    assert bad.status_code == 422
    none = await client.get("/v1/lottery/fair/periods/2025-01-01/draws", headers=h)
    assert none.status_code == 404
    assert none.json()["code"] == "lottery_period_not_found"


async def test_lottery_job_publishes_commitments_ahead(
    client: httpx.AsyncClient,
    clock: FixedClock,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    pid, h = await api_program(client)
    thanks = {"id": "thanks", "name": "谢谢参与", "kind": "nothing", "weight": 1}
    await pool(client, h, "p", [thanks])
    await pool(client, h, "shut", [thanks], active=False)
    clock.advance(timedelta(days=5))
    # Today's and tomorrow's seeds for the active pool only, once.
    assert [r.count for r in await run_job("lottery", sessionmaker, clock, program_id=pid)] == [2]
    assert [r.count for r in await run_job("lottery", sessionmaker, clock, program_id=pid)] == [0]
    listed = (await client.get("/v1/lottery/p/commitments", headers=h)).json()
    assert [c["period"] for c in listed] == [
        "2026-03-07", "2026-03-06", "2026-03-02", "2026-03-01",
    ]  # fmt: skip
    assert [c["seed"] is None for c in listed] == [True, True, False, False]
