"""Coupons through the HTTP API: worked examples 1, 4 and 5, best choice, redeem, void, restore,
limits, bulk issue and expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.clock import FixedClock
from jifen.coupons import service as coupons
from jifen.coupons.schemas import TemplateIn
from jifen.jobs.runner import run_job
from jifen.members import service as members
from jifen.notify.models import OutboxMessage
from jifen.programs.context import ProgramContext
from tests.conftest import api_program
from tests.coupons.helpers import (
    issue,
    issued,
    line,
    member,
    problem,
    redeem,
    template,
    validate,
)

COURSE = {
    "kind": "fixed",
    "discount_fen": 10000,
    "threshold_fen": 30000,
    "scope": "categories",
    "categories": ["course"],
    "valid_days": 30,
}


async def test_example_1_course_coupon_threshold_scope_and_30_days(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    """100 yuan off a course order of at least 300 yuan, valid 30 days."""
    _, h = await api_program(client)
    await member(client, h, "u1")
    await member(client, h, "u2")
    t = await template(client, h, "course-100", **COURSE)
    assert (t["issued"], t["remaining"]) == (0, None)
    r = await issue(client, h, "u1", "course-100", key="promo-task-u1")
    assert r.status_code == 201, r.text
    coupon = r.json()
    code = coupon["code"]
    assert len(code) == 16
    assert code.isalnum()
    assert coupon["status"] == "available"
    issued_at = datetime.fromisoformat(coupon["valid_from"])
    assert issued_at == clock.now()
    assert datetime.fromisoformat(coupon["valid_until"]) == clock.now() + timedelta(days=30)
    # The same key again: the same coupon, nothing new.
    again = await issue(client, h, "u1", "course-100", key="promo-task-u1")
    assert again.status_code == 201
    assert again.json()["code"] == code
    assert again.headers.get("Idempotent-Replayed") == "true"

    ok = await validate(client, h, "u1", code, [line("c-1", "course", 30000)])
    assert ok.status_code == 200, ok.text
    assert ok.json()["discount_fen"] == 10000
    assert ok.json()["payable_fen"] == 20000
    low = await validate(client, h, "u1", code, [line("c-1", "course", 29900)])
    assert problem(low, 422) == "below_threshold"
    assert low.json()["threshold_fen"] == 30000
    assert low.json()["eligible_fen"] == 29900
    # A book does not count towards a courses-only threshold.
    mixed = [line("c-1", "course", 20000), line("b-1", "book", 20000)]
    assert problem(await validate(client, h, "u1", code, mixed), 422) == "below_threshold"
    book = await validate(client, h, "u1", code, [line("b-1", "book", 50000)])
    assert problem(book, 422) == "coupon_out_of_scope"
    other = await validate(client, h, "u2", code, [line("c-1", "course", 30000)])
    assert problem(other, 422) == "coupon_not_owned"
    unknown = await validate(client, h, "u1", "ZZZZ", [line("c-1", "course", 30000)])
    assert problem(unknown, 404) == "coupon_not_found"

    clock.advance(timedelta(days=30) - timedelta(seconds=1))
    last = await validate(client, h, "u1", code, [line("c-1", "course", 30000)])
    assert last.status_code == 200
    clock.advance(timedelta(seconds=1))
    late = await validate(client, h, "u1", code, [line("c-1", "course", 30000)])
    assert problem(late, 422) == "coupon_expired"
    listed = await client.get("/v1/members/u1/coupons", headers=h)
    assert [c["status"] for c in listed.json()] == ["expired"]
    # A refused redeem changes nothing.
    r = await redeem(client, h, "u1", code, "o-late", [line("c-1", "course", 30000)])
    assert problem(r, 422) == "coupon_expired"
    listed = await client.get("/v1/members/u1/coupons?status=expired", headers=h)
    assert [(c["code"], c["order_id"]) for c in listed.json()] == [(code, None)]


async def test_not_started_window_and_percent_rounding(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await member(client, h, "u1")
    start = clock.now() + timedelta(days=1)
    await template(
        client, h, "nine", kind="percent", percent="0.9", max_discount_fen=8000,
        valid_from=start.isoformat(), valid_until=(start + timedelta(days=7)).isoformat(),
    )  # fmt: skip
    code = await issued(client, h, "u1", "nine")
    early = await validate(client, h, "u1", code, [line("p", "any", 12345)])
    assert problem(early, 422) == "coupon_not_started"
    clock.advance(timedelta(days=1))
    r = await validate(client, h, "u1", code, [line("p", "any", 12345)])
    assert r.json()["discount_fen"] == 1234  # 1234.5 rounded down to the fen
    r = await validate(client, h, "u1", code, [line("p", "any", 50000, quantity=3)])
    assert r.json()["discount_fen"] == 8000  # 15000 capped at 80 yuan
    # percent_off is the other spelling: 15% off.
    await template(client, h, "off15", kind="percent", percent_off="15", valid_days=3)
    code2 = await issued(client, h, "u1", "off15")
    r = await validate(client, h, "u1", code2, [line("p", "any", 999)])
    assert r.json()["discount_fen"] == 149  # 149.85 rounded down


async def test_bad_templates_are_refused(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    for bad in (
        {"kind": "fixed", "valid_days": 3},
        {"kind": "percent", "percent": "1.2", "valid_days": 3},
        {"kind": "no_threshold", "discount_fen": 5000},
        {"kind": "fixed", "discount_fen": 100, "valid_days": 3, "scope": "categories"},
        {"kind": "fixed", "discount_fen": 1.5, "valid_days": 3},
    ):
        r = await client.put("/v1/coupon-templates/bad", json={"name": "x", **bad}, headers=h)
        assert r.status_code == 422, (bad, r.text)
    missing = await client.get("/v1/coupon-templates/bad", headers=h)
    assert problem(missing, 404) == "coupon_template_not_found"


async def test_example_5_best_coupon_redeem_once_void_and_restore(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    """A 50-yuan no-threshold coupon (1000 points in example 5) among others; pick the best."""
    _, h = await api_program(client)
    await member(client, h, "u1")
    await template(client, h, "course-100", **COURSE)
    await template(client, h, "free50", kind="no_threshold", discount_fen=5000, valid_days=30)
    await template(client, h, "free50-short", kind="no_threshold", discount_fen=5000, valid_days=7)
    await template(
        client, h, "nine", kind="percent", percent="0.9", max_discount_fen=8000, valid_days=30
    )
    course = await issued(client, h, "u1", "course-100")
    free = await issued(client, h, "u1", "free50")
    nine = await issued(client, h, "u1", "nine")

    async def best(lines: list[dict[str, Any]]) -> dict[str, Any]:
        r = await client.post("/v1/coupons/best", json={"member": "u1", "lines": lines}, headers=h)
        assert r.status_code == 200, r.text
        return dict(r.json())

    b = await best([line("c-1", "course", 40000)])
    assert b["best"]["code"] == course
    assert b["best"]["discount_fen"] == 10000
    got = {c["code"]: (c["discount_fen"], c["reason"]) for c in b["candidates"]}
    assert got == {course: (10000, None), free: (5000, None), nine: (4000, None)}
    b = await best([line("b-1", "book", 20000)])
    assert b["best"]["code"] == free
    got = {c["code"]: (c["discount_fen"], c["reason"]) for c in b["candidates"]}
    assert got[course] == (0, "coupon_out_of_scope")
    assert got[nine] == (2000, None)
    # A no-threshold coupon never gives more than the cart is worth.
    b = await best([line("b-1", "book", 3000)])
    assert b["best"]["discount_fen"] == 3000
    # Tie at 50 yuan: the one that expires soonest wins.
    short = await issued(client, h, "u1", "free50-short")
    b = await best([line("b-1", "book", 20000)])
    assert b["best"]["code"] == short

    cart = [line("b-1", "book", 20000)]
    r = await redeem(client, h, "u1", short, "order-1", cart)
    assert r.status_code == 200, r.text
    assert (r.json()["discount_fen"], r.json()["payable_fen"], r.json()["order_id"]) == (
        5000, 15000, "order-1",
    )  # fmt: skip
    replay = await redeem(client, h, "u1", short, "order-1", cart)
    assert replay.status_code == 200
    assert replay.json()["discount_fen"] == 5000
    assert problem(await redeem(client, h, "u1", short, "order-2", cart), 409) == "coupon_used"
    assert problem(await validate(client, h, "u1", short, cart), 409) == "coupon_used"
    b = await best(cart)
    assert b["best"]["code"] == free

    # Refund of order-1: the coupon comes back while it is valid.
    wrong = await client.post(
        f"/v1/coupons/{short}/restore", json={"order_id": "order-9"}, headers=h
    )
    assert problem(wrong, 409) == "coupon_order_mismatch"
    back = await client.post(
        f"/v1/coupons/{short}/restore", json={"order_id": "order-1"}, headers=h
    )
    assert back.status_code == 200, back.text
    assert back.json()["status"] == "available"
    twice = await client.post(
        f"/v1/coupons/{short}/restore", json={"order_id": "order-1"}, headers=h
    )
    assert twice.status_code == 200
    assert twice.json()["status"] == "available"
    stray = await client.post(
        f"/v1/coupons/{short}/restore", json={"order_id": "order-9"}, headers=h
    )
    assert problem(stray, 409) == "coupon_not_used"
    r = await redeem(client, h, "u1", short, "order-3", cart)
    assert r.status_code == 200
    assert r.json()["order_id"] == "order-3"

    # Void: an available coupon is voided once; it can no longer be used.
    v = await client.post(f"/v1/coupons/{free}/void", json={"reason": "fraud"}, headers=h)
    assert v.status_code == 200, v.text
    assert v.json()["status"] == "void"
    v2 = await client.post(f"/v1/coupons/{free}/void", json={}, headers=h)
    assert v2.status_code == 200
    assert v2.json()["status"] == "void"
    assert problem(await validate(client, h, "u1", free, cart), 409) == "coupon_void"
    assert problem(await redeem(client, h, "u1", free, "order-4", cart), 409) == "coupon_void"
    used_void = await client.post(f"/v1/coupons/{short}/void", json={}, headers=h)
    assert problem(used_void, 409) == "coupon_used"

    # After its validity, a refunded order's coupon is not restored and stays used.
    clock.advance(timedelta(days=8))
    late = await client.post(
        f"/v1/coupons/{short}/restore", json={"order_id": "order-3"}, headers=h
    )
    assert problem(late, 422) == "coupon_expired"
    r = await client.get("/v1/members/u1/coupons", headers=h)
    assert {c["code"]: c["status"] for c in r.json()} == {
        short: "used", free: "void", course: "available", nine: "available",
    }  # fmt: skip


async def test_limits_bulk_issue_and_member_view(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    for m in ("u1", "u2", "u3"):
        await member(client, h, m)
    await template(
        client, h, "once", kind="no_threshold", discount_fen=500, valid_days=5, per_member_limit=1
    )
    await issued(client, h, "u1", "once")
    r = await issue(client, h, "u1", "once")
    assert problem(r, 422) == "coupon_limit_reached"
    await template(
        client, h, "two", kind="no_threshold", discount_fen=500, valid_days=5, total_quantity=2
    )
    body = {"members": ["u1", "u2", "u3", "ghost"], "reference": "double11"}
    r = await client.post("/v1/coupon-templates/two/issue", json=body, headers=h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert [(x["member"], x["status"], x["code"]) for x in out["results"]] == [
        ("u1", 201, None), ("u2", 201, None), ("u3", 422, "coupon_sold_out"),
        ("ghost", 404, "member_not_found"),
    ]  # fmt: skip
    assert (out["issued"], out["failed"]) == (2, 2)
    # Re-sending the campaign issues nothing twice.
    r = await client.post("/v1/coupon-templates/two/issue", json=body, headers=h)
    assert [x["status"] for x in r.json()["results"]] == [201, 201, 422, 404]
    t = (await client.get("/v1/coupon-templates/two", headers=h)).json()
    assert (t["issued"], t["remaining"]) == (2, 0)
    names = [t["id"] for t in (await client.get("/v1/coupon-templates", headers=h)).json()]
    assert names == ["once", "two"]
    inactive = await template(
        client, h, "off", kind="no_threshold", discount_fen=500, valid_days=5, active=False
    )
    assert inactive["active"] is False
    assert problem(await issue(client, h, "u2", "off"), 422) == "coupon_template_inactive"
    assert problem(await issue(client, h, "u2", "nope"), 404) == "coupon_template_not_found"

    token = (await client.post("/v1/members/u1/tokens", headers=h)).json()["token"]
    me = {"Authorization": f"Bearer {token}"}
    mine = await client.get("/v1/me/coupons?status=available", headers=me)
    assert mine.status_code == 200, mine.text
    assert sorted(c["template_id"] for c in mine.json()) == ["once", "two"]
    b = await client.post("/v1/me/coupons/best", json={"lines": [line("x", "y", 100)]}, headers=me)
    assert b.status_code == 200
    assert b.json()["best"]["discount_fen"] == 100


async def test_expiry_job_marks_expired_once(
    client: httpx.AsyncClient,
    clock: FixedClock,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    pid, h = await api_program(client)
    await member(client, h, "u1")
    await template(client, h, "short", kind="no_threshold", discount_fen=500, valid_days=1)
    await template(client, h, "long", kind="no_threshold", discount_fen=500, valid_days=10)
    a = await issued(client, h, "u1", "short")
    b = await issued(client, h, "u1", "short")
    c = await issued(client, h, "u1", "long")
    clock.set(datetime(2026, 3, 3, tzinfo=UTC))
    results = await run_job("coupons", sessionmaker, clock, program_id=pid)
    assert [r.count for r in results] == [2]
    assert [r.count for r in await run_job("coupons", sessionmaker, clock, program_id=pid)] == [0]
    r = await client.get("/v1/members/u1/coupons", headers=h)
    assert {x["code"]: x["status"] for x in r.json()} == {
        a: "expired", b: "expired", c: "available",
    }  # fmt: skip
    r = await client.get("/v1/members/u1/coupons?status=available", headers=h)
    assert [x["code"] for x in r.json()] == [c]


async def test_issue_coupon_contract_is_idempotent_and_notifies(
    sessionmaker: async_sessionmaker[AsyncSession], program: ProgramContext, clock: FixedClock
) -> None:
    """The function other domains call: the same (template, source, source_ref) gives the same
    coupon, and each new coupon writes one ``coupon.issued`` message in the same transaction."""
    now = clock.now()
    async with sessionmaker() as s, s.begin():
        refs = await members.resolve(s, program.id, ["u1"], create=True, now=now)
        await coupons.save_template(
            s, program, "free50",
            TemplateIn(name="50元无门槛", kind="no_threshold", discount_fen=5000, valid_days=30),
            now=now, actor="test",
        )  # fmt: skip
        first = await coupons.issue_coupon(
            s, program, member_id=refs["u1"].id, template_id="free50", now=now,
            source="task", source_ref="promo-1",
        )  # fmt: skip
    async with sessionmaker() as s, s.begin():
        again = await coupons.issue_coupon(
            s, program, member_id=refs["u1"].id, template_id="free50", now=now,
            source="task", source_ref="promo-1",
        )  # fmt: skip
        other = await coupons.issue_coupon(
            s, program, member_id=refs["u1"].id, template_id="free50", now=now,
            source="task", source_ref="promo-2",
        )  # fmt: skip
        topics = (
            await s.scalars(
                select(OutboxMessage.payload).where(
                    OutboxMessage.program_id == program.id, OutboxMessage.topic == "coupon.issued"
                )
            )
        ).all()
    assert again.id == first.id
    assert again.code == first.code
    assert other.code != first.code
    assert (first.status, first.template_id, first.member) == ("available", "free50", "u1")
    assert first.valid_until == now + timedelta(days=30)
    assert sorted(p["code"] for p in topics) == sorted([first.code, other.code])
