"""The console in a real browser: sign in, write a rule (errors inline), dry-run it with a
chart, approve a review, adjust a member's points; each checked on the page and in the database."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.ledger.models import Account
from jifen.members.models import Member
from jifen.programs.models import AuditEntry
from jifen.rules.models import PendingReward, RuleVersion
from tests.e2e.conftest import Server, Shop, login, shot


def send_events(server: Server, shop: Shop, events: list[tuple[str, str, str, int]]) -> None:
    """(client_id, type, member, days before now) → POST /v1/events."""
    with server.api() as c:
        for client_id, type_, member, days_ago in events:
            at = server.clock.now() - timedelta(days=days_ago)
            r = c.post(
                "/v1/events",
                json={
                    "client_id": client_id,
                    "type": type_,
                    "member": member,
                    "occurred_at": at.isoformat(),
                    "attributes": {},
                },
                headers=shop.headers,
            )
            assert r.status_code == 201, r.text


def put_member(server: Server, shop: Shop, member: str, **fields: Any) -> None:
    with server.api() as c:
        r = c.put(f"/v1/members/{member}", json=fields, headers=shop.headers)
        assert r.status_code in (200, 201), r.text


def balance(server: Server, program_id: str, member: str, asset: str = "points") -> int:
    async def q(s: AsyncSession) -> int:
        value = await s.scalar(
            select(Account.balance)
            .join(Member, Member.id == Account.member_id)
            .where(
                Account.program_id == program_id,
                Member.program_id == program_id,
                Member.external_id == member,
                Account.asset == asset,
            )
        )
        return int(value or 0)

    return server.run(q)


def test_sign_in_write_rule_with_inline_errors_and_dry_run_chart(
    server: Server, shop: Shop, context: Any
) -> None:
    # Three members checked in over the last days: 2 + 2 + 1 events, on different days.
    send_events(
        server,
        shop,
        [
            ("a:1", "check_in", "u-a", 1),
            ("a:2", "check_in", "u-a", 2),
            ("b:1", "check_in", "u-b", 1),
            ("b:3", "check_in", "u-b", 3),
            ("c:1", "check_in", "u-c", 4),
        ],
    )
    page = context.new_page()
    login(page, server, shop.emails["operator"])
    assert "运营" in page.inner_text("[data-testid=whoami]")
    page.click("[data-nav=rules]")
    page.click("[data-testid=new-rule]")

    bad = {
        "id": "checkin-e2e",
        "name": "每日签到",
        "trigger": "check_in",
        "condition": "event.attributes.x >",
        "effects": [{"amount": {"fixed": 10}}],
    }
    page.fill("#definition", json.dumps(bad, ensure_ascii=False, indent=2))
    page.click("[data-testid=save]")
    problems = page.locator("[data-testid=problems]")
    problems.wait_for()
    assert page.locator("[data-testid=problems] li[data-field=condition]").count() == 1
    shot(page, "console-rule-errors")

    async def versions(s: AsyncSession) -> int:
        return int(
            await s.scalar(
                select(func.count())
                .select_from(RuleVersion)
                .where(RuleVersion.program_id == shop.id, RuleVersion.rule_id == "checkin-e2e")
            )
            or 0
        )

    assert server.run(versions) == 0  # nothing saved

    good = {**bad, "condition": "true", "limits": [{"window": "day", "max_count": 1}]}
    page.fill("#definition", json.dumps(good, ensure_ascii=False, indent=2))
    page.click("[data-testid=save]")
    page.wait_for_url(f"**/console/p/{shop.id}/rules/checkin-e2e")
    assert "v1" in page.inner_text("[data-testid=versions]")
    assert server.run(versions) == 1

    async def author(s: AsyncSession) -> str:
        row = (
            await s.scalars(
                select(RuleVersion).where(
                    RuleVersion.program_id == shop.id, RuleVersion.rule_id == "checkin-e2e"
                )
            )
        ).one()
        return row.created_by

    assert server.run(author) == f"console:{shop.emails['operator']}"

    page.click("[data-testid=dry-run]")
    page.locator("[data-testid=dry-run-result]").wait_for()
    # 5 check-ins, each on its own day: 5 paying events, 50 points, 3 members.
    assert page.inner_text("[data-testid=events-paying]") == "5"
    assert page.inner_text("[data-testid=paid-points]") == "50"
    page.locator("#dry-run-chart canvas").wait_for()
    shot(page, "console-rule-dry-run")
    # A dry-run pays nothing.
    assert balance(server, shop.id, "u-a") == 0


def test_review_claim_and_approve(server: Server, shop: Shop, context: Any) -> None:
    with server.api() as c:
        r = c.post(
            "/v1/rules",
            json={
                "id": "share-task",
                "name": "分享截图 +30（人工审核）",
                "trigger": "share",
                "review": True,
                "effects": [{"amount": {"fixed": 30}}],
            },
            headers=shop.headers,
        )
        assert r.status_code == 201, r.text
    send_events(server, shop, [("share:1", "share", "u-r", 0), ("share:2", "share", "u-s", 0)])
    page = context.new_page()
    login(page, server, shop.emails["reviewer"])
    page.click("[data-nav=reviews]")
    rows = page.locator("[data-testid=reviews-table] tr[data-review]")
    assert rows.count() == 2
    shot(page, "console-reviews")
    first = rows.first
    review_id = int(first.get_attribute("data-review") or "0")
    first.locator("[data-testid=claim]").click()
    page.locator(f"#review-{review_id} >> text={shop.emails['reviewer']}").wait_for()
    page.locator(f"#review-{review_id} [data-testid=approve]").click()
    page.locator(f"#review-{review_id}").wait_for(state="detached")
    assert "已通过" in page.inner_text("[data-testid=notice]")
    assert page.locator("[data-testid=reviews-table] tr[data-review]").count() == 1

    async def decided(s: AsyncSession) -> tuple[str, str | None, str | None]:
        row = await s.get(PendingReward, review_id)
        assert row is not None
        return row.status, row.decided_by, row.transaction_id

    status, by, txn = server.run(decided)
    assert status == "approved"
    assert by == f"console:{shop.emails['reviewer']}"
    assert txn is not None
    assert balance(server, shop.id, "u-r") == 30
    assert balance(server, shop.id, "u-s") == 0


def test_adjust_points_and_audit_log(server: Server, shop: Shop, context: Any) -> None:
    put_member(server, shop, "u-adj", name="李娜")
    page = context.new_page()
    login(page, server, shop.emails["finance"])
    page.goto(f"{server.url}/console/p/{shop.id}/members?q=u-adj")
    page.click("text=u-adj")
    page.fill("input[name=amount]", "120")
    page.fill("input[name=reason]", "客服补偿 ticket-42")
    page.click("form[hx-post$='/adjust'] button[type=submit]")
    page.wait_for_function(
        "document.querySelector('[data-testid=balance-points]')?.textContent.trim() === '120'"
    )
    assert "客服补偿 ticket-42" in page.inner_text("[data-testid=statement]")
    shot(page, "console-member-360")
    assert balance(server, shop.id, "u-adj") == 120

    async def audit(s: AsyncSession) -> list[tuple[str, str]]:
        rows = await s.execute(
            select(AuditEntry.actor, AuditEntry.action).where(
                AuditEntry.program_id == shop.id, AuditEntry.action == "ledger.adjust"
            )
        )
        return [(a, b) for a, b in rows.tuples()]

    assert server.run(audit) == [(f"console:{shop.emails['finance']}", "ledger.adjust")]
    page.click("[data-nav=audit]")
    text = page.inner_text("[data-testid=audit]")
    assert "ledger.adjust" in text
    assert shop.emails["finance"] in text
    shot(page, "console-audit")

    # A negative adjustment beyond the balance is refused inline and changes nothing.
    page.goto(f"{server.url}/console/p/{shop.id}/members/u-adj")
    page.fill("input[name=amount]", "-500")
    page.fill("input[name=reason]", "too much")
    page.click("form[hx-post$='/adjust'] button[type=submit]")
    page.locator("[data-testid=error]").wait_for()
    assert balance(server, shop.id, "u-adj") == 120


def test_overview_chart_and_language_switch(server: Server, shop: Shop, context: Any) -> None:
    put_member(server, shop, "u-o", name="王芳")
    with server.api() as c:
        for i, days in enumerate((0, 1, 3, 6)):
            r = c.post(
                "/v1/credits",
                json={
                    "idempotency_key": f"o-credit-{i}",
                    "member": "u-o",
                    "amount": 100 * (i + 1),
                    "reason": "purchase",
                    "occurred_at": (server.clock.now() - timedelta(days=days)).isoformat(),
                },
                headers=shop.headers,
            )
            assert r.status_code == 201, r.text
    page = context.new_page()
    login(page, server, shop.emails["analyst"])
    page.locator("#points-chart canvas").wait_for()
    # 1000 points outstanding at 10 fen each: 100 yuan.
    assert page.inner_text("[data-testid=outstanding]") == "1,000"
    assert page.inner_text("[data-testid=liability]") == "¥100.00"
    assert "概览" in page.inner_text("h1")
    shot(page, "console-overview")
    page.click("[data-testid=lang]")
    page.wait_for_selector("h1:has-text('Overview')")
    assert "Outstanding liability" in page.content()
    page.locator("#points-chart canvas").wait_for()
    shot(page, "console-overview-en")
    page.click("[data-testid=lang]")
    page.wait_for_selector("h1:has-text('概览')")
