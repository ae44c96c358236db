"""Tasks completed by events: newbie steps with a group bonus (worked example 2), daily tasks
that reset each local day and growth tasks paid once (worked example 5), challenges."""

from __future__ import annotations

from datetime import timedelta

import httpx

from jifen.clock import FixedClock
from tests.conftest import api_program
from tests.events.engine_api import (
    assert_verified,
    event_body,
    send,
    send_batch,
    set_member,
    sh,
)
from tests.tasks.api import by_event, held, put_group, put_task, statuses, tasks_of


async def _newbie_program(client: httpx.AsyncClient) -> dict[str, str]:
    _, h = await api_program(client)
    # Example 2: each newbie step 20 points, all three a 2-yuan cash red envelope.
    await put_group(client, h, "newbie", name="新手任务", bonus={"cash": 200})
    for step in ("avatar", "phone", "interests"):
        await put_task(
            client, h, f"newbie-{step}", name=f"设置{step}", kind="newbie", group="newbie",
            completion=by_event("profile_completed", f"event.attributes.step == '{step}'"),
            reward={"points": 20},
        )  # fmt: skip
    return h


async def test_newbie_steps_pay_20_each_and_all_three_a_2_yuan_red_envelope(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    h = await _newbie_program(client)
    t = clock.now()
    await send(client, h, "e1", "profile_completed", "amy", t, step="avatar")
    assert await held(client, h, "amy") == {"points": 20, "growth": 0, "cash": 0}
    # The same step again, and an unrelated step value, pay nothing more.
    await send(client, h, "e2", "profile_completed", "amy", t, step="avatar")
    await send(client, h, "e3", "profile_completed", "amy", t, step="nickname")
    assert (await held(client, h, "amy"))["points"] == 20
    await send(client, h, "e4", "profile_completed", "amy", t, step="phone")
    listed = await tasks_of(client, h, "amy")
    assert statuses(listed) == {
        "newbie-avatar": "completed",
        "newbie-phone": "completed",
        "newbie-interests": "available",
    }
    assert listed["groups"][0]["completed"] == 2
    assert listed["groups"][0]["bonus_paid"] is False
    assert (await held(client, h, "amy"))["cash"] == 0
    await send(client, h, "e5", "profile_completed", "amy", t, step="interests")
    assert await held(client, h, "amy") == {"points": 60, "growth": 0, "cash": 200}
    listed = await tasks_of(client, h, "amy")
    assert listed["groups"][0] | {"bonus": None} == {
        "group_id": "newbie", "name": "新手任务", "completed": 3, "total": 3, "bonus": None,
        "bonus_paid": True,
    }  # fmt: skip
    # A replayed event reaches no listener again: nothing is paid twice.
    replay = await send(
        client, h, "e5", "profile_completed", "amy", t, step="interests", expect=200
    )
    assert replay["status"] == "duplicate"
    assert await held(client, h, "amy") == {"points": 60, "growth": 0, "cash": 200}
    await assert_verified(client, h)


async def test_all_three_steps_in_one_batch_pay_60_points_and_the_envelope_once(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    h = await _newbie_program(client)
    t = clock.now()
    events = [
        event_body(f"{m}-{s}-{i}", "profile_completed", m, t, step=s)
        for m in ("bo", "cy")
        for s in ("avatar", "phone", "interests")
        for i in range(2)
    ]
    await send_batch(client, h, events)
    for m in ("bo", "cy"):
        assert await held(client, h, m) == {"points": 60, "growth": 0, "cash": 200}
    await assert_verified(client, h)


async def test_daily_task_resets_each_local_day_and_growth_task_pays_once(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    # Example 5: daily tasks 5-10 points, growth tasks 50-200 once.
    await put_task(
        client, h, "daily-login", name="每日登录", kind="daily",
        completion=by_event("login"), reward={"points": 5},
    )  # fmt: skip
    await put_task(
        client, h, "first-ugc", name="首次晒单", kind="growth",
        completion=by_event("content_published"), reward={"points": 200, "growth": 50},
    )  # fmt: skip
    clock.set(sh(2026, 3, 2, 23, 45))
    await send(client, h, "l1", "login", "dan", sh(2026, 3, 2, 8))
    await send(client, h, "l2", "login", "dan", sh(2026, 3, 2, 23, 30))
    assert (await held(client, h, "dan"))["points"] == 5
    assert statuses(await tasks_of(client, h, "dan"))["daily-login"] == "completed"
    # Just after midnight in Shanghai (16:00 UTC) the daily task is open again.
    clock.set(sh(2026, 3, 3, 0, 5))
    listed = await tasks_of(client, h, "dan")
    assert statuses(listed)["daily-login"] == "available"
    assert next(t for t in listed["tasks"] if t["task_id"] == "daily-login")["period"] == (
        "2026-03-03"
    )
    await send(client, h, "l3", "login", "dan", sh(2026, 3, 3, 0, 1))
    assert (await held(client, h, "dan"))["points"] == 10
    # A late event of an earlier day completes that day's task, once.
    await send(client, h, "l0", "login", "dan", sh(2026, 3, 1, 9))
    await send(client, h, "l00", "login", "dan", sh(2026, 3, 1, 10))
    assert (await held(client, h, "dan"))["points"] == 15
    for i in range(3):
        await send(client, h, f"u{i}", "content_published", "dan", sh(2026, 3, 3, 0, 2))
    assert await held(client, h, "dan") == {"points": 215, "growth": 50, "cash": 0}
    clock.advance(timedelta(days=30))
    await send(client, h, "u9", "content_published", "dan", clock.now())
    assert await held(client, h, "dan") == {"points": 215, "growth": 50, "cash": 0}
    assert statuses(await tasks_of(client, h, "dan"))["first-ugc"] == "completed"
    await assert_verified(client, h)


async def test_challenge_needs_n_events_in_its_week_and_shows_progress(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await put_task(
        client, h, "review-3", name="一周评价 3 次", kind="challenge", repeat="week",
        completion=by_event("review_posted", "event.attributes.stars >= 3", count=3),
        reward={"points": 50},
    )  # fmt: skip
    clock.set(sh(2026, 3, 4, 20))  # Wednesday of 2026-W10
    await send(client, h, "r1", "review_posted", "eve", sh(2026, 3, 2), stars=5)
    await send(client, h, "r2", "review_posted", "eve", sh(2026, 3, 3), stars=1)  # no
    await send(client, h, "r3", "review_posted", "eve", sh(2026, 3, 4), stars=4)
    task = (await tasks_of(client, h, "eve"))["tasks"][0]
    assert (task["status"], task["progress"], task["required"], task["period"]) == (
        "in_progress", 2, 3, "2026-W10",
    )  # fmt: skip
    assert (await held(client, h, "eve"))["points"] == 0
    await send(client, h, "r4", "review_posted", "eve", sh(2026, 3, 4, 13), stars=3)
    await send(client, h, "r5", "review_posted", "eve", sh(2026, 3, 4, 14), stars=3)
    assert (await held(client, h, "eve"))["points"] == 50
    # Next week counts from zero again; a missing attribute does not qualify (and does not fail).
    clock.set(sh(2026, 3, 9, 12))
    await send(client, h, "r6", "review_posted", "eve", sh(2026, 3, 9), stars=5)
    await send(client, h, "r7", "review_posted", "eve", sh(2026, 3, 9))
    task = (await tasks_of(client, h, "eve"))["tasks"][0]
    assert (task["status"], task["progress"], task["period"]) == ("in_progress", 1, "2026-W11")
    await assert_verified(client, h)


async def test_event_task_with_deadline_counts_only_events_within_days_of_joining(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await put_task(
        client, h, "first-post", name="入群三天内首次发言", kind="newbie",
        completion=by_event("message_posted"), reward={"points": 10},
        deadline={"within_days_of_joining": 3},
    )  # fmt: skip
    joined = sh(2026, 3, 1, 10)
    for m in ("fay", "gus"):
        await set_member(client, h, m, joined_at=joined.isoformat())
    clock.set(sh(2026, 3, 6))
    await send(client, h, "p1", "message_posted", "fay", sh(2026, 3, 4, 9))  # within 3 days
    await send(client, h, "p2", "message_posted", "gus", sh(2026, 3, 4, 11))  # too late
    assert (await held(client, h, "fay"))["points"] == 10
    assert (await held(client, h, "gus"))["points"] == 0
    listed = await tasks_of(client, h, "gus")
    assert listed["tasks"][0]["status"] == "expired"
    assert listed["tasks"][0]["deadline_at"].startswith("2026-03-04T02:00:00")


async def test_definitions_are_validated_listed_and_audited(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    pid, h = await api_program(client)
    bad = await client.put(
        "/v1/tasks/bad",
        json={"name": "x", "kind": "daily", "completion": by_event("login", "counts.today > 1")},
        headers=h,
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_condition"
    bad = await client.put(
        "/v1/tasks/bad",
        json={"name": "x", "kind": "daily", "completion": by_event("login", "event.type ==")},
        headers=h,
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_condition")
    bad = await client.put(
        "/v1/tasks/bad",
        json={"name": "x", "kind": "newbie", "group": "nope", "completion": by_event("login")},
        headers=h,
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "unknown_task_group")
    bad = await client.put(
        "/v1/tasks/bad",
        json={"name": "x", "kind": "challenge", "completion": {"by": "submission"}},
        headers=h,
    )
    assert bad.status_code == 422
    saved = await put_task(
        client, h, "daily-login", name="每日登录", kind="daily",
        completion=by_event("login"), reward={"points": 5},
    )  # fmt: skip
    assert saved["repeat"] == "day"
    r = await client.get("/v1/tasks/daily-login", headers=h)
    assert r.status_code == 200
    assert r.json() == saved
    r = await client.get("/v1/tasks", headers=h)
    assert [t["id"] for t in r.json()] == ["daily-login"]
    r = await client.get("/v1/tasks/missing", headers=h)
    assert (r.status_code, r.json()["code"]) == (404, "task_not_found")
    r = await client.get(f"/v1/programs/{pid}/audit", headers=h)
    assert any(a["action"] == "task.save" and a["entity_id"] == "daily-login" for a in r.json())
