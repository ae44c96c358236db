"""Group commit: concurrent single writes share transactions, yet each request gets its own
outcome, refusals stay per request, and idempotency holds across the shared batch."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import api_program


async def test_concurrent_single_credits_share_batches_with_own_outcomes(
    client: httpx.AsyncClient,
) -> None:
    _, h = await api_program(client)
    combiner = client._transport.app.state.db.combiner  # type: ignore[attr-defined]
    before = combiner.batches

    async def credit(i: int) -> httpx.Response:
        return await client.post(
            "/v1/credits",
            json={"member": f"m{i % 8}", "amount": i + 1, "idempotency_key": f"c{i}"},
            headers=h,
        )

    responses = await asyncio.gather(*(credit(i) for i in range(64)))
    assert [r.status_code for r in responses] == [201] * 64
    assert [r.json()["amount"] for r in responses] == [i + 1 for i in range(64)]
    assert len({r.json()["id"] for r in responses}) == 64
    # Fewer transactions than requests: they were combined.
    assert combiner.batches - before < 64
    assert combiner.largest > 1
    # Each member holds exactly its own credits.
    for m in range(8):
        r = await client.get(f"/v1/members/m{m}/balances", headers=h)
        points = {b["asset"]: b["balance"] for b in r.json()["balances"]}["points"]
        assert points == sum(i + 1 for i in range(64) if i % 8 == m)
    r = await client.get("/v1/ledger/verify", headers=h)
    assert r.json()["ok"] is True


async def test_refusals_and_replays_stay_per_request_in_a_shared_batch(
    client: httpx.AsyncClient,
) -> None:
    _, h = await api_program(client)
    r = await client.post(
        "/v1/credits", json={"member": "rich", "amount": 100, "idempotency_key": "seed"}, headers=h
    )
    assert r.status_code == 201

    async def debit(member: str, amount: int, key: str) -> httpx.Response:
        return await client.post(
            "/v1/debits",
            json={"member": member, "amount": amount, "idempotency_key": key},
            headers=h,
        )

    responses = await asyncio.gather(
        debit("rich", 30, "a"),
        debit("rich", 30, "a"),  # the same request twice: applied once
        debit("nobody", 5, "b"),  # unknown member: refused alone
        debit("rich", 500, "c"),  # too much: refused alone
        debit("rich", 30, "d"),
    )
    codes = [r.status_code for r in responses]
    assert codes == [201, 201, 404, 422, 201]
    assert responses[0].json()["id"] == responses[1].json()["id"]
    assert responses[3].json()["code"] == "insufficient_points"
    r = await client.get("/v1/members/rich/balances", headers=h)
    assert {b["asset"]: b["balance"] for b in r.json()["balances"]}["points"] == 40
    # A different request under a used key is still a conflict.
    r = await debit("rich", 31, "a")
    assert r.status_code == 409


async def test_concurrent_single_events_share_batches_with_own_results(
    client: httpx.AsyncClient,
) -> None:
    _, h = await api_program(client)
    r = await client.post(
        "/v1/rules",
        json={
            "id": "post",
            "name": "发帖 5",
            "trigger": "content_published",
            "effects": [{"amount": {"fixed": 5}}],
            "limits": [{"window": "day", "max_count": 2}],
            "effective_from": "2026-01-01T00:00:00+08:00",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    combiner = client._transport.app.state.db.combiner  # type: ignore[attr-defined]
    before = combiner.batches

    async def event(i: int, member: str) -> httpx.Response:
        body = {
            "client_id": f"e{i}",
            "type": "content_published",
            "member": member,
            "occurred_at": "2026-03-01T03:00:00Z",
        }
        return await client.post("/v1/events", json=body, headers=h)

    # Three events for one member (its daily limit is 2), one replay, one for each of 20 others.
    responses = await asyncio.gather(
        event(0, "busy"), event(1, "busy"), event(2, "busy"), event(0, "busy"),
        *(event(10 + i, f"m{i}") for i in range(20)),
    )  # fmt: skip
    assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses]
    busy = [r.json() for r in responses[:4]]
    paid = [sum(p["amount"] for p in b["postings"]) for b in busy[:3]]
    assert sorted(paid) == [0, 5, 5]  # the limit held across the shared batch
    assert busy[3]["client_id"] == "e0"
    assert busy[3]["status"] == "duplicate"
    assert all(sum(p["amount"] for p in r.json()["postings"]) == 5 for r in responses[4:])
    assert combiner.batches - before < len(responses)
    r = await client.get("/v1/members/busy/balances", headers=h)
    assert {b["asset"]: b["balance"] for b in r.json()["balances"]}["points"] == 10
