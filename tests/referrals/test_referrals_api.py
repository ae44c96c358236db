"""Referrals through the HTTP API: codes, attribution checks, qualification, rewards, revocation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.clock import FixedClock
from jifen.jobs.runner import run_job
from tests.conftest import api_program
from tests.events.engine_api import (
    Headers,
    assert_verified,
    balances,
    save_rule,
    send,
    set_member,
)


async def _settings(client: httpx.AsyncClient, h: Headers, **config: Any) -> dict[str, Any]:
    r = await client.put("/v1/referral/settings", json=config, headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _code(client: httpx.AsyncClient, h: Headers, member: str) -> str:
    await set_member(client, h, member)
    r = await client.get(f"/v1/members/{member}/referral-code", headers=h)
    assert r.status_code == 200, r.text
    return str(r.json()["code"])


async def _invite(
    client: httpx.AsyncClient,
    h: Headers,
    code: str,
    invitee: str,
    *,
    expect: int = 201,
    key: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    r = await client.post(
        "/v1/referrals",
        json={"code": code, "invitee": invitee, **extra},
        headers={**h, "Idempotency-Key": key or f"ref-{invitee}-{code}"},
    )
    assert r.status_code == expect, r.text
    return dict(r.json())


async def _list(client: httpx.AsyncClient, h: Headers, member: str) -> dict[str, Any]:
    r = await client.get(f"/v1/members/{member}/referrals", headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _example1_rule(cash_cap_per_month: int) -> dict[str, Any]:
    return {
        "id": "invite",
        "name": "邀请好友: 50 积分 + 5 元, 第 10 位再 +50 元, 现金每月封顶",
        "trigger": "invite_accepted",
        "effects": [
            {"asset": "points", "amount": {"fixed": 50}},
            {"asset": "cash", "amount": {"fixed": 500}},
            {"asset": "cash", "amount": {"fixed": 5000}, "when": "milestone", "at": [10]},
        ],
        "limits": [{"window": "month", "asset": "cash", "max_amount": cash_cap_per_month}],
    }


async def test_code_and_link_are_made_once_and_shared_with_the_member(
    client: httpx.AsyncClient,
) -> None:
    _, h = await api_program(client)
    await _settings(client, h, link_base_url="https://m.example.com/invite?from=app")
    await set_member(client, h, "alice")
    first = (await client.get("/v1/members/alice/referral-code", headers=h)).json()
    again = (await client.get("/v1/members/alice/referral-code", headers=h)).json()
    assert first == again
    code = first["code"]
    assert len(code) == 8
    assert set(code) <= set("ABCDEFGHJKMNPQRSTUVWXYZ23456789")
    assert first["link"] == f"https://m.example.com/invite?from=app&invite_code={code}"
    token = (await client.post("/v1/members/alice/tokens", headers=h)).json()["token"]
    mine = await client.get("/v1/me/referral", headers={"Authorization": f"Bearer {token}"})
    assert mine.status_code == 200, mine.text
    assert mine.json() == first
    await _settings(client, h, link_base_url="https://m.example.com/i/{code}")
    r = await client.get("/v1/members/alice/referral-code", headers=h)
    assert r.json()["link"] == f"https://m.example.com/i/{code}"
    missing = await client.get("/v1/members/nobody/referral-code", headers=h)
    assert (missing.status_code, missing.json()["code"]) == (404, "member_not_found")


async def test_example1_ten_invites_pay_100_yuan_and_the_monthly_cash_cap_holds(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    """10 friends × 5 yuan + 50 yuan at the 10th = 10,000 fen; the cap is 10,000 fen a month,
    so an 11th friend in the same month still earns points but no cash."""
    _, h = await api_program(client)
    await save_rule(client, h, **_example1_rule(10_000))
    code = await _code(client, h, "inviter")
    for i in range(1, 11):
        ref = await _invite(client, h, code.lower(), f"friend-{i}")  # codes are case-blind
        assert ref["status"] == "qualified"
        expected = {"points": 50, "cash": 500 + (5000 if i == 10 else 0)}
        assert ref["rewards"] == expected
        clock.advance(timedelta(minutes=1))
    assert await balances(client, h, "inviter") == {"points": 500, "cash": 10_000}
    eleventh = await _invite(client, h, code, "friend-11")
    assert eleventh["rewards"] == {"points": 50}
    assert await balances(client, h, "inviter") == {"points": 550, "cash": 10_000}

    listing = await _list(client, h, "inviter")
    assert listing["code"] == code
    assert listing["counts"] == {"pending": 0, "qualified": 11, "revoked": 0}
    assert listing["earned"] == {"cash": 10_000, "points": 550}
    assert [x["invitee"] for x in listing["items"][:2]] == ["friend-11", "friend-10"]
    assert listing["items"][1]["net"] == {"points": 50, "cash": 5500}
    # Paged by cursor, newest first; the member's own view is the same list.
    seen: list[str] = []
    cursor = ""
    while True:
        r = await client.get(f"/v1/members/inviter/referrals?limit=4&cursor={cursor}", headers=h)
        page = r.json()
        seen += [x["invitee"] for x in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert seen == [f"friend-{i}" for i in range(11, 0, -1)]
    token = (await client.post("/v1/members/inviter/tokens", headers=h)).json()["token"]
    mine = await client.get("/v1/me/referrals", headers={"Authorization": f"Bearer {token}"})
    assert mine.json() == listing
    notes = (await client.get("/v1/members/inviter/notifications?limit=200", headers=h)).json()
    qualified = [n["data"] for n in notes["items"] if n["topic"] == "referral.qualified"]
    assert len(qualified) == 11
    assert qualified[1] == {
        "referral_id": listing["items"][1]["id"],
        "invitee": "friend-10",
        "rewards": {"points": 50, "cash": 5500},
    }
    # The invitee's own statement shows nothing; the invite was paid to the inviter.
    assert await balances(client, h, "friend-1") == {}
    await assert_verified(client, h)


async def test_example3_ladder_and_a_leaving_friend_takes_that_invites_points_back(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await save_rule(
        client, h, id="invite-ladder", name="邀请: 1-3 位 10, 4-5 位 15, 6 位起 20",
        trigger="invite_accepted",
        effects=[{"amount": {"ladder": [
            {"from": 1, "to": 3, "amount": 10},
            {"from": 4, "to": 5, "amount": 15},
            {"from": 6, "amount": 20},
        ]}}],
    )  # fmt: skip
    code = await _code(client, h, "host")
    refs = []
    for i in range(1, 8):
        refs.append(await _invite(client, h, code, f"f{i}"))
        clock.advance(timedelta(seconds=10))
    assert [r["rewards"]["points"] for r in refs] == [10, 10, 10, 15, 15, 20, 20]
    assert await balances(client, h, "host") == {"points": 100}

    # Friend 4 leaves: the operator (or the merchant's backend) says so; its 15 points go at once.
    r = await client.post(
        f"/v1/referrals/{refs[3]['id']}/revoke",
        json={"reason": "left", "operator": "ops"},
        headers={**h, "Idempotency-Key": "left-f4"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["revoke_reason"]) == ("revoked", "left")
    assert (body["reversed"], body["net"]) == ({"points": 15}, {"points": 0})
    assert await balances(client, h, "host") == {"points": 85}
    again = await client.post(
        f"/v1/referrals/{refs[3]['id']}/revoke",
        json={"reason": "left", "operator": "ops"},
        headers={**h, "Idempotency-Key": "left-f4-again"},
    )
    assert (again.status_code, again.json()["code"]) == (409, "referral_not_active")

    # Friend 6 leaves the group and the merchant only sends the event: the same happens.
    left = await send(client, h, "left-f6", "member_left", "f6", clock.now())
    assert [(x["asset"], x["amount"]) for x in left["reversals"]] == [("points", 20)]
    assert await balances(client, h, "host") == {"points": 65}
    six = (await client.get(f"/v1/referrals/{refs[5]['id']}", headers=h)).json()
    assert (six["status"], six["reversed"]) == ("revoked", {"points": 20})
    listing = await _list(client, h, "host")
    assert listing["counts"] == {"pending": 0, "qualified": 5, "revoked": 2}
    assert listing["earned"] == {"points": 65}
    await assert_verified(client, h)


async def test_self_referral_shared_device_and_ip_are_refused_with_stable_codes(
    client: httpx.AsyncClient,
) -> None:
    _, h = await api_program(client)
    await save_rule(
        client, h, id="invite", name="invite", trigger="invite_accepted",
        effects=[{"amount": {"fixed": 10}}],
    )  # fmt: skip
    code = await _code(client, h, "boss")
    await set_member(client, h, "boss", attributes={"device_id": "dev-boss", "ip": "10.0.0.7"})

    self_ref = await _invite(client, h, code, "boss", expect=422)
    assert (self_ref["code"], self_ref["field"]) == ("self_referral", "invitee")
    same_device = await _invite(client, h, code, "alt-1", expect=422, device_id="dev-boss")
    assert (same_device["code"], same_device["field"]) == ("shared_device", "device_id")
    # The device can also come from the invitee's member attributes.
    await set_member(client, h, "alt-2", attributes={"device_id": "dev-boss"})
    assert (await _invite(client, h, code, "alt-2", expect=422))["code"] == "shared_device"
    # A replay of a refused request gives the same refusal; nothing was attributed.
    replay = await _invite(client, h, code, "alt-1", expect=422, device_id="dev-boss")
    assert replay == same_device

    # The IP check is off by default and per program.
    ok = await _invite(client, h, code, "neighbour", ip="10.0.0.7")
    assert ok["status"] == "qualified"
    await _settings(client, h, refuse_shared_ip=True)
    same_ip = await _invite(client, h, code, "neighbour-2", expect=422, ip="10.0.0.7")
    assert same_ip["code"] == "shared_ip"

    # First touch: an invitee belongs to one inviter.
    other = await _code(client, h, "rival")
    taken = await _invite(client, h, other, "neighbour", expect=409)
    assert (taken["code"], taken["field"]) == ("already_referred", "invitee")
    unknown = await _invite(client, h, "NOPE2345", "someone", expect=404)
    assert unknown["code"] == "referral_code_not_found"
    assert await balances(client, h, "boss") == {"points": 10}
    listing = await _list(client, h, "boss")
    assert [x["invitee"] for x in listing["items"]] == ["neighbour"]


async def test_first_purchase_qualifies_and_an_early_refund_revokes(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await save_rule(
        client, h, id="invite", name="5 yuan per friend who buys", trigger="invite_accepted",
        effects=[{"asset": "cash", "amount": {"fixed": 500}}, {"amount": {"fixed": 50}}],
    )  # fmt: skip
    await _settings(client, h, qualify_on="first_purchase", refund_window_days=7)
    code = await _code(client, h, "inviter")
    ref = await _invite(client, h, code, "buyer")
    assert (ref["status"], ref["rewards"]) == ("pending", {})
    assert await balances(client, h, "inviter") == {}

    await send(client, h, "o-1", "purchase", "buyer", clock.now(), order_id="o-1", amount=9900)
    now = (await client.get(f"/v1/referrals/{ref['id']}", headers=h)).json()
    assert (now["status"], now["rewards"]) == ("qualified", {"cash": 500, "points": 50})
    assert await balances(client, h, "inviter") == {"cash": 500, "points": 50}
    # A second purchase pays the inviter nothing more.
    clock.advance(timedelta(days=1))
    await send(client, h, "o-2", "purchase", "buyer", clock.now(), order_id="o-2", amount=100)
    assert await balances(client, h, "inviter") == {"cash": 500, "points": 50}

    # A refund within 7 days of qualifying takes the invite back.
    clock.advance(timedelta(days=2))
    await send(client, h, "r-1", "refund", "buyer", clock.now(), order_id="o-1", refund_amount=9900)
    gone = (await client.get(f"/v1/referrals/{ref['id']}", headers=h)).json()
    assert (gone["status"], gone["revoke_reason"]) == ("revoked", "refund")
    assert gone["reversed"] == {"cash": 500, "points": 50}
    assert await balances(client, h, "inviter") == {"cash": 0, "points": 0}

    # After the window a refund changes nothing.
    ref2 = await _invite(client, h, code, "buyer-2")
    await send(client, h, "o-3", "purchase", "buyer-2", clock.now(), order_id="o-3", amount=500)
    clock.advance(timedelta(days=8))
    await send(
        client, h, "r-3", "refund", "buyer-2", clock.now(), order_id="o-3", refund_amount=500
    )
    kept = (await client.get(f"/v1/referrals/{ref2['id']}", headers=h)).json()
    assert kept["status"] == "qualified"
    assert await balances(client, h, "inviter") == {"cash": 500, "points": 50}
    await assert_verified(client, h)


async def test_registration_attributes_at_once_and_days_stayed_qualify_through_the_job(
    client: httpx.AsyncClient,
    clock: FixedClock,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    pid, h = await api_program(client)
    await save_rule(
        client, h, id="invite", name="invite", trigger="invite_accepted",
        effects=[{"amount": {"fixed": 10}}],
    )  # fmt: skip
    await _settings(client, h, qualify_on="days_stayed", qualify_days=3)
    code = await _code(client, h, "inviter")
    # Registering with an invite code attributes at once; a bad code is recorded, not an error.
    await set_member(client, h, "stays", attributes={"invite_code": code})
    await set_member(client, h, "self", attributes={"invite_code": "NOPE2345"})
    listing = await _list(client, h, "inviter")
    assert listing["counts"] == {"pending": 1, "qualified": 0, "revoked": 0}
    # A member who existed before and gets a code later is attributed by the job.
    await set_member(client, h, "leaves")
    await set_member(client, h, "leaves", attributes={"invite_code": code})
    [done] = await run_job("referrals", sessionmaker, clock, program_id=pid)
    assert done.count == 1
    listing = await _list(client, h, "inviter")
    assert listing["counts"] == {"pending": 2, "qualified": 0, "revoked": 0}
    assert {x["source"] for x in listing["items"]} == {"attributes"}
    [again] = await run_job("referrals", sessionmaker, clock, program_id=pid)
    assert again.count == 0

    clock.advance(timedelta(days=1))
    await send(client, h, "bye", "member_left", "leaves", clock.now())
    clock.advance(timedelta(days=2))
    [paid] = await run_job("referrals", sessionmaker, clock, program_id=pid)
    assert paid.count == 1
    listing = await _list(client, h, "inviter")
    assert listing["counts"] == {"pending": 0, "qualified": 1, "revoked": 1}
    assert await balances(client, h, "inviter") == {"points": 10}
    [idle] = await run_job("referrals", sessionmaker, clock, program_id=pid)
    assert idle.count == 0
    await assert_verified(client, h)
