"""Console roles and tenancy over HTTP, on SQLite and PostgreSQL: what each role may do, that a
user of one program sees nothing of another (pages and API), that a member token reads only its
own member, and that every POST needs the session's CSRF token."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.clock import FixedClock
from jifen.programs.models import AuditEntry
from jifen.rules.models import RuleVersion
from jifen.users import service as users
from tests.conftest import api_program

PASSWORD = "correct-horse-9"
RULE = '{"id": "r-web", "name": "x", "trigger": "check_in", "effects": [{"amount": {"fixed": 5}}]}'


async def add_user(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FixedClock, pid: str, role: str
) -> str:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.cn"
    async with sessionmaker() as s, s.begin():
        await users.ensure_user(
            s, email=email, password=PASSWORD, program_id=pid, role=role, now=clock.now(),
            actor="test",
        )  # fmt: skip
    return email


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, email: str) -> str:
    """Sign in through the login form; returns the session's CSRF token."""
    r = await client.get("/console/login")
    r = await client.post(
        "/console/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(r.text)},
    )
    assert r.status_code == 303, r.text
    r = await client.get(r.headers["location"], follow_redirects=True)
    assert r.status_code == 200
    return csrf_of(r.text)


async def test_login_refuses_wrong_password_and_missing_csrf(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    pid, _ = await api_program(client)
    email = await add_user(sessionmaker, clock, pid, "owner")
    r = await client.get("/console/login")
    token = csrf_of(r.text)
    r = await client.post(
        "/console/login", data={"email": email, "password": "wrong-pass", "csrf_token": token}
    )
    assert r.status_code == 401
    assert "邮箱或密码错误" in r.text
    r = await client.post("/console/login", data={"email": email, "password": PASSWORD})
    assert r.status_code == 403
    # Signed out, a console page sends to the login form.
    r = await client.get(f"/console/p/{pid}/")
    assert r.status_code == 303
    assert r.headers["location"] == "/console/login"
    csrf = await sign_in(client, email)
    cookie = client.cookies.get("jifen_console")
    assert cookie is not None
    r = await client.get(f"/console/p/{pid}/")
    assert r.status_code == 200
    # A POST without (or with a wrong) CSRF token is refused and changes nothing.
    for headers in ({}, {"X-CSRF-Token": "nope"}):
        r = await client.post(
            f"/console/p/{pid}/rules/save", data={"definition": RULE}, headers=headers
        )
        assert r.status_code == 403
    r = await client.post(
        f"/console/p/{pid}/rules/save", data={"definition": RULE}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 200, r.text
    # Signing out ends the session on the server: the old cookie no longer works.
    r = await client.post("/console/logout", data={"csrf_token": csrf})
    assert r.status_code == 303
    client.cookies.set("jifen_console", cookie, path="/console")
    r = await client.get(f"/console/p/{pid}/")
    assert r.status_code == 303


async def test_reviewer_cannot_edit_rules_and_analyst_cannot_adjust(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    pid, headers = await api_program(client)
    r = await client.put("/v1/members/u-1", json={"name": "张伟"}, headers=headers)
    assert r.status_code in (200, 201)

    async def rule_versions() -> int:
        async with sessionmaker() as s:
            return int(
                await s.scalar(
                    select(func.count())
                    .select_from(RuleVersion)
                    .where(RuleVersion.program_id == pid)
                )
                or 0
            )

    reviewer = await add_user(sessionmaker, clock, pid, "reviewer")
    csrf = await sign_in(client, reviewer)
    r = await client.get(f"/console/p/{pid}/rules/new")
    assert r.status_code == 200
    assert 'data-testid="save"' not in r.text  # no save button
    r = await client.post(
        f"/console/p/{pid}/rules/save", data={"definition": RULE, "csrf_token": csrf}
    )
    assert r.status_code == 403
    assert await rule_versions() == 0
    # ...and cannot manage API keys or settings, but may decide reviews (none here: 404).
    r = await client.get(f"/console/p/{pid}/keys")
    assert r.status_code == 403

    analyst = await add_user(sessionmaker, clock, pid, "analyst")
    client.cookies.clear()
    csrf = await sign_in(client, analyst)
    r = await client.get(f"/console/p/{pid}/members/u-1")
    assert r.status_code == 200
    assert "/adjust" not in r.text
    r = await client.post(
        f"/console/p/{pid}/members/u-1/adjust",
        data={"amount": "100", "reason": "gift", "csrf_token": csrf},
    )
    assert r.status_code == 403
    r = await client.get("/v1/members/u-1/balances", headers=headers)
    assert r.json()["balances"] == []

    finance = await add_user(sessionmaker, clock, pid, "finance")
    client.cookies.clear()
    csrf = await sign_in(client, finance)
    r = await client.post(
        f"/console/p/{pid}/members/u-1/adjust",
        data={"amount": "100", "reason": "gift", "csrf_token": csrf},
    )
    assert r.status_code == 200, r.text
    r = await client.get("/v1/members/u-1/balances", headers=headers)
    assert r.json()["balances"][0]["balance"] == 100
    async with sessionmaker() as s:
        actors = list(
            await s.scalars(
                select(AuditEntry.actor).where(
                    AuditEntry.program_id == pid, AuditEntry.action == "ledger.adjust"
                )
            )
        )
    assert actors == [f"console:{finance}"]


async def test_program_a_user_sees_nothing_of_program_b(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    pa, ha = await api_program(client)
    pb, hb = await api_program(client)
    r = await client.put("/v1/members/b-secret", json={"name": "乙方会员"}, headers=hb)
    assert r.status_code in (200, 201)
    owner_a = await add_user(sessionmaker, clock, pa, "owner")
    await sign_in(client, owner_a)
    for path in ("", "members", "members/b-secret", "rules", "audit", "keys", "settings"):
        r = await client.get(f"/console/p/{pb}/{path}")
        assert r.status_code == 404, path
        assert "乙方会员" not in r.text
    r = await client.get(f"/console/p/{pa}/members?q=b-secret")
    assert r.status_code == 200
    assert "乙方会员" not in r.text
    assert "/members/b-secret" not in r.text
    r = await client.get(f"/console/p/{pa}/")
    assert pb not in r.text  # not even in the program switcher
    # The API: program A's key reads nothing of program B.
    r = await client.get("/v1/members/b-secret", headers=ha)
    assert r.status_code == 404
    r = await client.get(f"/v1/programs/{pb}/audit", headers=ha)
    assert r.status_code == 403


async def test_member_token_reads_only_its_own_member(client: httpx.AsyncClient) -> None:
    _, headers = await api_program(client)
    for m, pts in (("u-me", 30), ("u-other", 70)):
        r = await client.post(
            "/v1/credits",
            json={"idempotency_key": f"c-{m}", "member": m, "amount": pts, "reason": "seed"},
            headers=headers,
        )
        assert r.status_code == 201, r.text
    r = await client.post("/v1/members/u-me/tokens", json={}, headers=headers)
    token = r.json()["token"]
    me = {"Authorization": f"Bearer {token}"}
    r = await client.get("/v1/me/balances", headers=me)
    assert r.json()["member"] == "u-me"
    assert r.json()["balances"][0]["balance"] == 30
    # The token is no API key: the server-to-server API refuses it.
    r = await client.get("/v1/members/u-other/balances", headers=me)
    assert r.status_code == 401
    # The portal: the token once in the address, then an HttpOnly cookie; own data only.
    r = await client.get(f"/m?token={token}")
    assert r.status_code == 303
    set_cookie = r.headers["set-cookie"]
    assert "jifen_member=" in set_cookie
    assert "HttpOnly" in set_cookie
    assert "SameSite=lax" in set_cookie
    r = await client.get("/m/")
    assert r.status_code == 200
    assert 'data-testid="points">30<' in r.text
    assert "u-other" not in r.text
    # A forged or foreign token signs nobody in.
    client.cookies.clear()
    r = await client.get(f"/m?token={token[:-2]}xx")
    assert r.status_code == 401
    r = await client.get("/m/")
    assert r.status_code == 401


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def test_a_claimed_review_is_decided_only_by_its_claimer(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    pid, headers = await api_program(client)
    r = await client.post(
        "/v1/rules",
        json={
            "id": "show-order",
            "name": "晒单 +50",
            "trigger": "order_showcase",
            "review": True,
            "effects": [{"amount": {"fixed": 50}}],
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/v1/events",
        json={
            "client_id": "show-1",
            "type": "order_showcase",
            "member": "u-show",
            "occurred_at": clock.now().isoformat(),
            "attributes": {},
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    r = await client.get("/v1/reviews", headers=headers)
    review = r.json()[0]["id"]
    first = await add_user(sessionmaker, clock, pid, "reviewer")
    second = await add_user(sessionmaker, clock, pid, "operator")
    csrf = await sign_in(client, first)
    r = await client.post(f"/console/p/{pid}/reviews/{review}/claim", data={"csrf_token": csrf})
    assert r.status_code == 200
    assert first in r.text
    client.cookies.clear()
    csrf = await sign_in(client, second)
    r = await client.post(f"/console/p/{pid}/reviews/{review}/approve", data={"csrf_token": csrf})
    assert r.status_code == 409
    assert "claimed" in r.text
    r = await client.get("/v1/members/u-show/balances", headers=headers)
    assert r.json()["balances"] == []
    client.cookies.clear()
    csrf = await sign_in(client, first)
    r = await client.post(
        f"/console/p/{pid}/reviews/{review}/approve", data={"csrf_token": csrf, "reason": "ok"}
    )
    assert r.status_code == 200
    r = await client.get("/v1/members/u-show/balances", headers=headers)
    assert r.json()["balances"][0]["balance"] == 50
    # Decided once: a second approval is refused and pays nothing more.
    r = await client.post(f"/console/p/{pid}/reviews/{review}/approve", data={"csrf_token": csrf})
    assert r.status_code == 409
    r = await client.get("/v1/members/u-show/balances", headers=headers)
    assert r.json()["balances"][0]["balance"] == 50


async def test_overview_counts_points_per_local_day(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    """Points issued and redeemed per day of the program's time zone (Shanghai), liability in
    yuan, on both databases."""
    pid, headers = await api_program(client)
    sh = ZoneInfo("Asia/Shanghai")
    # 00:30 on 1 March in Shanghai is still 28 February in UTC: it counts on 1 March.
    for key, amount, at in (
        ("c1", 100, datetime(2026, 3, 1, 0, 30, tzinfo=sh)),
        ("c2", 40, datetime(2026, 2, 28, 23, 30, tzinfo=sh)),
        ("c3", 7, datetime(2026, 2, 20, 9, 0, tzinfo=sh)),
    ):
        r = await client.post(
            "/v1/credits",
            json={"idempotency_key": key, "member": "u-ov", "amount": amount, "reason": "buy",
                  "occurred_at": at.isoformat()},
            headers=headers,
        )  # fmt: skip
        assert r.status_code == 201, r.text
    r = await client.post(
        "/v1/debits",
        json={"idempotency_key": "d1", "member": "u-ov", "amount": 30, "reason": "redeem"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    analyst = await add_user(sessionmaker, clock, pid, "analyst")
    await sign_in(client, analyst)
    r = await client.get(f"/console/p/{pid}/")
    assert r.status_code == 200
    found = re.search(r'id="chart-points">(.*?)</script>', r.text, re.S)
    assert found
    chart = json.loads(found.group(1))
    days = chart["xAxis"]["data"]
    issued = dict(zip(days, chart["series"][0]["data"], strict=True))
    redeemed = dict(zip(days, chart["series"][1]["data"], strict=True))
    assert days[-1] == "03-01"
    assert issued["03-01"] == 100
    assert issued["02-28"] == 40
    assert issued["02-20"] == 7
    assert sum(issued.values()) == 147
    assert redeemed["03-01"] == 30
    assert sum(redeemed.values()) == 30
    # 117 points outstanding at the default 10 fen each: 11.70 yuan.
    assert 'data-testid="outstanding">117<' in r.text
    assert 'data-testid="liability">¥11.70<' in r.text


async def test_owner_adds_and_revokes_a_role_and_the_audit_log_shows_it(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    pid, _ = await api_program(client)
    owner = await add_user(sessionmaker, clock, pid, "owner")
    csrf = await sign_in(client, owner)
    new = f"new-{uuid.uuid4().hex[:6]}@example.cn"
    r = await client.post(
        f"/console/p/{pid}/users",
        data={"email": new, "password": PASSWORD, "role": "reviewer", "csrf_token": csrf},
    )
    assert r.status_code == 200, r.text
    # An operator may not manage users.
    operator = await add_user(sessionmaker, clock, pid, "operator")
    client.cookies.clear()
    op_csrf = await sign_in(client, operator)
    r = await client.post(
        f"/console/p/{pid}/users/revoke",
        data={"email": new, "role": "reviewer", "csrf_token": op_csrf},
    )
    assert r.status_code == 403
    client.cookies.clear()
    await sign_in(client, new)
    assert (await client.get(f"/console/p/{pid}/reviews")).status_code == 200
    client.cookies.clear()
    csrf = await sign_in(client, owner)
    r = await client.post(
        f"/console/p/{pid}/users/revoke",
        data={"email": new, "role": "reviewer", "csrf_token": csrf},
    )
    assert r.status_code == 200, r.text
    r = await client.get(f"/console/p/{pid}/audit")
    assert "user.grant" in r.text
    assert "user.revoke" in r.text
    client.cookies.clear()
    r = await client.get("/console/login")
    r = await client.post(
        "/console/login",
        data={"email": new, "password": PASSWORD, "csrf_token": csrf_of(r.text)},
    )
    assert r.status_code == 303  # still a user, but of no program any more
    assert (await client.get(f"/console/p/{pid}/reviews")).status_code == 404


async def test_operator_cancels_an_order_and_the_points_come_back(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    pid, headers = await api_program(client)
    r = await client.put(
        "/v1/catalog/items/mug",
        json={"name": "马克杯", "kind": "virtual", "price_points": 300, "stock": 3},
        headers=headers,
    )
    assert r.status_code in (200, 201), r.text
    r = await client.post(
        "/v1/credits",
        json={"idempotency_key": "seed", "member": "u-o", "amount": 500, "reason": "seed"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/v1/members/u-o/redemptions",
        json={"item": "mug"},
        headers={**headers, "Idempotency-Key": "redeem-1"},
    )
    assert r.status_code == 201, r.text
    order = r.json()["id"]
    reviewer = await add_user(sessionmaker, clock, pid, "reviewer")
    csrf = await sign_in(client, reviewer)
    r = await client.post(
        f"/console/p/{pid}/x/catalog/cancel/{order}", data={"csrf_token": csrf, "reason": "x"}
    )
    assert r.status_code == 403
    operator = await add_user(sessionmaker, clock, pid, "operator")
    client.cookies.clear()
    csrf = await sign_in(client, operator)
    r = await client.get(f"/console/p/{pid}/x/catalog")
    assert order in r.text
    r = await client.post(
        f"/console/p/{pid}/x/catalog/cancel/{order}",
        data={"csrf_token": csrf, "reason": "缺货"},
    )
    assert r.status_code == 200, r.text
    r = await client.get(f"/v1/orders/{order}", headers=headers)
    assert r.json()["status"] == "cancelled"
    r = await client.get("/v1/members/u-o/balances", headers=headers)
    assert r.json()["balances"][0]["balance"] == 500
