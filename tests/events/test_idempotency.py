"""An event's client id is its idempotency key: replays answer the first result and pay nothing;
a different event under a used id is a conflict; a batch answers every event, in order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from jifen.clock import FixedClock
from tests.conftest import api_program
from tests.events.engine_api import (
    Headers,
    assert_verified,
    balance,
    event_body,
    paid,
    save_rule,
    send,
    send_batch,
)


async def _rules(client: httpx.AsyncClient, h: Headers) -> None:
    await save_rule(
        client, h, id="checkin", name="签到 10", trigger="check_in",
        effects=[{"amount": {"fixed": 10}}], limits=[{"window": "day", "max_count": 1}],
    )  # fmt: skip
    await save_rule(
        client, h, id="msg", name="发言 1, 每天 5", trigger="message_posted",
        effects=[{"amount": {"fixed": 1}}], limits=[{"window": "day", "max_amount": 5}],
    )  # fmt: skip
    await save_rule(
        client, h, id="buy", name="1 元 1 积分 + 1 分成长值", trigger="purchase",
        effects=[
            {"amount": {"per_unit": {"attribute": "amount", "unit": 100}}},
            {"asset": "growth", "amount": {"per_unit": {"attribute": "amount", "unit": 100}}},
        ],
    )  # fmt: skip


async def test_same_client_id_is_answered_once_and_paid_once(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await _rules(client, h)
    t = clock.now()
    first = await send(client, h, "order-1", "purchase", "u", t, order_id="o-1", amount=12345)
    assert first["status"] == "processed"
    assert [(p["asset"], p["amount"]) for p in first["postings"]] == [
        ("points", 123),
        ("growth", 123),
    ]
    clock.advance(timedelta(minutes=3))
    again = await send(
        client, h, "order-1", "purchase", "u", t, expect=200, order_id="o-1", amount=12345
    )
    assert again["status"] == "duplicate"
    assert again["event_id"] == first["event_id"]
    assert again["postings"] == first["postings"]
    assert again["skipped"] == first["skipped"]
    assert await balance(client, h, "u") == 123
    assert await balance(client, h, "u", "growth") == 123

    conflict = await send(
        client, h, "order-1", "purchase", "u", t, expect=409, order_id="o-1", amount=99999
    )
    assert conflict["code"] == "idempotency_conflict"
    other_member = await send(
        client, h, "order-1", "purchase", "v", t, expect=409, order_id="o-1", amount=12345
    )
    assert other_member["code"] == "idempotency_conflict"
    in_batch = await send_batch(client, h, [event_body("order-1", "check_in", "u", t)])
    assert in_batch[0]["status"] == "refused"
    assert in_batch[0]["error"]["code"] == "idempotency_conflict"
    assert await balance(client, h, "u") == 123
    await assert_verified(client, h)


async def test_a_batch_of_1000_mixed_events_answers_each_in_order(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await _rules(client, h)
    t = clock.now()
    stored = await send(client, h, "pre-1", "check_in", "u7", t)
    assert paid(stored) == 10

    events: list[dict[str, Any]] = []
    expected: list[str] = []
    kinds = ("check_in", "message_posted", "purchase", "custom_thing")
    for i in range(1000):
        at = t + timedelta(milliseconds=i)
        slot = i % 100
        if slot == 50:  # the previous event again, in the same batch
            events.append(dict(events[-1]))
            expected.append("duplicate")
        elif slot == 60:  # the previous client id with other content
            events.append({**events[-1], "attributes": {"changed": i}})
            expected.append("refused:idempotency_conflict")
        elif slot == 70:  # an event stored by an earlier request
            events.append(event_body("pre-1", "check_in", "u7", t))
            expected.append("duplicate")
        elif slot == 80:  # an earlier request's client id with other content
            events.append(event_body("pre-1", "check_in", "u8", t))
            expected.append("refused:idempotency_conflict")
        elif slot == 90:
            events.append(event_body(f"e{i}", "check_in", "u1", t + timedelta(hours=1)))
            expected.append("refused:occurred_in_future")
        else:
            kind = kinds[i % 4]
            attrs = (
                {"order_id": f"o{i}", "amount": 100 * (i % 7) + 99} if kind == "purchase" else {}
            )
            events.append(event_body(f"e{i}", kind, f"u{i % 40}", at, **attrs))
            expected.append("processed")

    results = await send_batch(client, h, events)
    assert [r["client_id"] for r in results] == [e["client_id"] for e in events]
    got = [
        r["status"] if r["status"] != "refused" else f"refused:{r['error']['code']}"
        for r in results
    ]
    assert got == expected
    for i, r in enumerate(results):
        assert r["type"] == events[i]["type"]
        assert r["member"] == events[i]["member"]
        if expected[i] == "processed" and events[i]["type"] == "custom_thing":
            assert r["skipped"] == [{"rule_id": None, "reason": "no_rule", "detail": ""}]
        if i % 100 == 50:
            assert r["postings"] == results[i - 1]["postings"]
        if i % 100 == 70:
            assert r["postings"] == stored["postings"]

    processed = [r for r in results if r["status"] == "processed"]
    members = sorted({e["member"] for e in events} | {"u7"})
    points = sum([await balance(client, h, m) for m in members])
    assert points == 10 + sum(paid(r) for r in processed)
    growth = sum([await balance(client, h, m, "growth") for m in members])
    assert growth == sum(paid(r, "growth") for r in processed)
    # Daily limits held inside the batch: one check-in and 5 message points per member per day.
    for m in members:
        mine = [r for r in processed if r["member"] == m]
        assert sum(paid(r) for r in mine if r["type"] == "check_in") <= 10
        assert sum(paid(r) for r in mine if r["type"] == "message_posted") <= 5

    # The whole batch again pays nothing more.
    replay = await send_batch(client, h, events)
    for first, second in zip(results, replay, strict=True):
        if first["status"] == "refused":
            assert second["status"] == "refused"
        else:
            assert second["status"] == "duplicate"
            assert second["postings"] == first["postings"]
    assert sum([await balance(client, h, m) for m in members]) == points
    await assert_verified(client, h)
