"""The earning parts of the SPEC's five worked examples, with their real numbers, through the API.

Each test builds its own program, saves the rules an operator would write for the example, sends
the members' events and pins what every event paid (or why it paid nothing), the balances, and
that the ledger still verifies.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from jifen.clock import FixedClock
from tests.conftest import api_program
from tests.events.engine_api import (
    SHANGHAI,
    amounts,
    assert_verified,
    balance,
    balances,
    event_body,
    explain,
    paid,
    reasons,
    save_rule,
    send,
    send_batch,
    set_member,
    set_tier,
    sh,
)

DAY = timedelta(days=1)
NEWBIE_STEPS = '["avatar", "phone", "interests"]'


# --- Example 1: knowledge-payment mini-program --------------------------------------------------


def _invite_rule(cash_cap_per_month: int | None) -> dict[str, Any]:
    return {
        "id": "invite",
        "name": "邀请好友: 50 积分 + 5 元, 第 10 位再 +50 元",
        "trigger": "invite_accepted",
        "effects": [
            {"asset": "points", "amount": {"fixed": 50}},
            {"asset": "cash", "amount": {"fixed": 500}},
            {"asset": "cash", "amount": {"fixed": 5000}, "when": "milestone", "at": [10]},
        ],
        "limits": (
            [{"window": "month", "asset": "cash", "max_amount": cash_cap_per_month}]
            if cash_cap_per_month is not None
            else []
        ),
    }


async def test_example1_daily_checkin_pays_10_points_once_a_day(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await save_rule(
        client,
        h,
        id="checkin",
        name="每日签到 10 积分",
        trigger="check_in",
        effects=[{"amount": {"fixed": 10}}],
        limits=[{"window": "day", "max_count": 1}],
    )
    first = await send(client, h, "ci-1", "check_in", "reader", clock.now())
    assert amounts(first) == [("checkin", "points", 10)]
    assert first["postings"][0]["rule_version"] == 1
    clock.advance(timedelta(hours=11, minutes=59))  # 23:59, still 1 March in Shanghai
    again = await send(client, h, "ci-2", "check_in", "reader", clock.now())
    assert again["postings"] == []
    assert reasons(again) == [("checkin", "limit_reached")]
    clock.advance(DAY)
    nxt = await send(client, h, "ci-3", "check_in", "reader", clock.now())
    assert paid(nxt) == 10
    assert await balances(client, h, "reader") == {"points": 20}
    await assert_verified(client, h)


async def test_example1_ten_invites_pay_exactly_10000_fen_uncapped(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await save_rule(client, h, **_invite_rule(None))
    t0 = clock.now()
    events = [
        event_body(
            f"inv-{i}", "invite_accepted", "inviter", t0 + timedelta(seconds=i), invitee=f"f{i}"
        )
        for i in range(1, 11)
    ]
    results = await send_batch(client, h, events)
    for r in results[:9]:
        assert r["status"] == "processed"
        assert amounts(r) == [("invite", "points", 50), ("invite", "cash", 500)]
    assert amounts(results[9]) == [
        ("invite", "points", 50),
        ("invite", "cash", 500),
        ("invite", "cash", 5000),
    ]
    assert sum(paid(r, "cash") for r in results) == 10 * 500 + 5000 == 10_000
    assert await balances(client, h, "inviter") == {"points": 500, "cash": 10_000}
    # The milestone pays at the 10th only: the 11th invite is back to 5 yuan.
    r11 = await send(
        client, h, "inv-11", "invite_accepted", "inviter", t0 + timedelta(seconds=11), invitee="f11"
    )
    assert amounts(r11) == [("invite", "points", 50), ("invite", "cash", 500)]
    assert await balances(client, h, "inviter") == {"points": 550, "cash": 10_500}
    await assert_verified(client, h)


async def test_example1_invite_cash_is_capped_per_inviter_per_month(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await save_rule(client, h, **_invite_rule(8000))
    t0 = clock.now()
    results = []
    for i in range(1, 12):
        results.append(
            await send(
                client,
                h,
                f"inv-{i}",
                "invite_accepted",
                "inviter",
                t0 + timedelta(seconds=i),
                invitee=f"f{i}",
            )
        )
    for r in results[:9]:
        assert amounts(r) == [("invite", "points", 50), ("invite", "cash", 500)]
    # 9 × 500 = 4,500; the 10th pays 500 and its 5,000 milestone is cut to the 3,000 left.
    tenth = results[9]
    assert amounts(tenth) == [
        ("invite", "points", 50),
        ("invite", "cash", 500),
        ("invite", "cash", 3000),
    ]
    why = await explain(client, h, tenth["postings"][2]["transaction_id"])
    assert why["rule_id"] == "invite"
    assert why["explanation"]["computed"] == 5000
    assert why["explanation"]["amount"] == 3000
    assert why["explanation"]["limits"] == [{"window": "month", "max_amount": 8000, "cut_to": 3000}]
    # The 11th in the same month still earns its 50 points but no cash.
    eleventh = results[10]
    assert amounts(eleventh) == [("invite", "points", 50)]
    assert reasons(eleventh) == [("invite", "limit_reached")]
    assert await balances(client, h, "inviter") == {"points": 550, "cash": 8000}
    # Another inviter has a cap of their own.
    other = await send(
        client, h, "inv-o1", "invite_accepted", "other", t0 + timedelta(seconds=30), invitee="g1"
    )
    assert paid(other, "cash") == 500
    # Next month the cap starts again.
    clock.set(sh(2026, 4, 1, 9))
    april = await send(
        client, h, "inv-12", "invite_accepted", "inviter", clock.now(), invitee="f12"
    )
    assert amounts(april) == [("invite", "points", 50), ("invite", "cash", 500)]
    assert await balances(client, h, "inviter") == {"points": 600, "cash": 8500}
    await assert_verified(client, h)


# --- Example 2: app incentives -------------------------------------------------------------------


async def test_example2_newbie_steps_20_points_each_and_2_yuan_for_all_three(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    # The merchant sends one profile_completed per step with a client id per (member, step), so
    # a step reported twice is a replay; the 2-yuan envelope is a milestone at the 3rd step.
    _, h = await api_program(client)
    await save_rule(
        client,
        h,
        id="newbie",
        name="新手任务: 每步 20 积分, 全部完成 2 元红包",
        trigger="profile_completed",
        condition=f"event.attributes.step in {NEWBIE_STEPS}",
        effects=[
            {"amount": {"fixed": 20}},
            {"asset": "cash", "amount": {"fixed": 200}, "when": "milestone", "at": [3]},
        ],
        limits=[{"window": "lifetime", "max_count": 3}],
    )
    t = clock.now()
    clock.advance(timedelta(minutes=10))

    async def step(member: str, name: str, minutes: int, expect: int = 201) -> dict[str, Any]:
        return await send(
            client, h, f"newbie:{member}:{name}", "profile_completed", member,
            t + timedelta(minutes=minutes), expect=expect, step=name,
        )  # fmt: skip

    assert amounts(await step("u1", "avatar", 1)) == [("newbie", "points", 20)]
    assert amounts(await step("u1", "phone", 2)) == [("newbie", "points", 20)]
    replay = await step("u1", "avatar", 1, expect=200)
    assert replay["status"] == "duplicate"
    other = await send(
        client, h, "u1-nick", "profile_completed", "u1", t + timedelta(minutes=3), step="nickname"
    )
    assert other["postings"] == []
    assert reasons(other) == [("newbie", "condition_false")]
    last = await step("u1", "interests", 4)
    assert amounts(last) == [("newbie", "points", 20), ("newbie", "cash", 200)]
    assert await balances(client, h, "u1") == {"points": 60, "cash": 200}
    # Two steps only: no red envelope.
    await step("u2", "avatar", 5)
    await step("u2", "interests", 6)
    assert await balances(client, h, "u2") == {"points": 40}
    await assert_verified(client, h)


async def test_example2_seven_day_streak_doubles_that_days_checkin_across_month_end(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await save_rule(
        client, h, id="checkin", name="签到 10 积分", trigger="check_in",
        effects=[{"amount": {"fixed": 10}}], limits=[{"window": "day", "max_count": 1}],
    )  # fmt: skip
    await save_rule(
        client, h, id="checkin-streak7", name="连续 7 天签到当天翻倍", trigger="check_in",
        condition="streak > 0 && streak % 7 == 0",
        effects=[{"amount": {"fixed": 10}}], limits=[{"window": "day", "max_count": 1}],
    )  # fmt: skip
    clock.set(sh(2026, 3, 27, 9))  # a Friday; day 7 is 2 April
    paid_by_day: dict[str, int] = {}

    async def check_in(tag: str = "") -> dict[str, Any]:
        day = clock.now().astimezone(SHANGHAI).date().isoformat()
        r = await send(client, h, f"ci-{day}{tag}", "check_in", "u1", clock.now())
        paid_by_day[day + tag] = paid(r)
        return r

    for _ in range(6):
        r = await check_in()
        assert amounts(r) == [("checkin", "points", 10)]
        assert reasons(r) == [("checkin-streak7", "condition_false")]
        clock.advance(DAY)
    seventh = await check_in()
    assert clock.now().astimezone(SHANGHAI).date().isoformat() == "2026-04-02"
    assert amounts(seventh) == [("checkin", "points", 10), ("checkin-streak7", "points", 10)]
    twice = await check_in("-again")
    assert twice["postings"] == []
    assert sorted(reasons(twice)) == [
        ("checkin", "limit_reached"),
        ("checkin-streak7", "limit_reached"),
    ]
    clock.advance(DAY)
    assert paid(await check_in()) == 10  # day 8: no bonus
    clock.advance(2 * DAY)  # 4 April missed: the streak starts again on the 5th
    for _ in range(6):
        assert paid(await check_in()) == 10
        clock.advance(DAY)
    assert paid(await check_in()) == 20  # 11 April, 7 days in a row again
    assert paid_by_day["2026-04-02"] == 20
    assert paid_by_day["2026-04-11"] == 20
    assert sum(paid_by_day.values()) == 15 * 10 + 2 * 10
    assert await balance(client, h, "u1") == 170
    await assert_verified(client, h)


# --- Example 3: community group ------------------------------------------------------------------


async def test_example3_checkin_2_points_and_7_in_a_row_plus_20(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await save_rule(
        client, h, id="checkin", name="签到 2 积分", trigger="check_in",
        effects=[{"amount": {"fixed": 2}}], limits=[{"window": "day", "max_count": 1}],
    )  # fmt: skip
    await save_rule(
        client, h, id="streak7", name="连续 7 天 +20", trigger="check_in",
        condition="streak > 0 && streak % 7 == 0",
        effects=[{"amount": {"fixed": 20}}], limits=[{"window": "day", "max_count": 1}],
    )  # fmt: skip
    got = []
    for day in range(8):
        got.append(paid(await send(client, h, f"ci-{day}", "check_in", "m", clock.now())))
        clock.advance(DAY)
    assert got == [2, 2, 2, 2, 2, 2, 22, 2]
    assert await balance(client, h, "m") == 36
    await assert_verified(client, h)


async def test_example3_first_checkin_with_screenshot_within_3_days_is_reviewed_plus_10(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await save_rule(
        client, h, id="welcome-checkin", name="入群 3 天内首次签到截图 +10", trigger="check_in",
        condition="member.days_since_joined <= 3 && has(event.attributes.screenshot_url)",
        effects=[{"amount": {"fixed": 10}, "when": "first"}], review=True,
    )  # fmt: skip
    await set_member(client, h, "newbie", joined_at=(clock.now() - 2 * DAY).isoformat())
    await set_member(client, h, "oldie", joined_at=(clock.now() - 10 * DAY).isoformat())
    r = await send(
        client, h, "c1", "check_in", "newbie", clock.now(), screenshot_url="https://img/1.png"
    )
    assert r["postings"] == []
    assert [(x["rule_id"], x["amount"]) for x in r["reviews"]] == [("welcome-checkin", 10)]
    no_shot = await send(client, h, "c0", "check_in", "newbie", clock.now() + timedelta(seconds=1))
    assert reasons(no_shot) == [("welcome-checkin", "condition_false")]
    late = await send(
        client, h, "c2", "check_in", "oldie", clock.now(), screenshot_url="https://img/2.png"
    )
    assert late["reviews"] == []
    assert reasons(late) == [("welcome-checkin", "condition_false")]
    review_id = r["reviews"][0]["id"]
    ok = await client.post(f"/v1/reviews/{review_id}/approve", json={"reviewer": "ops"}, headers=h)
    assert ok.status_code == 200, ok.text
    assert await balance(client, h, "newbie") == 10
    await assert_verified(client, h)


async def test_example3_invite_ladder_and_a_leaving_friend_takes_its_points_back(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await save_rule(
        client, h, id="invite-ladder", name="邀请: 1-3 位 10, 4-5 位 15, 6 位起 20",
        trigger="invite_accepted",
        effects=[{"amount": {"ladder": [
            {"from": 1, "to": 3, "amount": 10},
            {"from": 4, "to": 5, "amount": 15},
            {"from": 6, "amount": 20},
        ]}}],
    )  # fmt: skip
    t0 = clock.now()
    results = [
        await send(
            client,
            h,
            f"inv-{i}",
            "invite_accepted",
            "host",
            t0 + timedelta(seconds=i),
            invitee=f"f{i}",
        )
        for i in range(1, 8)
    ]
    assert [paid(r) for r in results] == [10, 10, 10, 15, 15, 20, 20]
    assert await balance(client, h, "host") == 100
    why = await explain(client, h, results[3]["postings"][0]["transaction_id"])
    assert why["explanation"]["base"] == {"ladder_n": 4, "window": "lifetime", "amount": 15}

    # Friend 4 leaves the group: that invite's 15 points come back at once.
    left = await send(client, h, "left-f4", "member_left", "f4", t0 + timedelta(seconds=20))
    assert left["status"] == "processed"
    assert [(x["asset"], x["amount"], x["reverses"]) for x in left["reversals"]] == [
        ("points", 15, results[3]["postings"][0]["transaction_id"])
    ]
    assert await balance(client, h, "host") == 85
    # Leaving twice takes nothing more; someone nobody invited leaving takes nothing.
    again = await send(client, h, "left-f4-again", "member_left", "f4", t0 + timedelta(seconds=21))
    assert again["reversals"] == []
    stranger = await send(
        client, h, "left-x", "member_left", "stranger", t0 + timedelta(seconds=22)
    )
    assert stranger["reversals"] == []
    assert await balance(client, h, "host") == 85
    await assert_verified(client, h)


async def test_example3_one_point_per_message_up_to_20_a_day(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await save_rule(
        client, h, id="msg", name="发言 1 积分, 每天最多 20", trigger="message_posted",
        effects=[{"amount": {"fixed": 1}}], limits=[{"window": "day", "max_amount": 20}],
    )  # fmt: skip
    t0 = sh(2026, 3, 1, 23, 0)
    clock.set(sh(2026, 3, 1, 23, 30))
    events = [
        event_body(f"msg-{i}", "message_posted", "talker", t0 + timedelta(minutes=i))
        for i in range(21)
    ]
    results = await send_batch(client, h, events)
    assert [paid(r) for r in results] == [1] * 20 + [0]
    assert reasons(results[20]) == [("msg", "limit_reached")]
    assert await balance(client, h, "talker") == 20
    # The next local day (00:00:30 in Shanghai, still 1 March in UTC) pays again.
    clock.set(sh(2026, 3, 2, 0, 1))
    nxt = await send(
        client,
        h,
        "msg-next-day",
        "message_posted",
        "talker",
        sh(2026, 3, 2, 0, 0) + timedelta(seconds=30),
    )
    assert amounts(nxt) == [("msg", "points", 1)]
    assert await balance(client, h, "talker") == 21
    await assert_verified(client, h)


async def test_example3_reviewed_share_and_order_showcase_pay_once_on_approval(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await save_rule(
        client, h, id="share-task", name="分享任务截图 +30 (审核)", trigger="share",
        condition="has(event.attributes.screenshot_url)",
        effects=[{"amount": {"fixed": 30}}], review=True,
    )  # fmt: skip
    await save_rule(
        client, h, id="showcase", name="晒单 +50 (审核)", trigger="order_showcase",
        effects=[{"amount": {"fixed": 50}}], review=True,
    )  # fmt: skip
    t = clock.now()
    share = await send(client, h, "sh-1", "share", "m1", t, screenshot_url="https://img/s.png")
    show1 = await send(client, h, "so-1", "order_showcase", "m1", t, order_id="o-1")
    show2 = await send(client, h, "so-2", "order_showcase", "m2", t, order_id="o-2")
    for r, rule, amount in (
        (share, "share-task", 30),
        (show1, "showcase", 50),
        (show2, "showcase", 50),
    ):
        assert r["postings"] == []
        assert [(x["rule_id"], x["asset"], x["amount"]) for x in r["reviews"]] == [
            (rule, "points", amount)
        ]
    pending = (await client.get("/v1/reviews", headers=h)).json()
    assert [(p["member"], p["event"], p["rule_id"], p["amount"], p["status"]) for p in pending] == [
        ("m1", "sh-1", "share-task", 30, "pending"),
        ("m1", "so-1", "showcase", 50, "pending"),
        ("m2", "so-2", "showcase", 50, "pending"),
    ]
    assert await balance(client, h, "m1") == 0

    show1_id = show1["reviews"][0]["id"]
    ok = await client.post(f"/v1/reviews/{show1_id}/approve", json={"reviewer": "ops-a"}, headers=h)
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "approved"
    assert ok.json()["transaction_id"]
    assert await balance(client, h, "m1") == 50
    twice = await client.post(
        f"/v1/reviews/{show1_id}/approve", json={"reviewer": "ops-b"}, headers=h
    )
    assert twice.status_code == 409
    assert twice.json()["code"] == "review_decided"
    assert await balance(client, h, "m1") == 50

    show2_id = show2["reviews"][0]["id"]
    no = await client.post(
        f"/v1/reviews/{show2_id}/reject", json={"reviewer": "ops-a", "reason": "blurry"}, headers=h
    )
    assert no.status_code == 200, no.text
    assert (no.json()["status"], no.json()["transaction_id"]) == ("rejected", None)
    flip = await client.post(
        f"/v1/reviews/{show2_id}/approve", json={"reviewer": "ops-b"}, headers=h
    )
    assert flip.status_code == 409
    assert flip.json()["code"] == "review_decided"
    assert await balance(client, h, "m2") == 0

    share_id = share["reviews"][0]["id"]
    assert (
        await client.post(f"/v1/reviews/{share_id}/approve", json={"reviewer": "ops-a"}, headers=h)
    ).status_code == 200
    assert await balance(client, h, "m1") == 80
    why = await explain(client, h, ok.json()["transaction_id"])
    assert (why["rule_id"], why["rule_version"], why["amount"]) == ("showcase", 1, 50)
    assert why["explanation"]["review"] == show1_id
    assert why["explanation"]["reviewer"] == "ops-a"
    assert (await client.get("/v1/reviews", headers=h)).json() == []
    approved = (await client.get("/v1/reviews?status=approved", headers=h)).json()
    assert sorted(p["id"] for p in approved) == sorted([show1_id, share_id])
    # A replay of a reviewed event creates no second review.
    replay = await send(client, h, "so-1", "order_showcase", "m1", t, expect=200, order_id="o-1")
    assert replay["status"] == "duplicate"
    assert len((await client.get("/v1/reviews?status=approved", headers=h)).json()) == 2
    await assert_verified(client, h)


async def test_example3_first_reporter_of_a_violation_plus_20(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    # counts.subject counts events of this type about the same subject (violation_id) by any
    # member, this one included: only the first reporter sees 1.
    _, h = await api_program(client)
    await save_rule(
        client, h, id="first-reporter", name="首个举报违规 +20", trigger="report_violation",
        condition="counts.subject == 1", effects=[{"amount": {"fixed": 20}}],
    )  # fmt: skip
    t = clock.now()
    first = await send(client, h, "rv:v1:a", "report_violation", "a", t, violation_id="v1")
    second = await send(
        client, h, "rv:v1:b", "report_violation", "b", t + timedelta(seconds=5), violation_id="v1"
    )
    other = await send(
        client, h, "rv:v2:b", "report_violation", "b", t + timedelta(seconds=6), violation_id="v2"
    )
    again = await send(
        client, h, "rv:v2:a", "report_violation", "a", t + timedelta(seconds=7), violation_id="v2"
    )
    assert amounts(first) == [("first-reporter", "points", 20)]
    assert reasons(second) == [("first-reporter", "condition_false")]
    assert amounts(other) == [("first-reporter", "points", 20)]
    assert reasons(again) == [("first-reporter", "condition_false")]
    assert await balances(client, h, "a") == {"points": 20}
    assert await balance(client, h, "b") == 20
    await assert_verified(client, h)


# --- Example 4: growth system --------------------------------------------------------------------


async def test_example4_double_points_for_a_limited_time(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await save_rule(
        client, h, id="content", name="内容 10 积分", trigger="content_published",
        effects=[{"amount": {"fixed": 10}}],
    )  # fmt: skip
    campaign = {
        "id": "double",
        "name": "限时双倍积分",
        "starts_at": sh(2026, 3, 5, 0).isoformat(),
        "ends_at": sh(2026, 3, 8, 0).isoformat(),
        "multiplier": "2",
    }
    r = await client.put("/v1/campaigns/double", json=campaign, headers=h)
    assert r.status_code == 200, r.text
    clock.set(sh(2026, 3, 8, 0, 5))
    cases = [
        ("before", sh(2026, 3, 4, 23, 59), 10, None),
        ("start", sh(2026, 3, 5, 0, 0), 20, "double"),
        ("inside", sh(2026, 3, 6, 12, 0), 20, "double"),
        ("last-minute", sh(2026, 3, 7, 23, 59), 20, "double"),
        ("end", sh(2026, 3, 8, 0, 0), 10, None),
    ]
    for cid, at, amount, campaign_id in cases:
        res = await send(client, h, cid, "content_published", "writer", at)
        assert paid(res) == amount, cid
        assert res["postings"][0]["campaign_id"] == campaign_id, cid
    inside = await send(client, h, "inside-2", "content_published", "writer", sh(2026, 3, 6, 13))
    why = await explain(client, h, inside["postings"][0]["transaction_id"])
    assert why["campaign_id"] == "double"
    assert why["explanation"]["multipliers"]["campaign_multiplier"] == "2"
    assert why["explanation"]["multipliers"]["total"] == "2"
    assert await balance(client, h, "writer") == 10 + 20 + 20 + 20 + 10 + 20
    await assert_verified(client, h)


# --- Example 5: retail membership ----------------------------------------------------------------


async def test_example5_one_point_per_yuan_with_tier_multipliers_rounded_down(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await save_rule(
        client, h, id="purchase", name="消费 1 元 1 积分, 等级倍率", trigger="purchase",
        effects=[{"amount": {"per_unit": {"attribute": "amount", "unit": 100, "rate": "1"}}}],
        tier_multipliers={"normal": "1", "silver": "1.2", "gold": "1.5"},
    )  # fmt: skip
    for member, tier in (("n", "normal"), ("s", "silver"), ("g", "gold")):
        await set_tier(client, h, member, tier)
    t = clock.now()
    got = {}
    for member in ("n", "s", "g"):
        r = await send(
            client, h, f"o-{member}", "purchase", member, t, order_id=f"o-{member}", amount=9999
        )
        got[member] = paid(r)
    # 99.99 yuan: floor(99.99) / floor(119.988) / floor(149.985)
    assert got == {"n": 99, "s": 119, "g": 149}
    r = await send(client, h, "o-g2", "purchase", "g", t, order_id="o-g2", amount=10000)
    assert paid(r) == 150
    gold = await send(client, h, "o-g3", "purchase", "g", t, order_id="o-g3", amount="9999")
    why = await explain(client, h, gold["postings"][0]["transaction_id"])
    e = why["explanation"]
    assert e["base"] == {"attribute": "amount", "value": "9999", "unit": 100, "rate": "1"}
    assert e["multipliers"]["tier"] == "gold"
    assert e["multipliers"]["tier_multiplier"] == "1.5"
    assert (e["rounding"], e["computed"], e["amount"]) == ("down", 149, 149)
    # No tier at all: multiplier 1.
    assert paid(await send(client, h, "o-x", "purchase", "x", t, order_id="o-x", amount=9999)) == 99
    # A float amount is refused as an attribute (money is never a float).
    flt = await send(client, h, "o-f", "purchase", "x", t, order_id="o-f", amount=99.99)
    assert flt["postings"] == []
    assert reasons(flt) == [("purchase", "missing_attribute")]
    assert await balances(client, h, "g") == {"points": 149 + 150 + 149}
    await assert_verified(client, h)


async def test_example5_double_11_gold_x5_and_how_it_stacks_with_the_tier(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await save_rule(
        client, h, id="purchase", name="消费 1 元 1 积分", trigger="purchase",
        effects=[{"amount": {"per_unit": {"attribute": "amount", "unit": 100, "rate": "1"}}}],
        tier_multipliers={"silver": "1.2", "gold": "1.5"},
    )  # fmt: skip
    await set_tier(client, h, "g", "gold")
    await set_tier(client, h, "s", "silver")

    async def campaign(stacking: str) -> None:
        body = {
            "id": "d11",
            "name": "双 11 金卡 5 倍",
            "starts_at": sh(2026, 11, 11, 0).isoformat(),
            "ends_at": sh(2026, 11, 12, 0).isoformat(),
            "multiplier": "5",
            "audience": {"tiers": ["gold"]},
            "stacking": stacking,
        }
        r = await client.put("/v1/campaigns/d11", json=body, headers=h)
        assert r.status_code == 200, r.text

    clock.set(sh(2026, 11, 11, 10))
    n = 0

    async def buy(member: str, fen: int = 9999) -> dict[str, Any]:
        nonlocal n
        n += 1
        return await send(
            client, h, f"d11-{n}", "purchase", member, clock.now(), order_id=f"d11-{n}", amount=fen
        )

    await campaign("multiply")
    r = await buy("g")
    assert amounts(r) == [("purchase", "points", 749)]  # 99.99 × 1.5 × 5 = 749.925
    assert r["postings"][0]["campaign_id"] == "d11"
    silver = await buy("s")
    assert paid(silver) == 119  # not in the audience: tier only
    assert silver["postings"][0]["campaign_id"] is None
    await campaign("add")
    assert paid(await buy("g")) == 549  # 99.99 × (1.5 + 5 − 1) = 549.945
    await campaign("max")
    r = await buy("g")
    assert paid(r) == 499  # 99.99 × max(1.5, 5) = 499.95
    why = await explain(client, h, r["postings"][0]["transaction_id"])
    assert why["explanation"]["multipliers"] == {
        "tier": "gold",
        "tier_multiplier": "1.5",
        "campaign": "d11",
        "campaign_multiplier": "5",
        "stacking": "max",
        "total": "5",
    }
    clock.set(sh(2026, 11, 12, 0, 1))
    after = await buy("g")
    assert paid(after) == 149
    assert after["postings"][0]["campaign_id"] is None
    assert await balance(client, h, "g") == 749 + 549 + 499 + 149
    await assert_verified(client, h)


async def test_example5_refund_takes_back_points_proportionally(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await save_rule(
        client, h, id="purchase", name="消费 1 元 1 积分", trigger="purchase",
        effects=[{"amount": {"per_unit": {"attribute": "amount", "unit": 100, "rate": "1"}}}],
        tier_multipliers={"gold": "1.5"},
    )  # fmt: skip
    await set_tier(client, h, "g", "gold")
    t = clock.now()
    buy = await send(client, h, "buy-1", "purchase", "g", t, order_id="o-1", amount=9999)
    assert paid(buy) == 149
    txn = buy["postings"][0]["transaction_id"]
    part = await send(
        client,
        h,
        "ref-1",
        "refund",
        "g",
        t + timedelta(minutes=1),
        order_id="o-1",
        refund_amount=5000,
    )
    # floor(149 × 5000 / 9999) = 74
    assert [(x["reverses"], x["amount"]) for x in part["reversals"]] == [(txn, 74)]
    assert await balance(client, h, "g") == 75
    rest = await send(
        client,
        h,
        "ref-2",
        "refund",
        "g",
        t + timedelta(minutes=2),
        order_id="o-1",
        refund_amount=4999,
    )
    assert [(x["reverses"], x["amount"]) for x in rest["reversals"]] == [(txn, 75)]
    assert await balance(client, h, "g") == 0
    more = await send(
        client,
        h,
        "ref-3",
        "refund",
        "g",
        t + timedelta(minutes=3),
        order_id="o-1",
        refund_amount=100,
    )
    assert more["reversals"] == []
    assert await balance(client, h, "g") == 0
    await assert_verified(client, h)


async def test_example5_daily_tasks_growth_tasks_once_and_ugc_posts(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    rules: list[dict[str, Any]] = [
        {"id": "task-login", "name": "每日登录 5", "trigger": "login",
         "effects": [{"amount": {"fixed": 5}}], "limits": [{"window": "day", "max_count": 1}]},
        {"id": "task-share", "name": "每日分享 10", "trigger": "share",
         "effects": [{"amount": {"fixed": 10}}], "limits": [{"window": "day", "max_count": 1}]},
        {"id": "growth-review", "name": "首次评价 50", "trigger": "review_posted",
         "effects": [{"amount": {"fixed": 50}, "when": "first"}]},
        {"id": "growth-profile", "name": "完善资料 200", "trigger": "profile_completed",
         "effects": [{"amount": {"fixed": 200}, "when": "first"}]},
        {"id": "ugc", "name": "UGC 晒图 100", "trigger": "content_published",
         "effects": [{"amount": {"fixed": 100}}]},
    ]  # fmt: skip
    r = await client.post("/v1/rules/import", json={"rules": rules}, headers=h)
    assert r.status_code == 201, r.text
    await set_tier(client, h, "u", "gold")  # tasks carry no tier multiplier
    t = clock.now()
    seq = iter(range(1000))

    async def ev(type_: str, at: Any = None) -> dict[str, Any]:
        return await send(client, h, f"e{next(seq)}", type_, "u", at or t)

    assert amounts(await ev("login")) == [("task-login", "points", 5)]
    assert reasons(await ev("login")) == [("task-login", "limit_reached")]
    assert amounts(await ev("share")) == [("task-share", "points", 10)]
    assert amounts(await ev("review_posted")) == [("growth-review", "points", 50)]
    assert (await ev("review_posted"))["postings"] == []  # once
    assert amounts(await ev("profile_completed")) == [("growth-profile", "points", 200)]
    assert (await ev("profile_completed"))["postings"] == []
    assert amounts(await ev("content_published")) == [("ugc", "points", 100)]
    assert amounts(await ev("content_published")) == [("ugc", "points", 100)]
    clock.advance(DAY)
    assert paid(await ev("login", clock.now())) == 5  # daily tasks reset each day
    assert paid(await ev("share", clock.now())) == 10
    assert (await ev("review_posted", clock.now()))["postings"] == []  # growth tasks do not
    assert await balance(client, h, "u") == 5 + 10 + 50 + 200 + 100 + 100 + 5 + 10
    await assert_verified(client, h)
