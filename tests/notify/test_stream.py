"""The member's live stream (Server-Sent Events) over a real HTTP server: the first event
arrives as ``event: notification`` with the message id, and ``Last-Event-ID`` resumes."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from jifen.api.app import create_app
from jifen.clock import FixedClock
from jifen.config import Settings
from tests.conftest import api_program
from tests.webhooks.helpers import credit, notifications


@pytest.fixture
def server(app_settings: Settings, clock: FixedClock) -> Iterator[str]:
    """The app on a random port of 127.0.0.1, served by uvicorn in a thread of its own."""
    app = create_app(app_settings, clock)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none", http="h11"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(500):
        if srv.started:
            break
        threading.Event().wait(0.01)
    assert srv.started
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


async def _events(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
    """Parse SSE lines into events (``id``, ``event``, ``data`` decoded from JSON)."""
    event: dict[str, Any] = {}
    async for line in lines:
        if line == "":
            if "event" in event:
                yield event
            event = {}
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            event[name] = json.loads(value.strip()) if name == "data" else value.strip()


async def test_stream_sends_new_notifications_and_resumes(
    client: httpx.AsyncClient, server: str
) -> None:
    _, h = await api_program(client)
    await credit(client, h, "m1", 1150)  # before the stream opens: not sent
    r = await client.post("/v1/members/m1/tokens", headers=h)
    token = r.json()["token"]
    async with httpx.AsyncClient(base_url=server, timeout=10) as http:
        async with http.stream(
            "GET", "/v1/me/notifications/stream", params={"token": token}
        ) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            assert await anext(lines) == "retry: 3000"  # connected
            await credit(client, h, "m1", 50, reason="purchase")
            first = await asyncio.wait_for(anext(_events(lines)), 10)
        assert first["event"] == "notification"
        assert first["data"]["text"] == "您本次消费获50积分,累计积分1200"
        assert first["data"]["type"] == "points.credited"
        assert first["id"] == first["data"]["id"]
        assert first["id"] == (await notifications(client, h, "m1"))[0]["id"]

        # Reconnecting after the first of two newer messages sends the second one.
        await credit(client, h, "m1", 10)
        await credit(client, h, "m1", 20)
        feed = await notifications(client, h, "m1")
        async with http.stream(
            "GET",
            "/v1/me/notifications/stream",
            headers={"Authorization": f"Bearer {token}", "Last-Event-ID": feed[1]["id"]},
        ) as stream:
            lines = stream.aiter_lines()
            resumed = await asyncio.wait_for(anext(_events(lines)), 10)
        assert resumed["id"] == feed[0]["id"]
        assert resumed["data"]["text"] == "您获得20积分,累计积分1230"

        r = await http.get("/v1/me/notifications/stream", params={"token": "forged.token"})
        assert r.status_code == 401
