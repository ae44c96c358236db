"""Experiments (worked example 4: new rules piloted on 10% of members and compared).

Assignment is a stable hash of experiment and member, stored the first time it matters; a rule
with ``experiment: {id, group}`` pays only that group; the report compares the groups with
significance tests. API tests run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import httpx

from jifen.clock import FixedClock
from jifen.experiments.assignment import bucket, group_for
from tests.conftest import START, admin_headers, api_program

# --- assignment, no database ---------------------------------------------------------------------


def test_assignment_is_deterministic_and_about_ten_percent() -> None:
    ids = [f"member-{i}" for i in range(2000)]
    groups = [group_for("pilot-10", m, 1000) for m in ids]
    assert groups == [group_for("pilot-10", m, 1000) for m in ids]  # same member, same group
    treated = groups.count("treatment")
    # Binomial(2000, 0.1): mean 200, sd 13.4; ±45 is over 3 sd.
    assert 155 <= treated <= 245, treated
    # Buckets are in range and treatment is exactly the buckets below the share.
    for m, g in zip(ids, groups, strict=True):
        b = bucket("pilot-10", m)
        assert 0 <= b < 10000
        assert (g == "treatment") == (b < 1000)
    # Another experiment splits the same members independently.
    other = [group_for("another", m, 1000) for m in ids]
    both = sum(1 for a, b in zip(groups, other, strict=True) if a == b == "treatment")
    assert both < 60  # independent: about 2000 · 0.1 · 0.1 = 20
    # 0% and 100%.
    assert {group_for("x", m, 0) for m in ids} == {"control"}
    assert {group_for("x", m, 10000) for m in ids} == {"treatment"}


# --- helpers -----------------------------------------------------------------------------------


def _iso(t: datetime) -> str:
    return t.isoformat()


async def _put_experiment(
    client: httpx.AsyncClient, h: dict[str, str], eid: str, **fields: Any
) -> httpx.Response:
    body: dict[str, Any] = {"name": f"experiment {eid}", "treatment_percent": "10"}
    body.update(fields)
    return await client.put(f"/v1/experiments/{eid}", json=body, headers=h)


async def _rule(client: httpx.AsyncClient, h: dict[str, str], rule: dict[str, Any]) -> None:
    r = await client.post("/v1/rules", json=rule, headers=h)
    assert r.status_code == 201, r.text


async def _batch(
    client: httpx.AsyncClient, h: dict[str, str], events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for start in range(0, len(events), 1000):
        r = await client.post(
            "/v1/events/batch", json={"events": events[start : start + 1000]}, headers=h
        )
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert all(x["status"] == "processed" for x in results), results
        out.extend(results)
    return out


def _event(cid: str, type_: str, member: str, at: datetime, **attrs: Any) -> dict[str, Any]:
    return {
        "client_id": cid,
        "type": type_,
        "member": member,
        "occurred_at": _iso(at),
        "attributes": attrs,
    }


async def _assignment(
    client: httpx.AsyncClient, h: dict[str, str], eid: str, member: str
) -> dict[str, Any]:
    r = await client.get(f"/v1/experiments/{eid}/assignment/{member}", headers=h)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


# --- definitions -------------------------------------------------------------------------------


async def test_create_update_get_list_and_audit(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    pid, h = await api_program(client)
    r = await _put_experiment(
        client,
        h,
        "checkin-x2",
        starts_at=_iso(START),
        ends_at=_iso(START + timedelta(days=14)),
        description="double check-in points",
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"] == "checkin-x2"
    assert body["treatment_percent"] == "10.00"
    assert body["status"] == "running"
    assert body["assigned"] == {"control": 0, "treatment": 0}
    r = await _put_experiment(
        client, h, "checkin-x2", treatment_percent="12.5", starts_at=_iso(START)
    )
    assert r.status_code == 200, r.text
    assert r.json()["treatment_percent"] == "12.50"
    assert r.json()["ends_at"] is None
    r = await _put_experiment(
        client, h, "later", starts_at=_iso(START + timedelta(days=3)), treatment_percent="50"
    )
    assert r.json()["status"] == "scheduled"
    listed = (await client.get("/v1/experiments", headers=h)).json()
    assert [e["id"] for e in listed] == ["checkin-x2", "later"]
    got = (await client.get("/v1/experiments/checkin-x2", headers=h)).json()
    assert got["description"] == ""  # the update replaced the whole definition
    assert got["treatment_percent"] == "12.50"

    audit = (await client.get(f"/v1/programs/{pid}/audit", headers=admin_headers())).json()
    actions = [a["action"] for a in audit if a["entity_type"] == "experiment"]
    assert actions == [
        "experiment.create",
        "experiment.update",
        "experiment.create",
    ]  # newest first
    update = next(a for a in audit if a["action"] == "experiment.update")
    assert update["before"]["treatment_percent"] == "10.00"
    assert update["after"]["treatment_percent"] == "12.50"


async def test_invalid_definitions_and_unknown_experiment(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    r = await _put_experiment(
        client, h, "bad", starts_at=_iso(START), ends_at=_iso(START - timedelta(hours=1))
    )
    assert r.status_code == 422
    r = await _put_experiment(client, h, "bad", starts_at=_iso(START), treatment_percent="100.5")
    assert r.status_code == 422
    r = await _put_experiment(client, h, "bad", starts_at="2026-03-01T04:00:00")  # naive
    assert r.status_code == 422
    r = await _put_experiment(client, h, "bad", starts_at=_iso(START), id="other")
    assert r.status_code == 422
    assert r.json()["code"] == "id_mismatch"
    for path in ("", "/report", "/assignment/u1"):
        r = await client.get(f"/v1/experiments/nope{path}", headers=h)
        assert r.status_code == 404, path
        assert r.json()["code"] == "experiment_not_found"


# --- rules by group ----------------------------------------------------------------------------


async def test_treatment_rule_pays_only_treatment_members(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    eid = "checkin-pilot"
    r = await _put_experiment(client, h, eid, starts_at=_iso(START), treatment_percent="30")
    assert r.status_code == 201, r.text
    await _rule(
        client,
        h,
        {
            "id": "checkin-new",
            "name": "new check-in reward (pilot)",
            "trigger": "check_in",
            "effects": [{"amount": {"fixed": 20}}],
            "experiment": {"id": eid, "group": "treatment"},
        },
    )
    await _rule(
        client,
        h,
        {
            "id": "checkin-old",
            "name": "current check-in reward",
            "trigger": "check_in",
            "effects": [{"amount": {"fixed": 5}}],
            "experiment": {"id": eid, "group": "control"},
        },
    )
    members = [f"u{i}" for i in range(60)]
    expected = {m: group_for(eid, m, 3000) for m in members}
    assert 5 < list(expected.values()).count("treatment") < 40
    now = clock.now()
    results = await _batch(client, h, [_event(f"c-{m}", "check_in", m, now) for m in members])
    for m, res in zip(members, results, strict=True):
        paid = {p["rule_id"]: p["amount"] for p in res["postings"]}
        if expected[m] == "treatment":
            assert paid == {"checkin-new": 20}, (m, res)
        else:
            assert paid == {"checkin-old": 5}, (m, res)
        skipped = [s for s in res["skipped"] if s["reason"] == "experiment_group"]
        assert len(skipped) == 1
        a = await _assignment(client, h, eid, m)
        assert a["stored"] is True
        assert a["group"] == a["effective_group"] == expected[m]
        bal = (await client.get(f"/v1/members/{m}/balances", headers=h)).json()["balances"]
        points = next(b["balance"] for b in bal if b["asset"] == "points")
        assert points == (20 if expected[m] == "treatment" else 5)
    got = (await client.get(f"/v1/experiments/{eid}", headers=h)).json()
    counts = Counter(expected.values())
    assert got["assigned"] == {"control": counts["control"], "treatment": counts["treatment"]}


async def test_assignment_is_stored_and_survives_a_change_of_share(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    eid = "pilot"
    start = clock.now()
    await _put_experiment(client, h, eid, starts_at=_iso(start), treatment_percent="10")
    await _rule(
        client,
        h,
        {
            "id": "login-bonus",
            "name": "login bonus (pilot)",
            "trigger": "login",
            "effects": [{"amount": {"fixed": 7}}],
            "experiment": {"id": eid, "group": "treatment"},
        },
    )
    old = [f"old{i}" for i in range(100)]
    await _batch(client, h, [_event(f"a-{m}", "login", m, start) for m in old])
    first = {m: (await _assignment(client, h, eid, m))["group"] for m in old}
    assert first == {m: group_for(eid, m, 1000) for m in old}

    # The share goes from 10% to 90%: assigned members keep their group, new ones follow 90%.
    clock.advance(timedelta(hours=1))
    r = await _put_experiment(client, h, eid, starts_at=_iso(start), treatment_percent="90")
    assert r.status_code == 200, r.text
    new = [f"new{i}" for i in range(100)]
    now = clock.now()
    results = await _batch(client, h, [_event(f"b-{m}", "login", m, now) for m in [*old, *new]])
    for m, res in zip([*old, *new], results, strict=True):
        a = await _assignment(client, h, eid, m)
        assert a["stored"] is True
        want = first[m] if m in first else group_for(eid, m, 9000)
        assert a["group"] == want, m
        assert bool(res["postings"]) == (want == "treatment"), m
    moved = [m for m in old if group_for(eid, m, 9000) != first[m]]
    assert moved, "some old members would have switched without the stored assignment"

    # A member the program has never seen: what the hash gives now, not stored.
    a = await _assignment(client, h, eid, "stranger")
    assert a["stored"] is False
    assert a["assigned_at"] is None
    assert a["group"] == group_for(eid, "stranger", 9000)
    assert a["bucket"] == bucket(eid, "stranger")

    # After the end nobody new is assigned: unassigned members are control.
    clock.advance(timedelta(hours=1))
    await _put_experiment(
        client, h, eid, starts_at=_iso(start), ends_at=_iso(clock.now()), treatment_percent="90"
    )
    a = await _assignment(client, h, eid, "stranger")
    assert a["effective_group"] == "control"
    r = await client.post(f"/v1/experiments/{eid}/enroll", headers=h)
    assert r.status_code == 409
    assert r.json()["code"] == "experiment_ended"


# --- the report --------------------------------------------------------------------------------


async def test_report_counts_exactly(client: httpx.AsyncClient, clock: FixedClock) -> None:
    """Every figure of a small report, including the window edges and a reversal."""
    _, h = await api_program(client)
    eid = "exact"
    s = START + timedelta(days=1)
    e = s + timedelta(days=10)  # midpoint s + 5 days
    await _rule(
        client,
        h,
        {
            "id": "login",
            "name": "login",
            "trigger": "login",
            "effects": [{"amount": {"fixed": 10}}],
        },
    )
    await _rule(
        client,
        h,
        {
            "id": "buy",
            "name": "purchase",
            "trigger": "purchase",
            "effects": [{"amount": {"fixed": 100}}],
        },
    )
    # All treatment (100%) for one experiment, to know the groups without searching.
    await _put_experiment(
        client, h, eid, starts_at=_iso(s), ends_at=_iso(e), treatment_percent="100"
    )
    # Members exist before the start (an event before the window: not counted).
    await _batch(client, h, [_event(f"pre-{m}", "login", m, START) for m in ("a", "b", "c")])
    r = await client.post(f"/v1/experiments/{eid}/enroll", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["newly_assigned"] == {"control": 0, "treatment": 3}
    r = await client.post(f"/v1/experiments/{eid}/enroll", headers=h)
    assert r.json()["newly_assigned"] == {"control": 0, "treatment": 0}
    assert r.json()["assigned"] == {"control": 0, "treatment": 3}

    clock.set(s + timedelta(days=2))
    await _batch(
        client,
        h,
        [
            # a: 2 logins in the first half
            _event("a1", "login", "a", s + timedelta(hours=1)),
            _event("a2", "login", "a", s + timedelta(days=1)),
            # b: 1 login and a purchase (refunded later) in the first half
            _event("b1", "login", "b", s),
            _event("b2", "purchase", "b", s + timedelta(hours=2), order_id="o1", amount=500),
        ],
    )
    clock.set(s + timedelta(days=8))
    await _batch(
        client,
        h,
        [
            _event("a3", "login", "a", s + timedelta(days=6)),  # a retained
            _event("c1", "login", "c", s + timedelta(days=7)),  # c only in the second half
            _event("b3", "refund", "b", s + timedelta(days=7), order_id="o1", refund_amount=500),
        ],
    )
    clock.set(e + timedelta(days=1))
    # After the end: not counted.
    await _batch(client, h, [_event("a4", "login", "a", e), _event("a5", "login", "a", e)])
    r = await client.get(f"/v1/experiments/{eid}/report", headers=h)
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["window"]["complete"] is True
    assert datetime.fromisoformat(rep["window"]["ends_at"]) == e
    assert datetime.fromisoformat(rep["window"]["midpoint"]) == s + timedelta(days=5)
    t = rep["treatment"]
    assert t["members"] == 3
    assert t["active"] == 3
    assert t["active_rate"] == 1.0
    assert t["events"] == 7  # a: 3, b: 3 (login, purchase, refund), c: 1
    assert t["events_per_member"] == 7 / 3
    # counts 3, 3, 1: mean 7/3, variance ((2/3)² · 2 + (4/3)²) / 2 = 4/3
    assert abs(t["events_per_member_variance"] - 4 / 3) < 1e-9
    assert t["points_credited"] == 10 * 5 + 100  # five logins and one purchase in the window
    assert t["points_reversed"] == 100
    assert t["points_cost"] == 50
    assert t["points_cost_per_member"] == "16.67"
    assert t["retention_base"] == 2  # a and b were active in the first half
    assert t["retained"] == 2  # a logged in again, b's refund is an event in the second half
    assert t["retention"] == 1.0
    c = rep["control"]
    assert c["members"] == 0
    assert c["retention"] is None
    by_metric = {x["metric"]: x for x in rep["comparisons"]}
    assert by_metric["active_rate"]["p_value"] is None  # an empty group: no test
    assert by_metric["events_per_member"]["p_value"] is None
    assert rep["significant"] == []

    # Earlier, the window stops at now and the report is not complete.
    clock.set(s + timedelta(days=2))
    rep = (await client.get(f"/v1/experiments/{eid}/report", headers=h)).json()
    assert rep["window"]["complete"] is False
    assert datetime.fromisoformat(rep["window"]["ends_at"]) == s + timedelta(days=2)
    assert rep["treatment"]["events"] == 4  # a1, a2, b1, b2
    assert rep["treatment"]["points_credited"] == 30 + 100


async def _scenario(
    client: httpx.AsyncClient, clock: FixedClock, *, treatment_boost: bool
) -> dict[str, Any]:
    """300 members, 50/50, enrolled before the start. Activity depends only on a member's rank
    within their group, so with ``treatment_boost=False`` both groups behave the same; with it,
    treatment members are more often active, more active, and come back more."""
    _, h = await api_program(client)
    eid = "boost" if treatment_boost else "equal"
    s = START + timedelta(days=1)
    e = s + timedelta(days=14)
    await _rule(
        client,
        h,
        {
            "id": "login",
            "name": "login",
            "trigger": "login",
            "effects": [{"amount": {"fixed": 10}}],
        },
    )
    await _put_experiment(
        client, h, eid, starts_at=_iso(s), ends_at=_iso(e), treatment_percent="50"
    )
    members = [f"m{i:03d}" for i in range(300)]
    await _batch(client, h, [_event(f"join-{m}", "signup", m, START) for m in members])
    r = await client.post(f"/v1/experiments/{eid}/enroll", headers=h)
    assert r.status_code == 200, r.text
    rank: dict[str, int] = {}
    seen: Counter[str] = Counter()
    for m in members:
        g = group_for(eid, m, 5000)
        rank[m] = seen[g]
        seen[g] += 1

    def plan(m: str) -> tuple[int, int]:
        """(logins in the first half, logins in the second half)."""
        k = rank[m]
        if treatment_boost and group_for(eid, m, 5000) == "treatment":
            if k % 10 == 0:
                return 0, 0
            return 3 + k % 4, 2 if k % 5 else 0
        if k % 5 >= 2:
            return 0, 0
        return 1 + k % 2, 1 if k % 10 == 0 else 0

    first, second = [], []
    for m in members:
        n1, n2 = plan(m)
        first += [
            _event(f"{m}-a{j}", "login", m, s + timedelta(hours=1, minutes=j)) for j in range(n1)
        ]
        second += [
            _event(f"{m}-b{j}", "login", m, s + timedelta(days=9, minutes=j)) for j in range(n2)
        ]
    clock.set(s + timedelta(days=2))
    await _batch(client, h, first)
    clock.set(s + timedelta(days=10))
    await _batch(client, h, second)
    clock.set(e + timedelta(days=1))
    r = await client.get(f"/v1/experiments/{eid}/report", headers=h)
    assert r.status_code == 200, r.text
    rep: dict[str, Any] = r.json()
    for g in ("control", "treatment"):
        ms = [m for m in members if group_for(eid, m, 5000) == g]
        assert rep[g]["members"] == len(ms)
        assert rep[g]["active"] == sum(1 for m in ms if sum(plan(m)) > 0)
        assert rep[g]["events"] == sum(sum(plan(m)) for m in ms)
        assert rep[g]["points_cost"] == 10 * rep[g]["events"]
        assert rep[g]["retention_base"] == sum(1 for m in ms if plan(m)[0] > 0)
        assert rep[g]["retained"] == sum(1 for m in ms if plan(m)[0] > 0 and plan(m)[1] > 0)
    return rep


async def test_report_finds_a_real_difference(client: httpx.AsyncClient, clock: FixedClock) -> None:
    rep = await _scenario(client, clock, treatment_boost=True)
    assert set(rep["significant"]) == {
        "active_rate",
        "events_per_member",
        "retention",
        "points_cost_per_member",
    }
    for x in rep["comparisons"]:
        assert x["significant"] is True
        assert x["p_value"] < 0.001, x
        assert x["difference"] > 0, x
        assert x["statistic"] > 0, x
    assert rep["treatment"]["active_rate"] > 0.85
    assert rep["control"]["active_rate"] < 0.45


async def test_report_equal_groups_are_not_significant(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    rep = await _scenario(client, clock, treatment_boost=False)
    assert rep["significant"] == []
    for x in rep["comparisons"]:
        assert x["significant"] is False
        assert x["p_value"] > 0.5, x
