"""Members: created and updated by the merchant's own id, resolved to internal ids for the ledger."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.errors import InvalidInput, NotFound
from jifen.kit.sql import in_values, insert_ignore, select_tuples
from jifen.members.models import Member
from jifen.members.schemas import MemberOut, MemberUpsert

# Profile fields that always have a value: leaving one out keeps it, sending null is refused.
NOT_NULL_FIELDS = ("locale", "tags", "consent", "attributes", "joined_at")


@dataclass(frozen=True, slots=True)
class MemberRef:
    """A member as the ledger needs it: internal id and the merchant's id."""

    id: int
    external_id: str


def to_out(member: Member) -> MemberOut:
    return MemberOut(
        id=member.external_id,
        name=member.name,
        phone=member.phone,
        email=member.email,
        birthday=member.birthday,
        region=member.region,
        locale=member.locale,
        tags=list(member.tags or []),
        consent=dict(member.consent or {}),
        attributes=dict(member.attributes or {}),
        status=member.status,
        joined_at=member.joined_at,
        created_at=member.created_at,
        updated_at=member.updated_at,
    )


async def find(session: AsyncSession, program_id: str, external_id: str) -> Member | None:
    stmt = select(Member).where(Member.program_id == program_id, Member.external_id == external_id)
    return (await session.scalars(stmt)).first()


async def get(session: AsyncSession, program_id: str, external_id: str) -> Member:
    member = await find(session, program_id, external_id)
    if member is None:
        raise NotFound(f"member {external_id!r} not found", code="member_not_found", field="member")
    return member


async def upsert(
    session: AsyncSession,
    program_id: str,
    external_id: str,
    data: MemberUpsert,
    *,
    now: datetime,
) -> tuple[Member, bool]:
    """Create the member or update the fields given. Returns (member, created)."""
    member = await find(session, program_id, external_id)
    created = member is None
    if member is None:
        member = Member(
            program_id=program_id,
            external_id=external_id,
            tags=[],
            consent={},
            attributes={},
            status="active",
            locale="zh-CN",
            joined_at=data.joined_at or now,
            created_at=now,
            updated_at=now,
        )
        session.add(member)
    fields = data.model_dump(exclude_unset=True)
    for name in NOT_NULL_FIELDS:
        if name in fields and fields[name] is None:
            raise InvalidInput(f"{name} cannot be null; leave it out to keep it", field=name)
    for name, value in fields.items():
        if name == "joined_at" and value is None:
            continue
        setattr(member, name, value)
    member.updated_at = now
    await session.flush()
    return member, created


async def list_members(
    session: AsyncSession,
    program_id: str,
    *,
    after_id: int | None,
    limit: int,
    query: str | None = None,
) -> list[Member]:
    stmt = select(Member).where(Member.program_id == program_id)
    if after_id is not None:
        stmt = stmt.where(Member.id > after_id)
    if query:
        like = f"%{query}%"
        stmt = stmt.where(
            Member.external_id.like(like) | Member.name.like(like) | Member.phone.like(like)
        )
    stmt = stmt.order_by(Member.id).limit(limit)
    return list((await session.scalars(stmt)).all())


async def resolve(
    session: AsyncSession,
    program_id: str,
    external_ids: Iterable[str],
    *,
    create: bool,
    now: datetime,
) -> dict[str, MemberRef]:
    """Map external ids to members in two statements; create the missing ones when asked.

    Raises ``member_not_found`` for the first missing id when ``create`` is false.
    """
    wanted = sorted(set(external_ids))
    found = await _lookup(session, program_id, wanted)
    missing = [e for e in wanted if e not in found]
    if missing and not create:
        raise NotFound(f"member {missing[0]!r} not found", code="member_not_found", field="member")
    if missing:
        await _insert_missing(session, program_id, missing, now=now)
        found.update(await _lookup(session, program_id, missing))
    return found


async def resolve_known(
    session: AsyncSession,
    program_id: str,
    external_ids: Iterable[str],
    *,
    create: bool,
    now: datetime,
) -> dict[str, MemberRef]:
    """Like ``resolve``, but unknown ids (when not created) are left out instead of raising."""
    wanted = sorted(set(external_ids))
    found = await _lookup(session, program_id, wanted)
    missing = [e for e in wanted if e not in found]
    if missing and create:
        await _insert_missing(session, program_id, missing, now=now)
        found.update(await _lookup(session, program_id, missing))
    return found


async def _lookup(
    session: AsyncSession, program_id: str, external_ids: Sequence[str]
) -> dict[str, MemberRef]:
    out: dict[str, MemberRef] = {}
    for start in range(0, len(external_ids), 1000):
        chunk = external_ids[start : start + 1000]
        c = _member_table().c
        rows = await select_tuples(
            session,
            select(c.id, c.external_id).where(
                c.program_id == program_id, in_values(session, c.external_id, chunk)
            ),
        )
        for member_id, external_id in rows:
            out[external_id] = MemberRef(member_id, external_id)
    return out


async def _insert_missing(
    session: AsyncSession, program_id: str, external_ids: Sequence[str], *, now: datetime
) -> None:
    rows = [
        {
            "program_id": program_id,
            "external_id": e,
            "tags": [],
            "consent": {},
            "attributes": {},
            "status": "active",
            "locale": "zh-CN",
            "joined_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for e in external_ids
    ]
    await session.execute(insert_ignore(session, Member), rows)


async def by_ids(
    session: AsyncSession, program_id: str, ids: Iterable[int], *, lock: bool = False
) -> dict[int, Member]:
    """Members by internal id; with ``lock``, their rows are locked in id order (PostgreSQL),
    which serialises everything done for one member (its events, counters)."""
    out: dict[int, Member] = {}
    for stmt in _by_ids_statements(session, program_id, ids, select(Member), lock=lock):
        for m in await session.scalars(stmt):
            out[m.id] = m
    return out


def _member_table() -> Table:
    table = Member.__table__
    assert isinstance(table, Table)
    return table


# A member's row as a named tuple: reading a field costs a tenth of reading it from
# SQLAlchemy's ``Row`` (which looks the name up on every access).
MemberRow: Any = namedtuple("MemberRow", _member_table().columns.keys())  # type: ignore[misc]


async def rows_by_ids(
    session: AsyncSession, program_id: str, ids: Iterable[int], *, lock: bool = False
) -> dict[int, Any]:
    """``by_ids`` as plain rows (``MemberRow``) with the same attributes: several times
    cheaper than ORM objects for a batch that only reads them (event ingestion)."""
    make = MemberRow._make
    out: dict[int, Any] = {}
    for stmt in _by_ids_statements(session, program_id, ids, select(_member_table()), lock=lock):
        for row in await select_tuples(session, stmt):
            member: Any = make(row)
            out[member.id] = member
    return out


def _by_ids_statements(
    session: AsyncSession, program_id: str, ids: Iterable[int], base: Select[Any], *, lock: bool
) -> Iterator[Select[Any]]:
    ordered = sorted(set(ids))
    postgres = session.get_bind().dialect.name == "postgresql"
    for start in range(0, len(ordered), 1000):
        stmt = base.where(
            Member.program_id == program_id,
            in_values(session, Member.id, ordered[start : start + 1000]),
        ).order_by(Member.id)
        if lock and postgres:
            stmt = stmt.with_for_update()
        yield stmt


async def set_status(
    session: AsyncSession,
    program_id: str,
    external_id: str,
    status: str,
    *,
    reason: str,
    actor: str,
    now: datetime,
) -> Member:
    """Freeze a member (no spending, holds, gifts or earning) or unfreeze them; audited.
    Setting the status a member already has changes nothing and records nothing."""
    from jifen.programs.service import record_audit

    member = await get(session, program_id, external_id)
    # Lock the row: ledger writers and event batches lock members too, in id order.
    await session.refresh(member, with_for_update=True)
    if member.status == status:
        return member
    before = member.status
    member.status = status
    member.updated_at = now
    await session.flush()
    await record_audit(
        session,
        program_id=program_id,
        actor=actor,
        action=f"member.{'freeze' if status == 'frozen' else 'unfreeze'}",
        entity_type="member",
        entity_id=external_id,
        now=now,
        before={"status": before},
        after={"status": status},
        reason=reason,
    )
    return member


async def external_ids(
    session: AsyncSession, program_id: str, ids: Iterable[int]
) -> dict[int, str]:
    """The merchant's ids of members given by internal id (unknown ids are left out)."""
    out: dict[int, str] = {}
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), 1000):
        rows = await session.execute(
            select(Member.id, Member.external_id).where(
                Member.program_id == program_id,
                in_values(session, Member.id, ordered[start : start + 1000]),
            )
        )
        out.update({int(i): str(e) for i, e in rows})
    return out


async def external_id(session: AsyncSession, program_id: str, member_id: int) -> str:
    """One member's merchant id (the member must exist)."""
    return (await external_ids(session, program_id, [member_id]))[member_id]
