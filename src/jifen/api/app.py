"""The application factory: API, health, metrics and an embedded job loop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import text

from jifen import __version__
from jifen.api import problems
from jifen.api.deps import Db
from jifen.badges.endpoints import router as badges_router
from jifen.campaigns.endpoints import router as campaigns_router
from jifen.catalog.endpoints import router as catalog_router
from jifen.checkin.endpoints import router as checkin_router
from jifen.checkout.endpoints import router as checkout_router
from jifen.clock import Clock, SystemClock
from jifen.config import Settings, get_settings
from jifen.coupons.endpoints import router as coupons_router
from jifen.db.engine import make_engine, make_sessionmaker
from jifen.events.endpoints import router as events_router
from jifen.experiments.endpoints import router as experiments_router
from jifen.leaderboards.endpoints import router as leaderboards_router
from jifen.ledger.endpoints import router as ledger_router
from jifen.lottery.endpoints import router as lottery_router
from jifen.members.endpoints import me_router
from jifen.members.endpoints import router as members_router
from jifen.partners.endpoints import router as partners_router
from jifen.programs.endpoints import router as programs_router
from jifen.referrals.endpoints import router as referrals_router
from jifen.rules.endpoints import router as rules_router
from jifen.tasks.endpoints import router as tasks_router
from jifen.tiers.endpoints import router as tiers_router
from jifen.transfers.endpoints import router as transfers_router
from jifen.users.endpoints import router as users_router
from jifen.wallet.endpoints import router as wallet_router
from jifen.web.routes import router as web_router
from jifen.webhooks.endpoints import router as webhooks_router
from jifen.webhooks.worker import run_worker

log = structlog.get_logger("jifen.api")

REQUESTS = Counter("jifen_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("jifen_http_request_seconds", "HTTP request latency", ["method", "route"])

# Static files of the web pages; third-party bundles land in vendor/ by `make assets`.
STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"
SWAGGER_UI = "/static/vendor/swagger-ui"


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or get_settings()
    clock = clock or SystemClock()
    engine = make_engine(
        settings.database_url, pool_size=settings.db_pool_size, echo=settings.db_echo
    )
    sessionmaker = make_sessionmaker(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The embedded worker: the same loops as `jifen worker` (outbox dispatch and every
        # scheduled job), so that one process is a whole jifen.
        stop = asyncio.Event()
        task = None
        if settings.embedded_worker_interval_s > 0:
            task = asyncio.create_task(
                run_worker(
                    sessionmaker,
                    clock,
                    stop,
                    job_interval=settings.embedded_worker_interval_s,
                    dispatch_interval=min(settings.embedded_worker_interval_s, 1.0),
                )
            )
        yield
        stop.set()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, 10)
        await engine.dispose()

    app = FastAPI(
        title="jifen",
        version=__version__,
        summary="Membership and points engine (积分) with a double-entry ledger",
        lifespan=lifespan,
        # The API reference is served below from local assets: the defaults load from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = Db(sessionmaker, clock)
    app.state.engine = engine
    problems.install(app)
    app.include_router(programs_router)
    app.include_router(members_router)
    app.include_router(me_router)
    app.include_router(ledger_router)
    app.include_router(events_router)
    app.include_router(rules_router)
    app.include_router(campaigns_router)
    app.include_router(experiments_router)
    app.include_router(tiers_router)
    app.include_router(checkin_router)
    app.include_router(badges_router)
    app.include_router(tasks_router)
    app.include_router(leaderboards_router)
    app.include_router(coupons_router)
    app.include_router(lottery_router)
    app.include_router(catalog_router)
    app.include_router(checkout_router)
    app.include_router(referrals_router)
    app.include_router(wallet_router)
    app.include_router(transfers_router)
    app.include_router(partners_router)
    app.include_router(webhooks_router)
    app.include_router(users_router)
    app.include_router(web_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.middleware("http")
    async def _metrics(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        LATENCY.labels(request.method, path).observe(time.perf_counter() - start)
        REQUESTS.labels(request.method, path, str(response.status_code)).inc()
        return response

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # readiness reports, it does not raise
            return JSONResponse({"status": "unavailable", "detail": str(exc)}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="jifen API reference",
            swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_UI}/favicon-32x32.png",
        )

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(_INDEX)

    return app


_INDEX = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>jifen 积分</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}
a{color:#c0392b}</style></head>
<body><h1>jifen 积分</h1>
<p>Membership and points engine. The server is running.</p>
<ul><li><a href="/console">Admin console 管理后台</a></li>
<li><a href="/m">Member portal 会员中心</a> (sign in with a member token: <code>/m?token=…</code>)</li>
<li><a href="/docs">API reference (OpenAPI)</a></li>
<li><a href="/healthz">Health</a> · <a href="/readyz">Readiness</a> · <a href="/metrics">Metrics</a></li></ul>
</body></html>"""
