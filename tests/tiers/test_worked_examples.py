"""Worked examples 4 and 5 of the specification, through the HTTP API, with exact numbers."""

from __future__ import annotations

from datetime import timedelta

import httpx

from jifen.clock import FixedClock
from tests.conftest import api_program
from tests.events.engine_api import balance, paid, save_rule, send, set_member, sh
from tests.tiers.tiers_api import (
    GROWTH_TIERS,
    RETAIL_SCHEME,
    buy,
    code_of,
    evaluate,
    history_of,
    member_token,
    put_scheme,
    tier_of,
)


async def _purchase_rule(client: httpx.AsyncClient, h: dict[str, str]) -> None:
    # 1 point per yuan; no tier_multipliers of its own: the tiers' benefits apply.
    await save_rule(
        client, h, id="purchase", name="消费 1 元 1 积分", trigger="purchase",
        effects=[{"amount": {"per_unit": {"attribute": "amount_fen", "unit": 100, "rate": "1"}}}],
    )  # fmt: skip


async def test_example5_rfm_tiers_multipliers_and_gold_to_silver_after_3_falling_months(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await put_scheme(client, h, RETAIL_SCHEME)
    await _purchase_rule(client, h)

    # March: five purchases. Upgrades are immediate; each purchase earns at the tier it was
    # made in (1 / 1.2 / 1.5 for normal / silver / gold).
    earned = []
    for day, fen in ((2, 50000), (3, 50000), (4, 50000), (5, 50000), (6, 10000)):
        clock.set(sh(2026, 3, day))
        earned.append(await buy(client, h, f"mar-{day}", "g", clock.now(), fen))
        if day == 3:
            assert await code_of(client, h, "g") == "silver"  # 2 buys, 1,000 yuan: score 3
    # normal 500, normal 500 (→ silver), silver 600, silver 600 (→ gold), gold: 100 base → 150
    assert earned == [500, 500, 600, 600, 150]
    assert await code_of(client, h, "g") == "gold"
    assert await history_of(client, h, "g") == [
        ("normal", "silver", "upgrade", "event", None),
        ("silver", "gold", "upgrade", "event", None),
    ]
    # A member who bought once stays normal; a member who never bought too.
    clock.set(sh(2026, 3, 7))
    assert await buy(client, h, "n-1", "n", clock.now(), 30000) == 300
    await set_member(client, h, "idle")

    # Monthly re-evaluation (program time zone). April 1: March was a gold month.
    clock.set(sh(2026, 4, 1, 0, 30))
    run = await evaluate(client, h)
    assert (run["period"], run["status"], run["evaluated"]) == ("m:2026-04", "done", 3)
    assert (run["upgraded"], run["downgraded"]) == (0, 0)
    g = await tier_of(client, h, "g")
    assert (g["tier"]["code"], g["periods_below"], g["evaluated_period"]) == (
        "gold", 0, "m:2026-04",
    )  # fmt: skip

    # From April on, one purchase a month: score 2 (recent +1, 500 yuan +1): below gold.
    months_below = []
    for month in (4, 5, 6):
        clock.set(sh(2026, month, 10))
        assert await buy(client, h, f"buy-{month}", "g", clock.now(), 50000) == 750  # still gold
        clock.set(sh(2026, month + 1, 1, 0, 30))
        run = await evaluate(client, h)
        g = await tier_of(client, h, "g")
        months_below.append((run["period"], g["tier"]["code"], g["periods_below"]))
    # Two falling months keep gold; the third drops one step, to silver (not to normal).
    assert months_below == [
        ("m:2026-05", "gold", 1),
        ("m:2026-06", "gold", 2),
        ("m:2026-07", "silver", 0),
    ]
    assert run["downgraded"] == 1
    assert (await history_of(client, h, "g"))[-1] == (
        "gold", "silver", "downgrade", "evaluation", "m:2026-07",
    )  # fmt: skip

    # Running July's evaluation again changes nothing.
    again = await evaluate(client, h)
    assert again == run
    assert len(await history_of(client, h, "g")) == 3
    assert await code_of(client, h, "g") == "silver"

    # Silver earns 1.2: 100 yuan → 120 points.
    clock.set(sh(2026, 7, 2))
    assert await buy(client, h, "jul-2", "g", clock.now(), 10000) == 120
    assert await balance(client, h, "g") == 500 + 500 + 600 + 600 + 150 + 3 * 750 + 120
    assert await code_of(client, h, "n") == "normal"
    assert await code_of(client, h, "idle") == "normal"

    # The comparison table: discount 98% / 95% / 90%, multipliers 1 / 1.2 / 1.5.
    r = await client.get("/v1/tiers", headers=h)
    assert r.status_code == 200, r.text
    table = r.json()
    assert table["metric"] == "rfm"
    assert [(t["code"], t["min"], t["discount_rate"], t["points_multiplier"]) for t in table["tiers"]] == [
        ("normal", 0, "0.98", "1"),
        ("silver", 3, "0.95", "1.2"),
        ("gold", 5, "0.90", "1.5"),
        ("diamond", 7, "0.85", "2"),
    ]  # fmt: skip
    diamond = table["tiers"][3]
    assert (diamond["dedicated_support"], diamond["custom"]) == (True, {"birthday_gift": "cake"})
    # The member's own view marks their tier.
    me = await member_token(client, h, "g")
    r = await client.get("/v1/me/tiers", headers=me)
    assert [t["code"] for t in r.json()["tiers"] if t["current"]] == ["silver"]


async def test_a_rules_own_tier_multiplier_wins_over_the_tier_benefit(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await put_scheme(client, h, RETAIL_SCHEME)
    await save_rule(
        client, h, id="ugc", name="UGC 100 积分", trigger="content_published",
        effects=[{"amount": {"fixed": 100}}], tier_multipliers={"gold": "3"},
    )  # fmt: skip
    await save_rule(
        client, h, id="flat", name="签到 10, 不乘倍率", trigger="check_in",
        effects=[{"amount": {"fixed": 10}, "multiply": False}],
    )  # fmt: skip
    for day in (2, 3, 4, 5):
        clock.set(sh(2026, 3, day))
        await buy(client, h, f"o{day}", "g", clock.now(), 50000)
    assert await code_of(client, h, "g") == "gold"
    await buy(client, h, "o-s1", "s", clock.now(), 50000)
    await buy(client, h, "o-s2", "s", clock.now(), 50000)
    assert await code_of(client, h, "s") == "silver"
    t = clock.now()
    assert paid(await send(client, h, "ugc-g", "content_published", "g", t)) == 300
    assert paid(await send(client, h, "ugc-s", "content_published", "s", t)) == 120
    assert paid(await send(client, h, "ci-g", "check_in", "g", t)) == 10


async def test_example4_points_earned_tiers_and_x_to_next_tier(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await put_scheme(
        client,
        h,
        {
            "name": "成长体系",
            "qualification": {"metric": "points_earned", "window_months": 12},
            "evaluation": {"downgrade_after_periods": None},
            "tiers": GROWTH_TIERS,
        },
    )
    await _purchase_rule(client, h)
    assert await buy(client, h, "o1", "u", clock.now(), 66000) == 660
    me = await member_token(client, h, "u")
    r = await client.get("/v1/me/tier", headers=me)
    assert r.status_code == 200, r.text
    mine = r.json()
    assert mine["tier"] == {"code": "bronze", "name": "青铜", "rank": 0}
    assert mine["progress"] == {
        "metric": "points_earned",
        "value": 660,
        "next": "silver",
        "next_name": "白银",
        "needed": 340,
        "text": "还需获得积分 340",
    }
    clock.advance(timedelta(days=1))
    assert await buy(client, h, "o2", "u", clock.now(), 40000) == 400
    got = await tier_of(client, h, "u")
    assert got["tier"]["code"] == "silver"
    assert (got["progress"]["next"], got["progress"]["needed"]) == ("gold", 5000 - 1060)
    assert got["progress"]["text"] == "还需获得积分 3940"
    # Points spent do not count against points earned; a refund takes its points back out.
    r = await client.post(
        "/v1/debits",
        json={"member": "u", "amount": 1000, "reason": "兑换"},
        headers={**h, "Idempotency-Key": "spend-1"},
    )
    assert r.status_code == 201, r.text
    assert (await tier_of(client, h, "u"))["progress"]["value"] == 1060
    refund = await send(client, h, "rf-1", "refund", "u", clock.now(), order_id="o1")
    assert [x["amount"] for x in refund["reversals"]] == [660]
    after = await tier_of(client, h, "u")
    # Earned 400 now; the tier stays (this scheme never downgrades).
    assert (after["tier"]["code"], after["progress"]["value"]) == ("silver", 400)
    # Top tier: nothing left to reach.
    assert await buy(client, h, "o3", "u", clock.now(), 2_000_000) == 20000  # 20,400 earned
    top = await tier_of(client, h, "u")
    assert top["tier"]["code"] == "platinum"
    assert top["progress"]["next"] is None
    assert top["progress"]["text"] == "已是最高等级"
    assert [x[1] for x in await history_of(client, h, "u")] == ["silver", "platinum"]
