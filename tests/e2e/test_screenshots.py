"""Every console page and every portal page renders in chromium (status 200, no error panel),
and each is saved to docs/screenshots/. The domain pages are filled by saving their editor's
example definition in the browser, as an operator would."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from jifen.web import forms, portal_domains, resources
from jifen.web.console import domain_ready
from tests.e2e.conftest import Server, Shop, login, make_shop, shot
from tests.e2e.test_portal import member_token, setup_program


def seed(server: Server, shop: Shop) -> None:
    setup_program(server, shop, "u-shot", 2000)
    with server.api() as c:
        r = c.post(
            "/v1/rules",
            json={
                "id": "ugc-post",
                "name": "UGC 晒单 +100（审核）",
                "trigger": "ugc_post",
                "review": True,
                "effects": [{"amount": {"fixed": 100}}],
            },
            headers=shop.headers,
        )
        assert r.status_code == 201, r.text
        r = c.put(
            "/v1/experiments/pilot",
            json={
                "name": "新规则 10% 试点",
                "treatment_percent": "10",
                "starts_at": (server.clock.now() - timedelta(days=14)).isoformat(),
            },
            headers=shop.headers,
        )
        assert r.status_code in (200, 201), r.text
        for i in range(12):
            at = server.clock.now() - timedelta(days=i, hours=1)
            r = c.post(
                "/v1/events",
                json={
                    "client_id": f"shot-{i}",
                    "type": "ugc_post" if i % 4 == 0 else "check_in",
                    "member": f"u-{i % 5}",
                    "occurred_at": at.isoformat(),
                    "attributes": {},
                },
                headers=shop.headers,
            )
            assert r.status_code == 201, r.text


def test_every_page_renders_and_is_screenshotted(server: Server, context: Any, mobile: Any) -> None:
    shop = make_shop(server, ("owner",))
    seed(server, shop)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, server, shop.emails["owner"])
    base = f"{server.url}/console/p/{shop.id}"

    # The other domains' pages: save the example definition, then look at the list.
    for resource in resources.RESOURCES:
        if not domain_ready(resource.domain):
            continue
        response = page.goto(f"{base}/x/{resource.slug}")
        assert response is not None
        assert response.status == 200, resource.slug
        if resource.editor is not None:
            page.evaluate("window.__before_save = true")
            if forms.FORMS.get(resource.slug) is not None:  # the JSON editor is "advanced"
                page.click("details.advanced summary")
            page.click("[data-testid=save]")
            # A saved definition reloads the page; a refused one shows its problems inline.
            page.wait_for_function(
                "!window.__before_save || document.querySelector("
                "'[data-testid=problems], [data-testid=error]')"
            )
            page.wait_for_selector("h1")
            assert page.locator("[data-testid=problems], [data-testid=error]").count() == 0, (
                resource.slug,
                page.inner_text("#editor-result"),
            )
        assert page.locator(".panel .errors").count() == 0, resource.slug
        form = forms.FORMS.get(resource.slug)
        if resource.slug == "checkin":  # settings with two gift packs, through the form
            page.fill('[name="makeup_cost"]', "20")
            page.fill('[name="makeup_monthly_limit"]', "2")
            for i, (streak, amount, name) in enumerate(
                ((7, 50, "七日礼包"), (30, 300, "月度礼包"))
            ):
                page.click("[data-rows=gift_packs] [data-add-row]")
                page.fill(f'[name="gift_packs.{i}.streak"]', str(streak))
                page.fill(f'[name="gift_packs.{i}.amount"]', str(amount))
                page.fill(f'[name="gift_packs.{i}.name"]', name)
            page.evaluate("window.__before_save = true")
            page.click("[data-testid=form-save]")
            page.wait_for_function("!window.__before_save")
            page.wait_for_selector('[name="gift_packs.1.streak"]')
            assert page.input_value('[name="gift_packs.1.amount"]') == "300"
        if form is not None and form.multi and form.editable and resource.editor is not None:
            # The form filled to edit the definition just saved.
            page.goto(f"{base}/x/{resource.slug}?edit={resource.editor.example['id']}")
            page.wait_for_selector('#def-form [name="id"][readonly]')
        shot(page, f"console-{resource.slug}")

    # A refused form: the problem beside its input.
    if domain_ready("lottery"):
        page.goto(f"{base}/x/lottery?edit=wheel")
        page.fill('[name="prizes.1.weight"]', "-1")
        page.click("[data-testid=form-save]")
        page.locator('[data-error-for="prizes.1.weight"]').wait_for()
        page.locator("#def-form").scroll_into_view_if_needed()
        shot(page, "console-form-error")

    for path, name in (
        ("", "console-overview-demo"),
        ("members", "console-members"),
        ("members/u-shot", "console-member-360-demo"),
        ("rules", "console-rules"),
        ("rules/ugc-post", "console-rule"),
        ("reviews", "console-reviews-demo"),
        ("campaigns", "console-campaigns"),
        ("experiments", "console-experiments"),
        ("experiments/pilot", "console-experiment-report"),
        ("ledger", "console-ledger"),
        ("audit", "console-audit-demo"),
        ("keys", "console-keys"),
        ("users", "console-users"),
        ("settings", "console-settings"),
    ):
        response = page.goto(f"{base}/{path}")
        assert response is not None
        assert response.status == 200, path
        if path == "":
            page.locator("#points-chart canvas").wait_for()
        if path == "ledger":
            assert page.locator("[data-testid=verify-ok]").count() == 1
        shot(page, name)
    page.goto(f"{server.url}/console/login")
    shot(page, "console-login")

    # The portal, as member u-shot on a phone.
    assert errors == []  # no script error on any console page
    m = mobile.new_page()
    m.on("pageerror", lambda exc: errors.append(str(exc)))
    m.goto(f"{server.url}/m?token={member_token(server, shop, 'u-shot')}")
    m.wait_for_url("**/m/")
    shot(m, "portal-home-demo")
    for slug in ["statement", *portal_domains.PAGES]:
        if slug != "statement" and portal_domains.ready(slug) is None:
            continue
        response = m.goto(f"{server.url}/m/{slug}")
        assert response is not None
        assert response.status == 200, slug
        shot(m, f"portal-{slug}")
    assert errors == []
