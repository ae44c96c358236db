"""What "today" is: the program's time zone decides days for limits and streaks; late events count
in the day they happened; too old and future events are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from jifen.clock import FixedClock
from tests.conftest import api_program
from tests.events.engine_api import (
    NEW_YORK,
    Headers,
    amounts,
    assert_verified,
    balance,
    event_body,
    paid,
    reasons,
    save_rule,
    send,
    send_batch,
    sh,
)

LONG_AGO = "2026-01-01T00:00:00+08:00"


async def _daily_and_streak_rules(client: httpx.AsyncClient, h: Headers) -> None:
    """One point per check-in, once a day; a bonus of 100 whenever the streak is 2 or more."""
    await save_rule(
        client, h, id="daily", name="签到", trigger="check_in", effective_from=LONG_AGO,
        effects=[{"amount": {"fixed": 1}}], limits=[{"window": "day", "max_count": 1}],
    )  # fmt: skip
    await save_rule(
        client, h, id="streak", name="连签", trigger="check_in", effective_from=LONG_AGO,
        condition="streak >= 2", effects=[{"amount": {"fixed": 100}}],
        limits=[{"window": "day", "max_count": 1}],
    )  # fmt: skip


def ny(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


async def test_2359_and_0001_in_shanghai_are_different_days(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await _daily_and_streak_rules(client, h)
    late, early, later = sh(2026, 3, 1, 23, 59), sh(2026, 3, 2, 0, 1), sh(2026, 3, 2, 0, 2)
    # Two minutes apart and on the same UTC day (15:59 and 16:01 UTC), two local days apart.
    assert late.astimezone(UTC).date() == early.astimezone(UTC).date()
    clock.set(sh(2026, 3, 2, 0, 5))
    r1 = await send(client, h, "a", "check_in", "u", late)
    r2 = await send(client, h, "b", "check_in", "u", early)
    r3 = await send(client, h, "c", "check_in", "u", later)
    assert amounts(r1) == [("daily", "points", 1)]
    assert reasons(r1) == [("streak", "condition_false")]
    assert amounts(r2) == [("daily", "points", 1), ("streak", "points", 100)]  # streak 2
    assert r3["postings"] == []
    assert sorted(reasons(r3)) == [("daily", "limit_reached"), ("streak", "limit_reached")]
    assert await balance(client, h, "u") == 102
    await assert_verified(client, h)


async def test_new_york_program_counts_days_by_local_date_across_dst(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client, {"timezone": "America/New_York"})
    await _daily_and_streak_rules(client, h)
    # Spring forward on Sunday 8 March 2026 (02:00 EST → 03:00 EDT): a 23-hour day.
    sat_night = ny(2026, 3, 7, 23, 30)  # 04:30 UTC on the 8th
    sun_early = ny(2026, 3, 8, 0, 30)  # 05:30 UTC
    sun_late = ny(2026, 3, 8, 23, 30)  # EDT: 03:30 UTC on the 9th
    mon_early = ny(2026, 3, 9, 0, 30)  # 04:30 UTC on the 9th
    assert sun_late.utcoffset() == timedelta(hours=-4)
    assert sat_night.utcoffset() == timedelta(hours=-5)
    clock.set(ny(2026, 3, 9, 1, 0))
    got = [
        await send(client, h, f"s{i}", "check_in", "u", at)
        for i, at in enumerate((sat_night, sun_early, sun_late, mon_early))
    ]
    assert [paid(r) for r in got] == [1, 101, 0, 101]
    assert reasons(got[2]) == [("daily", "limit_reached"), ("streak", "limit_reached")]
    # Fall back on Sunday 1 November 2026: a 25-hour day. 00:30 EDT and 23:30 EST are exactly
    # 24 hours apart in UTC, yet the same local day.
    nov_early = ny(2026, 11, 1, 0, 30)
    nov_late = ny(2026, 11, 1, 23, 30)
    assert nov_late.astimezone(UTC) - nov_early.astimezone(UTC) == timedelta(hours=24)
    clock.set(ny(2026, 11, 2, 0, 10))
    first = await send(client, h, "n1", "check_in", "v", nov_early)
    second = await send(client, h, "n2", "check_in", "v", nov_late)
    third = await send(client, h, "n3", "check_in", "v", ny(2026, 11, 2, 0, 5))
    assert paid(first) == 1
    assert paid(second) == 0
    assert reasons(second)[0] == ("daily", "limit_reached")
    assert paid(third) == 101  # 2 November: a new day, second in a row
    assert await balance(client, h, "u") == 203
    assert await balance(client, h, "v") == 102
    await assert_verified(client, h)


async def test_late_events_count_in_the_day_they_occurred(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await save_rule(
        client, h, id="msg", name="发言", trigger="message_posted", effective_from=LONG_AGO,
        effects=[{"amount": {"fixed": 1}}], limits=[{"window": "day", "max_count": 2}],
    )  # fmt: skip
    clock.set(sh(2026, 3, 10, 12))
    assert paid(await send(client, h, "today-1", "message_posted", "u", clock.now())) == 1
    # Five days late: that day's limit, not today's.
    old = [
        await send(client, h, f"old-{i}", "message_posted", "u", sh(2026, 3, 5, 9, i))
        for i in range(3)
    ]
    assert [paid(r) for r in old] == [1, 1, 0]
    assert reasons(old[2]) == [("msg", "limit_reached")]
    # Today still has room for one more.
    assert paid(await send(client, h, "today-2", "message_posted", "u", clock.now())) == 1
    assert paid(await send(client, h, "today-3", "message_posted", "u", clock.now())) == 0
    assert await balance(client, h, "u") == 4
    await assert_verified(client, h)


async def test_a_late_check_in_fills_the_gap_in_a_streak(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await _daily_and_streak_rules(client, h)
    clock.set(sh(2026, 3, 10, 20))
    assert paid(await send(client, h, "d8", "check_in", "u", sh(2026, 3, 8, 9))) == 1
    assert paid(await send(client, h, "d10", "check_in", "u", sh(2026, 3, 10, 9))) == 1  # gap
    # The 9th arrives late: on its own day it is the second in a row.
    assert paid(await send(client, h, "d9", "check_in", "u", sh(2026, 3, 9, 9))) == 101
    clock.set(sh(2026, 3, 11, 9))
    assert paid(await send(client, h, "d11", "check_in", "u", clock.now())) == 101
    # A batch out of order is evaluated in occurred_at order.
    clock.set(sh(2026, 3, 20, 9))
    events = [
        event_body("b15", "check_in", "w", sh(2026, 3, 15, 9)),
        event_body("b13", "check_in", "w", sh(2026, 3, 13, 9)),
        event_body("b14", "check_in", "w", sh(2026, 3, 14, 9)),
    ]
    assert [paid(r) for r in await send_batch(client, h, events)] == [101, 1, 101]
    await assert_verified(client, h)


async def test_events_older_than_the_limit_are_refused(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client, {"max_event_age_days": 7})
    await save_rule(
        client, h, id="msg", name="发言", trigger="message_posted", effective_from=LONG_AGO,
        effects=[{"amount": {"fixed": 1}}],
    )  # fmt: skip
    now = clock.now()
    ok = await send(
        client, h, "ok", "message_posted", "u", now - timedelta(days=7) + timedelta(minutes=1)
    )
    assert paid(ok) == 1
    old = await send(
        client, h, "old", "message_posted", "u", now - timedelta(days=7, minutes=1), expect=422
    )
    assert (old["code"], old["field"]) == ("event_too_old", "occurred_at")
    res = await send_batch(
        client,
        h,
        [
            event_body("b-old", "message_posted", "u", now - timedelta(days=8)),
            event_body("b-ok", "message_posted", "u", now),
        ],
    )
    assert (res[0]["status"], res[0]["error"]["code"]) == ("refused", "event_too_old")
    assert res[0]["postings"] == []
    assert (res[1]["status"], paid(res[1])) == ("processed", 1)
    assert await balance(client, h, "u") == 2
    await assert_verified(client, h)


async def test_future_events_are_refused(client: httpx.AsyncClient, clock: FixedClock) -> None:
    _, h = await api_program(client)
    await save_rule(
        client, h, id="msg", name="发言", trigger="message_posted",
        effects=[{"amount": {"fixed": 1}}],
    )  # fmt: skip
    now = clock.now()
    future = await send(
        client, h, "f", "message_posted", "u", now + timedelta(minutes=10), expect=422
    )
    assert (future["code"], future["field"]) == ("occurred_in_future", "occurred_at")
    # A little clock skew is tolerated.
    skew = await send(client, h, "skew", "message_posted", "u", now + timedelta(minutes=4))
    assert skew["status"] == "processed"
    res = await send_batch(
        client, h, [event_body("b-f", "message_posted", "u", now + timedelta(days=1))]
    )
    assert (res[0]["status"], res[0]["error"]["code"]) == ("refused", "occurred_in_future")
    # A refused event is not stored: the same client id is accepted once it is no longer early.
    clock.advance(timedelta(minutes=10))
    again = await send(client, h, "f", "message_posted", "u", now + timedelta(minutes=10))
    assert again["status"] == "processed"
    await assert_verified(client, h)


async def test_streaks_in_one_batch_read_history_and_the_batch_itself(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    """Streak history for a whole batch is read at once: each member's own earlier days count,
    another member's do not, and days earlier in the same batch count too."""
    _, h = await api_program(client)
    await _daily_and_streak_rules(client, h)
    clock.set(sh(2026, 3, 10, 12))
    # History: u checked in on the 5th and 6th, v only on the 3rd.
    await send_batch(
        client,
        h,
        [
            event_body("h1", "check_in", "u", sh(2026, 3, 5, 9)),
            event_body("h2", "check_in", "u", sh(2026, 3, 6, 9)),
            event_body("h3", "check_in", "v", sh(2026, 3, 3, 9)),
        ],
    )
    results = await send_batch(
        client,
        h,
        [
            event_body("b1", "check_in", "v", sh(2026, 3, 7, 9)),  # the 3rd is not the 6th
            event_body("b2", "check_in", "u", sh(2026, 3, 7, 9)),  # 5th, 6th, 7th: streak 3
            event_body("b3", "check_in", "v", sh(2026, 3, 8, 9)),  # 7th in this batch: 2
            event_body("b4", "check_in", "w", sh(2026, 3, 8, 9)),  # a new member: 1
        ],
    )
    assert [amounts(r) for r in results] == [
        [("daily", "points", 1)],
        [("daily", "points", 1), ("streak", "points", 100)],
        [("daily", "points", 1), ("streak", "points", 100)],
        [("daily", "points", 1)],
    ]
    assert await balance(client, h, "u") == 1 + 101 + 101
    await assert_verified(client, h)


async def test_counts_of_the_week_and_month_follow_local_days_and_late_events(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    # 5 points on the member's 3rd check-in of the ISO week; 7 on the 4th of the month.
    await save_rule(
        client, h, id="third-this-week", name="周第三次", trigger="check_in",
        effective_from=LONG_AGO, condition="counts.week == 3", effects=[{"amount": {"fixed": 5}}],
    )  # fmt: skip
    await save_rule(
        client, h, id="fourth-this-month", name="月第四次", trigger="check_in",
        effective_from=LONG_AGO, condition="counts.month == 4", effects=[{"amount": {"fixed": 7}}],
    )  # fmt: skip
    clock.set(sh(2026, 3, 12, 12))
    # Sunday 1 March, 23:59 in Shanghai, is the last minute of ISO week 9 (15:59 UTC, a
    # Sunday in UTC too); Monday 2 March, 00:01, opens week 10 (still Sunday 16:01 in UTC).
    week9 = await send(client, h, "w9", "check_in", "u", sh(2026, 3, 1, 23, 59))
    mon = await send(client, h, "mon", "check_in", "u", sh(2026, 3, 2, 0, 1))
    tue = await send(client, h, "tue", "check_in", "u", sh(2026, 3, 3, 9))
    assert paid(week9) == paid(mon) == paid(tue) == 0
    # A late event for Wednesday, sent after Thursday's: the 3rd and the 4th of the week both
    # see the count of the week they happened in, in the order they arrive.
    thu = await send(client, h, "thu", "check_in", "u", sh(2026, 3, 5, 9))
    wed = await send(client, h, "wed", "check_in", "u", sh(2026, 3, 4, 9))
    assert sorted(amounts(thu)) == [
        ("fourth-this-month", "points", 7),
        ("third-this-week", "points", 5),
    ]
    assert paid(wed) == 0  # the 4th of the week, the 5th of the month
    # The next week starts again at one.
    nxt = [await send(client, h, f"n{i}", "check_in", "u", sh(2026, 3, 9 + i, 9)) for i in range(3)]
    assert [paid(r) for r in nxt] == [0, 0, 5]
    assert await balance(client, h, "u") == 17
    await assert_verified(client, h)
