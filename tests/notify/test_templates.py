"""Messages in the member's language, exact strings, program templates over the built-in ones,
and the member's notification feed (server-to-server and /v1/me)."""

from __future__ import annotations

import httpx

from tests.conftest import api_program
from tests.webhooks.helpers import credit, debit, notifications, texts


async def _member(client: httpx.AsyncClient, h: dict[str, str], m: str, locale: str) -> None:
    r = await client.put(f"/v1/members/{m}", json={"locale": locale}, headers=h)
    assert r.status_code in (200, 201), r.text


async def test_balance_messages_in_chinese_and_english(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    await _member(client, h, "zh1", "zh-CN")
    await _member(client, h, "en1", "en")
    for m in ("zh1", "en1"):
        await credit(client, h, m, 1150)
        await credit(client, h, m, 50, reason="purchase")
        await debit(client, h, m, 200)
        await credit(client, h, m, 500, asset="cash")
    assert await texts(client, h, "zh1") == [
        "您获得1150积分,累计积分1150",
        "您本次消费获50积分,累计积分1200",
        "您使用了200积分,剩余积分1000",
        "您获得5.00元现金奖励,现金余额5.00元",
    ]
    assert await texts(client, h, "en1") == [
        "You earned 1150 points; your balance is 1150",
        "You earned 50 points; your balance is 1200",
        "You spent 200 points; your balance is 1000",
        "You earned ¥5.00 cash; your cash balance is ¥5.00",
    ]
    newest = (await notifications(client, h, "en1"))[1]
    assert newest["type"] == "points.debited"
    assert newest["topic"] == "ledger.balance_changed"
    assert newest["locale"] == "en"
    assert (newest["data"]["amount"], newest["data"]["balance"]) == (-200, 1000)


async def test_program_templates_override_the_defaults(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    await _member(client, h, "zh1", "zh-CN")
    await _member(client, h, "en1", "en")
    r = await client.put(
        "/v1/notification-templates/points.credited/en",
        json={"text": "+{{ abs_amount }} pts{% if balance >= 1000 %} (VIP){% endif %}"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["source"] == "program"
    await credit(client, h, "en1", 1200)
    await credit(client, h, "zh1", 1200)
    assert await texts(client, h, "en1") == ["+1200 pts (VIP)"]
    assert await texts(client, h, "zh1") == ["您获得1200积分,累计积分1200"]  # zh-CN unchanged

    r = await client.get("/v1/notification-templates", headers=h)
    by_key = {(t["type"], t["locale"]): t for t in r.json()}
    assert by_key[("points.credited", "en")]["source"] == "program"
    assert by_key[("points.credited", "zh-CN")]["source"] == "default"
    assert by_key[("points.expiring", "en")]["text"].startswith("{{ amount }} points will expire")

    r = await client.delete("/v1/notification-templates/points.credited/en", headers=h)
    assert r.status_code == 204
    assert await texts(client, h, "en1") == ["You earned 1200 points; your balance is 1200"]
    r = await client.delete("/v1/notification-templates/points.credited/en", headers=h)
    assert r.status_code == 404
    assert r.json()["code"] == "template_not_found"


async def test_unsafe_or_broken_templates_are_refused(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    for text in (
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",  # the sandbox refuses it
        "{{ amount.__class__ }}",
        "{% for x in %}",  # does not compile
        "{{ 1 / 0 }}",
        # Nothing that builds a huge value at the template's say:
        '{{ "x" * 1000000000 }}',
        '{{ "{:1000000000}".format(1) }}',
        '{{ "%01000000000d" % 1 }}',
        '{{ "x".ljust(1000000000) }}',
        "{% for i in range(1000000) %}x{% endfor %}",
        "{% for i in range(9) %}{% for j in range(9) %}x{% endfor %}{% endfor %}",
    ):
        r = await client.put(
            "/v1/notification-templates/points.credited/zh-CN", json={"text": text}, headers=h
        )
        assert r.status_code == 422, (text, r.text)
        assert r.json()["code"] == "invalid_template"
    r = await client.put("/v1/notification-templates/Points/zh-CN", json={"text": "x"}, headers=h)
    assert r.status_code == 422


async def test_member_reads_own_notifications_with_a_token(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    for amount in (10, 20, 30):
        await credit(client, h, "m1", amount)
    await credit(client, h, "m2", 99)
    r = await client.post("/v1/members/m1/tokens", headers=h)
    token = r.json()["token"]
    me = {"Authorization": f"Bearer {token}"}
    r = await client.get("/v1/me/notifications?limit=2", headers=me)
    assert r.status_code == 200, r.text
    page = r.json()
    assert [n["text"] for n in page["items"]] == [
        "您获得30积分,累计积分60",
        "您获得20积分,累计积分30",
    ]
    r = await client.get(f"/v1/me/notifications?limit=2&cursor={page['next_cursor']}", headers=me)
    rest = r.json()
    assert [n["text"] for n in rest["items"]] == ["您获得10积分,累计积分10"]
    assert rest["next_cursor"] is None
    r = await client.get("/v1/me/notifications", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    r = await client.get("/v1/members/m1/notifications?cursor=bad!", headers=h)
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_cursor"
    r = await client.get("/v1/members/nobody/notifications", headers=h)
    assert r.status_code == 404
