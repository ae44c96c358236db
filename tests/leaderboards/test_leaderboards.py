"""Leaderboards through the HTTP API (worked example 3: 1 point per message up to 20 a day,
weekly top-5 speakers +100): the same ranks from the database and from Redis, ties by who got
there first, and top-N rewards paid exactly once when a period closes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import redis
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.api.app import create_app
from jifen.clock import FixedClock
from jifen.config import Settings
from jifen.jobs.runner import run_job
from tests.conftest import api_program
from tests.events.engine_api import (
    Headers,
    assert_verified,
    balance,
    event_body,
    save_rule,
    send,
    send_batch,
    set_member,
    sh,
)
from tests.tasks.api import member_token

REDIS_URL = "redis://127.0.0.1:6379/0"
WEEK = "2026-W10"  # Monday 2026-03-02 to Sunday 2026-03-08


def _redis_up() -> bool:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@pytest.fixture
async def redis_client(
    app_settings: Settings, clock: FixedClock
) -> AsyncIterator[httpx.AsyncClient]:
    """The same server and database as ``client``, with Redis configured."""
    if not _redis_up():
        pytest.skip("Redis is not available at 127.0.0.1:6379")
    app = create_app(app_settings.model_copy(update={"redis_url": REDIS_URL}), clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://jifen.test") as c:
        yield c
    await app.state.engine.dispose()


async def _drop_keys(program_id: str) -> int:
    """Remove this test's keys: every key of a program starts with ``jifen:lb:<program>:``."""
    async with Redis.from_url(REDIS_URL) as r:
        keys = [k async for k in r.scan_iter(match=f"jifen:lb:{program_id}:*")]
        if keys:
            await r.delete(*keys)
        return len(keys)


async def _boards(client: httpx.AsyncClient, h: Headers) -> None:
    # Example 3: 1 point per message, at most 20 a day.
    await save_rule(
        client, h, id="message", name="发言 1 分, 每天最多 20 分", trigger="message_posted",
        effects=[{"amount": {"fixed": 1}}], limits=[{"window": "day", "max_amount": 20}],
    )  # fmt: skip
    r = await client.put(
        "/v1/leaderboards/speakers",
        json={
            "name": "每周发言榜", "metric": "event_count", "event_type": "message_posted",
            "period": "week", "rewards": [{"from": 1, "to": 5, "reward": {"points": 100}}],
        },
        headers=h,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["rewards"] == [
        {"from": 1, "to": 5, "reward": {"points": 100, "growth": 0, "cash": 0,
                                        "coupon_template": None}},
    ]  # fmt: skip
    r = await client.put(
        "/v1/leaderboards/earners",
        json={"name": "每周积分榜", "metric": "points_earned", "period": "week"},
        headers=h,
    )
    assert r.status_code == 200, r.text


def _messages(member: str, start: datetime, n: int, step: timedelta) -> list[dict[str, Any]]:
    return [
        event_body(f"{member}-{start.isoformat()}-{i}", "message_posted", member, start + step * i)
        for i in range(n)
    ]


MINUTE = timedelta(minutes=1)


async def _first_half(client: httpx.AsyncClient, h: Headers) -> None:
    # "yan" joins before "xu": their equal scores, reached in the same second, rank yan first.
    await set_member(client, h, "yan")
    await set_member(client, h, "xu")
    events = (
        _messages("ada", sh(2026, 3, 2, 10), 30, MINUTE)  # 30 messages, 20 points (10:19)
        + _messages("eve", sh(2026, 3, 2, 9), 20, MINUTE)  # 20 messages, 20 points (09:19)
        + _messages("cai", sh(2026, 3, 2, 8), 12, MINUTE)
        + _messages("xu", sh(2026, 3, 2, 7), 2, MINUTE)
        + _messages("yan", sh(2026, 3, 2, 7), 2, MINUTE)
    )
    await send_batch(client, h, events)


async def _second_half(client: httpx.AsyncClient, h: Headers) -> None:
    events = (
        _messages("bo", sh(2026, 3, 3, 10), 25, MINUTE)  # 25 messages, 20 points
        + _messages("cai", sh(2026, 3, 3, 8), 12, MINUTE)  # 24 messages, 24 points
        + _messages("dan", sh(2026, 3, 4, 8), 20, MINUTE)  # 20 messages, like eve but later
        + _messages("fei", sh(2026, 3, 4, 9), 5, MINUTE)
    )
    await send_batch(client, h, events)


SPEAKERS = [
    ("ada", 30), ("bo", 25), ("cai", 24), ("eve", 20), ("dan", 20), ("fei", 5), ("yan", 2),
    ("xu", 2),
]  # fmt: skip
EARNERS = [
    ("cai", 24), ("eve", 20), ("ada", 20), ("bo", 20), ("dan", 20), ("fei", 5), ("yan", 2),
    ("xu", 2),
]  # fmt: skip


async def _board(
    client: httpx.AsyncClient, h: Headers, board: str, **params: Any
) -> dict[str, Any]:
    r = await client.get(f"/v1/leaderboards/{board}", params=params, headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _ranks(body: dict[str, Any]) -> list[tuple[int, str, int, str]]:
    return [(e["rank"], e["member"], e["score"], e["reached_at"]) for e in body["entries"]]


async def _member_ranks(
    client: httpx.AsyncClient, h: Headers, board: str, members: list[str]
) -> list[tuple[Any, ...]]:
    out = []
    for m in members:
        r = await client.get(
            f"/v1/leaderboards/{board}/members/{m}", params={"period": WEEK}, headers=h
        )
        assert r.status_code == 200, r.text
        body = r.json()
        out.append((m, body["rank"], body["score"], body["reached_at"]))
    return out


async def _same_both_ways(
    db_client: httpx.AsyncClient, redis_client: httpx.AsyncClient, h: Headers
) -> dict[str, list[tuple[int, str, int, str]]]:
    out = {}
    for board in ("speakers", "earners"):
        from_db = await _board(db_client, h, board, period=WEEK, limit=20)
        from_redis = await _board(redis_client, h, board, period=WEEK, limit=20)
        assert (from_db["source"], from_redis["source"]) == ("database", "redis")
        assert _ranks(from_redis) == _ranks(from_db)
        names = [e["member"] for e in from_db["entries"]]
        assert await _member_ranks(redis_client, h, board, names) == await _member_ranks(
            db_client, h, board, names
        )
        out[board] = _ranks(from_db)
    return out


async def test_ranks_are_the_same_from_redis_and_the_database_ties_by_who_got_there_first(
    client: httpx.AsyncClient, redis_client: httpx.AsyncClient, clock: FixedClock
) -> None:
    pid, h = await api_program(client)
    try:
        await _boards(client, h)
        clock.set(sh(2026, 3, 4, 20))
        await _first_half(client, h)
        half = await _same_both_ways(client, redis_client, h)
        assert [(m, s) for _, m, s, _ in half["speakers"]] == [
            ("ada", 30), ("eve", 20), ("cai", 12), ("yan", 2), ("xu", 2),
        ]  # fmt: skip
        # The rest arrives through the Redis-configured server; Redis catches up on read.
        await _second_half(redis_client, h)
        full = await _same_both_ways(client, redis_client, h)
        assert [(m, s) for _, m, s, _ in full["speakers"]] == SPEAKERS
        assert [(m, s) for _, m, s, _ in full["earners"]] == EARNERS
        assert [r for r, *_ in full["speakers"]] == list(range(1, 9))
        # Equal scores: who reached them first ranks higher (eve's 20th point came at 09:19 on
        # Monday, ada's at 10:19; later messages paid nothing and do not move reached_at).
        earners = {m: at for _, m, _, at in full["earners"]}
        assert earners["eve"].startswith("2026-03-02T01:19:00")
        assert earners["ada"].startswith("2026-03-02T02:19:00")
        # A member with no score has no rank; my own rank through a member token.
        me = await member_token(client, h, "dan")
        for c in (client, redis_client):
            r = await c.get("/v1/me/leaderboards/speakers", params={"period": WEEK}, headers=me)
            assert (r.json()["rank"], r.json()["score"]) == (5, 20)
            await set_member(c, h, "nobody")
            r = await c.get(
                "/v1/leaderboards/speakers/members/nobody", params={"period": WEEK}, headers=h
            )
            assert (r.json()["rank"], r.json()["score"]) == (None, 0)
        # The current period is the default; a malformed period is refused.
        current = await _board(redis_client, h, "speakers", limit=5)
        assert (current["period"], len(current["entries"])) == (WEEK, 5)
        bad = await client.get("/v1/leaderboards/speakers?period=2026-03", headers=h)
        assert (bad.status_code, bad.json()["code"]) == (422, "invalid_period")
    finally:
        assert await _drop_keys(pid) > 0


async def test_redis_rebuilds_a_lost_board_from_the_database(
    client: httpx.AsyncClient, redis_client: httpx.AsyncClient, clock: FixedClock
) -> None:
    pid, h = await api_program(client)
    try:
        await _boards(client, h)
        clock.set(sh(2026, 3, 4, 20))
        await _first_half(client, h)
        before = _ranks(await _board(redis_client, h, "speakers", period=WEEK))
        await _drop_keys(pid)  # Redis restarted empty
        after = _ranks(await _board(redis_client, h, "speakers", period=WEEK))
        assert after == before
    finally:
        await _drop_keys(pid)


async def _run(sessionmaker: async_sessionmaker[AsyncSession], clock: FixedClock, pid: str) -> int:
    results = await run_job("leaderboards", sessionmaker, clock, program_id=pid)
    return sum(r.count for r in results)


async def test_weekly_top5_speakers_get_100_once_when_the_week_closes(
    client: httpx.AsyncClient,
    clock: FixedClock,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    pid, h = await api_program(client)
    await _boards(client, h)
    clock.set(sh(2026, 3, 4, 20))
    await _first_half(client, h)
    await _second_half(client, h)
    points = {m: await balance(client, h, m) for m, _ in SPEAKERS}
    assert points == {
        "ada": 20, "bo": 20, "cai": 24, "eve": 20, "dan": 20, "fei": 5, "yan": 2, "xu": 2
    }  # fmt: skip
    # Nothing is paid while the week is open.
    clock.set(sh(2026, 3, 8, 23, 59))
    assert await _run(sessionmaker, clock, pid) == 0
    clock.set(sh(2026, 3, 9, 0, 1))
    assert await _run(sessionmaker, clock, pid) == 2  # speakers and earners, W10
    assert await _run(sessionmaker, clock, pid) == 0
    paid = {m: await balance(client, h, m) - points[m] for m, _ in SPEAKERS}
    assert paid == {"ada": 100, "bo": 100, "cai": 100, "eve": 100, "dan": 100, "fei": 0,
                    "yan": 0, "xu": 0}  # fmt: skip
    r = await client.get("/v1/leaderboards/speakers/payouts", params={"period": WEEK}, headers=h)
    payouts = r.json()
    assert [(p["rank"], p["member"], p["score"]) for p in payouts] == [
        (1, "ada", 30), (2, "bo", 25), (3, "cai", 24), (4, "eve", 20), (5, "dan", 20),
    ]  # fmt: skip
    assert [t["amount"] for p in payouts for t in p["paid"]["transactions"]] == [100] * 5
    r = await client.get("/v1/leaderboards/earners/payouts", headers=h)
    assert r.json() == []  # a board without rewards pays nothing
    # A late message of the closed week changes neither the board nor the payout.
    late = await send(client, h, "late-1", "message_posted", "fei", sh(2026, 3, 8, 22))
    assert late["status"] == "processed"
    board = await _board(client, h, "speakers", period=WEEK)
    assert board["settled"] is True
    assert [(m, s) for _, m, s, _ in _ranks(board)] == SPEAKERS  # fei still has 5
    assert await _run(sessionmaker, clock, pid) == 0
    await assert_verified(client, h)


async def test_two_concurrent_period_close_runs_pay_each_rank_once(
    client: httpx.AsyncClient,
    clock: FixedClock,
    sessionmaker: async_sessionmaker[AsyncSession],
    backend: str,
) -> None:
    if backend != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL")
    pid, h = await api_program(client)
    r = await client.put(
        "/v1/leaderboards/daily-talk",
        json={
            "name": "日发言榜", "metric": "event_count", "event_type": "message_posted",
            "period": "day", "rewards": [{"to": 1, "reward": {"points": 30}},
                                         {"from": 2, "to": 2, "reward": {"points": 10}}],
        },
        headers=h,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    clock.set(sh(2026, 3, 12, 20))
    events = []
    for day in range(2, 12):  # ten daily periods
        events += _messages("p1", sh(2026, 3, day, 9), 3, MINUTE)
        events += _messages("p2", sh(2026, 3, day, 10), 2, MINUTE)
        events += _messages("p3", sh(2026, 3, day, 11), 1, MINUTE)
    await send_batch(client, h, events)
    counts = await asyncio.gather(*(_run(sessionmaker, clock, pid) for _ in range(2)))
    assert sum(counts) == 10
    assert (await balance(client, h, "p1"), await balance(client, h, "p2")) == (300, 100)
    assert await balance(client, h, "p3") == 0
    r = await client.get("/v1/leaderboards/daily-talk/payouts", headers=h)
    assert len(r.json()) == 20
    assert await _run(sessionmaker, clock, pid) == 0
    await assert_verified(client, h)


async def test_board_definitions_are_validated_and_what_they_count_is_fixed(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    r = await client.put(
        "/v1/leaderboards/x", json={"name": "x", "metric": "event_count", "period": "week"},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 422
    r = await client.put(
        "/v1/leaderboards/x",
        json={"name": "x", "metric": "points_earned", "period": "week",
              "rewards": [{"to": 3, "reward": {"points": 1}},
                          {"from": 3, "to": 4, "reward": {"points": 1}}]},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 422
    body = {"name": "邀请榜", "metric": "event_count", "event_type": "invite_accepted",
            "period": "month"}  # fmt: skip
    assert (await client.put("/v1/leaderboards/invites", json=body, headers=h)).status_code == 200
    r = await client.put("/v1/leaderboards/invites", json={**body, "period": "week"}, headers=h)
    assert (r.status_code, r.json()["code"]) == (422, "leaderboard_immutable")
    r = await client.put("/v1/leaderboards/invites", json={**body, "name": "月邀请榜"}, headers=h)
    assert r.status_code == 200
    r = await client.get("/v1/leaderboards", headers=h)
    assert [(b["id"], b["name"]) for b in r.json()] == [("invites", "月邀请榜")]
    r = await client.get("/v1/leaderboards/invites/definition", headers=h)
    assert r.json()["period"] == "month"
    r = await client.get("/v1/leaderboards/nope", headers=h)
    assert (r.status_code, r.json()["code"]) == (404, "leaderboard_not_found")
    clock.set(sh(2026, 3, 20))
    await send(client, h, "i1", "invite_accepted", "gu", sh(2026, 3, 19), invitee="n1")
    board = await _board(client, h, "invites")
    assert board["period"] == "2026-03"
    assert _ranks(board)[0][:3] == (1, "gu", 1)
