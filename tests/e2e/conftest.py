"""Browser tests: the app served by uvicorn in a thread on a free port (SQLite), driven by
Debian's chromium through Playwright. One browser for the browser tests; each test gets a fresh
context (cookies). Playwright never downloads a browser here."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import NoMatchFound

from jifen.api.app import create_app
from jifen.clock import FixedClock
from jifen.config import Settings
from jifen.db.engine import make_engine, make_sessionmaker
from jifen.users import service as users
from tests.conftest import ADMIN_TOKEN, IN_CI, START

T = TypeVar("T")
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VENDOR = Path(__file__).resolve().parents[2] / "src" / "jifen" / "web" / "static" / "vendor"
PASSWORD = "correct-horse-9"

playwright_sync = pytest.importorskip("playwright.sync_api")


@dataclass
class Server:
    url: str
    db_url: str
    clock: FixedClock
    stream: bool  # the app serves the live notifications stream

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=20)

    def run(self, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run ``fn`` in one committed transaction on the server's database (for set-up and
        for checking what the database holds)."""

        async def go() -> T:
            engine = make_engine(self.db_url, pool_size=1)
            try:
                async with make_sessionmaker(engine)() as s, s.begin():
                    return await fn(s)
            finally:
                await engine.dispose()

        # pytest-asyncio may be running a loop in this thread: use a thread of our own.
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, go()).result()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="package")
def server(sqlite_url: str) -> Iterator[Server]:
    clock = FixedClock(START)
    settings = Settings(
        env="test", database_url=sqlite_url, admin_token=ADMIN_TOKEN, embedded_worker_interval_s=0
    )
    app = create_app(settings, clock)
    port = _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        app.url_path_for("my_notification_stream")
        stream = True
    except NoMatchFound:
        stream = False
    yield Server(url=f"http://127.0.0.1:{port}", db_url=sqlite_url, clock=clock, stream=stream)
    srv.should_exit = True
    thread.join(timeout=10)


# Package scope: one browser for all the browser tests, closed when they are done. Playwright's
# sync API marks an event loop as running in this thread while it is open, which the asyncio
# tests that run after this package must not see.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        message = "Debian chromium is not installed (apt-get install -y chromium fonts-noto-cjk)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    for asset in ("htmx/htmx.min.js", "echarts/echarts.min.js"):
        if not (VENDOR / asset).exists():
            pytest.fail(f"{VENDOR / asset} is missing: run `make assets` first")
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


@dataclass
class Shop:
    """A program with an API key and console users, one per role."""

    id: str
    key: str
    headers: dict[str, str]
    emails: dict[str, str]


def make_shop(server: Server, roles: tuple[str, ...] = ("owner",)) -> Shop:
    pid = f"e-{uuid.uuid4().hex[:10]}"
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with server.api() as c:
        r = c.post("/v1/programs", json={"id": pid, "name": "演示商城 E2E"}, headers=admin)
        assert r.status_code == 201, r.text
        r = c.post(f"/v1/programs/{pid}/api-keys", json={"name": "e2e"}, headers=admin)
        assert r.status_code == 201, r.text
        key = r.json()["key"]
    emails = {role: f"{role}-{pid}@example.cn" for role in roles}

    async def add(s: AsyncSession) -> None:
        for role, email in emails.items():
            await users.ensure_user(
                s,
                email=email,
                password=PASSWORD,
                program_id=pid,
                role=role,
                now=server.clock.now(),
                actor="test",
            )

    server.run(add)
    return Shop(pid, key, {"Authorization": f"Bearer {key}"}, emails)


@pytest.fixture
def shop(server: Server) -> Shop:
    return make_shop(server, ("owner", "operator", "reviewer", "analyst", "finance", "read_only"))


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def mobile(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        user_agent=(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47"
        ),
    )
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


def login(page: Any, server: Server, email: str) -> None:
    page.goto(f"{server.url}/console/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/p/**")


def shot(page: Any, name: str) -> None:
    """Save a screenshot of the page for docs/screenshots."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture(autouse=True, scope="package")
def light_password_hashing() -> Iterator[None]:
    """Light argon2 parameters for the tests (see tests/web/conftest.py)."""
    from argon2 import PasswordHasher

    saved = users._hasher
    users._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    users._hasher = saved
