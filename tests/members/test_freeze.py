"""Freezing a member (风控): no spending and no earning until unfrozen; audited; the event
refused while frozen can be sent again afterwards under the same client id."""

from __future__ import annotations

import httpx

from jifen.clock import FixedClock
from tests.conftest import admin_headers, api_program
from tests.events.engine_api import save_rule, send, sh


async def test_frozen_member_neither_spends_nor_earns_until_unfrozen(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    pid, h = await api_program(client)
    await save_rule(
        client, h, id="post", name="发帖", trigger="content_published",
        effects=[{"amount": {"fixed": 5}}], effective_from=sh(2026, 1, 1).isoformat(),
    )  # fmt: skip
    r = await client.post(
        "/v1/credits", json={"member": "x", "amount": 50, "idempotency_key": "c"}, headers=h
    )
    assert r.status_code == 201
    r = await client.post(
        "/v1/members/x/freeze",
        json={"reason": "刷分嫌疑 suspected abuse", "operator": "risk"},
        headers=h,
    )
    assert r.status_code == 200
    assert r.json()["status"] == "frozen"
    r = await client.post(
        "/v1/debits", json={"member": "x", "amount": 10, "idempotency_key": "d"}, headers=h
    )
    assert (r.status_code, r.json()["code"]) == (422, "member_frozen")
    problem = await send(
        client, h, "post-1", "content_published", "x", sh(2026, 3, 1, 11), expect=422
    )
    assert problem["code"] == "member_frozen"
    r = await client.post("/v1/members/x/unfreeze", json={"reason": "cleared"}, headers=h)
    assert r.json()["status"] == "active"
    result = await send(client, h, "post-1", "content_published", "x", sh(2026, 3, 1, 11))
    assert [p["amount"] for p in result["postings"]] == [5]
    r = await client.get(f"/v1/programs/{pid}/audit", headers=admin_headers())
    actions = [e["action"] for e in r.json()]
    assert "member.freeze" in actions
    assert "member.unfreeze" in actions
