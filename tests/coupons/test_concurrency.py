"""Coupons under concurrency on PostgreSQL: quantity and per-member limits hold, and a coupon
is used by one order only."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.conftest import api_program
from tests.coupons.helpers import issue, issued, line, member, redeem, template


async def test_concurrent_issue_and_redeem(client: httpx.AsyncClient, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL")
    _, h = await api_program(client)
    for m in ("u0", "u1", "u2", "u3", "u4", "u5"):
        await member(client, h, m)
    await template(
        client, h, "few", kind="no_threshold", discount_fen=500, valid_days=5, total_quantity=4
    )
    await template(
        client, h, "two-each", kind="no_threshold", discount_fen=500, valid_days=5,
        per_member_limit=2,
    )  # fmt: skip
    results = await asyncio.gather(
        *(issue(client, h, f"u{i % 6}", "few") for i in range(12)),
        *(issue(client, h, "u0", "two-each") for _ in range(8)),
    )
    few = [r.status_code for r in results[:12]]
    each = [r.status_code for r in results[12:]]
    assert few.count(201) == 4
    assert {r.json()["code"] for r in results[:12] if r.status_code != 201} == {"coupon_sold_out"}
    assert each.count(201) == 2
    assert {r.json()["code"] for r in results[12:] if r.status_code != 201} == {
        "coupon_limit_reached"
    }
    t = (await client.get("/v1/coupon-templates/few", headers=h)).json()
    assert (t["issued"], t["remaining"]) == (4, 0)

    code = await issued(client, h, "u1", "two-each")
    cart = [line("p", "any", 1000)]
    orders = await asyncio.gather(*(redeem(client, h, "u1", code, f"o{i}", cart) for i in range(8)))
    assert sorted(r.status_code for r in orders) == [200] + [409] * 7
    winner = next(r.json()["order_id"] for r in orders if r.status_code == 200)
    mine = (await client.get("/v1/members/u1/coupons?status=used", headers=h)).json()
    assert [(c["code"], c["order_id"]) for c in mine] == [(code, winner)]
