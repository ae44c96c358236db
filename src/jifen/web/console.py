"""The admin console under /console: server-rendered pages (Jinja2 + htmx + ECharts) that call
the domains' services, with the signed-in user's roles checked on every request."""

from __future__ import annotations

import hmac
import importlib.util
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.campaigns import service as campaigns
from jifen.campaigns.schemas import BudgetIn, CampaignDefinition
from jifen.errors import JifenError
from jifen.experiments import service as experiments
from jifen.kit.idempotency import raise_for
from jifen.ledger import repository as ledger_repo
from jifen.ledger import service as ledger
from jifen.ledger import verify as ledger_verify
from jifen.ledger.schemas import AdjustIn
from jifen.members import service as members
from jifen.programs import service as programs
from jifen.programs.models import AuditEntry
from jifen.programs.schemas import ProgramUpdate
from jifen.rules import dryrun, reviews
from jifen.rules import service as rules
from jifen.users import service as users
from jifen.users.roles import ROLES, Permission
from jifen.web import auth, domains, forms, resources, stats
from jifen.web.auth import Console
from jifen.web.i18n import translator
from jifen.web.templating import render

router = APIRouter(prefix="/console")

Pid = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,39}$")]


@dataclass(frozen=True, slots=True)
class NavItem:
    slug: str
    label: str
    path: str
    domain: str | None = None  # shown only once that domain's service exists
    permission: Permission = "view"


NAV: tuple[NavItem, ...] = (
    NavItem("overview", "Overview", ""),
    NavItem("members", "Members", "members"),
    NavItem("rules", "Rules", "rules"),
    NavItem("reviews", "Review queue", "reviews"),
    NavItem("campaigns", "Campaigns & budgets", "campaigns"),
    NavItem("experiments", "Experiments", "experiments"),
    *(NavItem(r.slug, r.title, f"x/{r.slug}", r.domain) for r in resources.RESOURCES),
    NavItem("ledger", "Ledger", "ledger"),
    NavItem("audit", "Audit log", "audit"),
    NavItem("keys", "API keys", "keys", permission="keys.manage"),
    NavItem("users", "Console users", "users"),
    NavItem("settings", "Settings", "settings"),
)


def domain_ready(domain: str) -> bool:
    """Whether another helper's domain has its service yet (its pages appear when it does)."""
    return importlib.util.find_spec(f"jifen.{domain}.service") is not None


def nav(who: Console) -> list[NavItem]:
    return [
        n for n in NAV if (n.domain is None or domain_ready(n.domain)) and who.can(n.permission)
    ]


def page(
    request: Request, who: Console, template: str, active: str, status_code: int = 200, **kw: Any
) -> HTMLResponse:
    return render(
        template,
        who.locale,
        status_code=status_code,
        who=who,
        nav=nav(who),
        active=active,
        request_path=request.url.path,
        **kw,
    )


def actor(who: Console) -> str:
    return f"console:{who.user.email}"


async def form_of(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def problem_list(exc: JifenError) -> list[dict[str, Any]]:
    """The problems of an error as ``[{field, message, position}]`` for inline display."""
    extra = exc.extra.get("problems") if isinstance(exc.extra, dict) else None
    if isinstance(extra, list) and extra:
        return [dict(p) for p in extra]
    return [{"field": exc.field or exc.code, "message": exc.detail, "position": None}]


def _saved(who: Console, notice: str = "Saved.") -> HTMLResponse:
    """A write's success fragment; htmx reloads the page to show the change."""
    response = render("console/_message.html", who.locale, notice=notice)
    response.headers["HX-Refresh"] = "true"
    return response


def _error(who: Console, error: str, status_code: int = 422) -> HTMLResponse:
    return render("console/_message.html", who.locale, status_code=status_code, error=error)


def _problems(who: Console, problems: list[dict[str, Any]]) -> HTMLResponse:
    return render("console/_problems.html", who.locale, status_code=422, problems=problems)


def _local_path(target: str) -> bool:
    """A path on this site only (no ``//host`` or ``/\\host`` that a browser would follow away)."""
    return target.startswith("/") and not target.startswith("//") and "\\" not in target


# --- sign in, out, language -----------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> Response:
    csrf = auth.new_login_csrf()
    response = render("console/login.html", auth.locale_of(request), csrf=csrf)
    auth.set_cookie(request, response, auth.LOGIN_CSRF_COOKIE, csrf, "/console/login")
    return response


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    form = await form_of(request)
    locale = auth.locale_of(request)
    expected = request.cookies.get(auth.LOGIN_CSRF_COOKIE)
    if not expected or not hmac.compare_digest(form.get("csrf_token", ""), expected):
        return Response("CSRF token missing or wrong", status_code=403)
    db = auth.db_of(request)
    now = db.now()
    email, password = form.get("email", ""), form.get("password", "")
    try:
        _, secret = await db.write(
            lambda s: users.login(s, email=email, password=password, now=now)
        )
    except JifenError:
        response = render(
            "console/login.html",
            locale,
            status_code=401,
            csrf=expected,
            email=email,
            error="Wrong email or password",
        )
        return response
    redirect = RedirectResponse("/console/", status_code=303)
    settings = auth.settings_of(request)
    auth.set_cookie(
        request,
        redirect,
        auth.SESSION_COOKIE,
        auth.sign_session(settings.secret_key, secret),
        "/console",
    )
    redirect.delete_cookie(auth.LOGIN_CSRF_COOKIE, path="/console/login")
    return redirect


@router.post("/logout")
async def logout(request: Request) -> Response:
    who = await auth.console(request, None)
    if isinstance(who, Response):
        return who
    settings = auth.settings_of(request)
    secret = auth.unsign_session(settings.secret_key, request.cookies.get(auth.SESSION_COOKIE))
    if secret is not None:
        await auth.db_of(request).write(lambda s: users.logout(s, secret))
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE, path="/console")
    return response


@router.get("/lang/{code}")
async def language(request: Request, code: str, next: str = "/console/") -> Response:
    target = next if _local_path(next) else "/console/"
    response = RedirectResponse(target, status_code=303)
    if code in ("zh-CN", "en"):
        auth.set_cookie(request, response, auth.LOCALE_COOKIE, code, "/")
    return response


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    who = await auth.console(request, None)
    if isinstance(who, Response):
        return who
    if who.programs:
        return RedirectResponse(f"/console/p/{who.programs[0][0]}/", status_code=303)
    return page(request, who, "console/home.html", "")


# --- overview ---------------------------------------------------------------------------------


def _line_chart(ov: stats.Overview, t: Any) -> dict[str, Any]:
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 50, "right": 20, "top": 40, "bottom": 30},
        "xAxis": {"type": "category", "data": [d[5:] for d in ov.days]},
        "yAxis": {"type": "value"},
        "series": [
            {"name": t("Points issued"), "type": "line", "smooth": True, "data": ov.issued},
            {"name": t("Points redeemed"), "type": "line", "smooth": True, "data": ov.redeemed},
            {"name": t("Points expired"), "type": "line", "smooth": True, "data": ov.expired},
        ],
    }


@router.get("/p/{pid}/", response_class=HTMLResponse)
async def overview(request: Request, pid: Pid) -> Response:
    who = await auth.console(request, pid)
    if isinstance(who, Response):
        return who
    ctx = who.program
    assert ctx is not None
    db = auth.db_of(request)
    now = db.now()

    async def load(s: AsyncSession) -> tuple[stats.Overview, list[Any], dict[str, int]]:
        ov = await stats.overview(s, ctx, now=now)
        budgets = await campaigns.budget_use(s, ctx.id, now=now, tz=ctx.settings.timezone)
        return ov, budgets, await _tier_distribution(s, ctx.id)

    ov, budgets, tiers = await db.read(load)
    t = translator(who.locale)
    charts = {
        "points": _line_chart(ov, t),
        "budgets": {
            "tooltip": {},
            "grid": {"left": 110, "right": 20, "top": 10, "bottom": 30},
            "xAxis": {"type": "value"},
            "yAxis": {"type": "category", "data": [b.name for b in budgets]},
            "series": [
                {
                    "name": t("Spent"),
                    "type": "bar",
                    "stack": "b",
                    "data": [b.spent for b in budgets],
                },
                {
                    "name": t("Remaining"),
                    "type": "bar",
                    "stack": "b",
                    "data": [b.remaining for b in budgets],
                },
            ],
        },
        "tiers": {
            "tooltip": {"trigger": "item"},
            "series": [
                {
                    "type": "pie",
                    "radius": ["40%", "70%"],
                    "data": [{"name": k, "value": v} for k, v in tiers.items()],
                }
            ],
        },
    }
    return page(
        request,
        who,
        "console/overview.html",
        "overview",
        title="Overview",
        ov=ov,
        budgets=budgets,
        tiers=tiers,
        charts=charts,
    )


# Members counted per tier on the overview; past this the chart says it is a sample.
TIER_SAMPLE = 20_000


async def _tier_distribution(session: AsyncSession, program_id: str) -> dict[str, int]:
    """Members per tier, through the tiers service (``distribution`` when it offers one, else
    ``tiers_of`` over the program's members, at most ``TIER_SAMPLE`` of them)."""
    tiers_service = domains.service("tiers")
    if tiers_service is None:
        return {}
    fn = getattr(tiers_service, "distribution", None)
    if fn is not None:
        result = await fn(session, program_id)
        return {str(k): int(v) for k, v in dict(result).items()}
    ids = await stats.member_ids(session, program_id, limit=TIER_SAMPLE)
    counts: dict[str, int] = {}
    for view in (await tiers_service.tiers_of(session, program_id, ids)).values():
        counts[view.name] = counts.get(view.name, 0) + 1
    return counts


# --- members ----------------------------------------------------------------------------------


@router.get("/p/{pid}/members", response_class=HTMLResponse)
async def members_list(
    request: Request, pid: Pid, q: str | None = None, after: int | None = None
) -> Response:
    who = await auth.console(request, pid)
    if isinstance(who, Response):
        return who
    limit = 50
    query = (q or "").strip()[:100] or None

    async def load(s: AsyncSession) -> list[Any]:
        return await members.list_members(s, pid, after_id=after, limit=limit + 1, query=query)

    rows = await auth.db_of(request).read(load)
    more = rows[limit - 1].id if len(rows) > limit else None
    return page(
        request,
        who,
        "console/members.html",
        "members",
        title="Members",
        rows=rows[:limit],
        q=query or "",
        more=more,
    )


async def _member_360(session: AsyncSession, who: Console, external_id: str, now: Any) -> Any:
    ctx = who.program
    assert ctx is not None
    member = await members.get(session, ctx.id, external_id)
    out: dict[str, Any] = {
        "member": member,
        "balances": await ledger_repo.balances(session, ctx.id, member, now=now),
        "lots": await ledger_repo.lots(session, ctx.id, member, include_spent=False),
        "statement": await ledger_repo.statement(
            session, ctx.id, member, asset=None, cursor=None, limit=50
        ),
    }
    out["domains"] = await domains.member_sections(
        session, ctx, member.id, member.external_id, now=now
    )
    return out


@router.get("/p/{pid}/members/{member_id}", response_class=HTMLResponse)
async def member_page(request: Request, pid: Pid, member_id: str) -> Response:
    who = await auth.console(request, pid)
    if isinstance(who, Response):
        return who
    db = auth.db_of(request)
    now = db.now()
    try:
        data = await db.read(lambda s: _member_360(s, who, member_id, now))
    except JifenError:
        return page(
            request, who, "console/error.html", "members", status_code=404, error="Member not found"
        )
    return page(
        request,
        who,
        "console/member.html",
        "members",
        title="Member",
        key=f"console-adjust:{uuid.uuid4()}",
        **data,
    )


@router.post("/p/{pid}/members/{member_id}/adjust", response_class=HTMLResponse)
async def adjust(request: Request, pid: Pid, member_id: str) -> Response:
    who = await auth.console(request, pid, "points.adjust")
    if isinstance(who, Response):
        return who
    ctx = who.program
    assert ctx is not None
    form = await form_of(request)
    db = auth.db_of(request)
    now = db.now()
    try:
        item = AdjustIn(
            idempotency_key=form.get("idempotency_key") or f"console-adjust:{uuid.uuid4()}",
            member=member_id,
            asset=form.get("asset") or "points",
            amount=int(form.get("amount") or "0"),
            reason=form.get("reason", "").strip(),
            operator=actor(who),
        )
    except (ValidationError, ValueError) as exc:
        return _error(who, _first_error(exc))
    try:
        await db.write(lambda s: _adjust(s, ctx, item, now))
    except JifenError as exc:
        return _error(who, exc.detail)
    return _saved(who, "Adjusted.")


async def _adjust(session: AsyncSession, ctx: Any, item: AdjustIn, now: Any) -> None:
    raise_for(await ledger.adjust(session, ctx, item, now=now))


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)


# --- ledger -----------------------------------------------------------------------------------


@router.get("/p/{pid}/ledger", response_class=HTMLResponse)
async def ledger_page(request: Request, pid: Pid) -> Response:
    who = await auth.console(request, pid)
    if isinstance(who, Response):
        return who
    report = await auth.db_of(request).read(lambda s: ledger_verify.verify(s, pid))
    return page(request, who, "console/ledger.html", "ledger", title="Ledger", report=report)


# --- rules ------------------------------------------------------------------------------------

RULE_TEMPLATE = {
    "id": "checkin-daily",
    "name": "每日签到 10 积分",
    "trigger": "check_in",
    "condition": "true",
    "effects": [{"amount": {"fixed": 10}}],
    "limits": [{"window": "day", "max_count": 1}],
}


@router.get("/p/{pid}/rules", response_class=HTMLResponse)
async def rules_list(request: Request, pid: Pid) -> Response:
    who = await auth.console(request, pid)
    if isinstance(who, Response):
        return who
    db = auth.db_of(request)
    now = db.now()
    rows = await db.read(lambda s: rules.current(s, pid, at=now))
    return page(request, who, "console/rules.html", "rules", title="Rules", rows=rows)


@router.get("/p/{pid}/rules/new", response_class=HTMLResponse)
async def rule_new(request: Request, pid: Pid) -> Response:
    who = await auth.console(request, pid)
    if isinstance(who, Response):
        return who
    text = json.dumps(RULE_TEMPLATE, ensure_ascii=False, indent=2)
    return page(
        request, who, "console/rule.html", "rules", title="New rule", text=text, versions=[]
    )


@router.get("/p/{pid}/rules/{rule_id}", response_class=HTMLResponse)
async def rule_page(request: Request, pid: Pid, rule_id: str) -> Response:
    who = await auth.console(request, pid)
    if isinstance(who, Response):
        return who
    versions = await auth.db_of(request).read(lambda s: rules.get(s, pid, rule_id))
    if not versions:
        return page(request, who, "console/error.html", "rules", status_code=404, error="Rule")
    latest = versions[-1] if versions[-1].version >= versions[0].version else versions[0]
    text = json.dumps(latest.definition, ensure_ascii=False, indent=2)
    ordered = sorted(versions, key=lambda v: v.version, reverse=True)
    return page(
        request,
        who,
        "console/rule.html",
        "rules",
        title="Edit rule",
        text=text,
        versions=ordered,
        rule_id=rule_id,
    )


def _parse_rule(text: str) -> tuple[Any, list[dict[str, Any]]]:
    try:
        return json.loads(text), []
    except json.JSONDecodeError as exc:
        return None, [
            {"field": "rule", "message": f"Not valid JSON: {exc.msg}", "position": exc.pos}
        ]


@router.post("/p/{pid}/rules/validate", response_class=HTMLResponse)
async def rule_validate(request: Request, pid: Pid) -> Response:
    who = await auth.console(request, pid)
    if isinstance(who, Response):
        return who
    raw, problems = _parse_rule((await form_of(request)).get("definition", ""))
    if not problems:
        found = await auth.db_of(request).read(lambda s: rules.check(s, pid, [raw]))
        problems = [p.model_dump() for p in found]
    return render(
        "console/_problems.html",
        who.locale,
        status_code=422 if problems else 200,
        problems=problems,
        ok="The rule is valid.",
    )


@router.post("/p/{pid}/rules/save", response_class=HTMLResponse)
async def rule_save(request: Request, pid: Pid) -> Response:
    who = await auth.console(request, pid, "rules.edit")
    if isinstance(who, Response):
        return who
    ctx = who.program
    assert ctx is not None
    raw, problems = _parse_rule((await form_of(request)).get("definition", ""))
    if problems:
        return _problems(who, problems)
    db = auth.db_of(request)
    now = db.now()
    try:
        row = await db.write(lambda s: rules.save(s, ctx, raw, now=now, actor=actor(who)))
    except JifenError as exc:
        return _problems(who, problem_list(exc))
    response = render("console/_message.html", who.locale, notice="Saved.")
    response.headers["HX-Redirect"] = f"/console/p/{pid}/rules/{row.rule_id}"
    return response


@router.post("/p/{pid}/rules/dry-run", response_class=HTMLResponse)
async def rule_dry_run(request: Request, pid: Pid) -> Response:
    who = await auth.console(request, pid, "rules.dry_run")
    if isinstance(who, Response):
        return who
    ctx = who.program
    assert ctx is not None
    form = await form_of(request)
    raw, problems = _parse_rule(form.get("definition", ""))
    if problems:
        return _problems(who, problems)
    try:
        days = max(1, min(366, int(form.get("days") or "30")))
    except ValueError:
        days = 30
    db = auth.db_of(request)
    now = db.now()
    try:
        report = await db.read(
            lambda s: dryrun.dry_run(
                s, ctx, [raw], start=now - timedelta(days=days), end=now, now=now
            )
        )
    except JifenError as exc:
        return _problems(who, problem_list(exc))
    t = translator(who.locale)
    points = next((a for a in report.assets if a.asset == "points"), None)
    buckets = points.distribution if points else []
    chart = {
        "tooltip": {},
        "grid": {"left": 50, "right": 20, "top": 30, "bottom": 40},
        "title": {"text": t("Distribution of points per member"), "textStyle": {"fontSize": 13}},
        "xAxis": {"type": "category", "data": [f"{b.low}–{b.high}" for b in buckets]},
        "yAxis": {"type": "value", "name": t("Members")},
        "series": [
            {"type": "bar", "data": [b.members for b in buckets], "itemStyle": {"color": "#c0392b"}}
        ],
    }
    return render(
        "console/_dryrun.html",
        who.locale,
        report=report,
        chart=chart,
        chart_id=f"dry-{uuid.uuid4().hex[:8]}",
        days=days,
    )


# --- review queue -----------------------------------------------------------------------------


@router.get("/p/{pid}/reviews", response_class=HTMLResponse)
async def reviews_page(request: Request, pid: Pid, status: str = "pending") -> Response:
    who = await auth.console(request, pid)
    if isinstance(who, Response):
        return who
    status = status if status in ("pending", "approved", "rejected") else "pending"

    async def load(s: AsyncSession) -> tuple[list[reviews.ReviewOut], dict[int, str]]:
        return await reviews.list_reviews(s, pid, status=status), await users.claims(s, pid)

    rows, claims = await auth.db_of(request).read(load)
    return page(
        request,
        who,
        "console/reviews.html",
        "reviews",
        title="Review queue",
        rows=rows,
        claims=claims,
        status=status,
        tasks_ready=domain_ready("tasks"),
    )


@router.post("/p/{pid}/reviews/{review_id}/{action}", response_class=HTMLResponse)
async def review_action(request: Request, pid: Pid, review_id: int, action: str) -> Response:
    who = await auth.console(request, pid, "reviews.decide")
    if isinstance(who, Response):
        return who
    if action not in ("claim", "approve", "reject"):
        return Response(status_code=404)
    ctx = who.program
    assert ctx is not None
    form = await form_of(request)
    db = auth.db_of(request)
    now = db.now()

    async def run(s: AsyncSession) -> reviews.ReviewOut | None:
        if action == "claim":
            await users.claim(
                s, pid, review_id, user_id=who.user.user_id, email=who.user.email, now=now
            )
            return None
        await users.check_claim(s, pid, review_id, who.user.user_id)
        return await reviews.decide(
            s,
            ctx,
            review_id,
            approve=action == "approve",
            reviewer=actor(who),
            reason=(form.get("reason") or "").strip() or None,
            now=now,
        )

    try:
        await db.write(run)
    except JifenError as exc:
        return _error(who, exc.detail, 409)

    async def load(s: AsyncSession) -> tuple[list[reviews.ReviewOut], dict[int, str]]:
        rows = await reviews.list_reviews(s, pid, status="pending")
        return rows, await users.claims(s, pid)

    rows, claims = await db.read(load)
    notice = {"claim": "Claimed by", "approve": "Approved", "reject": "Rejected"}[action]
    return render(
        "console/_reviews_table.html",
        who.locale,
        who=who,
        rows=rows,
        claims=claims,
        status="pending",
        notice=notice,
        done=review_id,
    )


# --- campaigns and budgets --------------------------------------------------------------------

CAMPAIGN_TEMPLATE = {
    "id": "double-11",
    "name": "双十一 5 倍积分",
    "starts_at": "2026-11-11T00:00:00+08:00",
    "ends_at": "2026-11-12T00:00:00+08:00",
    "multiplier": "5",
    "audience": {"tiers": ["gold"]},
}
BUDGET_TEMPLATE = {
    "id": "monthly-points",
    "name": "每月积分预算",
    "limit": 100000,
    "window": "month",
}


@router.get("/p/{pid}/campaigns", response_class=HTMLResponse)
async def campaigns_page(request: Request, pid: Pid) -> Response:
    who = await auth.console(request, pid)
    if isinstance(who, Response):
        return who
    ctx = who.program
    assert ctx is not None
    db = auth.db_of(request)
    now = db.now()

    async def load(s: AsyncSession) -> tuple[list[CampaignDefinition], list[Any]]:
        return (
            await campaigns.list_campaigns(s, pid),
            await campaigns.budget_use(s, pid, now=now, tz=ctx.settings.timezone),
        )

    rows, budgets = await db.read(load)
    return page(
        request,
        who,
        "console/campaigns.html",
        "campaigns",
        title="Campaigns & budgets",
        rows=rows,
        budgets=budgets,
        campaign_text=json.dumps(CAMPAIGN_TEMPLATE, ensure_ascii=False, indent=2),
        budget_text=json.dumps(BUDGET_TEMPLATE, ensure_ascii=False, indent=2),
    )


@router.post("/p/{pid}/campaigns/{what}", response_class=HTMLResponse)
async def campaign_save(request: Request, pid: Pid, what: str) -> Response:
    permission: Any = "rules.edit" if what == "campaign" else "budgets.edit"
    who = await auth.console(request, pid, permission)
    if isinstance(who, Response):
        return who
    ctx = who.program
    assert ctx is not None
    raw, problems = _parse_rule((await form_of(request)).get("definition", ""))
    if problems:
        return _problems(who, problems)
    db = auth.db_of(request)
    now = db.now()
    try:
        if what == "campaign":
            data_c = CampaignDefinition.model_validate(raw)
            await db.write(
                lambda s: campaigns.save_campaign(s, ctx, data_c, now=now, actor=actor(who))
            )
        elif what == "budget":
            data_b = BudgetIn.model_validate(raw)
            await db.write(
                lambda s: campaigns.save_budget(s, ctx, data_b, now=now, actor=actor(who))
            )
        else:
            return Response(status_code=404)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "position": None}
            for e in exc.errors()
        ]
        return _problems(who, problems)
    except JifenError as exc:
        return _problems(who, problem_list(exc))
    return _saved(who)


# --- experiments ------------------------------------------------------------------------------


@router.get("/p/{pid}/experiments", response_class=HTMLResponse)
async def experiments_page(request: Request, pid: Pid) -> Response:
    who = await auth.console(request, pid)
    if isinstance(who, Response):
        return who
    db = auth.db_of(request)
    now = db.now()
    rows = await db.read(lambda s: experiments.list_experiments(s, pid, now=now))
    return page(
        request, who, "console/experiments.html", "experiments", title="Experiments", rows=rows
    )


@router.get("/p/{pid}/experiments/{experiment_id}", response_class=HTMLResponse)
async def experiment_report(request: Request, pid: Pid, experiment_id: str) -> Response:
    who = await auth.console(request, pid)
    if isinstance(who, Response):
        return who
    db = auth.db_of(request)
    now = db.now()
    try:
        report = await db.read(lambda s: experiments.report(s, pid, experiment_id, now=now))
    except JifenError as exc:
        return page(
            request, who, "console/error.html", "experiments", status_code=404, error=exc.detail
        )
    return page(
        request,
        who,
        "console/experiment.html",
        "experiments",
        title="Report",
        report=report,
        data=report.model_dump(mode="json"),
    )


# --- audit log --------------------------------------------------------------------------------


@router.get("/p/{pid}/audit", response_class=HTMLResponse)
async def audit_page(request: Request, pid: Pid, before: int | None = None) -> Response:
    who = await auth.console(request, pid)
    if isinstance(who, Response):
        return who

    async def load(s: AsyncSession) -> list[AuditEntry]:
        stmt = select(AuditEntry).where(AuditEntry.program_id == pid)
        if before is not None:
            stmt = stmt.where(AuditEntry.id < before)
        return list((await s.scalars(stmt.order_by(AuditEntry.id.desc()).limit(100))).all())

    rows = await auth.db_of(request).read(load)
    return page(request, who, "console/audit.html", "audit", title="Audit log", rows=rows)


# --- API keys ---------------------------------------------------------------------------------


@router.get("/p/{pid}/keys", response_class=HTMLResponse)
async def keys_page(request: Request, pid: Pid) -> Response:
    who = await auth.console(request, pid, "keys.manage")
    if isinstance(who, Response):
        return who
    rows = await auth.db_of(request).read(lambda s: programs.list_api_keys(s, pid))
    return page(request, who, "console/keys.html", "keys", title="API keys", rows=rows, new=None)


@router.post("/p/{pid}/keys", response_class=HTMLResponse)
async def key_create(request: Request, pid: Pid) -> Response:
    who = await auth.console(request, pid, "keys.manage")
    if isinstance(who, Response):
        return who
    name = ((await form_of(request)).get("name") or "console").strip()[:200] or "console"
    db = auth.db_of(request)
    now = db.now()

    async def run(s: AsyncSession) -> str:
        _, key = await programs.create_api_key(s, pid, name, now=now, actor=actor(who))
        return key

    key = await db.write(run)
    rows = await db.read(lambda s: programs.list_api_keys(s, pid))
    return page(request, who, "console/keys.html", "keys", title="API keys", rows=rows, new=key)


@router.post("/p/{pid}/keys/{key_id}/revoke", response_class=HTMLResponse)
async def key_revoke(request: Request, pid: Pid, key_id: uuid.UUID) -> Response:
    who = await auth.console(request, pid, "keys.manage")
    if isinstance(who, Response):
        return who
    db = auth.db_of(request)
    now = db.now()
    try:
        await db.write(lambda s: programs.revoke_api_key(s, pid, key_id, now=now, actor=actor(who)))
    except JifenError:
        return Response(status_code=404)
    return RedirectResponse(f"/console/p/{pid}/keys", status_code=303)


# --- settings and users -----------------------------------------------------------------------


@router.get("/p/{pid}/settings", response_class=HTMLResponse)
async def settings_page(request: Request, pid: Pid) -> Response:
    who = await auth.console(request, pid)
    if isinstance(who, Response):
        return who
    ctx = who.program
    assert ctx is not None
    text = json.dumps(ctx.settings.model_dump(mode="json"), ensure_ascii=False, indent=2)
    return page(request, who, "console/settings.html", "settings", title="Settings", text=text)


@router.post("/p/{pid}/settings", response_class=HTMLResponse)
async def settings_save(request: Request, pid: Pid) -> Response:
    who = await auth.console(request, pid, "settings.edit")
    if isinstance(who, Response):
        return who
    form = await form_of(request)
    raw, problems = _parse_rule(form.get("settings", ""))
    if problems:
        return _problems(who, problems)
    db = auth.db_of(request)
    now = db.now()
    try:
        data = ProgramUpdate(
            name=(form.get("name") or "").strip() or None,
            settings=raw if isinstance(raw, dict) else None,
            reason=(form.get("reason") or "").strip() or None,
        )
        await db.write(lambda s: programs.update_program(s, pid, data, now=now, actor=actor(who)))
    except ValidationError as exc:
        return _error(who, _first_error(exc))
    except JifenError as exc:
        return _problems(who, problem_list(exc))
    return _saved(who)


@router.get("/p/{pid}/users", response_class=HTMLResponse)
async def users_page(request: Request, pid: Pid) -> Response:
    who = await auth.console(request, pid)
    if isinstance(who, Response):
        return who
    rows = await auth.db_of(request).read(lambda s: users.program_users(s, pid))
    return page(
        request, who, "console/users.html", "users", title="Console users", rows=rows, roles=ROLES
    )


@router.post("/p/{pid}/users", response_class=HTMLResponse)
async def users_add(request: Request, pid: Pid) -> Response:
    who = await auth.console(request, pid, "users.manage")
    if isinstance(who, Response):
        return who
    form = await form_of(request)
    db = auth.db_of(request)
    now = db.now()
    try:
        await db.write(
            lambda s: users.ensure_user(
                s,
                email=form.get("email", ""),
                password=form.get("password", ""),
                program_id=pid,
                role=form.get("role", ""),
                now=now,
                actor=actor(who),
            )
        )
    except JifenError as exc:
        return _error(who, exc.detail)
    return _saved(who)


# --- the other domains' pages (see resources.py) ----------------------------------------------


@router.get("/p/{pid}/x/{slug}", response_class=HTMLResponse)
async def resource_page(request: Request, pid: Pid, slug: str) -> Response:
    who = await auth.console(request, pid)
    if isinstance(who, Response):
        return who
    resource = resources.BY_SLUG.get(slug)
    if resource is None or not domain_ready(resource.domain):
        return page(request, who, "console/error.html", "", status_code=404, error="Not found")
    ctx = who.program
    assert ctx is not None
    db = auth.db_of(request)
    now = db.now()
    edit = request.query_params.get("edit") or None
    data = await db.read(lambda s: resources.load(resource, s, ctx, now, edit))
    t = translator(who.locale)
    choices = forms.options_of(slug)
    tz = ctx.settings.timezone

    def fmt(column: str, value: Any) -> str:
        return resources.formatted(column, value, t, who.locale, choices, tz)

    return page(
        request,
        who,
        "console/resource.html",
        slug,
        title=resource.title,
        resource=resource,
        fmt=fmt,
        header=resources.header,
        by_input={},
        general=[],
        **data,
    )


@router.post("/p/{pid}/x/{slug}/form", response_class=HTMLResponse)
async def resource_form_save(request: Request, pid: Pid, slug: str) -> Response:
    """A definition's form: the posted fields become the dict the JSON editor takes, saved
    through the same service; refused, the form comes back with each problem by its input."""
    resource = resources.BY_SLUG.get(slug)
    form = forms.FORMS.get(slug)
    if resource is None or form is None or resource.editor is None:
        return Response(status_code=404)
    if not domain_ready(resource.domain):
        return Response(status_code=404)
    who = await auth.console(request, pid, resource.permission)
    if isinstance(who, Response):
        return who
    ctx = who.program
    assert ctx is not None
    built = forms.build(form, await form_of(request), ctx.settings.timezone)
    problems = built.errors
    if not problems:
        db = auth.db_of(request)
        now = db.now()
        try:
            await db.write(
                lambda s: resources.save(resource, s, ctx, built.data, now=now, actor=actor(who))
            )
        except ValidationError as exc:
            problems = forms.problems_of(list(exc.errors()), who.locale)
        except JifenError as exc:
            problems = problem_list(exc)
        except (ValueError, TypeError) as exc:
            problems = [{"field": "", "message": str(exc), "position": None}]
    if not problems:
        return _saved(who)
    by_input, general = forms.place(form, built.state, problems)
    return render(
        "console/_form.html",
        who.locale,
        status_code=422,
        who=who,
        resource=resource,
        form=form,
        state=built.state,
        edit=request.query_params.get("edit") or None,
        by_input=by_input,
        general=general,
    )


@router.post("/p/{pid}/x/{slug}/save", response_class=HTMLResponse)
async def resource_save(request: Request, pid: Pid, slug: str) -> Response:
    resource = resources.BY_SLUG.get(slug)
    if resource is None or resource.editor is None or not domain_ready(resource.domain):
        return Response(status_code=404)
    who = await auth.console(request, pid, resource.permission)
    if isinstance(who, Response):
        return who
    ctx = who.program
    assert ctx is not None
    raw, problems = _parse_rule((await form_of(request)).get("definition", ""))
    if problems:
        return _problems(who, problems)
    db = auth.db_of(request)
    now = db.now()
    try:
        await db.write(lambda s: resources.save(resource, s, ctx, raw, now=now, actor=actor(who)))
    except ValidationError as exc:
        problems = forms.problems_of(list(exc.errors()), who.locale)
        return _problems(who, problems)
    except JifenError as exc:
        return _problems(who, problem_list(exc))
    except (ValueError, TypeError) as exc:
        return _error(who, str(exc))
    return _saved(who)


@router.post("/p/{pid}/x/{slug}/{action}/{row_id}", response_class=HTMLResponse)
async def resource_action(
    request: Request, pid: Pid, slug: str, action: str, row_id: str
) -> Response:
    resource = resources.BY_SLUG.get(slug)
    if resource is None or not domain_ready(resource.domain):
        return Response(status_code=404)
    who = await auth.console(request, pid, resource.act_permission)
    if isinstance(who, Response):
        return who
    ctx = who.program
    assert ctx is not None
    reason = ((await form_of(request)).get("reason") or "").strip() or None
    db = auth.db_of(request)
    now = db.now()
    try:
        await db.write(
            lambda s: resources.act(
                resource, s, ctx, action, row_id, reason=reason, now=now, actor=actor(who)
            )
        )
    except (JifenError, LookupError, ValueError) as exc:
        detail = exc.detail if isinstance(exc, JifenError) else str(exc)
        return _error(who, detail, 409)
    return _saved(who)


@router.post("/p/{pid}/users/revoke", response_class=HTMLResponse)
async def users_revoke(request: Request, pid: Pid) -> Response:
    who = await auth.console(request, pid, "users.manage")
    if isinstance(who, Response):
        return who
    form = await form_of(request)
    email, role = form.get("email", ""), form.get("role", "")
    if email.strip().lower() == who.user.email and role == "owner":
        return _error(who, "Not your own owner role")
    db = auth.db_of(request)
    now = db.now()
    try:
        await db.write(
            lambda s: users.revoke(
                s, program_id=pid, email=email, role=role, now=now, actor=actor(who)
            )
        )
    except JifenError as exc:
        return _error(who, exc.detail)
    return _saved(who)
