"""The member portal in a mobile browser: sign in with a member token, check in, redeem an item,
draw the lottery, see the notification; each checked on the page and in the database."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.catalog.models import RedemptionOrder
from jifen.lottery.models import LotteryDraw
from jifen.members.models import Member
from tests.e2e.conftest import Server, Shop, login, shot
from tests.e2e.test_console import balance


def member_token(server: Server, shop: Shop, member: str) -> str:
    with server.api() as c:
        r = c.post(f"/v1/members/{member}/tokens", json={}, headers=shop.headers)
        assert r.status_code == 201, r.text
        return str(r.json()["token"])


def setup_program(server: Server, shop: Shop, member: str, points: int) -> None:
    with server.api() as c:
        for url, body in (
            (f"/v1/members/{member}", {"name": "王芳"}),
            (
                "/v1/catalog/items/mug",
                {"name": "定制马克杯", "kind": "virtual", "price_points": 300, "stock": 5},
            ),
            (
                "/v1/lottery/pools/wheel",
                {
                    "name": "幸运大转盘",
                    "cost_points": 50,
                    # Only the 88-point prize can be drawn (the others weigh 0).
                    "prizes": [
                        {"id": "thanks", "name": "谢谢参与", "kind": "nothing", "weight": 0},
                        {
                            "id": "p88",
                            "name": "88 积分",
                            "kind": "points",
                            "weight": 1,
                            "points": 88,
                        },
                        {
                            "id": "p10",
                            "name": "10 积分",
                            "kind": "points",
                            "weight": 0,
                            "points": 10,
                        },
                        {"id": "again", "name": "再接再厉", "kind": "nothing", "weight": 0},
                    ],
                },
            ),
        ):
            r = c.put(url, json=body, headers=shop.headers)
            assert r.status_code in (200, 201), (url, r.text)
        r = c.post(
            "/v1/rules",
            json={
                "id": "checkin-daily",
                "name": "每日签到 10 积分",
                "trigger": "check_in",
                "effects": [{"amount": {"fixed": 10}}],
                "limits": [{"window": "day", "max_count": 1}],
            },
            headers=shop.headers,
        )
        assert r.status_code == 201, r.text
        r = c.post(
            "/v1/credits",
            json={"idempotency_key": f"seed-{member}", "member": member, "amount": points,
                  "reason": "开卡礼"},
            headers=shop.headers,
        )  # fmt: skip
        assert r.status_code == 201, r.text


def test_member_checks_in_redeems_draws_and_sees_notifications(
    server: Server, shop: Shop, mobile: Any
) -> None:
    setup_program(server, shop, "u-m", 1000)
    page = mobile.new_page()
    page.goto(f"{server.url}/m?token={member_token(server, shop, 'u-m')}")
    page.wait_for_url("**/m/")
    assert page.inner_text("[data-testid=points]") == "1000"
    assert "viewport" in page.content()
    cookies = {c["name"]: c for c in mobile.cookies()}
    assert cookies["jifen_member"]["httpOnly"] is True
    shot(page, "portal-home")

    # Check in: +10 points, streak 1, today marked on the calendar.
    page.goto(f"{server.url}/m/checkin")
    page.click("[data-testid=check-in]")
    page.locator("[data-testid=result]").wait_for()
    assert "+10" in page.inner_text("[data-testid=result]")
    page.wait_for_selector("[data-testid=check-in][disabled]")
    assert page.inner_text("[data-testid=streak]") == "1"
    shot(page, "portal-checkin-done")
    assert balance(server, shop.id, "u-m") == 1010

    # Redeem the mug: −300 points, one order, stock 4.
    page.goto(f"{server.url}/m/mall")
    page.click("[data-testid=redeem-mug]")
    page.locator("[data-testid=result]").wait_for()
    assert "−300" in page.inner_text("[data-testid=result]")
    page.wait_for_selector("[data-testid=orders]")
    shot(page, "portal-mall-redeemed")
    assert balance(server, shop.id, "u-m") == 710

    async def orders(s: AsyncSession) -> int:
        return int(
            await s.scalar(
                select(func.count())
                .select_from(RedemptionOrder)
                .join(Member, Member.id == RedemptionOrder.member_id)
                .where(RedemptionOrder.program_id == shop.id, Member.external_id == "u-m")
            )
            or 0
        )

    assert server.run(orders) == 1

    # Draw: −50, the only prize (+88); the wheel stops on it.
    page.goto(f"{server.url}/m/lottery")
    page.click("[data-testid=draw]")
    page.locator("[data-testid=result]").wait_for()
    assert "88 积分" in page.inner_text("[data-testid=result]")
    assert page.get_attribute("#wheel", "data-stopped") == "1"
    page.wait_for_timeout(2100)  # the wheel's spin (CSS transition) ends
    shot(page, "portal-lottery-drawn")
    assert balance(server, shop.id, "u-m") == 710 - 50 + 88

    async def draws(s: AsyncSession) -> int:
        return int(
            await s.scalar(
                select(func.count())
                .select_from(LotteryDraw)
                .where(LotteryDraw.program_id == shop.id)
            )
            or 0
        )

    assert server.run(draws) == 1

    # Home: the new balance, and the statement lists all four movements.
    page.goto(f"{server.url}/m/")
    assert page.inner_text("[data-testid=points]") == str(710 - 50 + 88)
    statement = page.inner_text("[data-testid=statement]")
    assert "+10" in statement
    assert "-300" in statement
    # The notifications the changes caused, newest first (live ones arrive by EventSource).
    notes = page.locator("[data-testid=notification]").all_inner_texts()
    assert any("88" in n for n in notes), notes
    shot(page, "portal-home-after")


def test_live_notification_arrives_on_the_open_page(
    server: Server, shop: Shop, mobile: Any
) -> None:
    if not server.stream:
        pytest.skip("the notifications stream endpoint is not routed in the app yet")
    with server.api() as c:
        r = c.put("/v1/members/u-live", json={"name": "李娜"}, headers=shop.headers)
        assert r.status_code in (200, 201), r.text
    page = mobile.new_page()
    page.goto(f"{server.url}/m?token={member_token(server, shop, 'u-live')}")
    page.wait_for_url("**/m/")
    assert page.get_attribute("body", "data-stream")
    page.wait_for_timeout(1200)  # the stream's first look has passed
    with server.api() as c:
        r = c.post(
            "/v1/credits",
            json={"idempotency_key": "live-1", "member": "u-live", "amount": 66, "reason": "直播"},
            headers=shop.headers,
        )
        assert r.status_code == 201, r.text
    toast = page.locator("[data-testid=toast]")
    toast.wait_for(state="visible", timeout=8000)
    assert "66" in toast.inner_text()
    assert "66" in page.locator("#notifications [data-testid=notification]").first.inner_text()
    shot(page, "portal-live-notification")


def test_member_submits_task_proof_and_reviewer_approves_it(
    server: Server, shop: Shop, mobile: Any, context: Any
) -> None:
    with server.api() as c:
        r = c.put("/v1/members/u-task", json={"name": "赵敏"}, headers=shop.headers)
        assert r.status_code in (200, 201), r.text
        r = c.put(
            "/v1/tasks/share-screenshot",
            json={
                "name": "分享截图 +30",
                "kind": "daily",
                "completion": {"by": "submission"},
                "reward": {"points": 30},
            },
            headers=shop.headers,
        )
        assert r.status_code in (200, 201), r.text
    m = mobile.new_page()
    m.goto(f"{server.url}/m?token={member_token(server, shop, 'u-task')}")
    m.wait_for_url("**/m/")
    m.goto(f"{server.url}/m/tasks")
    task = m.locator("[data-task=share-screenshot]")
    task.locator("input[name=proof_url]").fill("https://img.example.cn/share-1.png")
    task.locator("button[type=submit]").click()
    m.locator("[data-testid=result]").wait_for()
    m.wait_for_function(
        "document.querySelector('[data-task=share-screenshot] [data-testid=task-status]')"
        "?.textContent === 'pending_review'"
    )
    shot(m, "portal-tasks-submitted")

    page = context.new_page()
    login(page, server, shop.emails["reviewer"])
    page.goto(f"{server.url}/console/p/{shop.id}/x/tasks")
    assert "https://img.example.cn/share-1.png" in page.content()
    page.evaluate("window.__before = true")
    page.locator("button:has-text('通过')").first.click()
    page.wait_for_function("!window.__before")
    assert balance(server, shop.id, "u-task") == 30
