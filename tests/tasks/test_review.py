"""Tasks completed by reviewed submissions (worked example 3): share +30, order showcase +50,
first check-in within 3 days of joining +10; the claim rule; approve twice pays once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from jifen.clock import FixedClock
from tests.conftest import api_program
from tests.events.engine_api import Headers, assert_verified, set_member, sh
from tests.tasks.api import (
    by_submission,
    held,
    member_token,
    put_task,
    review,
    statuses,
    submit,
    tasks_of,
)

SHOT = "https://img.example.cn/s/123.png"


async def _community(client: httpx.AsyncClient) -> tuple[str, Headers]:
    pid, h = await api_program(client)
    await put_task(
        client, h, "share", name="分享群海报", kind="daily", reward={"points": 30},
        completion=by_submission(require_url=True, instructions="上传分享截图"),
    )  # fmt: skip
    await put_task(
        client, h, "showcase", name="晒单", kind="growth", reward={"points": 50},
        completion=by_submission(),
    )  # fmt: skip
    await put_task(
        client, h, "first-checkin", name="入群三天内首次打卡", kind="newbie",
        reward={"points": 10}, completion=by_submission(require_url=True),
        deadline={"within_days_of_joining": 3},
    )  # fmt: skip
    return pid, h


async def test_share_showcase_and_first_checkin_are_paid_when_approved(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    pid, h = await _community(client)
    await set_member(client, h, "ann", joined_at=clock.now().isoformat())
    me = await member_token(client, h, "ann")
    share = await submit(client, me, "share", proof_url=SHOT)
    assert (share["status"], share["period"], share["member"]) == ("pending", "2026-03-01", "ann")
    showcase = await submit(client, h, "showcase", member="ann", proof_text="买了三本书, 很好")
    clock.advance(timedelta(days=2))
    first = await submit(client, me, "first-checkin", proof_url=SHOT)
    assert statuses(await tasks_of(client, me)) == {
        "share": "available",  # a daily task: the pending share was for 2026-03-01
        "showcase": "pending_review",
        "first-checkin": "pending_review",
    }
    queue = (await client.get("/v1/task-submissions?status=pending", headers=h)).json()
    assert [s["id"] for s in queue["items"]] == [share["id"], showcase["id"], first["id"]]
    for sub in (share, showcase, first):
        await review(client, h, sub["id"], "claim", "小王")
        done = await review(client, h, sub["id"], "approve", "小王")
        assert (done["status"], done["decided_by"]) == ("approved", "小王")
    assert await held(client, h, "ann") == {"points": 90, "growth": 0, "cash": 0}
    assert [t["asset"] for t in done["completion"]["paid"]["transactions"]] == ["points"]
    assert done["completion"]["paid"]["transactions"][0]["amount"] == 10
    assert statuses(await tasks_of(client, me)) == {
        "share": "available",
        "showcase": "completed",
        "first-checkin": "completed",
    }
    audit = (await client.get(f"/v1/programs/{pid}/audit", headers=h)).json()
    decisions = [
        (a["actor"], a["action"], a["entity_id"])
        for a in audit
        if a["action"].startswith("task_submission.")
    ]
    assert ("小王", "task_submission.approve", str(first["id"])) in decisions
    assert ("小王", "task_submission.claim", str(share["id"])) in decisions
    await assert_verified(client, h)


async def test_first_checkin_after_three_days_is_refused_and_a_rejection_keeps_its_reason(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    pid, h = await _community(client)
    await set_member(client, h, "late", joined_at=clock.now().isoformat())
    await set_member(client, h, "blur", joined_at=clock.now().isoformat())
    clock.advance(timedelta(days=3, seconds=1))
    late = await submit(client, h, "first-checkin", member="late", proof_url=SHOT, expect=422)
    assert late["code"] == "task_deadline_passed"
    assert statuses(await tasks_of(client, h, "late"))["first-checkin"] == "expired"
    clock.set(sh(2026, 3, 2))
    sub = await submit(client, h, "first-checkin", member="blur", proof_url=SHOT)
    # No URL where the task needs a screenshot; a second submission while one waits.
    missing = await submit(
        client, h, "first-checkin", member="blur", proof_text="打卡了", expect=422
    )
    assert (missing["code"], missing["field"]) == ("proof_required", "proof_url")
    again = await submit(client, h, "first-checkin", member="blur", proof_url=SHOT, expect=409)
    assert again["code"] == "submission_pending"
    no_reason = await client.post(
        f"/v1/task-submissions/{sub['id']}/reject", json={"reviewer": "小李"}, headers=h
    )
    assert no_reason.status_code == 422
    rejected = await review(client, h, sub["id"], "reject", "小李", reason="截图看不清")
    assert (rejected["status"], rejected["decision_reason"], rejected["decided_by"]) == (
        "rejected", "截图看不清", "小李",
    )  # fmt: skip
    assert rejected["decided_at"] is not None
    listed = (await tasks_of(client, h, "blur"))["tasks"]
    first = next(t for t in listed if t["task_id"] == "first-checkin")
    assert (first["status"], first["rejection_reason"]) == ("rejected", "截图看不清")
    assert await held(client, h, "blur") == {"points": 0, "growth": 0, "cash": 0}
    # Approving a rejected submission is refused; the member may submit again in time.
    refused = await review(client, h, sub["id"], "approve", "小李", expect=409)
    assert refused["code"] == "submission_decided"
    second = await submit(client, h, "first-checkin", member="blur", proof_url=SHOT)
    await review(client, h, second["id"], "approve", "小李")
    assert (await held(client, h, "blur"))["points"] == 10
    audit = (await client.get(f"/v1/programs/{pid}/audit", headers=h)).json()
    reject = next(a for a in audit if a["action"] == "task_submission.reject")
    assert (reject["actor"], reject["reason"], reject["entity_id"]) == (
        "小李", "截图看不清", str(sub["id"]),
    )  # fmt: skip
    rejected_list = (await client.get("/v1/task-submissions?status=rejected", headers=h)).json()
    assert [s["id"] for s in rejected_list["items"]] == [sub["id"]]


async def test_a_claimed_submission_is_decided_only_by_its_claimer_and_approve_twice_pays_once(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await _community(client)
    sub = await submit(client, h, "showcase", member="cat", proof_url=SHOT)
    claimed = await review(client, h, sub["id"], "claim", "alice")
    assert claimed["claimed_by"] == "alice"
    assert (await review(client, h, sub["id"], "claim", "alice"))["claimed_by"] == "alice"
    for action in ("claim", "approve", "reject", "release"):
        reason = "抢单" if action == "reject" else None
        refused = await review(client, h, sub["id"], action, "bob", expect=409, reason=reason)
        assert (refused["code"], refused["claimed_by"]) == ("submission_claimed", "alice")
    first = await review(client, h, sub["id"], "approve", "alice", key="approve-1")
    replay = await client.post(
        f"/v1/task-submissions/{sub['id']}/approve",
        json={"reviewer": "alice"},
        headers={**h, "Idempotency-Key": "approve-1"},
    )
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == first
    # Again under another key (a double click): the same result, nothing paid twice.
    second = await review(client, h, sub["id"], "approve", "alice")
    assert second == first
    assert await held(client, h, "cat") == {"points": 50, "growth": 0, "cash": 0}
    # The growth task is done: a new submission is refused.
    done = await submit(client, h, "showcase", member="cat", proof_url=SHOT, expect=409)
    assert done["code"] == "task_already_completed"
    missing = await review(client, h, 10**9, "approve", "alice", expect=404)
    assert missing["code"] == "submission_not_found"
    await assert_verified(client, h)


async def test_release_returns_a_claim_to_the_queue(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await _community(client)
    sub = await submit(client, h, "showcase", member="dot", proof_text="晒单")
    await review(client, h, sub["id"], "claim", "alice")
    released = await review(client, h, sub["id"], "release", "alice")
    assert released["claimed_by"] is None
    await review(client, h, sub["id"], "approve", "bob")
    assert (await held(client, h, "dot"))["points"] == 50


async def test_event_task_refuses_submissions_and_the_submission_key_replays(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await _community(client)
    await put_task(
        client, h, "login", name="登录", kind="daily", reward={"points": 1},
        completion={"by": "event", "trigger": "login"},
    )  # fmt: skip
    refused = await submit(client, h, "login", member="eli", proof_text="x", expect=422)
    assert refused["code"] == "task_not_submittable"
    first = await submit(client, h, "share", member="eli", proof_url=SHOT, key="k1")
    again = await client.post(
        "/v1/members/eli/tasks/share/submissions",
        json={"proof_url": SHOT},
        headers={**h, "Idempotency-Key": "k1"},
    )
    assert again.status_code == 201
    assert again.json() == first
    other = await client.post(
        "/v1/members/eli/tasks/share/submissions",
        json={"proof_url": SHOT + "?2"},
        headers={**h, "Idempotency-Key": "k1"},
    )
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_conflict")
    nokey = await client.post(
        "/v1/members/eli/tasks/share/submissions", json={"proof_url": SHOT}, headers=h
    )
    assert (nokey.status_code, nokey.json()["code"]) == (400, "idempotency_key_required")


async def test_concurrent_approvals_pay_once(
    client: httpx.AsyncClient, clock: FixedClock, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL")
    _, h = await _community(client)
    subs = [await submit(client, h, "showcase", member=f"c{i}", proof_url=SHOT) for i in range(3)]

    async def approve(sub_id: int) -> int:
        r = await client.post(
            f"/v1/task-submissions/{sub_id}/approve", json={"reviewer": "alice"}, headers=h
        )
        return r.status_code

    codes = await asyncio.gather(*(approve(s["id"]) for s in subs for _ in range(4)))
    assert set(codes) == {200}
    for i in range(3):
        assert (await held(client, h, f"c{i}"))["points"] == 50
    await assert_verified(client, h)


async def test_promotion_task_issues_a_100_yuan_course_coupon_once(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    # Example 1: a promotion task issues a 100-yuan course coupon (order >= 300 yuan, courses
    # only, valid 30 days).
    _, h = await api_program(client)
    r = await client.put(
        "/v1/coupon-templates/course-100",
        json={"name": "100 元课程券", "kind": "fixed", "discount_fen": 10000,
              "threshold_fen": 30000, "scope": "categories", "categories": ["course"],
              "valid_days": 30},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    unknown = await client.put(
        "/v1/tasks/promo",
        json={"name": "推广任务", "kind": "growth", "completion": by_submission(),
              "reward": {"coupon_template": "nope"}},
        headers=h,
    )  # fmt: skip
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_coupon_template")
    await put_task(
        client, h, "promo", name="推广任务", kind="growth", completion=by_submission(),
        reward={"coupon_template": "course-100"},
    )  # fmt: skip
    sub = await submit(client, h, "promo", member="gao", proof_url=SHOT)
    done = await review(client, h, sub["id"], "approve", "小王")
    coupon = done["completion"]["paid"]["coupon"]
    assert coupon["template_id"] == "course-100"
    assert coupon["valid_until"].startswith("2026-03-31")
    assert await review(client, h, sub["id"], "approve", "小王") == done
    r = await client.get("/v1/members/gao/coupons", headers=h)
    assert [(c["template_id"], c["status"], c["code"]) for c in r.json()] == [
        ("course-100", "available", coupon["code"])
    ]


async def test_queue_pages_by_cursor_and_unknown_things_are_404(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await put_task(
        client, h, "showcase", name="晒单", kind="growth", reward={"points": 50},
        completion=by_submission(),
    )  # fmt: skip
    ids = [
        (await submit(client, h, "showcase", member=f"q{i}", proof_text="晒单"))["id"]
        for i in range(3)
    ]
    r = await client.get("/v1/task-submissions", params={"limit": 2}, headers=h)
    page = r.json()
    assert [s["id"] for s in page["items"]] == ids[:2]
    r = await client.get(
        "/v1/task-submissions", params={"limit": 2, "cursor": page["next_cursor"]}, headers=h
    )
    assert [s["id"] for s in r.json()["items"]] == ids[2:]
    assert r.json()["next_cursor"] is None
    r = await client.get("/v1/task-submissions", params={"member": "q1"}, headers=h)
    assert [s["id"] for s in r.json()["items"]] == [ids[1]]
    r = await client.get(f"/v1/task-submissions/{ids[0]}", headers=h)
    assert (r.status_code, r.json()["member"]) == (200, "q0")
    r = await client.get("/v1/task-submissions", params={"cursor": "!!"}, headers=h)
    assert (r.status_code, r.json()["code"]) == (422, "invalid_cursor")
    missing = await submit(client, h, "nope", member="q0", proof_text="x", expect=404)
    assert missing["code"] == "task_not_found"
    r = await client.get("/v1/members/ghost/tasks", headers=h)
    assert (r.status_code, r.json()["code"]) == (404, "member_not_found")
