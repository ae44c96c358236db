"""Dry-run: a new rule replayed over stored events reports what it would have paid, writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.campaigns import service as campaigns
from jifen.campaigns.schemas import BudgetIn
from jifen.clock import FixedClock
from jifen.errors import InvalidInput
from jifen.events import service as events
from jifen.events.schemas import EventIn
from jifen.experiments.models import Experiment
from jifen.members import service as members
from jifen.members.schemas import MemberUpsert
from jifen.programs.context import ProgramContext
from jifen.rules import dryrun
from jifen.rules import service as rules
from tests.conftest import api_program

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
WINDOW = (datetime(2026, 2, 15, tzinfo=CST), datetime(2026, 2, 25, tzinfo=CST))

BUY_POINTS: dict[str, Any] = {
    "id": "buy-points",
    "name": "1 point per yuan, gold x1.5",
    "trigger": "purchase",
    "effects": [{"amount": {"per_unit": {"attribute": "amount", "unit": 100, "rate": "1"}}}],
    "tier_multipliers": {"gold": "1.5"},
}
CHECKIN_BONUS: dict[str, Any] = {
    "id": "checkin-bonus",
    "name": "5 points from the third check-in on",
    "trigger": "check_in",
    "condition": "counts.total >= 3",
    "effects": [{"amount": {"fixed": 5}}],
}
TABLES = ("ledger_transactions", "counters", "events", "budgets", "experiment_assignments")


def _at(day: int, hour: int) -> datetime:
    """February ``day`` at ``hour`` o'clock Shanghai time."""
    return datetime(2026, 2, day, hour, tzinfo=CST)


def _e(cid: str, type_: str, member: str, at: datetime, **attributes: Any) -> EventIn:
    return EventIn(client_id=cid, type=type_, member=member, occurred_at=at, attributes=attributes)


async def _ingest(
    sm: async_sessionmaker[AsyncSession], ctx: ProgramContext, batch: list[EventIn]
) -> None:
    async with sm() as s, s.begin():
        results = await events.ingest(s, ctx, batch, now=NOW)
    assert all(r.status == "processed" for r in results), [r.error for r in results]


async def _history(sm: async_sessionmaker[AsyncSession], ctx: ProgramContext) -> None:
    """Two live rules paid the history; u2 is gold."""
    async with sm() as s, s.begin():
        await rules.save(
            s,
            ctx,
            {"id": "checkin", "name": "10 a day", "trigger": "check_in",
             "effects": [{"amount": {"fixed": 10}}],
             "effective_from": "2026-01-01T00:00:00+08:00"},
            now=NOW, actor="test",
        )  # fmt: skip
        await rules.save(
            s,
            ctx,
            {"id": "buy-points", "name": "1 a purchase", "trigger": "purchase",
             "effects": [{"amount": {"fixed": 1}}],
             "effective_from": "2026-01-01T00:00:00+08:00"},
            now=NOW, actor="test",
        )  # fmt: skip
        await members.upsert(s, ctx.id, "u2", MemberUpsert(attributes={"tier": "gold"}), now=NOW)
    await _ingest(
        sm,
        ctx,
        [
            _e("c1", "check_in", "u1", _at(10, 10)),
            _e("c2", "check_in", "u1", _at(11, 10)),
            _e("o0", "purchase", "u5", _at(12, 10), order_id="o0", amount=50000),
            # the window [Feb 15, Feb 25) Shanghai:
            _e("c3", "check_in", "u1", _at(16, 10)),
            _e("c5", "check_in", "u2", _at(16, 11)),
            _e("c4", "check_in", "u1", _at(17, 10)),
            _e("o1", "purchase", "u1", _at(18, 10), order_id="o1", amount=12345),
            _e("o2", "purchase", "u2", _at(18, 11), order_id="o2", amount=5000),
            _e("o3", "purchase", "u3", _at(18, 12), order_id="o3", amount=99),
            _e("o4", "purchase", "u1", _at(19, 10), order_id="o4", amount=20000),
            _e("r4", "refund", "u1", _at(20, 10), order_id="o4", refund_amount=10000),
            # after the window:
            _e("o5", "purchase", "u4", _at(25, 10), order_id="o5", amount=100000),
        ],
    )


async def _row_counts(s: AsyncSession) -> dict[str, int]:
    return {
        t: int((await s.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()) for t in TABLES
    }


async def _run(
    sm: async_sessionmaker[AsyncSession], ctx: ProgramContext, rule_set: list[Any], **kw: Any
) -> dryrun.DryRunReport:
    async with sm() as s, s.begin():
        return await dryrun.dry_run(s, ctx, rule_set, start=WINDOW[0], end=WINDOW[1], now=NOW, **kw)


async def test_new_rules_over_history_report_exact_cost_and_write_nothing(
    sessionmaker: async_sessionmaker[AsyncSession], program: ProgramContext
) -> None:
    await _history(sessionmaker, program)
    async with sessionmaker() as s, s.begin():
        before = await _row_counts(s)

    report = await _run(sessionmaker, program, [BUY_POINTS, CHECKIN_BONUS])

    async with sessionmaker() as s, s.begin():
        assert await _row_counts(s) == before
    # buy-points: u1 123 (o1) + 200 (o4), u2 5000 fen x1.5 = 75, u3 99 fen rounds down to 0;
    # the refund of half of o4 takes 100 back. checkin-bonus: u1's check-ins 3 and 4 (two were
    # before the window, so counts.total starts from history); u2's first check-in is not paid.
    assert report.events_in_window == 8
    assert report.events_scanned == 8
    assert report.events_paying == 5
    assert report.members_affected == 2
    [points] = report.assets
    assert points.asset == "points"
    assert (points.paid, points.reversed, points.net) == (333 + 75, 100, 308)
    assert points.value_fen == 3080  # 1 point = 10 fen by default
    assert points.members == 2
    assert [(e.member, e.amount) for e in points.top_earners] == [("u1", 233), ("u2", 75)]
    assert sum(b.members for b in points.distribution) == 2
    assert points.distribution[0].low == 75
    assert points.distribution[-1].high == 233
    by_rule = {r.rule_id: r for r in report.per_rule}
    assert by_rule["buy-points"].model_dump() == {
        "rule_id": "buy-points", "version": 1, "source": "dry-run", "hits": 4, "payouts": 3,
        "members": 2, "paid": {"points": 398}, "reversed": {"points": 100}, "pending_review": {},
    }  # fmt: skip
    assert (by_rule["checkin-bonus"].hits, by_rule["checkin-bonus"].paid) == (2, {"points": 10})
    assert report.skip_reasons == {"condition_false": 1, "zero_amount": 1}
    assert report.rules == ["buy-points", "checkin-bonus"]

    # Paging does not change the answer.
    small = await _run(sessionmaker, program, [BUY_POINTS, CHECKIN_BONUS], page_size=2)
    assert small == report

    # With the stored rules: checkin (10 a check-in) joins; the given buy-points replaces its
    # stored namesake.
    both = await _run(sessionmaker, program, [BUY_POINTS, CHECKIN_BONUS], include_current=True)
    assert both.assets[0].net == 308 + 30
    assert {r.rule_id: r.source for r in both.per_rule} == {
        "buy-points": "dry-run", "checkin-bonus": "dry-run", "checkin": "current",
    }  # fmt: skip
    async with sessionmaker() as s, s.begin():
        assert await _row_counts(s) == before


async def test_budget_caps_in_memory_and_streaks_count_history(
    sessionmaker: async_sessionmaker[AsyncSession], program: ProgramContext
) -> None:
    await _history(sessionmaker, program)
    async with sessionmaker() as s, s.begin():
        await campaigns.save_budget(
            s, program, BudgetIn(id="buy-cap", name="cap", limit=300), now=NOW, actor="test"
        )
        before = await _row_counts(s)
    capped = await _run(sessionmaker, program, [{**BUY_POINTS, "budget": "buy-cap"}])
    # 123 + 75 + (200 cut to 102) = 300, then the refund takes back half of the 102.
    assert capped.assets[0].paid == 300
    assert capped.assets[0].reversed == 51
    assert [(b.budget_id, b.spent, b.exhausted) for b in capped.budgets] == [("buy-cap", 300, True)]
    assert capped.skip_reasons == {"zero_amount": 1}

    # Streak and today's count seeded from history: u1 checked in on Feb 10 and 11 and at
    # 10:00 on Feb 12; the window opens at noon on Feb 12.
    await _ingest(
        sessionmaker,
        program,
        [
            _e("s3", "check_in", "u1", _at(12, 10)),
            _e("s4", "check_in", "u1", _at(12, 15)),
            _e("s5", "check_in", "u1", _at(13, 10)),
        ],
    )
    streak = {
        "id": "streak", "name": "3 days in a row", "trigger": "check_in",
        "condition": "streak >= 3", "effects": [{"amount": {"fixed": 20}}],
    }  # fmt: skip
    second = {
        "id": "second-today", "name": "twice a day", "trigger": "check_in",
        "condition": "counts.today == 2", "effects": [{"amount": {"fixed": 7}}],
    }  # fmt: skip
    async with sessionmaker() as s, s.begin():
        before = await _row_counts(s)
        report = await dryrun.dry_run(
            s, program, [streak, second], start=_at(12, 12), end=_at(14, 0), now=NOW
        )
        assert await _row_counts(s) == before
    # Feb 12 15:00: streak 3 (20) and the second check-in that day (7); Feb 13: streak 4 (20).
    assert report.assets[0].net == 47
    assert {r.rule_id: r.paid for r in report.per_rule} == {
        "streak": {"points": 40}, "second-today": {"points": 7},
    }  # fmt: skip


async def test_experiment_groups_are_read_not_assigned(
    sessionmaker: async_sessionmaker[AsyncSession], program: ProgramContext
) -> None:
    await _history(sessionmaker, program)
    async with sessionmaker() as s, s.begin():
        s.add(
            Experiment(
                program_id=program.id, experiment_id="pilot", name="pilot", treatment_bp=10000,
                starts_at=NOW - timedelta(days=90), ends_at=None, definition={}, created_at=NOW,
            )
        )  # fmt: skip
        before = await _row_counts(s)
    treated = {**CHECKIN_BONUS, "experiment": {"id": "pilot", "group": "treatment"}}
    control = {**CHECKIN_BONUS, "id": "bonus-control",
               "experiment": {"id": "pilot", "group": "control"}}  # fmt: skip
    report = await _run(sessionmaker, program, [treated, control])
    by_rule = {r.rule_id: r for r in report.per_rule}
    assert by_rule["checkin-bonus"].paid == {"points": 10}
    assert by_rule["bonus-control"].paid == {}
    assert report.skip_reasons["experiment_group"] == 3
    async with sessionmaker() as s, s.begin():
        assert await _row_counts(s) == before
    missing = await _run(
        sessionmaker, program, [{**CHECKIN_BONUS, "experiment": {"id": "nope", "group": "control"}}]
    )
    assert missing.warnings == ["experiment 'nope' is not defined; every member counts as control"]


async def test_a_bad_rule_is_refused_like_save(
    sessionmaker: async_sessionmaker[AsyncSession], program: ProgramContext
) -> None:
    bad = {**CHECKIN_BONUS, "condition": "counts.total >= 3 && event.atributes.x == 1"}
    with pytest.raises(InvalidInput) as caught:
        await _run(sessionmaker, program, [BUY_POINTS, bad])
    assert caught.value.code == "invalid_rule"
    [problem] = caught.value.extra["problems"]
    assert problem["rule"] == "checkin-bonus"
    assert problem["field"] == "condition"
    assert problem["position"] == len("counts.total >= 3 && event.")


async def test_dry_run_endpoint(client: httpx.AsyncClient, clock: FixedClock) -> None:
    clock.set(NOW)
    _, h = await api_program(client)
    for cid, member, amount, day in (
        ("p1", "a", 1000, 16),
        ("p2", "b", 2550, 17),
        ("p3", "a", 500, 18),
    ):
        r = await client.post(
            "/v1/events",
            json={"client_id": cid, "type": "purchase", "member": member,
                  "occurred_at": _at(day, 10).isoformat(), "attributes": {"amount": amount}},
            headers=h,
        )  # fmt: skip
        assert r.status_code == 201, r.text
    body = {"rules": [BUY_POINTS], "start": WINDOW[0].isoformat(), "end": WINDOW[1].isoformat()}
    r = await client.post("/v1/rules/dry-run", json=body, headers=h)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["events_scanned"] == 3
    assert report["assets"][0]["net"] == 10 + 25 + 5
    assert report["assets"][0]["top_earners"] == [
        {"member": "b", "amount": 25}, {"member": "a", "amount": 15},
    ]  # fmt: skip
    # Nothing was paid for real: the rule was never saved.
    bal = (await client.get("/v1/members/a/balances", headers=h)).json()["balances"]
    assert all(b["balance"] == 0 for b in bal)
    assert (await client.get("/v1/rules", headers=h)).json() == []

    bad = {**body, "rules": [{**BUY_POINTS, "condition": "nonsense.x"}]}
    r = await client.post("/v1/rules/dry-run", json=bad, headers=h)
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_rule"
    assert r.json()["problems"][0]["position"] == 0
    r = await client.post("/v1/rules/dry-run", json={**body, "end": body["start"]}, headers=h)
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_window"


async def test_ladders_start_at_the_window_and_leavers_take_back_their_invite(
    sessionmaker: async_sessionmaker[AsyncSession], program: ProgramContext
) -> None:
    invites = [
        _e(f"i{n}", "invite_accepted", "inv", _at(10 + n, 10), invitee=f"f{n}") for n in range(8)
    ]
    await _ingest(
        sessionmaker,
        program,
        [
            *invites,
            _e("left", "member_left", "f6", _at(22, 10)),
            _e("x", "member_left", "f1", _at(22, 11)),
        ],
    )
    ladder = {
        "id": "invite", "name": "10/15/20", "trigger": "invite_accepted",
        "effects": [{"amount": {"ladder": [{"from": 1, "to": 3, "amount": 10},
                                           {"from": 4, "to": 5, "amount": 15},
                                           {"from": 6, "amount": 20}]}}],
    }  # fmt: skip
    report = await _run(sessionmaker, program, [ladder])
    # Invites 5..7 fall in [Feb 15, Feb 25): the rule's own count starts there, so they are its
    # 1st to 3rd (10 each); f6 (the 2nd) leaves and takes its 10 back; f1 was before the window.
    [points] = report.assets
    assert (points.paid, points.reversed, points.net) == (30, 10, 20)
    assert report.events_scanned == 3 + 2
    assert report.per_rule[0].reversed == {"points": 10}
