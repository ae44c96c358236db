"""The cash wallet through the HTTP API: requests held, limits, approve/reject, paid, payables."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import httpx

from jifen.clock import FixedClock
from tests.conftest import api_program
from tests.events.engine_api import Headers, assert_verified, set_member


async def _cash(client: httpx.AsyncClient, h: Headers, member: str, amount: int) -> None:
    r = await client.post(
        "/v1/credits",
        json={"member": member, "asset": "cash", "amount": amount, "reason": "invite cash"},
        headers={**h, "Idempotency-Key": f"cash-{member}-{amount}"},
    )
    assert r.status_code == 201, r.text


async def _wallet(client: httpx.AsyncClient, h: Headers, member: str) -> dict[str, int]:
    r = await client.get(f"/v1/members/{member}/balances", headers=h)
    assert r.status_code == 200, r.text
    [cash] = [b for b in r.json()["balances"] if b["asset"] == "cash"]
    return {k: cash[k] for k in ("balance", "held", "available")}


async def _withdraw(
    client: httpx.AsyncClient, h: Headers, member: str, amount: int, key: str, expect: int = 201
) -> dict[str, Any]:
    r = await client.post(
        f"/v1/members/{member}/withdrawals",
        json={"amount": amount, "payee": f"wx:{member}"},
        headers={**h, "Idempotency-Key": key},
    )
    assert r.status_code == expect, r.text
    return dict(r.json())


async def _decide(
    client: httpx.AsyncClient, h: Headers, wid: int, action: str, expect: int = 200, **body: Any
) -> dict[str, Any]:
    r = await client.post(
        f"/v1/withdrawals/{wid}/{action}",
        json={"operator": "finance-li", **body},
        headers={**h, "Idempotency-Key": f"{action}-{wid}-{len(body)}"},
    )
    assert r.status_code == expect, r.text
    return dict(r.json())


async def test_withdrawal_min_amount_daily_limit_approve_reject_and_paid(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    pid, h = await api_program(client)
    r = await client.put(
        "/v1/wallet/settings", json={"min_amount": 1000, "daily_limit": 5000}, headers=h
    )
    assert r.status_code == 200, r.text
    await set_member(client, h, "inviter")
    await _cash(client, h, "inviter", 10_000)

    low = await _withdraw(client, h, "inviter", 999, "w-low", expect=422)
    assert (low["code"], low["min_amount"]) == ("below_minimum", 1000)
    first = await _withdraw(client, h, "inviter", 3000, "w-1")
    assert (first["status"], first["amount"], first["payee"]) == ("requested", 3000, "wx:inviter")
    assert await _wallet(client, h, "inviter") == {
        "balance": 10_000,
        "held": 3000,
        "available": 7000,
    }
    # 3,000 + 2,500 > 5,000 a day; 2,000 fits exactly.
    over = await _withdraw(client, h, "inviter", 2500, "w-over", expect=422)
    assert (over["code"], over["daily_limit"], over["used"]) == ("daily_limit_exceeded", 5000, 3000)
    second = await _withdraw(client, h, "inviter", 2000, "w-2")
    assert await _wallet(client, h, "inviter") == {
        "balance": 10_000,
        "held": 5000,
        "available": 5000,
    }
    # A replay answers the same request again and holds nothing more.
    assert await _withdraw(client, h, "inviter", 3000, "w-1") == first

    approved = await _decide(client, h, first["id"], "approve")
    assert (approved["status"], approved["decided_by"]) == ("approved", "finance-li")
    assert approved["capture_transaction_id"]
    assert await _wallet(client, h, "inviter") == {"balance": 7000, "held": 2000, "available": 5000}
    twice = await _decide(client, h, first["id"], "reject", expect=409, reason="late")
    assert twice["code"] == "withdrawal_not_requested"

    no_reason = await client.post(
        f"/v1/withdrawals/{second['id']}/reject",
        json={"operator": "finance-li"},
        headers={**h, "Idempotency-Key": "rej-no-reason"},
    )
    assert no_reason.status_code == 422
    rejected = await _decide(client, h, second["id"], "reject", reason="payee name mismatch")
    assert (rejected["status"], rejected["reason"]) == ("rejected", "payee name mismatch")
    assert await _wallet(client, h, "inviter") == {"balance": 7000, "held": 0, "available": 7000}
    # A rejected request no longer counts against today's limit.
    third = await _withdraw(client, h, "inviter", 2000, "w-3")

    report = (await client.get("/v1/wallet/payable", headers=h)).json()
    assert report["approved_unpaid"] == {"count": 1, "amount": 3000}
    assert report["pending"] == {"count": 1, "amount": 2000}
    text = (await client.get("/v1/wallet/payable?format=csv", headers=h)).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(x["id"], x["status"], x["amount_fen"], x["amount_yuan"]) for x in rows] == [
        (str(first["id"]), "approved", "3000", "30.00"),
        (str(third["id"]), "requested", "2000", "20.00"),
    ]

    not_yet = await _decide(client, h, third["id"], "paid", expect=409, payout_reference="x")
    assert not_yet["code"] == "withdrawal_not_approved"
    paid = await _decide(client, h, first["id"], "paid", payout_reference="WX-20260301-0001")
    assert (paid["status"], paid["payout_reference"]) == ("paid", "WX-20260301-0001")
    report = (await client.get("/v1/wallet/payable", headers=h)).json()
    assert report["approved_unpaid"] == {"count": 0, "amount": 0}
    # Every decision is in the audit log, with who made it, and the member was told.
    audit = (await client.get(f"/v1/programs/{pid}/audit", headers=h)).json()
    decisions = [
        (a["action"], a["actor"], a["entity_id"], a["before"]["status"], a["after"]["status"])
        for a in audit
        if a["action"].startswith("withdrawal.")
    ]
    assert decisions == [
        ("withdrawal.paid", "finance-li", str(first["id"]), "approved", "paid"),
        ("withdrawal.reject", "finance-li", str(second["id"]), "requested", "rejected"),
        ("withdrawal.approve", "finance-li", str(first["id"]), "requested", "approved"),
    ]
    assert [a["reason"] for a in audit if a["action"] == "withdrawal.reject"] == [
        "payee name mismatch"
    ]
    notes = (await client.get("/v1/members/inviter/notifications", headers=h)).json()["items"]
    topics = [n["topic"] for n in notes if n["topic"].startswith("withdrawal.")]
    assert topics == ["withdrawal.paid", "withdrawal.rejected", "withdrawal.approved"]

    # Next day, the limit starts again.
    clock.advance(timedelta(days=1))
    await _withdraw(client, h, "inviter", 3000, "w-4")
    await _withdraw(client, h, "inviter", 2000, "w-5")
    assert await _wallet(client, h, "inviter") == {"balance": 7000, "held": 7000, "available": 0}
    clock.advance(timedelta(days=1))
    empty = await _withdraw(client, h, "inviter", 1000, "w-6", expect=422)
    assert (empty["code"], empty["available"]) == ("insufficient_points", 0)
    await assert_verified(client, h)


async def test_member_requests_own_withdrawal_and_an_unanswered_one_expires(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await client.put("/v1/wallet/settings", json={"min_amount": 100, "hold_days": 2}, headers=h)
    await set_member(client, h, "m1")
    await _cash(client, h, "m1", 500)
    token = (await client.post("/v1/members/m1/tokens", headers=h)).json()["token"]
    me = {"Authorization": f"Bearer {token}"}
    r = await client.post(
        "/v1/me/withdrawals", json={"amount": 500}, headers={**me, "Idempotency-Key": "k1"}
    )
    assert r.status_code == 201, r.text
    wid = r.json()["id"]
    mine = (await client.get("/v1/me/withdrawals", headers=me)).json()
    assert [(x["id"], x["status"]) for x in mine["items"]] == [(wid, "requested")]

    clock.advance(timedelta(days=2, seconds=1))
    late = await _decide(client, h, wid, "approve", expect=409)
    assert late["code"] == "withdrawal_expired"
    assert (await client.get(f"/v1/withdrawals/{wid}", headers=h)).json()["status"] == "expired"
    assert await _wallet(client, h, "m1") == {"balance": 500, "held": 0, "available": 500}
    await assert_verified(client, h)
