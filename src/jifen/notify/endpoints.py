"""Notifications API: templates, settings, a member's feed and its live stream (SSE).

Included by the webhooks router (``jifen.webhooks.endpoints``), which the app mounts at ``/v1``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.api.deps import DbDep, ProgramDep
from jifen.api.member_auth import MemberDep
from jifen.clock import as_utc
from jifen.ledger.endpoints import PROBLEMS
from jifen.members import service as members
from jifen.members.endpoints import MemberId
from jifen.notify import service
from jifen.notify.schemas import (
    NotificationPage,
    NotificationSettingsIn,
    NotificationSettingsOut,
    TemplateIn,
    TemplateOut,
)
from jifen.notify.service import Rendered

router = APIRouter(tags=["notifications"])

TypePath = Annotated[
    str, Path(pattern=r"^(\*|[a-z0-9_]+(\.[a-z0-9_]+)+)$", max_length=60, description="Event type")
]
LocalePath = Annotated[str, Path(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$", max_length=16)]
Cursor = Annotated[str | None, Query(max_length=200)]
Limit = Annotated[int, Query(ge=1, le=200)]

# How often the stream looks for new messages, and how far back each look reaches: a
# transaction that started before the last look but committed after it has an older
# ``created_at``, and is still found (messages already sent are remembered and skipped).
POLL_S = 1.0
LOOKBACK = timedelta(seconds=10)
KEEPALIVE_S = 15.0


@router.get("/notification-templates", response_model=list[TemplateOut], responses=PROBLEMS)
async def list_templates(program: ProgramDep, db: DbDep) -> list[TemplateOut]:
    """Every template in force, per event type and language: the program's own and the
    built-in ones it has not replaced."""
    return await db.read(lambda s: service.list_templates(s, program.id))


@router.put(
    "/notification-templates/{type}/{locale}", response_model=TemplateOut, responses=PROBLEMS
)
async def save_template(
    type: TypePath,
    locale: LocalePath,
    body: TemplateIn,
    program: ProgramDep,
    db: DbDep,
    actor: str = "api",
) -> TemplateOut:
    """Replace the wording of one event type in one language (Jinja2, sandboxed, over the
    message's payload). Refused with ``invalid_template`` when it does not render."""
    now = db.now()
    return await db.write(
        lambda s: service.save_template(s, program, type, locale, body.text, now=now, actor=actor)
    )


@router.delete("/notification-templates/{type}/{locale}", status_code=204, responses=PROBLEMS)
async def delete_template(
    type: TypePath,
    locale: LocalePath,
    program: ProgramDep,
    db: DbDep,
    actor: str = "api",
) -> Response:
    """Go back to the built-in wording."""
    now = db.now()
    await db.write(
        lambda s: service.delete_template(s, program, type, locale, now=now, actor=actor)
    )
    return Response(status_code=204)


@router.get("/notification-settings", response_model=NotificationSettingsOut, responses=PROBLEMS)
async def get_settings(program: ProgramDep, db: DbDep) -> NotificationSettingsOut:
    return await db.read(lambda s: service.get_settings(s, program.id))


@router.put("/notification-settings", response_model=NotificationSettingsOut, responses=PROBLEMS)
async def save_settings(
    body: NotificationSettingsIn, program: ProgramDep, db: DbDep, actor: str = "api"
) -> NotificationSettingsOut:
    """Expiry reminders (how many days ahead) and birthday/anniversary gifts (points)."""
    now = db.now()
    return await db.write(lambda s: service.save_settings(s, program, body, now=now, actor=actor))


@router.get(
    "/members/{member_id}/notifications", response_model=NotificationPage, responses=PROBLEMS
)
async def member_notifications(
    member_id: MemberId,
    program: ProgramDep,
    db: DbDep,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> NotificationPage:
    """The member's messages, newest first, in the member's language."""

    async def run(s: AsyncSession) -> NotificationPage:
        member = await members.get(s, program.id, member_id)
        return await service.list_notifications(
            s, program.id, member.id, cursor=cursor, limit=limit
        )

    return await db.read(run)


@router.get("/me/notifications", response_model=NotificationPage, responses=PROBLEMS)
async def my_notifications(
    who: MemberDep, db: DbDep, cursor: Cursor = None, limit: Limit = 50
) -> NotificationPage:
    return await db.read(
        lambda s: service.list_notifications(
            s, who.program.id, who.member_id, cursor=cursor, limit=limit
        )
    )


def _event(r: Rendered) -> str:
    data = json.dumps(r.out().model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))
    return f"id: {r.id}\nevent: notification\ndata: {data}\n\n"


@router.get(
    "/me/notifications/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **PROBLEMS},
)
async def my_notification_stream(
    request: Request,
    who: MemberDep,
    db: DbDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> StreamingResponse:
    """Server-Sent Events: each new message as ``event: notification`` with ``id:`` the
    message id. Reconnecting with ``Last-Event-ID`` resumes after that message. The token may
    come as ``?token=`` (``EventSource`` cannot send headers)."""
    program_id, member_id = who.program.id, who.member_id
    start = db.now()
    # Sent (or present at connect time): skipped by every later look.
    seen: dict[uuid.UUID, datetime] = {}
    watermark = start

    async def begin(s: AsyncSession) -> None:
        nonlocal watermark
        resume: tuple[datetime, uuid.UUID] | None = None
        if last_event_id:
            try:
                last = await service.message_of_member(
                    s, program_id, member_id, uuid.UUID(last_event_id)
                )
            except ValueError:
                last = None
            if last is not None:
                resume = (as_utc(last.created_at), last.id)
        if resume is not None:
            # Everything up to and including the last one read counts as sent.
            watermark = resume[0]
            for mid, created in await service.ids_since(
                s, program_id, member_id, since=resume[0] - LOOKBACK
            ):
                if (created, str(mid)) <= (resume[0], str(resume[1])):
                    seen[mid] = created
        else:
            for mid, created in await service.ids_since(
                s, program_id, member_id, since=start - LOOKBACK
            ):
                seen[mid] = created

    await db.read(begin)

    async def _look(s: AsyncSession, *, since: datetime, skip: set[uuid.UUID]) -> list[Rendered]:
        return await service.messages_since(
            s, program_id, member_id, since=since, skip=skip, limit=100
        )

    async def events() -> AsyncIterator[str]:
        nonlocal watermark
        yield "retry: 3000\n\n"
        quiet = 0.0
        while True:
            if await request.is_disconnected():
                return
            fresh = await db.read(partial(_look, since=watermark - LOOKBACK, skip=set(seen)))
            for r in fresh:
                seen[r.id] = r.created_at
                watermark = max(watermark, r.created_at)
                yield _event(r)
            if fresh:
                quiet = 0.0
                floor = watermark - LOOKBACK
                for mid in [m for m, t in seen.items() if t < floor]:
                    del seen[mid]
                continue
            quiet += POLL_S
            if quiet >= KEEPALIVE_S:
                quiet = 0.0
                yield ": keep-alive\n\n"
            await asyncio.sleep(POLL_S)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
