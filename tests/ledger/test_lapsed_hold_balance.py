"""A hold past its time-out no longer counts as held in the balance, even before the job that
marks it lapsed has run."""

from __future__ import annotations

from datetime import timedelta

import httpx

from jifen.clock import FixedClock
from tests.conftest import api_program


async def test_balance_frees_a_timed_out_hold_before_the_job(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    r = await client.post(
        "/v1/credits", json={"member": "m", "amount": 100, "idempotency_key": "c"}, headers=h
    )
    assert r.status_code == 201
    r = await client.post(
        "/v1/holds",
        json={"member": "m", "amount": 40, "timeout_seconds": 60, "idempotency_key": "h"},
        headers=h,
    )
    assert r.status_code == 201

    async def points() -> dict[str, int]:
        r = await client.get("/v1/members/m/balances", headers=h)
        return next(b for b in r.json()["balances"] if b["asset"] == "points")

    assert await points() == {"asset": "points", "balance": 100, "held": 40, "available": 60}
    clock.advance(timedelta(seconds=61))
    assert await points() == {"asset": "points", "balance": 100, "held": 0, "available": 100}
