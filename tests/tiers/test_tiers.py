"""Tiers: the scheme API, growth tiers, protection after an upgrade, history and outbox, and
re-evaluation that changes nothing twice (re-run, or two runs at once on PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.clock import FixedClock
from jifen.jobs import runner
from jifen.notify.models import OutboxMessage
from jifen.tiers import service as tiers
from jifen.tiers.models import TierHistory
from tests.conftest import api_program
from tests.events.engine_api import save_rule, send, set_member, sh
from tests.tiers.tiers_api import (
    GROWTH_TIERS,
    code_of,
    evaluate,
    history_of,
    put_scheme,
    tier_of,
)

GROWTH_SCHEME: dict[str, Any] = {
    "name": "成长值",
    "qualification": {"metric": "growth"},
    "tiers": GROWTH_TIERS,
}


async def _growth_rule(client: httpx.AsyncClient, h: dict[str, str]) -> None:
    # 1 growth per yuan spent.
    await save_rule(
        client, h, id="growth", name="消费 1 元 1 成长值", trigger="purchase",
        effects=[{"asset": "growth",
                  "amount": {"per_unit": {"attribute": "amount_fen", "unit": 100, "rate": "1"}}}],
    )  # fmt: skip


async def _outbox(
    sessionmaker: async_sessionmaker[AsyncSession], program_id: str
) -> list[dict[str, Any]]:
    async with sessionmaker() as s:
        rows = await s.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.program_id == program_id, OutboxMessage.topic == "tier.changed")
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
        )
        return [r.payload for r in rows]


async def test_scheme_put_get_validate_and_delete(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    r = await client.get("/v1/tier-scheme", headers=h)
    assert (r.status_code, r.json()["code"]) == (404, "tier_scheme_not_found")
    r = await client.get("/v1/tiers", headers=h)
    assert (r.status_code, r.json()["code"]) == (404, "tier_scheme_not_found")
    saved = await put_scheme(client, h, GROWTH_SCHEME)
    assert saved["version"] == 1
    assert [t["code"] for t in saved["tiers"]] == ["bronze", "silver", "gold", "platinum"]
    assert saved["evaluation"] == {
        "period": "month",
        "downgrade_after_periods": 1,
        "downgrade_to": "one_step",
        "protection_months": 0,
    }
    assert (await put_scheme(client, h, GROWTH_SCHEME))["version"] == 2
    r = await client.get("/v1/tier-scheme", headers=h)
    assert r.json()["version"] == 2
    bad = [
        {**GROWTH_SCHEME, "tiers": [{"code": "a", "name": "A", "min": 5}]},
        {**GROWTH_SCHEME, "tiers": [GROWTH_TIERS[0], GROWTH_TIERS[2], GROWTH_TIERS[1]]},
        {**GROWTH_SCHEME, "tiers": [GROWTH_TIERS[0], GROWTH_TIERS[0]]},
        {**GROWTH_SCHEME, "qualification": {"metric": "rfm"}},
        {**GROWTH_SCHEME, "tiers": [{**GROWTH_TIERS[0], "benefits": {"discount_rate": 1.5}}]},
        {**GROWTH_SCHEME, "surprise": True},
    ]
    for body in bad:
        r = await client.put("/v1/tier-scheme", json=body, headers=h)
        assert r.status_code == 422, body
    r = await client.delete("/v1/tier-scheme", headers=h)
    assert r.status_code == 204
    r = await client.delete("/v1/tier-scheme", headers=h)
    assert r.status_code == 404


async def test_growth_upgrade_is_immediate_and_says_what_is_left(
    client: httpx.AsyncClient, clock: FixedClock, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    pid, h = await api_program(client)
    await put_scheme(client, h, GROWTH_SCHEME)
    await _growth_rule(client, h)
    t = clock.now()
    await send(client, h, "o1", "purchase", "m", t, order_id="o1", amount_fen=66000)
    got = await tier_of(client, h, "m")
    assert got["tier"]["code"] == "bronze"
    assert got["progress"] == {
        "metric": "growth", "value": 660, "next": "silver", "next_name": "白银",
        "needed": 340, "text": "还需成长值 340",
    }  # fmt: skip
    # The event that crosses 1,000 upgrades at once, in its own transaction.
    r = await send(client, h, "o2", "purchase", "m", t, order_id="o2", amount_fen=34000)
    assert r["status"] == "processed"
    # The event's result says what it caused, the tier change included, and keeps saying it.
    assert r["tier_changes"] == [{"from_tier": "bronze", "to_tier": "silver"}]
    why = await client.get(
        f"/v1/transactions/{r['postings'][0]['transaction_id']}/explain", headers=h
    )
    assert why.status_code == 200, why.text
    got = await tier_of(client, h, "m")
    assert (got["tier"]["code"], got["since"]) == ("silver", "2026-03-01T04:00:00Z")
    assert (got["progress"]["needed"], got["progress"]["text"]) == (4000, "还需成长值 4000")
    assert await history_of(client, h, "m") == [("bronze", "silver", "upgrade", "event", None)]
    assert await _outbox(sessionmaker, pid) == [
        {"member": "m", "from": "bronze", "to": "silver", "direction": "upgrade",
         "source": "event", "period": None, "metric": "growth", "value": 1000},
    ]  # fmt: skip
    # A replayed event changes nothing.
    again = await send(
        client, h, "o2", "purchase", "m", t, expect=200, order_id="o2", amount_fen=34000
    )
    assert again["status"] == "duplicate"
    assert again["tier_changes"] == [{"from_tier": "bronze", "to_tier": "silver"}]
    assert len(await history_of(client, h, "m")) == 1
    # Growth credited straight through the ledger is seen by the next evaluation.
    r = await client.post(
        "/v1/credits",
        json={"member": "m", "asset": "growth", "amount": 4000, "reason": "补发"},
        headers={**h, "Idempotency-Key": "g-1"},
    )
    assert r.status_code == 201, r.text
    assert await code_of(client, h, "m") == "silver"
    run = await evaluate(client, h)
    assert (run["period"], run["evaluated"], run["upgraded"]) == ("m:2026-03", 1, 1)
    assert await code_of(client, h, "m") == "gold"
    assert (await history_of(client, h, "m"))[-1] == (
        "silver", "gold", "upgrade", "evaluation", "m:2026-03",
    )  # fmt: skip
    assert [m["to"] for m in await _outbox(sessionmaker, pid)] == ["silver", "gold"]


async def test_protection_after_an_upgrade_holds_off_the_downgrade(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await put_scheme(
        client,
        h,
        {
            "qualification": {"metric": "points_earned", "window_months": 1},
            "evaluation": {"downgrade_after_periods": 1, "protection_months": 2},
            "tiers": GROWTH_TIERS,
        },
    )
    await save_rule(
        client, h, id="p", name="1 point per yuan", trigger="purchase",
        effects=[{"amount": {"per_unit": {"attribute": "amount_fen", "unit": 100, "rate": "1"}}}],
    )  # fmt: skip
    for m in ("p", "q"):
        clock.set(sh(2026, 3, 2))
        await send(
            client, h, f"o-{m}", "purchase", m, clock.now(), order_id=f"o-{m}", amount_fen=100000
        )
    assert await code_of(client, h, "p") == "silver"
    assert (await tier_of(client, h, "p"))["protected_until"] == "2026-05-02T04:00:00Z"
    clock.set(sh(2026, 4, 1, 1))
    assert (await evaluate(client, h))["downgraded"] == 0  # March earned 1,000 each
    # q keeps earning in April, p does not.
    clock.set(sh(2026, 4, 2))
    await send(client, h, "o-q2", "purchase", "q", clock.now(), order_id="o-q2", amount_fen=100000)
    clock.set(sh(2026, 5, 1, 1))
    run = await evaluate(client, h)
    # April: p earned nothing, but is protected until May 2.
    assert run["downgraded"] == 0
    p = await tier_of(client, h, "p")
    assert (p["tier"]["code"], p["periods_below"]) == ("silver", 0)
    clock.set(sh(2026, 6, 1, 1))
    run = await evaluate(client, h)
    assert run["downgraded"] == 2  # May: neither earned; the protection is over
    assert await code_of(client, h, "p") == "bronze"
    assert await history_of(client, h, "p") == [
        ("bronze", "silver", "upgrade", "event", None),
        ("silver", "bronze", "downgrade", "evaluation", "m:2026-06"),
    ]


async def test_renaming_tiers_keeps_ranks_and_shortening_clamps(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await put_scheme(client, h, GROWTH_SCHEME)
    await _growth_rule(client, h)
    await send(client, h, "o1", "purchase", "m", clock.now(), order_id="o1", amount_fen=3_000_000)
    assert await code_of(client, h, "m") == "platinum"
    renamed = [{**t, "code": f"v{i}", "name": f"V{i}"} for i, t in enumerate(GROWTH_TIERS[:2])]
    await put_scheme(client, h, {**GROWTH_SCHEME, "tiers": renamed})
    got = await tier_of(client, h, "m")
    assert got["tier"] == {"code": "v1", "name": "V1", "rank": 1}
    assert got["progress"]["next"] is None


async def test_history_pages_newest_first(client: httpx.AsyncClient, clock: FixedClock) -> None:
    _, h = await api_program(client)
    await put_scheme(client, h, GROWTH_SCHEME)
    await _growth_rule(client, h)
    for i, fen in enumerate((100000, 400000, 1500000)):
        await send(
            client, h, f"o{i}", "purchase", "m", clock.now(), order_id=f"o{i}", amount_fen=fen
        )
    r = await client.get("/v1/members/m/tier-history?limit=2", headers=h)
    page = r.json()
    assert [i["to_tier"] for i in page["items"]] == ["platinum", "gold"]
    r = await client.get(
        f"/v1/members/m/tier-history?limit=2&cursor={page['next_cursor']}", headers=h
    )
    assert [i["to_tier"] for i in r.json()["items"]] == ["silver"]
    assert r.json()["next_cursor"] is None
    r = await client.get("/v1/members/nobody/tier-history", headers=h)
    assert (r.status_code, r.json()["code"]) == (404, "member_not_found")


async def _seed_members(
    client: httpx.AsyncClient, h: dict[str, str], clock: FixedClock, n: int
) -> None:
    """n members; every third one bought enough in February for silver by RFM-free spend."""
    clock.set(sh(2026, 2, 10))
    body = {
        "events": [
            {
                "client_id": f"o{i}",
                "type": "purchase",
                "member": f"m{i:03d}",
                "occurred_at": clock.now().isoformat(),
                "attributes": {"order_id": f"o{i}", "amount_fen": 150000 if i % 3 == 0 else 1000},
            }
            for i in range(n)
        ]
    }
    r = await client.post("/v1/events/batch", json=body, headers=h)
    assert r.status_code == 200, r.text


SPEND_SCHEME: dict[str, Any] = {
    "qualification": {"metric": "spend", "window_months": 1},
    "evaluation": {"downgrade_after_periods": 1},
    "tiers": [
        {"code": "normal", "name": "普通", "min": 0},
        {"code": "silver", "name": "银卡", "min": 100000},
    ],
}


async def test_job_rerun_changes_nothing_and_counts_every_member_once(
    client: httpx.AsyncClient,
    clock: FixedClock,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pid, h = await api_program(client)
    await _seed_members(client, h, clock, 20)
    await put_scheme(client, h, SPEND_SCHEME)  # after the purchases: no immediate upgrades
    monkeypatch.setattr(tiers, "SLICE", 6)  # several slices, one transaction each
    clock.set(sh(2026, 3, 1, 0, 10))
    done = await runner.run_job("tiers", sessionmaker, clock, program_id=pid)
    assert [(d.job, d.count) for d in done] == [("tiers", 20)]
    again = await runner.run_job("tiers", sessionmaker, clock, program_id=pid)
    assert [d.count for d in again] == [0]
    run = await evaluate(client, h)
    assert (run["period"], run["evaluated"], run["upgraded"]) == ("m:2026-03", 20, 7)
    async with sessionmaker() as s:
        n = await s.scalar(
            select(func.count()).select_from(TierHistory).where(TierHistory.program_id == pid)
        )
    assert n == 7
    assert len(await _outbox(sessionmaker, pid)) == 7
    # "m:2026-04": March had no purchases; silver drops after one period below.
    clock.set(sh(2026, 4, 1, 8))
    run = await evaluate(client, h)
    assert (run["period"], run["evaluated"], run["downgraded"]) == ("m:2026-04", 20, 7)
    assert await code_of(client, h, "m000") == "normal"


async def test_two_runs_at_once_change_nothing_twice(
    client: httpx.AsyncClient,
    clock: FixedClock,
    sessionmaker: async_sessionmaker[AsyncSession],
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if backend != "postgresql":
        pytest.skip("concurrent runs need PostgreSQL")
    pid, h = await api_program(client)
    await _seed_members(client, h, clock, 30)
    await put_scheme(client, h, SPEND_SCHEME)
    monkeypatch.setattr(tiers, "SLICE", 4)
    clock.set(sh(2026, 3, 1, 0, 10))
    a, b, c = await asyncio.gather(
        runner.run_job("tiers", sessionmaker, clock, program_id=pid),
        runner.run_job("tiers", sessionmaker, clock, program_id=pid),
        client.post("/v1/tiers/evaluate", headers=h),
    )
    assert a[0].count + b[0].count <= 30
    assert c.status_code == 200, c.text
    assert (c.json()["evaluated"], c.json()["upgraded"]) == (30, 10)
    async with sessionmaker() as s:
        n = await s.scalar(
            select(func.count()).select_from(TierHistory).where(TierHistory.program_id == pid)
        )
    assert n == 10
    assert len(await _outbox(sessionmaker, pid)) == 10
    assert await code_of(client, h, "m003") == "silver"
    assert await code_of(client, h, "m004") == "normal"


async def test_tiers_of_contract(
    client: httpx.AsyncClient, clock: FixedClock, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    pid, h = await api_program(client)
    await set_member(client, h, "a")
    async with sessionmaker() as s:
        from jifen.members import service as members

        a = await members.get(s, pid, "a")
        assert await tiers.tiers_of(s, pid, [a.id]) == {}  # no scheme: absent
    await put_scheme(
        client,
        h,
        {**GROWTH_SCHEME, "tiers": [
            {**GROWTH_TIERS[0], "benefits": {"discount_rate": "0.98"}},
            {**GROWTH_TIERS[1], "benefits": {"points_multiplier": "1.2", "discount_rate": "0.95"}},
        ]},
    )  # fmt: skip
    await _growth_rule(client, h)
    await send(client, h, "o1", "purchase", "a", clock.now(), order_id="o1", amount_fen=100000)
    async with sessionmaker() as s:
        view = (await tiers.tiers_of(s, pid, [a.id]))[a.id]
    assert (view.code, view.name, view.rank) == ("silver", "白银", 1)
    assert (str(view.multiplier), str(view.discount_rate)) == ("1.2", "0.95")


async def test_spend_reads_amounts_as_integers_only_and_says_yuan_to_go(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await put_scheme(
        client,
        h,
        {
            "qualification": {"metric": "spend", "window_months": 12},
            "tiers": [
                {"code": "normal", "name": "普通会员", "min": 0},
                {"code": "vip", "name": "VIP", "min": 100000},
            ],
        },
    )
    t = clock.now()
    amounts = [12345, "20000", 99.5, "abc", "-500", -700, None, {"x": 1}, True]
    for i, fen in enumerate(amounts):
        await send(client, h, f"o{i}", "purchase", "m", t, order_id=f"o{i}", amount_fen=fen)
    # Other event types do not count.
    await send(client, h, "x1", "check_in", "m", t, amount_fen=100000)
    got = await tier_of(client, h, "m")
    assert got["progress"]["value"] == 12345 + 20000
    assert got["progress"]["needed"] == 100000 - 32345
    assert got["progress"]["text"] == "还需消费 676.55 元"
    await send(client, h, "o-big", "purchase", "m", t, order_id="o-big", amount_fen=67655)
    got = await tier_of(client, h, "m")
    assert (got["tier"]["code"], got["progress"]["text"]) == ("vip", "已是最高等级")
    # A purchase older than the window no longer counts at the next evaluation.
    clock.set(sh(2027, 4, 2))
    run = await evaluate(client, h)
    assert (run["period"], run["downgraded"]) == ("m:2027-04", 1)
    assert await code_of(client, h, "m") == "normal"
