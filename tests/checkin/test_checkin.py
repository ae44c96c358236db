"""Daily check-in through the HTTP API with a clock walking through days and months: the
earning engine pays it, streaks agree with the engine's, make-ups cost points within a monthly
limit, and nothing is paid twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from jifen.clock import FixedClock
from tests.checkin.helpers import (
    badge,
    balance,
    calendar,
    check_in,
    day_statuses,
    joined,
    make_up,
    member_token,
    save_rule,
    settings,
    sh,
)
from tests.conftest import api_program
from tests.events.engine_api import Headers, assert_verified


async def _community_rules(client: httpx.AsyncClient, h: Headers) -> None:
    """Worked example 3: check-in 2 points a day, 7 days in a row +20 (as rules)."""
    await save_rule(
        client, h, id="checkin", name="Check-in 2", trigger="check_in",
        effects=[{"amount": {"fixed": 2}}], limits=[{"window": "day", "max_count": 1}],
        effective_from="2026-01-01T00:00:00+08:00",
    )  # fmt: skip
    await save_rule(
        client, h, id="checkin-streak", name="7 days in a row +20", trigger="check_in",
        condition="counts.today == 1 && streak % 7 == 0", effects=[{"amount": {"fixed": 20}}],
        effective_from="2026-01-01T00:00:00+08:00",
    )  # fmt: skip


async def test_worked_example_3_streak_reset_makeup_and_monthly_limit(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await _community_rules(client, h)
    await settings(client, h, makeup_cost=5, makeup_monthly_limit=1)
    await joined(client, h, "amy", "2026-02-01T10:00:00+08:00")

    paid: list[int] = []
    for day in (1, 2, 3):
        clock.set(sh(2026, 3, day, 8))
        r = await check_in(client, h, "amy")
        assert (r["status"], r["day"], r["streak"]) == ("checked_in", f"2026-03-0{day}", day)
        paid.append(r["points"])
    assert paid == [2, 2, 2]
    # March 4 is missed: March 5 starts again at 1.
    clock.set(sh(2026, 3, 5, 9))
    r = await check_in(client, h, "amy")
    assert (r["streak"], r["points"], r["cumulative_days"]) == (1, 2, 4)
    cal = await calendar(client, h, "amy")
    assert cal["streak"] == 1
    assert day_statuses(cal)["2026-03-04"] == "missed"
    assert cal["makeups_left"] == 1
    # The make-up restores it: 5 points cost, the day's 2 points paid by the rules.
    r = await make_up(client, h, "amy", "2026-03-04")
    assert (r["status"], r["kind"], r["cost"], r["points"]) == ("made_up", "makeup", 5, 2)
    assert r["streak"] == 4  # the days in a row ending on March 4, as the engine saw it
    assert r["makeups_left"] == 0
    assert await balance(client, h, "amy") == 2 * 5 - 5
    cal = await calendar(client, h, "amy")
    assert (cal["streak"], cal["best_streak"], cal["makeups_left"]) == (5, 5, 0)
    assert day_statuses(cal)["2026-03-04"] == "made_up"
    # Re-sending the make-up pays and costs nothing more.
    again = await make_up(client, h, "amy", "2026-03-04", expect=200)
    assert again["status"] == "already_checked_in"
    assert again["cost_transaction_id"] == r["cost_transaction_id"]
    assert await balance(client, h, "amy") == 5
    # Days 6 and 7: the engine sees the restored streak and pays the 7th day +20.
    clock.set(sh(2026, 3, 6, 9))
    assert (await check_in(client, h, "amy"))["streak"] == 6
    clock.set(sh(2026, 3, 7, 9))
    r = await check_in(client, h, "amy")
    assert (r["streak"], r["points"]) == (7, 22)
    assert sorted((p["rule_id"], p["amount"]) for p in r["postings"]) == [
        ("checkin", 2),
        ("checkin-streak", 20),
    ]
    # Re-sending today's check-in returns the first answer and pays nothing.
    again = await check_in(client, h, "amy", expect=200)
    assert again["status"] == "already_checked_in"
    assert again["postings"] == r["postings"]
    assert await balance(client, h, "amy") == 5 + 2 + 22
    # Miss March 8; the month's one make-up is used: refused, nothing debited.
    clock.set(sh(2026, 3, 9, 9))
    assert (await check_in(client, h, "amy"))["streak"] == 1
    refused = await make_up(client, h, "amy", "2026-03-08", expect=422)
    assert refused["code"] == "makeup_limit_reached"
    assert await balance(client, h, "amy") == 29 + 2
    cal = await calendar(client, h, "amy")
    assert (cal["streak"], cal["best_streak"], cal["cumulative_days"]) == (1, 7, 8)
    assert (cal["makeups_used"], cal["makeups_left"], cal["makeup_cost"]) == (1, 0, 5)
    # April: a new month, a new make-up allowance.
    clock.set(sh(2026, 4, 2, 9))
    await check_in(client, h, "amy")
    r = await make_up(client, h, "amy", "2026-04-01")
    assert (r["streak"], r["cost"]) == (1, 5)
    assert (await calendar(client, h, "amy"))["streak"] == 2
    await assert_verified(client, h)


async def test_streak_across_a_month_end_with_a_makeup(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    """Feb 25 → Mar 3 is 7 days in a row (2026 is not a leap year), March 1 made up."""
    _, h = await api_program(client)
    await _community_rules(client, h)
    await settings(client, h, makeup_cost=3, makeup_monthly_limit=2)
    await joined(client, h, "bo", "2026-01-05T10:00:00+08:00")
    for day in (25, 26, 27, 28):
        clock.set(sh(2026, 2, day, 20))
        await check_in(client, h, "bo")
    clock.set(sh(2026, 3, 2, 7))
    assert (await check_in(client, h, "bo"))["streak"] == 1
    # Days of an earlier month cannot be made up.
    r = await make_up(client, h, "bo", "2026-02-24", expect=422)
    assert r["code"] == "makeup_outside_month"
    r = await make_up(client, h, "bo", "2026-03-02", expect=200)  # already checked in
    assert r["status"] == "already_checked_in"
    r = await make_up(client, h, "bo", "2026-03-05", expect=422)
    assert r["code"] == "makeup_not_past"
    r = await make_up(client, h, "bo", "2026-03-01")
    assert r["streak"] == 5  # Feb 25 .. Mar 1
    clock.set(sh(2026, 3, 3, 7))
    r = await check_in(client, h, "bo")
    assert (r["streak"], r["points"]) == (7, 22)
    feb = await calendar(client, h, "bo", "2026-02")
    assert [d for d, s in day_statuses(feb).items() if s == "checked"] == [
        "2026-02-25", "2026-02-26", "2026-02-27", "2026-02-28",
    ]  # fmt: skip
    assert feb["makeups_left"] == 0  # only the current month can be made up
    mar = await calendar(client, h, "bo", "2026-03")
    assert list(day_statuses(mar).values())[:4] == ["made_up", "checked", "checked", "future"]
    assert (mar["streak"], mar["cumulative_days"], mar["makeups_left"]) == (7, 7, 1)
    assert await balance(client, h, "bo") == 6 * 2 + 22 - 3


async def test_local_days_in_shanghai(client: httpx.AsyncClient, clock: FixedClock) -> None:
    """23:59 and 00:01 Asia/Shanghai are different days (15:59 and 16:01 UTC)."""
    _, h = await api_program(client)
    await _community_rules(client, h)
    clock.set(sh(2026, 3, 10, 23, 59))
    first = await check_in(client, h, "cy")
    clock.advance(timedelta(minutes=2))
    second = await check_in(client, h, "cy")
    assert (first["day"], second["day"]) == ("2026-03-10", "2026-03-11")
    assert (first["streak"], second["streak"]) == (1, 2)
    # 00:01 and 23:59 of one day are the same day.
    clock.set(sh(2026, 3, 11, 23, 59))
    assert (await check_in(client, h, "cy", expect=200))["status"] == "already_checked_in"
    assert await balance(client, h, "cy") == 4


async def test_member_endpoints_and_idempotency_key(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await _community_rules(client, h)
    await settings(client, h, makeup_cost=1, makeup_monthly_limit=3)
    await joined(client, h, "dee", "2026-02-01T10:00:00+08:00")
    clock.set(sh(2026, 3, 3, 9))
    me = await member_token(client, h, "dee")
    r = await client.post("/v1/me/check-ins", headers={**me, "Idempotency-Key": "k1"})
    assert r.status_code == 201, r.text
    replay = await client.post("/v1/me/check-ins", headers={**me, "Idempotency-Key": "k1"})
    assert replay.status_code == 201
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == r.json()
    r = await client.post("/v1/me/check-ins/makeups", json={"day": "2026-03-02"}, headers=me)
    assert r.status_code == 201, r.text
    assert (r.json()["streak"], r.json()["makeups_left"]) == (1, 2)
    r = await client.get("/v1/me/check-ins", params={"month": "2026-03"}, headers=me)
    assert r.status_code == 200, r.text
    cal = r.json()
    assert (cal["member"], cal["streak"], cal["checked_in_today"]) == ("dee", 2, True)
    assert day_statuses(cal)["2026-03-01"] == "missed"
    assert (cal["makeups_used"], cal["makeups_left"]) == (1, 2)
    # The API key cannot be used on /v1/me, a member token not on /v1/members.
    assert (await client.get("/v1/me/check-ins", headers=h)).status_code == 401
    r = await client.get("/v1/members/dee/check-ins", params={"month": "2026-13"}, headers=h)
    assert r.status_code == 422
    assert await balance(client, h, "dee") == 2 + 2 - 1


async def test_makeup_refusals(client: httpx.AsyncClient, clock: FixedClock) -> None:
    _, h = await api_program(client)
    await joined(client, h, "eve", "2026-03-03T10:00:00+08:00")
    clock.set(sh(2026, 3, 10, 9))
    r = await make_up(client, h, "eve", "2026-03-05", expect=422)
    assert r["code"] == "makeup_not_enabled"
    await settings(client, h, makeup_cost=50, makeup_monthly_limit=2)
    r = await make_up(client, h, "eve", "2026-03-02", expect=422)
    assert r["code"] == "makeup_before_joined"
    r = await make_up(client, h, "eve", "2026-03-05", expect=422)
    assert r["code"] == "insufficient_points"
    cal = await calendar(client, h, "eve")
    assert (cal["makeups_used"], cal["cumulative_days"]) == (0, 0)
    r = await make_up(client, h, "nobody", "2026-03-05", expect=404)
    assert r["code"] == "member_not_found"
    # The ends of the calendar are refusals, never errors.
    assert (await make_up(client, h, "eve", "9999-12-31", expect=422))["code"] == "makeup_not_past"
    r = await make_up(client, h, "eve", "0001-01-01", expect=422)
    assert r["code"] == "makeup_outside_month"
    r = await client.get("/v1/members/eve/check-ins", params={"month": "9999-12"}, headers=h)
    assert r.status_code == 422


async def test_gift_packs_points_coupon_and_badge(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await badge(client, h, "streak-gift", "三天连签礼", kind="manual")
    r = await client.put(
        "/v1/coupon-templates/ck-5",
        json={"name": "5 元", "kind": "no_threshold", "discount_fen": 500, "valid_days": 7},
        headers=h,
    )
    assert r.status_code == 200, r.text
    r = await client.put(
        "/v1/check-in/settings",
        json={"gift_packs": [{"streak": 2, "coupon_template_id": "no-such"}]},
        headers=h,
    )
    assert r.status_code == 422
    assert r.json()["code"] == "coupon_template_not_found"
    r = await client.put(
        "/v1/check-in/settings",
        json={"gift_packs": [{"streak": 3, "name": "3-day pack", "badge_id": "nope"}]},
        headers=h,
    )
    assert r.status_code == 422
    assert r.json()["code"] == "badge_not_found"
    await settings(
        client, h,
        gift_packs=[{"streak": 3, "repeat": True, "name": "3-day pack", "amount": 15,
                     "badge_id": "streak-gift"},
                    {"streak": 2, "name": "coupon", "coupon_template_id": "ck-5"}],
    )  # fmt: skip
    got = []
    coupons = []
    for day in range(1, 7):
        clock.set(sh(2026, 3, day, 9))
        out = await check_in(client, h, "fay")
        got.append((out["points"], [g["name"] for g in out["gifts"]], out["badges"]))
        coupons += [g["coupon"] for g in out["gifts"] if g["coupon"]]
    assert got == [
        (0, [], []),
        (0, ["coupon"], []),
        (15, ["3-day pack"], ["streak-gift"]),
        (0, [], []),
        (0, [], []),
        (15, ["3-day pack"], []),  # the badge is awarded once
    ]
    assert await balance(client, h, "fay") == 30
    assert [(c["template_id"], c["status"]) for c in coupons] == [("ck-5", "available")]
    r = await client.get("/v1/members/fay/coupons", headers=h)
    assert [c["code"] for c in r.json()] == [coupons[0]["code"]]
    r = await client.get("/v1/members/fay/badges", headers=h)
    assert [b["badge_id"] for b in r.json()["earned"]] == ["streak-gift"]
    r = await client.get("/v1/check-in/settings", headers=h)
    assert r.json()["gift_packs"][0]["amount"] == 15


async def test_concurrent_check_ins_pay_once(
    client: httpx.AsyncClient, clock: FixedClock, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL")
    _, h = await api_program(client)
    await _community_rules(client, h)
    await settings(client, h, makeup_cost=1, makeup_monthly_limit=5)
    await joined(client, h, "gus", "2026-02-01T10:00:00+08:00")
    clock.set(sh(2026, 3, 4, 9))
    await check_in(client, h, "gus")  # 2 points to pay make-ups with
    clock.set(sh(2026, 3, 5, 9))
    calls = [client.post("/v1/members/gus/check-ins", headers=h) for _ in range(4)] + [
        client.post("/v1/members/gus/check-ins/makeups", json={"day": "2026-03-03"}, headers=h)
        for _ in range(4)
    ]
    answers = await asyncio.gather(*calls)
    codes = sorted(r.status_code for r in answers)
    assert codes == [200, 200, 200, 200, 200, 200, 201, 201], [r.text for r in answers]
    assert await balance(client, h, "gus") == 2 + 2 + 2 - 1
    cal = await calendar(client, h, "gus")
    assert (cal["streak"], cal["cumulative_days"], cal["makeups_used"]) == (3, 3, 1)
    await assert_verified(client, h)
