"""The member portal under /m: mobile-first pages for one member, signed in by a member token.

The merchant's backend gets a token (``POST /v1/members/{m}/tokens``) and opens
``/m?token=...`` in its app's web view once; the portal keeps the token in an HttpOnly cookie
and renders with the same services as ``/v1/me/...``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import NoMatchFound

from jifen.api import member_auth
from jifen.errors import JifenError
from jifen.ledger import repository as ledger_repo
from jifen.members import service as members
from jifen.web import auth, portal_domains
from jifen.web.auth import PortalMember
from jifen.web.templating import render

router = APIRouter(prefix="/m")

# The live notifications endpoint (``GET /v1/me/notifications/stream``), found by its name.
STREAM_ROUTE = "my_notification_stream"


def stream_path(request: Request) -> str | None:
    try:
        return str(request.app.url_path_for(STREAM_ROUTE))
    except NoMatchFound:
        return None


def portal_page(
    request: Request, who: PortalMember, template: str, active: str, **kw: Any
) -> HTMLResponse:
    path = stream_path(request)
    stream = f"{path}?token={who.token}" if path else None
    return render(
        template,
        who.locale,
        who=who,
        active=active,
        tabs=portal_domains.tabs(),
        stream=stream,
        request_path=request.url.path,
        **kw,
    )


def _signed_out(request: Request) -> HTMLResponse:
    return render(
        "portal/signed_out.html", auth.locale_of(request), status_code=401, request_path="/m"
    )


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
async def home(request: Request, token: str | None = None) -> Response:
    if token:
        # Check the token before keeping it; then drop it from the address bar.
        settings = auth.settings_of(request)
        try:
            member_auth.read(settings.secret_key, token, now=auth.db_of(request).now())
        except JifenError:
            return _signed_out(request)
        response = RedirectResponse("/m/", status_code=303)
        auth.set_cookie(request, response, auth.MEMBER_COOKIE, token, "/")
        return response
    who = await auth.portal_member(request)
    if who is None:
        return _signed_out(request)
    db = auth.db_of(request)
    now = db.now()

    async def load(s: AsyncSession) -> dict[str, Any]:
        member = await members.get(s, who.program.id, who.member)
        return {
            "member": member,
            "balances": await ledger_repo.balances(s, who.program.id, member, now=now),
            "statement": await ledger_repo.statement(
                s, who.program.id, member, asset="points", cursor=None, limit=5
            ),
            "tier": await portal_domains.tier_card(s, who, now=now),
            "notifications": await portal_domains.recent_notifications(s, who),
        }

    data = await db.read(load)
    points = next((b for b in data["balances"].balances if b.asset == "points"), None)
    return portal_page(
        request,
        who,
        "portal/home.html",
        "home",
        points=points.available if points else 0,
        shortcuts=portal_domains.shortcuts(),
        **data,
    )


@router.get("/statement", response_class=HTMLResponse)
async def statement(request: Request, cursor: str | None = None) -> Response:
    who = await auth.portal_member(request)
    if who is None:
        return _signed_out(request)

    async def load(s: AsyncSession) -> Any:
        member = await members.get(s, who.program.id, who.member)
        return await ledger_repo.statement(
            s, who.program.id, member, asset="points", cursor=cursor, limit=30
        )

    page = await auth.db_of(request).read(load)
    return portal_page(request, who, "portal/statement.html", "home", page=page)


@router.get("/lang/{code}")
async def language(request: Request, code: str, next: str = "/m/") -> Response:
    target = next if next.startswith("/m") and "\\" not in next else "/m/"
    response = RedirectResponse(target, status_code=303)
    if code in ("zh-CN", "en"):
        auth.set_cookie(request, response, auth.LOCALE_COOKIE, code, "/")
    return response


@router.get("/{section}", response_class=HTMLResponse)
async def section(request: Request, section: str) -> Response:
    who = await auth.portal_member(request)
    if who is None:
        return _signed_out(request)
    handler = portal_domains.ready(section)
    if handler is None:
        return render(
            "portal/unavailable.html",
            who.locale,
            status_code=404,
            who=who,
            active="",
            tabs=portal_domains.tabs(),
            stream=None,
            request_path=request.url.path,
        )
    db = auth.db_of(request)
    now = db.now()
    run = db.write if handler.writes else db.read
    try:
        data = await run(lambda s: handler.load(s, who, now))
    except JifenError as exc:
        return render(
            "portal/unavailable.html",
            who.locale,
            status_code=exc.status,
            who=who,
            active="",
            tabs=portal_domains.tabs(),
            stream=None,
            request_path=request.url.path,
            error=exc.detail,
        )
    return portal_page(request, who, handler.template, handler.tab, **data)


@router.post("/{section}/{action}", response_class=HTMLResponse)
async def act(request: Request, section: str, action: str) -> Response:
    who = await auth.portal_member(request)
    if who is None:
        return _signed_out(request)
    if not await auth.portal_post_ok(request, who):
        return Response("CSRF token missing or wrong", status_code=403)
    found = portal_domains.ACTIONS.get((section, action))
    if found is None or portal_domains.ready(section) is None:
        return Response(status_code=404)
    handler = found[1]
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    db = auth.db_of(request)
    now = db.now()
    try:
        result = await db.write(lambda s: handler(s, who, form, now))
    except JifenError as exc:
        return render("portal/_result.html", who.locale, status_code=422, error=exc.detail)
    return render("portal/_result.html", who.locale, **result)
