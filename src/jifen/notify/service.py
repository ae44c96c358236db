"""Notifications: the outbox (messages written in the same database transaction as the change
they report), their rendering in the member's language, the member's feed, templates and the
program's notification settings."""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.clock import as_utc
from jifen.errors import InvalidInput, NotFound
from jifen.kit import bulk
from jifen.kit.ids import uuid7_int
from jifen.members import service as members
from jifen.notify import templates
from jifen.notify.models import NotificationSettings, NotificationTemplate, OutboxMessage
from jifen.notify.schemas import (
    NotificationOut,
    NotificationPage,
    NotificationSettingsIn,
    NotificationSettingsOut,
    TemplateOut,
)
from jifen.programs import service as programs
from jifen.programs.context import ProgramContext

_last_id = 0
_id_lock = threading.Lock()


def _message_id() -> uuid.UUID:
    """A uuid7, greater than every one this process made before: messages written together
    (same ``created_at``) keep the order they were written in, in the feed and the stream."""
    global _last_id
    candidate = uuid7_int()
    with _id_lock:
        if candidate <= _last_id:
            candidate = _last_id + 1
        _last_id = candidate
    return uuid.UUID(int=candidate)


def message_row(
    *, program_id: str, member_id: int | None, topic: str, payload: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "id": _message_id(),
        "program_id": program_id,
        "member_id": member_id,
        "topic": topic,
        "payload": payload,
        "created_at": now,
        "available_at": now,
        "dispatched_at": None,
        "attempts": 0,
    }


def _table() -> Table:
    table = OutboxMessage.__table__
    assert isinstance(table, Table)
    return table


async def enqueue_rows(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    await bulk.insert_rows(session, _table(), rows)


def queue_rows(writes: bulk.Writes, rows: Sequence[dict[str, Any]]) -> None:
    """Add the rows to writes that their owner runs with its own (in the same transaction)."""
    writes.insert(_table(), rows)


# --- rendering ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rendered:
    """An outbox message as its member reads it."""

    id: uuid.UUID
    program_id: str
    member_id: int | None
    member: str | None
    topic: str
    type: str
    locale: str
    text: str
    data: dict[str, Any]
    created_at: datetime

    def out(self) -> NotificationOut:
        return NotificationOut(
            id=self.id,
            type=self.type,
            topic=self.topic,
            locale=self.locale,
            text=self.text,
            data=self.data,
            created_at=self.created_at,
        )


async def load_overrides(
    session: AsyncSession, program_ids: Iterable[str]
) -> dict[str, dict[tuple[str, str], str]]:
    """Each program's own templates, by (event type, locale)."""
    ids = sorted(set(program_ids))
    out: dict[str, dict[tuple[str, str], str]] = {pid: {} for pid in ids}
    if not ids:
        return out
    rows = await session.execute(
        select(
            NotificationTemplate.program_id,
            NotificationTemplate.topic,
            NotificationTemplate.locale,
            NotificationTemplate.text,
        ).where(NotificationTemplate.program_id.in_(ids))
    )
    for pid, etype, locale, text in rows:
        out[pid][(etype, locale)] = text
    return out


async def render(session: AsyncSession, messages: Sequence[OutboxMessage]) -> list[Rendered]:
    """Render messages of any programs, each in its member's language (the program's for
    messages without a member), with the program's templates over the built-in ones."""
    by_program: dict[str, set[int]] = {}
    for m in messages:
        ids = by_program.setdefault(m.program_id, set())
        if m.member_id is not None:
            ids.add(m.member_id)
    overrides = await load_overrides(session, by_program)
    program_locale: dict[str, str] = {}
    people: dict[int, tuple[str, str]] = {}
    for pid, member_ids in by_program.items():
        ctx = await programs.get_context(session, pid)
        program_locale[pid] = ctx.settings.locale
        for mid, member in (await members.by_ids(session, pid, member_ids)).items():
            people[mid] = (member.external_id, member.locale)
    out = []
    for m in messages:
        fallback = program_locale[m.program_id]
        external, locale = people.get(m.member_id or 0, (None, fallback))
        locale = templates.normalise_locale(locale, fallback)
        payload = dict(m.payload or {})
        etype = templates.event_type(m.topic, payload)
        text = templates.render(
            etype, m.topic, payload, locale, overrides[m.program_id], program_locale=fallback
        )
        out.append(
            Rendered(
                id=m.id,
                program_id=m.program_id,
                member_id=m.member_id,
                member=external or payload.get("member"),
                topic=m.topic,
                type=etype,
                locale=locale,
                text=text,
                data=payload,
                created_at=as_utc(m.created_at),
            )
        )
    return out


# --- the member's feed -------------------------------------------------------------------------


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    """An opaque keyset cursor after a ``(created_at, uuid)`` row (also used by webhooks)."""
    raw = f"{as_utc(created_at).isoformat()}|{row_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The ``(created_at, uuid)`` of ``encode_cursor``; a malformed cursor is ``invalid_cursor``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, row_id = raw.partition("|")
        return as_utc(datetime.fromisoformat(when)), uuid.UUID(row_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not valid", code="invalid_cursor", field="cursor") from exc


async def list_notifications(
    session: AsyncSession,
    program_id: str,
    member_id: int,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> NotificationPage:
    """The member's messages, newest first, rendered in the member's language."""
    stmt = select(OutboxMessage).where(
        OutboxMessage.program_id == program_id, OutboxMessage.member_id == member_id
    )
    if cursor:
        when, mid = decode_cursor(cursor)
        stmt = stmt.where(
            or_(
                OutboxMessage.created_at < when,
                and_(OutboxMessage.created_at == when, OutboxMessage.id < mid),
            )
        )
    rows = list(
        await session.scalars(
            stmt.order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(limit + 1)
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    items = [r.out() for r in await render(session, rows)]
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return NotificationPage(items=items, next_cursor=next_cursor)


async def message_of_member(
    session: AsyncSession, program_id: str, member_id: int, message_id: uuid.UUID
) -> OutboxMessage | None:
    row: OutboxMessage | None = await session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.id == message_id,
            OutboxMessage.program_id == program_id,
            OutboxMessage.member_id == member_id,
        )
    )
    return row


async def ids_since(
    session: AsyncSession, program_id: str, member_id: int, *, since: datetime
) -> list[tuple[uuid.UUID, datetime]]:
    """(id, created_at) of the member's messages created at or after ``since``."""
    rows = await session.execute(
        select(OutboxMessage.id, OutboxMessage.created_at).where(
            OutboxMessage.program_id == program_id,
            OutboxMessage.member_id == member_id,
            OutboxMessage.created_at >= since,
        )
    )
    return [(mid, as_utc(created)) for mid, created in rows]


async def messages_since(
    session: AsyncSession,
    program_id: str,
    member_id: int,
    *,
    since: datetime,
    skip: set[uuid.UUID],
    limit: int = 100,
) -> list[Rendered]:
    """The member's messages created at or after ``since``, oldest first, except ``skip``
    (those already sent to this reader)."""
    rows = await session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.program_id == program_id,
            OutboxMessage.member_id == member_id,
            OutboxMessage.created_at >= since,
        )
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
        .limit(limit + len(skip))
    )
    fresh = [r for r in rows if r.id not in skip][:limit]
    return await render(session, fresh)


# --- templates ---------------------------------------------------------------------------------


async def list_templates(session: AsyncSession, program_id: str) -> list[TemplateOut]:
    """Every template in force: the program's own, and the built-in ones it has not replaced."""
    rows = await session.scalars(
        select(NotificationTemplate).where(NotificationTemplate.program_id == program_id)
    )
    own = {(r.topic, r.locale): r for r in rows}
    out = [
        TemplateOut(type=etype, locale=loc, text=text, source="default")
        for (etype, loc), text in templates.DEFAULTS.items()
        if (etype, loc) not in own
    ]
    out += [
        TemplateOut(
            type=r.topic,
            locale=r.locale,
            text=r.text,
            source="program",
            updated_at=as_utc(r.updated_at),
        )
        for r in own.values()
    ]
    return sorted(out, key=lambda t: (t.type, t.locale))


async def save_template(
    session: AsyncSession,
    ctx: ProgramContext,
    etype: str,
    locale: str,
    text: str,
    *,
    now: datetime,
    actor: str,
) -> TemplateOut:
    problem = templates.check(text)
    if problem is not None:
        raise InvalidInput(f"template does not render: {problem}", code="invalid_template")
    row = await session.get(NotificationTemplate, (ctx.id, etype, locale))
    before = {"text": row.text} if row is not None else None
    if row is None:
        row = NotificationTemplate(
            program_id=ctx.id, topic=etype, locale=locale, text=text, updated_at=now
        )
        session.add(row)
    else:
        row.text = text
        row.updated_at = now
    await programs.record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="notification_template.save",
        entity_type="notification_template",
        entity_id=f"{etype}/{locale}",
        now=now,
        before=before,
        after={"text": text},
    )
    await session.flush()
    return TemplateOut(type=etype, locale=locale, text=text, source="program", updated_at=now)


async def delete_template(
    session: AsyncSession,
    ctx: ProgramContext,
    etype: str,
    locale: str,
    *,
    now: datetime,
    actor: str,
) -> None:
    """Drop the program's own template: the built-in one applies again."""
    row = await session.get(NotificationTemplate, (ctx.id, etype, locale))
    if row is None:
        raise NotFound(
            f"the program has no template of its own for {etype} in {locale}",
            code="template_not_found",
        )
    await session.execute(
        delete(NotificationTemplate).where(
            NotificationTemplate.program_id == ctx.id,
            NotificationTemplate.topic == etype,
            NotificationTemplate.locale == locale,
        )
    )
    await programs.record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="notification_template.delete",
        entity_type="notification_template",
        entity_id=f"{etype}/{locale}",
        now=now,
        before={"text": row.text},
    )


# --- settings ----------------------------------------------------------------------------------


async def get_settings(session: AsyncSession, program_id: str) -> NotificationSettingsOut:
    row = await session.get(NotificationSettings, program_id)
    if row is None:
        return NotificationSettingsOut()
    return NotificationSettingsOut(
        reminders_enabled=row.reminders_enabled,
        reminder_days=row.reminder_days,
        birthday_points=row.birthday_points,
        anniversary_points=row.anniversary_points,
        updated_at=as_utc(row.updated_at),
    )


async def save_settings(
    session: AsyncSession,
    ctx: ProgramContext,
    data: NotificationSettingsIn,
    *,
    now: datetime,
    actor: str,
) -> NotificationSettingsOut:
    before = await get_settings(session, ctx.id)
    row = await session.get(NotificationSettings, ctx.id)
    values = data.model_dump()
    if row is None:
        session.add(NotificationSettings(program_id=ctx.id, updated_at=now, **values))
    else:
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = now
    await programs.record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="notification_settings.save",
        entity_type="notification_settings",
        entity_id=ctx.id,
        now=now,
        before=before.model_dump(exclude={"updated_at"}),
        after=values,
    )
    await session.flush()
    return NotificationSettingsOut(**values, updated_at=now)
