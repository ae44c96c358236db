"""Test fixtures: real SQLite and PostgreSQL databases built by the migrations.

Every test that takes ``backend`` runs on both. Each test works in its own program (tenant), so
tests never see each other's rows and nothing needs truncating. PostgreSQL is at
``JIFEN_TEST_PG_URL`` (default: the local server); under ``CI=true`` a missing server fails.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest
from hypothesis import settings
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from jifen.api.app import create_app
from jifen.clock import FixedClock
from jifen.config import Settings
from jifen.db.engine import make_engine, make_sessionmaker
from jifen.db.migrate import upgrade
from jifen.programs import service as programs
from jifen.programs.context import ProgramContext, to_context
from jifen.programs.schemas import ProgramCreate, ProgramSettings

# Under CI the property tests run the same examples every time (a failure found while
# developing is pinned with @example); locally they explore new ones on every run.
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("dev")
settings.load_profile("ci" if os.environ.get("CI", "").lower() == "true" else "dev")

PG_ADMIN_URL = os.environ.get("JIFEN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
ADMIN_TOKEN = "test-admin-token"
START = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, migrated to head, dropped afterwards."""
    if not _pg_available():
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true but {PG_ADMIN_URL} is unreachable")
        pytest.skip("PostgreSQL not available")
    name = f"jifen_test_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("sqlite") / "jifen.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def db_url(backend: str, request: pytest.FixtureRequest) -> str:
    fixture = "pg_url" if backend == "postgresql" else "sqlite_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture(scope="session")
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(db_url, pool_size=40)
    yield eng
    await eng.dispose()


@pytest.fixture(scope="session")
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


async def make_program(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FixedClock,
    settings: ProgramSettings | None = None,
) -> ProgramContext:
    pid = f"t-{uuid.uuid4().hex[:12]}"
    async with sessionmaker() as s, s.begin():
        program = await programs.create_program(
            s,
            ProgramCreate(id=pid, name="test program", settings=settings or ProgramSettings()),
            now=clock.now(),
            actor="test",
        )
        return to_context(program)


@pytest.fixture
async def program(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FixedClock
) -> ProgramContext:
    return await make_program(sessionmaker, clock)


@pytest.fixture(scope="session")
def app_settings(db_url: str) -> Settings:
    return Settings(
        env="test", database_url=db_url, admin_token=ADMIN_TOKEN, embedded_worker_interval_s=0
    )


@pytest.fixture
async def client(app_settings: Settings, clock: FixedClock) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(app_settings, clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://jifen.test") as c:
        yield c
    await app.state.engine.dispose()


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def api_program(
    client: httpx.AsyncClient, settings: dict[str, object] | None = None
) -> tuple[str, dict[str, str]]:
    """Create a program through the API; returns its id and headers carrying its API key."""
    pid = f"a-{uuid.uuid4().hex[:12]}"
    body: dict[str, object] = {"id": pid, "name": "API test"}
    if settings is not None:
        body["settings"] = settings
    r = await client.post("/v1/programs", json=body, headers=admin_headers())
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/v1/programs/{pid}/api-keys", json={"name": "test"}, headers=admin_headers()
    )
    assert r.status_code == 201, r.text
    return pid, {"Authorization": f"Bearer {r.json()['key']}"}
