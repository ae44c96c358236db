"""First end-to-end check of the earning engine through the API."""

from __future__ import annotations

from datetime import timedelta

import httpx

from jifen.clock import FixedClock
from tests.conftest import api_program


async def test_checkin_rule_pays_and_limits(client: httpx.AsyncClient, clock: FixedClock) -> None:
    _, h = await api_program(client)
    rule = {
        "id": "msg",
        "name": "1 point per message",
        "trigger": "message_posted",
        "effects": [{"amount": {"fixed": 1}}],
        "limits": [{"window": "day", "max_amount": 3}],
    }
    r = await client.post("/v1/rules", json=rule, headers=h)
    assert r.status_code == 201, r.text
    now = clock.now()
    for i in range(5):
        r = await client.post(
            "/v1/events",
            json={
                "client_id": f"m{i}",
                "type": "message_posted",
                "member": "u1",
                "occurred_at": (now + timedelta(minutes=i)).isoformat(),
            },
            headers=h,
        )
        assert r.status_code == 201, r.text
    body = r.json()
    assert body["postings"] == []
    assert body["skipped"][0]["reason"] == "limit_reached"
    bal = (await client.get("/v1/members/u1/balances", headers=h)).json()["balances"][0]["balance"]
    assert bal == 3
