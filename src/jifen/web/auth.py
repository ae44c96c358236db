"""Who is looking at a web page: the console session (signed cookie, CSRF) and the portal member.

The console cookie holds a random session secret and its HMAC under ``settings.secret_key``; the
database keeps only the secret's SHA-256, so logging out or expiry ends the session for good.
Every POST carries a CSRF token derived from the session (a hidden form field, or the
``X-CSRF-Token`` header that htmx sends); a request without the right one is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.api import member_auth
from jifen.api.deps import Db
from jifen.config import Settings
from jifen.errors import Forbidden, JifenError
from jifen.members import service as members
from jifen.programs import service as programs
from jifen.programs.context import ProgramContext
from jifen.programs.models import Program
from jifen.users import service as users
from jifen.users.roles import Permission, allowed
from jifen.web.i18n import DEFAULT_LOCALE, LOCALES

SESSION_COOKIE = "jifen_console"
LOGIN_CSRF_COOKIE = "jifen_login_csrf"
LOCALE_COOKIE = "jifen_lang"
MEMBER_COOKIE = "jifen_member"
CSRF_HEADER = "X-CSRF-Token"


def db_of(request: Request) -> Db:
    return request.app.state.db  # type: ignore[no-any-return]


def settings_of(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _mac(secret_key: str, purpose: str, value: str) -> str:
    return hmac.new(secret_key.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def sign_session(secret_key: str, secret: str) -> str:
    return f"{secret}.{_mac(secret_key, 'console', secret)}"


def unsign_session(secret_key: str, cookie: str | None) -> str | None:
    if not cookie:
        return None
    secret, _, mac = cookie.rpartition(".")
    if not secret or not hmac.compare_digest(mac, _mac(secret_key, "console", secret)):
        return None
    return secret


def csrf_token(secret_key: str, session_id: str) -> str:
    return _mac(secret_key, "csrf", session_id)[:40]


def locale_of(request: Request) -> str:
    value = request.cookies.get(LOCALE_COOKIE)
    return value if value in LOCALES else DEFAULT_LOCALE


def set_cookie(request: Request, response: Response, name: str, value: str, path: str) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path=path,
    )


async def posted_token(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    form = await request.form()
    value = form.get("csrf_token")
    return value if isinstance(value, str) else None


@dataclass
class Console:
    """A signed-in console user looking at one program (``program`` None on program-less pages)."""

    user: users.SignedIn
    locale: str
    csrf: str
    program: ProgramContext | None = None
    roles: frozenset[str] = frozenset()
    programs: list[tuple[str, str]] = field(default_factory=list)

    def can(self, permission: Permission) -> bool:
        return allowed(self.roles, permission)

    @property
    def pid(self) -> str:
        assert self.program is not None
        return self.program.id


async def console(
    request: Request, program_id: str | None, permission: Permission = "view"
) -> Console | Response:
    """The page's viewer, or the response to send instead: the login page when signed out,
    404 when the user has no role in the program (as if it did not exist), 403 when their
    roles lack ``permission``. A POST without the session's CSRF token is refused (403).
    One read transaction loads the session, the user's programs and the program."""
    settings = settings_of(request)
    secret = unsign_session(settings.secret_key, request.cookies.get(SESSION_COOKIE))
    db = db_of(request)
    now = db.now()

    async def load(
        s: AsyncSession,
    ) -> tuple[users.SignedIn | None, list[tuple[str, str]], ProgramContext | None]:
        user = None if secret is None else await users.signed_in(s, secret, now=now)
        if user is None:
            return None, [], None
        rows = await s.execute(
            select(Program.id, Program.name)
            .where(Program.id.in_(sorted(user.roles)))
            .order_by(Program.id)
        )
        ctx = None
        if program_id is not None and program_id in user.roles:
            ctx = await programs.get_context(s, program_id)
        return user, [(i, n) for i, n in rows.tuples()], ctx

    user, mine, ctx = await db.read(load)
    if user is None:
        if request.headers.get("HX-Request"):
            return Response(status_code=401, headers={"HX-Redirect": "/console/login"})
        return RedirectResponse("/console/login", status_code=303)
    who = Console(
        user=user,
        locale=locale_of(request),
        csrf=csrf_token(settings.secret_key, user.session_id),
        programs=mine,
    )
    if request.method == "POST":
        token = await posted_token(request)
        if token is None or not hmac.compare_digest(token, who.csrf):
            return Response("CSRF token missing or wrong", status_code=403)
    if program_id is None:
        return who
    roles = user.roles.get(program_id)
    if not roles or ctx is None:
        # The same answer whether the program exists or not: nothing of it is shown.
        return Response("Not found", status_code=404)
    who.roles = roles
    if not allowed(roles, permission):
        return Response(f"Forbidden: your role cannot do {permission}", status_code=403)
    who.program = ctx
    return who


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


# --- the member portal ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PortalMember:
    program: ProgramContext
    member: str
    member_id: int
    token: str
    csrf: str
    locale: str


async def portal_member(request: Request) -> PortalMember | None:
    """The member of the portal cookie, or None (no token, expired, frozen)."""
    token = request.cookies.get(MEMBER_COOKIE)
    if not token:
        return None
    settings = settings_of(request)
    db = db_of(request)
    try:
        claims = member_auth.read(settings.secret_key, token, now=db.now())

        async def load(s: AsyncSession) -> tuple[ProgramContext, int, str]:
            ctx = await programs.get_context(s, claims.program_id)
            member = await members.get(s, ctx.id, claims.member)
            if member.status == "frozen":
                raise Forbidden("member is frozen", code="member_frozen")
            return ctx, member.id, member.locale

        ctx, member_id, member_locale = await db.read(load)
    except JifenError:
        return None
    cookie_locale = request.cookies.get(LOCALE_COOKIE)
    locale = cookie_locale if cookie_locale in LOCALES else member_locale
    return PortalMember(
        program=ctx,
        member=claims.member,
        member_id=member_id,
        token=token,
        csrf=_mac(settings.secret_key, "member-csrf", token)[:40],
        locale=locale if locale in LOCALES else DEFAULT_LOCALE,
    )


async def portal_post_ok(request: Request, who: PortalMember) -> bool:
    token = await posted_token(request)
    return token is not None and hmac.compare_digest(token, who.csrf)
