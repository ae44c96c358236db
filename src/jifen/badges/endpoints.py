"""The badges API: definitions, awards by hand, the badge wall, and public shared badge pages.

The router has no prefix because the public page lives at ``/badges/{token}``, outside ``/v1``.
"""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.api.deps import DbDep, IdempotencyHeader, ProgramDep, idempotency_key
from jifen.api.member_auth import MemberDep
from jifen.badges import service
from jifen.badges.schemas import AwardIn, AwardOut, BadgeIn, BadgeOut, BadgeWall, SharedBadge
from jifen.errors import NotFound
from jifen.kit.idempotency import Outcome, run_once
from jifen.ledger.endpoints import PROBLEMS, respond
from jifen.members.endpoints import MemberId

router = APIRouter(tags=["badges"])

BadgeIdPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")]
TokenPath = Annotated[str, Path(min_length=3, max_length=120, pattern=r"^[A-Za-z0-9_.-]+$")]

_templates = Environment(
    loader=FileSystemLoader(FilePath(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


@router.put("/v1/badges/{badge_id}", response_model=BadgeOut, responses=PROBLEMS)
async def save_badge(
    badge_id: BadgeIdPath, body: BadgeIn, program: ProgramDep, db: DbDep, actor: str = "api"
) -> BadgeOut:
    """Create or change a badge definition (audited)."""
    now = db.now()
    return await db.write(
        lambda s: service.save_badge(s, program, badge_id, body, now=now, actor=actor)
    )


@router.get("/v1/badges", response_model=list[BadgeOut], responses=PROBLEMS)
async def list_badges(program: ProgramDep, db: DbDep) -> list[BadgeOut]:
    return await db.read(lambda s: service.list_badges(s, program.id))


@router.get("/v1/badges/shared/{token}", response_model=SharedBadge, responses=PROBLEMS)
async def shared_badge(token: TokenPath, db: DbDep) -> SharedBadge:
    """A shared member badge, public: no key needed, the token is the secret."""
    now = db.now()
    return await db.read(lambda s: service.shared(s, token, now=now))


@router.get("/v1/badges/{badge_id}", response_model=BadgeOut, responses=PROBLEMS)
async def get_badge(badge_id: BadgeIdPath, program: ProgramDep, db: DbDep) -> BadgeOut:
    return await db.read(lambda s: service.get_badge(s, program.id, badge_id))


@router.post(
    "/v1/members/{member_id}/badges", status_code=201, response_model=AwardOut, responses=PROBLEMS
)
async def award_badge(
    member_id: MemberId,
    body: AwardIn,
    program: ProgramDep,
    db: DbDep,
    key: IdempotencyHeader = None,
    actor: str = "api",
) -> JSONResponse:
    """Award a badge by hand (audited): 201 when awarded, 200 (``awarded: false``) when the
    member already had it."""
    idem = idempotency_key(key, body.idempotency_key) if key or body.idempotency_key else None
    now = db.now()

    async def apply(s: AsyncSession) -> Outcome:
        out = await service.award_by_hand(
            s, program, member=member_id, badge_id=body.badge_id, reason=body.reason, now=now,
            actor=actor,
        )  # fmt: skip
        return Outcome(201 if out.awarded else 200, out.model_dump(mode="json"))

    async def run(s: AsyncSession) -> Outcome:
        if idem is None:
            return await apply(s)
        payload = {"member": member_id, "badge_id": body.badge_id, "reason": body.reason}
        return await run_once(
            s, program.id, key=idem, operation="badge.award", payload=payload, now=now,
            apply=lambda: apply(s),
        )  # fmt: skip

    return respond(await db.write(run))


@router.get("/v1/members/{member_id}/badges", response_model=BadgeWall, responses=PROBLEMS)
async def badge_wall(member_id: MemberId, program: ProgramDep, db: DbDep) -> BadgeWall:
    """The member's badge wall: earned badges with dates, the rest with progress."""
    now = db.now()
    return await db.read(lambda s: service.wall(s, program, member=member_id, now=now))


@router.get("/v1/me/badges", response_model=BadgeWall, responses=PROBLEMS)
async def my_badges(who: MemberDep, db: DbDep) -> BadgeWall:
    now = db.now()
    return await db.read(lambda s: service.wall(s, who.program, member=who.member, now=now))


@router.get("/badges/{token}", response_class=HTMLResponse, include_in_schema=False)
async def shared_badge_page(token: str, db: DbDep) -> HTMLResponse:
    """The public, shareable page of one member badge (no external assets)."""
    now = db.now()
    try:
        badge: Any = await db.read(lambda s: service.shared(s, token, now=now))
        status = 200
    except NotFound:
        badge, status = None, 404
    html = _templates.get_template("shared_badge.html").render(badge=badge)
    headers = {"Cache-Control": "public, max-age=300"} if status == 200 else None
    return HTMLResponse(html, status_code=status, headers=headers)
