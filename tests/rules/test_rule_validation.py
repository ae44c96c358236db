"""Rules are refused on save when they are wrong, fail per event (not per batch) at run time, and
are versioned: every posting names the rule version that paid it, and explain says why."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from jifen.clock import FixedClock
from tests.conftest import api_program
from tests.events.engine_api import (
    Headers,
    amounts,
    assert_verified,
    balance,
    explain,
    paid,
    reasons,
    save_rule,
    send,
    set_tier,
    sh,
)


def _rule(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "r1",
        "name": "a rule",
        "trigger": "check_in",
        "effects": [{"amount": {"fixed": 1}}],
    }
    return {**base, **changes}


async def _refused(client: httpx.AsyncClient, h: Headers, rule: dict[str, Any]) -> dict[str, Any]:
    """Save ``rule``; it must be refused with invalid_rule. Returns the first problem."""
    r = await client.post("/v1/rules", json=rule, headers=h)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "invalid_rule", body
    assert body["problems"], body
    first = body["problems"][0]
    assert body["field"] == first["field"]
    assert first["rule"] == rule["id"]
    return dict(first)


async def _nothing_saved(client: httpx.AsyncClient, h: Headers) -> None:
    r = await client.get("/v1/rules", headers=h)
    assert r.status_code == 200, r.text
    assert r.json() == []


async def test_bad_rules_are_refused_with_reason_field_and_position(
    client: httpx.AsyncClient,
) -> None:
    _, h = await api_program(client)
    ladder = [{"from": 1, "to": 3, "amount": 10}, {"from": 3, "to": 5, "amount": 15}]

    syntax = await _refused(client, h, _rule(condition="event.type == "))
    assert syntax["field"] == "condition"
    assert syntax["message"].startswith("syntax error")
    assert syntax["position"] is not None

    unknown_var = await _refused(client, h, _rule(condition='tier == "gold"'))
    assert (unknown_var["field"], unknown_var["position"]) == ("condition", 0)
    assert "unknown name 'tier'" in unknown_var["message"]

    unknown_field = await _refused(client, h, _rule(condition='member.level == "gold"'))
    assert (unknown_field["field"], unknown_field["position"]) == ("condition", 7)
    assert "unknown field member.level" in unknown_field["message"]

    non_bool = await _refused(client, h, _rule(condition="counts.today + 1"))
    assert non_bool["field"] == "condition"
    assert "true or false" in non_bool["message"]

    negative = await _refused(client, h, _rule(effects=[{"amount": {"fixed": -5}}]))
    assert negative["field"] == "effects.0.amount.fixed"
    assert "greater than or equal to 0" in negative["message"]

    negative_rate = {"per_unit": {"attribute": "amount", "unit": 100, "rate": "-1"}}
    neg_rate = await _refused(client, h, _rule(effects=[{"amount": negative_rate}]))
    assert neg_rate["field"] == "effects.0.amount.per_unit.rate"

    overlap = await _refused(client, h, _rule(effects=[{"amount": {"ladder": ladder}}]))
    assert overlap["field"] == "effects.0.amount"
    assert "ladder brackets overlap: 1-3 and 3-5" in overlap["message"]

    open_twice = [{"from": 1, "amount": 10}, {"from": 4, "amount": 15}]
    overlap2 = await _refused(client, h, _rule(effects=[{"amount": {"ladder": open_twice}}]))
    assert "overlap" in overlap2["message"]

    asset = await _refused(
        client,
        h,
        _rule(effects=[{"amount": {"fixed": 1}}, {"asset": "diamonds", "amount": {"fixed": 1}}]),
    )
    assert asset["field"] == "effects.1.asset"
    assert "unknown asset 'diamonds'" in asset["message"]

    milestone = await _refused(
        client, h, _rule(effects=[{"amount": {"fixed": 1}, "when": "milestone"}])
    )
    assert milestone["field"] == "effects.0"
    assert "milestone effect needs at" in milestone["message"]

    two_amounts = await _refused(
        client, h, _rule(effects=[{"amount": {"fixed": 1, "ladder": ladder[:1]}}])
    )
    assert "exactly one" in two_amounts["message"]

    naive = await _refused(client, h, _rule(effective_from="2026-03-02T00:00:00"))
    assert naive["field"] == "effective_from"

    await _nothing_saved(client, h)


async def test_problem_detail_names_rule_field_and_position(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    r = await client.post("/v1/rules", json=_rule(condition='member.level == "gold"'), headers=h)
    assert r.status_code == 422
    body = r.json()
    assert body["detail"].startswith("rule r1: condition: unknown field member.level")
    assert body["detail"].endswith("(at position 7)")


async def test_validate_and_import_report_every_problem_and_save_nothing(
    client: httpx.AsyncClient,
) -> None:
    _, h = await api_program(client)
    good = _rule(id="good")
    bad1 = _rule(id="bad1", condition="foo")
    bad2 = _rule(id="bad2", effects=[{"asset": "gems", "amount": {"fixed": 1}}])
    r = await client.post("/v1/rules/validate", json={"rules": [good, bad1, bad2]}, headers=h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["valid"] is False
    assert [(p["rule"], p["field"]) for p in out["problems"]] == [
        ("bad1", "condition"),
        ("bad2", "effects.0.asset"),
    ]
    ok = await client.post("/v1/rules/validate", json=good, headers=h)
    assert ok.json() == {"valid": True, "problems": []}
    imp = await client.post("/v1/rules/import", json={"rules": [good, bad1, bad2]}, headers=h)
    assert imp.status_code == 422
    assert imp.json()["code"] == "invalid_rule"
    assert len(imp.json()["problems"]) == 2
    await _nothing_saved(client, h)


async def test_syntax_error_position_is_the_offset_in_the_condition(
    client: httpx.AsyncClient,
) -> None:
    _, h = await api_program(client)
    # '&' is at offset 5.
    assert (await _refused(client, h, _rule(condition="true & false")))["position"] == 5
    # On the second line: the missing ')' is at the end, offset 15.
    multi = "counts.today > 1 &&\n  (streak > 2"
    assert (await _refused(client, h, _rule(condition=multi)))["position"] == len(multi)


async def test_unknown_name_position_points_at_the_name(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    cond = 'member.tier == "gold" || tier == "gold"'
    problem = await _refused(client, h, _rule(condition=cond))
    assert problem["position"] == cond.index("|| tier") + 3


async def test_misspelt_functions_and_stray_macro_variables_are_refused_on_save(
    client: httpx.AsyncClient,
) -> None:
    _, h = await api_program(client)
    for cond, name, at in [
        ('event.type.shout() == "x"', "shout", 11),
        ("size(event.attributes.items.filter(i, i.qty > 1)) > 0 && i.qty > 2", "i", 57),
    ]:
        problem = await _refused(client, h, _rule(condition=cond))
        assert (problem["field"], problem["position"]) == ("condition", at)
        assert f"unknown name {name!r}" in problem["message"]
    assert (await client.get("/v1/rules", headers=h)).json() == []  # nothing was saved
    # The same macro, its variable used only inside it, is a rule like any other.
    r = await client.post(
        "/v1/rules",
        json=_rule(condition="event.attributes.items.exists(i, i.sku == 'tea')"),
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert [r["id"] for r in (await client.get("/v1/rules", headers=h)).json()] == ["r1"]


async def test_string_literals_are_not_checked_as_fields(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    r = await client.post(
        "/v1/rules",
        json=_rule(
            condition='has(event.attributes.channel) && event.attributes.channel == "member.vip"'
        ),
        headers=h,
    )
    assert r.status_code == 201, r.text


async def test_rule_naming_an_undefined_budget_is_refused(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    r = await client.post("/v1/rules", json=_rule(budget="nope"), headers=h)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "budget"


async def test_a_condition_failing_at_run_time_skips_only_that_rule(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await save_rule(
        client, h, id="app-only", name="App 签到 +5", trigger="check_in",
        condition='event.attributes.channel == "app"', effects=[{"amount": {"fixed": 5}}],
    )  # fmt: skip
    await save_rule(
        client, h, id="flagged", name="flag", trigger="check_in",
        condition="event.attributes.flag", effects=[{"amount": {"fixed": 100}}],
    )  # fmt: skip
    await save_rule(
        client, h, id="plain", name="签到 +1", trigger="check_in",
        effects=[{"amount": {"fixed": 1}}],
    )  # fmt: skip
    t = clock.now()
    r = await send(client, h, "e1", "check_in", "u", t)
    assert r["status"] == "processed"
    assert amounts(r) == [("plain", "points", 1)]
    skipped = {s["rule_id"]: s for s in r["skipped"]}
    assert skipped["app-only"]["reason"] == "condition_error"
    assert "channel" in skipped["app-only"]["detail"]
    assert skipped["flagged"]["reason"] == "condition_error"
    # A condition that gives a number instead of true/false is an error for that rule only.
    r2 = await send(client, h, "e2", "check_in", "u", t, channel="app", flag=5)
    assert sorted(amounts(r2)) == [("app-only", "points", 5), ("plain", "points", 1)]
    assert reasons(r2) == [("flagged", "condition_error")]
    r3 = await send(client, h, "e3", "check_in", "u", t, channel="web", flag=True)
    assert sorted(amounts(r3)) == [("flagged", "points", 100), ("plain", "points", 1)]
    assert reasons(r3) == [("app-only", "condition_false")]
    assert await balance(client, h, "u") == 1 + 6 + 101
    await assert_verified(client, h)


async def test_a_new_version_takes_effect_from_its_time_and_postings_name_it(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await set_tier(client, h, "g", "gold")
    v1 = await save_rule(
        client, h, id="content", name="内容 10", trigger="content_published",
        effects=[{"amount": {"fixed": 10}}],
    )  # fmt: skip
    assert v1["version"] == 1
    switch = sh(2026, 3, 2, 12)
    v2 = await save_rule(
        client, h, id="content", name="内容加权 20", trigger="content_published",
        effects=[{"amount": {"fixed": 20}}], tier_multipliers={"gold": "1.5"},
        limits=[{"window": "day", "max_amount": 25}], effective_from=switch.isoformat(),
    )  # fmt: skip
    assert v2["version"] == 2
    versions = (await client.get("/v1/rules/content/versions", headers=h)).json()
    assert [(v["version"], v["definition"]["name"]) for v in versions] == [
        (1, "内容 10"),
        (2, "内容加权 20"),
    ]
    in_force = (await client.get("/v1/rules", headers=h)).json()
    assert [(r["id"], r["version"]) for r in in_force] == [("content", 1)]

    before = await send(client, h, "before", "content_published", "g", clock.now())
    assert [(p["rule_id"], p["rule_version"], p["amount"]) for p in before["postings"]] == [
        ("content", 1, 10)
    ]
    clock.set(switch + timedelta(minutes=1))
    after = await send(client, h, "after", "content_published", "g", clock.now())
    assert [(p["rule_id"], p["rule_version"], p["amount"]) for p in after["postings"]] == [
        ("content", 2, 25)
    ]
    # A late event from before the switch is paid by the version then in force.
    late = await send(client, h, "late", "content_published", "g", switch - timedelta(minutes=1))
    assert [(p["rule_version"], p["amount"]) for p in late["postings"]] == [(1, 10)]
    in_force = (await client.get("/v1/rules", headers=h)).json()
    assert [(r["id"], r["version"]) for r in in_force] == [("content", 2)]

    why = await explain(client, h, after["postings"][0]["transaction_id"])
    assert (why["rule_id"], why["rule_version"], why["amount"]) == ("content", 2, 25)
    assert why["rule"]["effects"][0]["amount"]["fixed"] == 20
    e = why["explanation"]
    assert (e["rule"], e["version"], e["event"]) == ("content", 2, "after")
    assert e["base"] == {"fixed": 20}
    assert e["multipliers"]["tier"] == "gold"
    assert e["multipliers"]["tier_multiplier"] == "1.5"
    assert e["multipliers"]["campaign"] is None
    assert e["computed"] == 30
    assert e["limits"] == [{"window": "day", "max_amount": 25, "cut_to": 25}]
    assert e["amount"] == 25
    old = await explain(client, h, before["postings"][0]["transaction_id"])
    assert (old["rule_version"], old["rule"]["effects"][0]["amount"]["fixed"]) == (1, 10)
    assert paid(await send(client, h, "after-2", "content_published", "g", clock.now())) == 0
    assert await balance(client, h, "g") == 10 + 25 + 10
    await assert_verified(client, h)
