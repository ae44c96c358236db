"""The definition forms in a real browser: an operator fills the coupon-template form and the
lottery-pool form (adding a second prize row), saves, and sees the listing; a bad tier discount
comes back beside its input; each checked on the page and in what the domain's service reads."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.errors import JifenError
from jifen.web.console import domain_ready
from tests.e2e.conftest import Server, Shop, login, make_shop


def saved_and_reloaded(page: Any, edit_id: str | None = None) -> None:
    """Click save; a saved form reloads the page (the listing then holds the definition)."""
    page.evaluate("window.__before_save = true")
    page.click("[data-testid=form-save]")
    page.wait_for_function("!window.__before_save")
    page.wait_for_selector("h1")
    if edit_id is not None:
        page.wait_for_selector(f'[data-edit="{edit_id}"]')


def open_form(server: Server, context: Any, domain: str) -> tuple[Shop, Any]:
    """An operator of a new shop on ``domain``'s console page (skipped while it is not there)."""
    if not domain_ready(domain):
        pytest.skip(f"{domain} not there yet")
    shop = make_shop(server, ("operator",))
    page = context.new_page()
    login(page, server, shop.emails["operator"])
    page.goto(f"{server.url}/console/p/{shop.id}/x/{domain}")
    return shop, page


def refused(page: Any, name: str) -> str:
    """Click save on a form the schema refuses; the problem shown beside input ``name``."""
    page.click("[data-testid=form-save]")
    error = page.locator(f'[data-error-for="{name}"]')
    error.wait_for()
    return str(error.inner_text())


def test_coupon_template_form(server: Server, context: Any) -> None:
    shop, page = open_form(server, context, "coupons")
    assert page.inner_text("#def-form h2").startswith("优惠券模板")
    page.fill('[name="id"]', "full-100-20")
    page.fill('[name="name"]', "满 100 减 20")
    page.select_option('[name="kind"]', "fixed")
    assert page.is_hidden('[name="percent_off"]')  # a percent coupon's field
    page.fill('[name="discount_fen"]', "2000")
    page.fill('[name="threshold_fen"]', "10000")
    page.select_option('[name="scope"]', "categories")
    page.fill('[name="categories"]', "饮品, 甜点")
    page.fill('[name="valid_days"]', "30")
    page.fill('[name="per_member_limit"]', "2")
    saved_and_reloaded(page, "full-100-20")

    row = page.locator("[data-table='1'] tbody tr").first
    text = row.inner_text()
    assert "满减券" in text
    assert "¥20.00" in text
    assert "¥100.00" in text
    assert "是" in text
    headers = page.locator("[data-table='1'] thead").inner_text()
    assert "优惠金额（元）" in headers
    assert "使用门槛（元）" in headers
    assert "discount_fen" not in headers

    async def stored(s: AsyncSession) -> Any:
        from jifen.coupons import service as coupons

        return await coupons.get_template(s, shop.id, "full-100-20")

    template = server.run(stored)
    assert (template.kind, template.discount_fen, template.threshold_fen) == ("fixed", 2000, 10000)
    assert template.categories == ["饮品", "甜点"]
    assert (template.valid_days, template.per_member_limit, template.active) == (30, 2, True)
    assert template.scope == "categories"

    # Edit it: the form comes filled; unticking "active" and saving changes only that.
    page.click('[data-edit="full-100-20"]')
    page.wait_for_selector('[name="id"][readonly]')
    assert page.input_value('[name="discount_fen"]') == "2000"
    page.uncheck('[name="active"]')
    saved_and_reloaded(page, "full-100-20")
    template = server.run(stored)
    assert template.active is False
    assert template.discount_fen == 2000


def test_lottery_pool_form_with_two_prizes(server: Server, context: Any) -> None:
    shop, page = open_form(server, context, "lottery")
    page.fill('[name="id"]', "spring-wheel")
    page.fill('[name="name"]', "春季大转盘")
    page.fill('[name="cost_points"]', "20")
    page.fill('[name="daily_limit"]', "3")
    # The empty form has one prize row; the second is added in the page.
    assert page.locator("[data-rows=prizes] [data-row]").count() == 1
    page.fill('[name="prizes.0.id"]', "p50")
    page.fill('[name="prizes.0.name"]', "50 积分")
    page.select_option('[name="prizes.0.kind"]', "points")
    page.fill('[name="prizes.0.weight"]', "1")
    page.fill('[name="prizes.0.points"]', "50")
    page.fill('[name="prizes.0.stock"]', "100")
    page.click("[data-rows=prizes] [data-add-row]")
    assert page.locator("[data-rows=prizes] [data-row]").count() == 2
    page.fill('[name="prizes.1.id"]', "thanks")
    page.fill('[name="prizes.1.name"]', "谢谢参与")
    page.select_option('[name="prizes.1.kind"]', "nothing")
    assert page.is_hidden('[name="prizes.1.points"]')
    page.fill('[name="prizes.1.weight"]', "-1")  # refused by the schema (weight ≥ 0)
    assert refused(page, "prizes.1.weight") == "应大于或等于 0"
    assert page.input_value('[name="prizes.1.name"]') == "谢谢参与"  # nothing typed is lost
    page.fill('[name="prizes.1.weight"]', "3")
    saved_and_reloaded(page, "spring-wheel")
    assert "春季大转盘" in page.inner_text("[data-table='1']")

    async def stored(s: AsyncSession) -> Any:
        from jifen.lottery import service as lottery

        return await lottery.get_pool(s, shop.id, "spring-wheel")

    pool = server.run(stored)
    assert (pool.name, pool.cost_points, pool.daily_limit, pool.active) == (
        "春季大转盘", 20, 3, True,
    )  # fmt: skip
    assert [(p.id, p.kind, p.weight, p.points, p.stock) for p in pool.prizes] == [
        ("p50", "points", 1, 50, 100),
        ("thanks", "nothing", 3, None, None),
    ]


def test_tier_form_shows_a_bad_value_beside_its_input(server: Server, context: Any) -> None:
    shop, page = open_form(server, context, "tiers")
    # No scheme yet: the form holds the example's three tiers.
    assert page.locator("[data-rows=tiers] [data-row]").count() == 3
    page.fill('[name="tiers.2.benefits.discount_rate"]', "1.5")  # more than the full price
    assert refused(page, "tiers.2.benefits.discount_rate") == "应小于或等于 1"
    assert page.locator(".frow.bad, .fld.bad").count() >= 1

    async def scheme(s: AsyncSession) -> Any:
        from jifen.tiers import service as tiers

        try:
            return await tiers.get_scheme(s, shop.id)
        except JifenError:  # no scheme yet
            return None

    assert server.run(scheme) is None  # nothing saved
    page.fill('[name="tiers.2.benefits.discount_rate"]', "0.85")
    page.fill('[name="tiers.2.benefits.points_multiplier"]', "2")
    page.uncheck('[name="tiers.2.benefits.dedicated_support"]')
    saved_and_reloaded(page)
    gold = page.locator("[data-table='1'] tbody tr").nth(2).inner_text()
    assert "8.5 折" in gold
    assert "2×" in gold
    assert "是" in gold
    stored = server.run(scheme)
    assert stored is not None
    benefits = stored.tiers[2].benefits
    assert (benefits.discount_rate, benefits.points_multiplier) == (Decimal("0.85"), Decimal(2))
    assert (benefits.free_returns, benefits.dedicated_support) == (True, False)
    assert stored.tiers[1].benefits.discount_rate == Decimal("0.95")  # the other rows as they were


def test_badge_form_criterion_fields(server: Server, context: Any) -> None:
    shop, page = open_form(server, context, "badges")
    assert page.inner_text("#def-form h2").startswith("勋章")
    page.fill('[name="id"]', "talker")
    page.fill('[name="name"]', "话痨")
    page.fill('[name="icon"]', "💬")
    # Each criterion shows only the inputs it needs.
    page.select_option('[name="criterion.kind"]', "tier")
    assert page.is_visible('[name="criterion.tier"]')
    assert page.is_hidden('[name="criterion.n"]')
    page.select_option('[name="criterion.kind"]', "event_count")
    assert page.is_hidden('[name="criterion.tier"]')
    page.fill('[name="criterion.event_type"]', "message")
    page.fill('[name="criterion.n"]', "0")  # refused by the schema (at least 1)
    assert refused(page, "criterion.n") == "应大于或等于 1"
    page.fill('[name="criterion.n"]', "100")
    saved_and_reloaded(page, "talker")
    listing = page.inner_text("[data-table='1']")
    assert "话痨" in listing
    assert "某类事件达到 N 次 (message, 100)" in listing

    async def stored(s: AsyncSession) -> Any:
        from jifen.badges import service as badges

        return await badges.get_badge(s, shop.id, "talker")

    badge = server.run(stored)
    assert (badge.name, badge.icon, badge.enabled) == ("话痨", "💬", True)
    assert badge.criterion.model_dump() == {
        "kind": "event_count",
        "event_type": "message",
        "n": 100,
    }


def test_leaderboard_form_with_two_reward_rows(server: Server, context: Any) -> None:
    shop, page = open_form(server, context, "leaderboards")
    page.fill('[name="id"]', "weekly-speakers")
    page.fill('[name="name"]', "本周发言榜")
    page.select_option('[name="metric"]', "event_count")
    assert page.is_hidden('[name="event_types"]')  # a points board's filter
    page.fill('[name="event_type"]', "message")
    page.select_option('[name="period"]', "week")
    # Rewards are optional: the empty form has no row; two are added in the page.
    rows = page.locator("[data-rows=rewards] [data-row]")
    assert rows.count() == 0
    page.click("[data-rows=rewards] [data-add-row]")
    page.click("[data-rows=rewards] [data-add-row]")
    assert rows.count() == 2
    page.fill('[name="rewards.0.from"]', "1")
    page.fill('[name="rewards.0.to"]', "1")
    page.fill('[name="rewards.0.reward.points"]', "500")
    page.fill('[name="rewards.1.from"]', "2")
    page.fill('[name="rewards.1.to"]', "10")
    page.fill('[name="rewards.1.reward.points"]', "100")
    page.fill('[name="rewards.1.reward.growth"]', "20")
    saved_and_reloaded(page, "weekly-speakers")
    listing = page.inner_text("[data-table='1']")
    assert "本周发言榜" in listing
    assert "1: 500 积分; 2–10: 100 积分 · 20 成长值" in listing

    async def stored(s: AsyncSession) -> Any:
        from jifen.leaderboards import service as boards

        return await boards.get_board(s, shop.id, "weekly-speakers")

    board = server.run(stored)
    assert (board.metric, board.event_type, board.period, board.enabled) == (
        "event_count", "message", "week", True,
    )  # fmt: skip
    assert [(r.from_rank, r.to_rank, r.reward.points, r.reward.growth) for r in board.rewards] == [
        (1, 1, 500, 0),
        (2, 10, 100, 20),
    ]
    # Editing it: the form comes back with both rows filled.
    page.click('[data-edit="weekly-speakers"]')
    page.wait_for_selector('[name="id"][readonly]')
    assert rows.count() == 2
    assert page.input_value('[name="rewards.1.to"]') == "10"
