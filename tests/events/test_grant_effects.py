"""Rules that issue coupons and award badges: given once per qualifying event, counted by the
rule's limits, and a refused grant (an unknown template) is a skip that never fails the event."""

from __future__ import annotations

from typing import Any

import httpx

from jifen.clock import FixedClock
from tests.conftest import api_program
from tests.events.engine_api import save_rule, send, sh


async def test_first_purchase_issues_a_coupon_and_the_tenth_a_badge(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    r = await client.put(
        "/v1/coupon-templates/welcome-50",
        json={
            "name": "50 元无门槛",
            "kind": "no_threshold",
            "discount_fen": 5000,
            "valid_days": 30,
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    r = await client.put(
        "/v1/badges/loyal-10",
        json={"name": "十单达人", "criterion": {"kind": "manual"}},
        headers=h,
    )
    assert r.status_code == 200, r.text
    await save_rule(
        client, h, id="welcome", name="首单送券", trigger="purchase",
        effects=[{"coupon": "welcome-50", "when": "first"}],
    )  # fmt: skip
    await save_rule(
        client, h, id="tenth", name="第十单勋章", trigger="purchase",
        effects=[{"badge": "loyal-10", "when": "milestone", "at": [10]}],
    )  # fmt: skip
    clock.set(sh(2026, 3, 2, 9))
    results: list[dict[str, Any]] = []
    for i in range(11):
        results.append(
            await send(client, h, f"o{i}", "purchase", "amy", sh(2026, 3, 2, 8, i), order_id=i)
        )
    grants = [[(g["kind"], g["target"]) for g in res["grants"]] for res in results]
    assert grants[0] == [("coupon", "welcome-50")]
    assert grants[9] == [("badge", "loyal-10")]
    assert all(g == [] for i, g in enumerate(grants) if i not in (0, 9))
    code = results[0]["grants"][0]["coupon_code"]
    r = await client.get("/v1/members/amy/coupons", headers=h)
    assert [c["code"] for c in r.json()] == [code]
    r = await client.get("/v1/members/amy/badges", headers=h)
    assert r.status_code == 200, r.text
    assert "loyal-10" in r.text
    # A dry-run of a rule set over these stored events counts what it would have given.
    body = {
        "rules": [
            {"id": "fifth", "name": "第五单", "trigger": "purchase",
             "effects": [{"badge": "loyal-10", "when": "milestone", "at": [5]}]},
        ],
        "start": sh(2026, 3, 2, 0).isoformat(),
        "end": sh(2026, 3, 3, 0).isoformat(),
        "include_current": True,
    }  # fmt: skip
    r = await client.post("/v1/rules/dry-run", json=body, headers=h)
    assert r.status_code == 200, r.text
    # The stored rules' coupon and 10th-order badge, and the new rule's 5th-order badge.
    assert r.json()["grants"] == {"badge:loyal-10": 2, "coupon:welcome-50": 1}
    # Replaying the first event issues nothing new.
    again = await send(
        client, h, "o0", "purchase", "amy", sh(2026, 3, 2, 8, 0), expect=200, order_id=0
    )
    assert again["status"] == "duplicate"
    r = await client.get("/v1/members/amy/coupons", headers=h)
    assert len(r.json()) == 1


async def test_coupon_limit_per_day_and_refused_grant_is_a_skip(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    r = await client.put(
        "/v1/coupon-templates/daily-5",
        json={"name": "5 元", "kind": "no_threshold", "discount_fen": 500, "valid_days": 7},
        headers=h,
    )
    assert r.status_code == 200, r.text
    await save_rule(
        client, h, id="share-coupon", name="分享得券", trigger="share",
        effects=[{"coupon": "daily-5"}, {"amount": {"fixed": 2}}],
        limits=[{"window": "day", "max_count": 1}],
    )  # fmt: skip
    await save_rule(
        client, h, id="broken", name="模板不存在", trigger="share",
        effects=[{"coupon": "no-such-template"}],
    )  # fmt: skip
    clock.set(sh(2026, 3, 3, 12))
    first = await send(client, h, "s1", "share", "bo", sh(2026, 3, 3, 9))
    second = await send(client, h, "s2", "share", "bo", sh(2026, 3, 3, 10))
    assert [g["target"] for g in first["grants"]] == ["daily-5"]
    assert sum(p["amount"] for p in first["postings"]) == 2
    assert second["grants"] == []
    broken = [s for s in first["skipped"] if s["rule_id"] == "broken"]
    assert [(s["reason"], s["detail"]) for s in broken] == [
        ("coupon_refused", "coupon_template_not_found")
    ]
    assert first["status"] == "processed"


async def test_review_rules_may_not_grant(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    r = await client.post(
        "/v1/rules",
        json={
            "id": "r",
            "name": "r",
            "trigger": "share",
            "review": True,
            "effects": [{"coupon": "x"}],
        },
        headers=h,
    )
    assert r.status_code == 422
    r = await client.post(
        "/v1/rules",
        json={
            "id": "r",
            "name": "r",
            "trigger": "share",
            "effects": [{"coupon": "x", "badge": "y"}],
        },
        headers=h,
    )
    assert r.status_code == 422
