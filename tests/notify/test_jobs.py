"""Scheduled notification jobs: reminders before points expire and birthday/anniversary gifts
each send (and pay) once, however often they run."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.clock import FixedClock
from jifen.jobs.runner import run_job
from tests.conftest import api_program
from tests.webhooks.helpers import credit, debit, notifications

Sessions = async_sessionmaker[AsyncSession]
SH = ZoneInfo("Asia/Shanghai")


def sh(y: int, m: int, d: int, h: int = 12, minute: int = 0) -> str:
    return datetime(y, m, d, h, minute, tzinfo=SH).isoformat()


async def _of_type(client: httpx.AsyncClient, h: dict[str, str], m: str, t: str) -> list[str]:
    return [n["text"] for n in reversed(await notifications(client, h, m)) if n["type"] == t]


async def _points(client: httpx.AsyncClient, h: dict[str, str], m: str) -> int:
    r = await client.get(f"/v1/members/{m}/balances", headers=h)
    assert r.status_code == 200, r.text
    return next(int(b["balance"]) for b in r.json()["balances"] if b["asset"] == "points")


async def test_expiry_reminders_once_per_member_and_local_day(
    client: httpx.AsyncClient, clock: FixedClock, sessionmaker: Sessions
) -> None:
    pid, h = await api_program(client)
    r = await client.put("/v1/notification-settings", json={"reminder_days": 30}, headers=h)
    assert r.status_code == 200, r.text
    r = await client.put("/v1/members/en1", json={"locale": "en"}, headers=h)
    assert r.status_code == 201, r.text
    await credit(client, h, "m1", 100, expires_at=sh(2026, 3, 20, 10))
    # 00:30 on the 20th in Shanghai is still the 19th in UTC: the same local day as the above.
    await credit(client, h, "m1", 30, expires_at=sh(2026, 3, 20, 0, 30))
    await credit(client, h, "m1", 70, expires_at=sh(2026, 3, 25))
    await credit(client, h, "m1", 40, expires_at=sh(2026, 5, 1))  # beyond 30 days
    await credit(client, h, "m1", 5)  # never expires
    await debit(client, h, "m1", 20)  # taken from the soonest-expiring lot: 30 → 10
    await credit(client, h, "en1", 10, expires_at=sh(2026, 3, 10))

    for _ in range(2):
        await run_job("reminders", sessionmaker, clock, program_id=pid)
    assert await _of_type(client, h, "m1", "points.expiring") == [
        "您有110积分将于2026-03-20过期,请尽快使用",
        "您有70积分将于2026-03-25过期,请尽快使用",
    ]
    assert await _of_type(client, h, "en1", "points.expiring") == [
        "10 points will expire on 2026-03-10; use them soon"
    ]
    [first] = [n for n in await notifications(client, h, "en1") if n["type"] == "points.expiring"]
    assert first["data"]["expires_on"] == "2026-03-10"
    assert first["data"]["amount"] == 10

    clock.set(datetime(2026, 4, 5, 9, tzinfo=SH))  # 1 May is now within 30 days
    for _ in range(2):
        await run_job("reminders", sessionmaker, clock, program_id=pid)
    assert await _of_type(client, h, "m1", "points.expiring") == [
        "您有110积分将于2026-03-20过期,请尽快使用",
        "您有70积分将于2026-03-25过期,请尽快使用",
        "您有40积分将于2026-05-01过期,请尽快使用",
    ]

    # The longest window (a year ahead) works on both databases and finds nothing new.
    r = await client.put("/v1/notification-settings", json={"reminder_days": 366}, headers=h)
    assert r.json()["reminder_days"] == 366
    await run_job("reminders", sessionmaker, clock, program_id=pid)
    assert len(await _of_type(client, h, "m1", "points.expiring")) == 3

    r = await client.put("/v1/notification-settings", json={"reminders_enabled": False}, headers=h)
    assert r.status_code == 200
    await credit(client, h, "m2", 10, expires_at=sh(2026, 4, 10))
    await run_job("reminders", sessionmaker, clock, program_id=pid)
    assert await _of_type(client, h, "m2", "points.expiring") == []


async def test_birthday_and_anniversary_gifts_pay_once(
    client: httpx.AsyncClient, clock: FixedClock, sessionmaker: Sessions
) -> None:
    pid, h = await api_program(client)  # today is 2026-03-01 in Shanghai
    r = await client.get("/v1/notification-settings", headers=h)
    assert r.json() == {
        "reminders_enabled": True, "reminder_days": 30, "birthday_points": 0,
        "anniversary_points": 0, "updated_at": None,
    }  # fmt: skip
    for bad in ({"reminder_days": 0}, {"birthday_points": 1.5}, {"birthday_points": -1},
                {"gift": 1}):  # fmt: skip
        r = await client.put("/v1/notification-settings", json=bad, headers=h)
        assert r.status_code == 422, bad
    r = await client.put(
        "/v1/notification-settings",
        json={"birthday_points": 100, "anniversary_points": 50},
        headers=h,
    )
    assert r.status_code == 200, r.text
    members = {
        "bday": {"birthday": "1990-03-01"},
        "not-today": {"birthday": "1990-03-02"},
        # Joined at 01:00 on 1 March 2024 in Shanghai: still 29 February in UTC.
        "veteran": {"joined_at": sh(2024, 3, 1, 1), "locale": "en"},
        "newcomer": {"joined_at": sh(2026, 3, 1, 9)},
    }
    for m, body in members.items():
        r = await client.put(f"/v1/members/{m}", json=body, headers=h)
        assert r.status_code == 201, r.text

    for _ in range(2):
        await run_job("birthdays", sessionmaker, clock, program_id=pid)

    assert await _points(client, h, "bday") == 100
    assert await _points(client, h, "veteran") == 50
    assert await _of_type(client, h, "bday", "birthday.gift") == ["生日快乐!送您100积分"]
    assert await _of_type(client, h, "veteran", "anniversary.gift") == [
        "Happy 2-year anniversary! Here are 50 points"
    ]
    assert await _of_type(client, h, "bday", "points.credited") == ["您获得100积分,累计积分100"]
    for m in ("not-today", "newcomer"):
        assert await notifications(client, h, m) == []

    # The ledger key is birthday:{member}:{year}: a credit under it replays, never pays again.
    r = await client.post(
        "/v1/credits",
        json={"member": "bday", "amount": 100, "reason": "birthday gift",
              "reference": "birthday:2026"},
        headers={**h, "Idempotency-Key": "birthday:bday:2026"},
    )  # fmt: skip
    assert r.headers.get("Idempotent-Replayed") == "true", r.text
    assert await _points(client, h, "bday") == 100
