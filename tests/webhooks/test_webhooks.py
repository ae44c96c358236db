"""Webhooks end to end: a real receiver on 127.0.0.1, signed deliveries, retries with back-off,
dead letters and replay by hand, the delivery log, subscriptions and deletion."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.clock import FixedClock
from jifen.webhooks import signing
from jifen.webhooks.dispatcher import run_until_idle
from tests.conftest import api_program
from tests.webhooks.helpers import credit, key, notifications, webhook
from tests.webhooks.receiver import Receiver

Sessions = async_sessionmaker[AsyncSession]


async def test_receiver_failing_three_times_gets_the_message_on_the_fourth_try(
    client: httpx.AsyncClient, clock: FixedClock, sessionmaker: Sessions
) -> None:
    _, h = await api_program(client)
    await credit(client, h, "m1", 1150)
    await run_until_idle(sessionmaker, clock)  # no webhook yet: this message goes nowhere
    async with Receiver(fail_first=3) as rx:
        hook = await webhook(client, h, rx.url, ["points.*"])
        assert hook["secret"].startswith("whsec_")
        await credit(client, h, "m1", 50, reason="purchase")
        await run_until_idle(sessionmaker, clock)
        assert [r.status for r in rx.requests] == [500]
        # Retries wait 10 s, 30 s, 2 min (each stretched by up to 10 %): nothing is due before.
        for wait in (11, 33, 132):
            clock.advance(timedelta(seconds=wait * 0.85))
            await run_until_idle(sessionmaker, clock)
            assert len(rx.requests) == 1 + (11, 33, 132).index(wait), "retried too early"
            clock.advance(timedelta(seconds=wait * 0.15 + 1))
            await run_until_idle(sessionmaker, clock)
        assert [r.status for r in rx.requests] == [500, 500, 500, 200]
        # Every delivery was tried; the ones that failed before are now through.
        newest = (await notifications(client, h, "m1"))[0]
        tries = [r for r in rx.requests if r.message_id == newest["id"]]
        assert [r.status for r in tries] == [500, 500, 500, 200]
        last = tries[-1]
        assert signing.verify(
            hook["secret"],
            last.body,
            last.headers["jifen-signature"],
            now=clock.now().timestamp(),
        )
        assert not signing.verify("whsec_wrong", last.body, last.headers["jifen-signature"],
                                  now=clock.now().timestamp())  # fmt: skip
        assert not signing.verify(hook["secret"], last.body + b" ", last.headers["jifen-signature"],
                                  now=clock.now().timestamp())  # fmt: skip
        # A signature too old to trust is refused (replayed captures).
        assert not signing.verify(hook["secret"], last.body, last.headers["jifen-signature"],
                                  now=clock.now().timestamp() + 301)  # fmt: skip
        body = last.json
        assert body["id"] == newest["id"]
        assert body["type"] == "points.credited"
        assert body["member"] == "m1"
        assert body["text"] == "您本次消费获50积分,累计积分1200"
        assert body["data"]["amount"] == 50
        assert body["data"]["balance"] == 1200
        assert last.headers["jifen-event"] == "points.credited"
        assert last.headers["jifen-attempt"] == "4"
        # All tries carry the same message id and the same body.
        assert {r.body for r in tries} == {last.body}

    r = await client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=h)
    assert r.status_code == 200, r.text
    log = {d["message_id"]: d for d in r.json()["items"]}
    d = log[newest["id"]]
    assert (d["status"], d["attempts"], d["last_status_code"]) == ("delivered", 4, 200)
    assert [(a["attempt"], a["status_code"], a["ok"]) for a in d["log"]] == [
        (1, 500, False), (2, 500, False), (3, 500, False), (4, 200, True),
    ]  # fmt: skip
    assert [a["error"] for a in d["log"]] == ["HTTP 500"] * 3 + [None]
    assert all(a["latency_ms"] >= 0 for a in d["log"])
    assert d["delivered_at"] is not None
    assert d["next_attempt_at"] is None


async def test_dead_letter_then_replay_by_hand(
    client: httpx.AsyncClient, clock: FixedClock, sessionmaker: Sessions
) -> None:
    _, h = await api_program(client)
    async with Receiver(always_fail=True) as rx:
        hook = await webhook(client, h, rx.url, ["*"], max_attempts=3)
        await credit(client, h, "m1", 30)
        await run_until_idle(sessionmaker, clock)
        for _ in range(3):
            clock.advance(timedelta(minutes=3))
            await run_until_idle(sessionmaker, clock)
        assert [r.status for r in rx.requests] == [500, 500, 500]  # max_attempts, then it stops

        r = await client.get("/v1/webhooks/dead-letters", headers=h)
        assert r.status_code == 200, r.text
        [dead] = r.json()["items"]
        assert (dead["status"], dead["attempts"], dead["failures"]) == ("dead", 3, 3)
        assert dead["endpoint_id"] == hook["id"]
        assert dead["dead_at"] is not None
        assert dead["last_error"] == "HTTP 500"

        rx.always_fail = False  # the receiver is fixed
        replay_key = key()
        r = await client.post(
            f"/v1/webhooks/deliveries/{dead['id']}/replay", headers={**h, **replay_key}
        )
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "pending"
        again = await client.post(
            f"/v1/webhooks/deliveries/{dead['id']}/replay", headers={**h, **replay_key}
        )
        assert again.status_code == 202
        assert again.headers["Idempotent-Replayed"] == "true"
        no_key = await client.post(f"/v1/webhooks/deliveries/{dead['id']}/replay", headers=h)
        assert no_key.status_code == 400
        assert no_key.json()["code"] == "idempotency_key_required"
        pending = await client.post(
            f"/v1/webhooks/deliveries/{dead['id']}/replay", headers={**h, **key()}
        )
        assert pending.status_code == 409
        assert pending.json()["code"] == "delivery_pending"

        await run_until_idle(sessionmaker, clock)
        assert [r.status for r in rx.requests] == [500, 500, 500, 200]
        last = rx.requests[-1]
        assert last.message_id == dead["message_id"]
        assert signing.verify(hook["secret"], last.body, last.headers["jifen-signature"],
                              now=clock.now().timestamp())  # fmt: skip
        assert last.headers["jifen-attempt"] == "4"

    r = await client.get("/v1/webhooks/dead-letters", headers=h)
    assert r.json()["items"] == []
    r = await client.get(f"/v1/webhooks/{hook['id']}/deliveries?status=delivered", headers=h)
    [d] = r.json()["items"]
    assert [a["ok"] for a in d["log"]] == [False, False, False, True]
    missing = await client.post(
        "/v1/webhooks/deliveries/01890000-0000-7000-8000-000000000000/replay",
        headers={**h, **key()},
    )
    assert missing.status_code == 404
    assert missing.json()["code"] == "delivery_not_found"


async def test_subscriptions_listing_and_deletion(
    client: httpx.AsyncClient, clock: FixedClock, sessionmaker: Sessions
) -> None:
    pid, h = await api_program(client)
    async with Receiver() as coupons_rx, Receiver() as points_rx:
        coupons = await webhook(client, h, coupons_rx.url, ["coupon.*"])
        points = await webhook(client, h, points_rx.url, ["points.credited"], description="CRM")
        r = await client.get("/v1/webhooks", headers=h)
        listed = r.json()
        assert [w["id"] for w in listed] == [coupons["id"], points["id"]]
        assert all("secret" not in w for w in listed)
        assert listed[1]["events"] == ["points.credited"]
        assert listed[1]["description"] == "CRM"

        await credit(client, h, "m1", 10)
        await credit(client, h, "m1", 5, asset="growth")  # growth.credited: nobody subscribed
        await run_until_idle(sessionmaker, clock)
        assert coupons_rx.requests == []
        assert [r.json["type"] for r in points_rx.requests] == ["points.credited"]
        assert points_rx.requests[0].json["program"] == pid

        r = await client.delete(f"/v1/webhooks/{points['id']}", headers=h)
        assert r.status_code == 204
        r = await client.delete(f"/v1/webhooks/{points['id']}", headers=h)
        assert r.status_code == 404
        assert r.json()["code"] == "webhook_not_found"
        await credit(client, h, "m1", 10)
        await run_until_idle(sessionmaker, clock)
        assert len(points_rx.requests) == 1  # deleted: nothing more
        r = await client.get("/v1/webhooks", headers=h)
        assert [w["id"] for w in r.json()] == [coupons["id"]]

    bad = await client.post(
        "/v1/webhooks", json={"url": "ftp://x", "events": ["*"]}, headers={**h, **key()}
    )
    assert bad.status_code == 422
    bad = await client.post(
        "/v1/webhooks", json={"url": "http://x.test/", "events": ["Points!"]},
        headers={**h, **key()},
    )  # fmt: skip
    assert bad.status_code == 422
    _other, h2 = await api_program(client)
    r = await client.get(f"/v1/webhooks/{coupons['id']}", headers=h2)
    assert r.status_code == 404  # another program's webhook does not exist for this one
    r = await client.get(f"/v1/webhooks/{coupons['id']}/deliveries", headers=h2)
    assert r.status_code == 404


async def test_unreachable_receiver_is_a_logged_failure_with_a_retry(
    client: httpx.AsyncClient, clock: FixedClock, sessionmaker: Sessions
) -> None:
    _, h = await api_program(client)
    async with Receiver() as rx:
        url = rx.url
    hook = await webhook(client, h, url, ["*"])  # nothing listens there any more
    await credit(client, h, "m1", 10)
    await run_until_idle(sessionmaker, clock)
    r = await client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=h)
    [d] = r.json()["items"]
    assert (d["status"], d["attempts"], d["failures"], d["last_status_code"]) == (
        "pending", 1, 1, None,
    )  # fmt: skip
    assert d["last_error"].startswith("ConnectError")
    assert d["log"][0]["status_code"] is None
    retry_at = datetime.fromisoformat(d["next_attempt_at"])
    assert timedelta(seconds=10) <= retry_at - clock.now() <= timedelta(seconds=11)
