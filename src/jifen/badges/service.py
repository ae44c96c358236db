"""Badges: definitions, set-based automatic awards, awards by hand, the wall and shared pages.

An award is one ``member_badges`` row, unique per member and badge: it is inserted with
``ON CONFLICT DO NOTHING ... RETURNING``, so concurrent awards of one badge produce one row and
only the transaction that inserted it writes the ``badge.awarded`` outbox message.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.badges.models import BadgeDefinition, MemberBadge
from jifen.badges.schemas import (
    AwardOut,
    BadgeIn,
    BadgeOut,
    BadgeWall,
    CheckInDays,
    CheckInStreak,
    Criterion,
    EarnedBadge,
    EventCount,
    Progress,
    SharedBadge,
    TierReached,
    UnearnedBadge,
)
from jifen.checkin import service as checkin
from jifen.clock import local_date
from jifen.errors import InvalidInput, NotFound
from jifen.events.listeners import ProcessedEvent
from jifen.events.models import Event
from jifen.kit.sql import insert_ignore
from jifen.members import service as members
from jifen.members.models import Member
from jifen.notify.service import enqueue_rows, message_row
from jifen.programs import service as programs
from jifen.programs.context import ProgramContext
from jifen.programs.service import record_audit
from jifen.tiers import service as tiers

CHECKIN_KINDS = frozenset({"checkin_streak", "checkin_days"})
EVENT_KINDS = frozenset({"event_count", "tier"})
AUTO_KINDS = CHECKIN_KINDS | EVENT_KINDS
TOPIC = "badge.awarded"
_criterion: TypeAdapter[Criterion] = TypeAdapter(Criterion)  # type: ignore[arg-type,unused-ignore]


def share_url(program_id: str, token: str) -> str:
    return f"/badges/{program_id}.{token}"


def _looks(spec: dict[str, Any]) -> dict[str, Any]:
    """How a badge shows (on the wall, on a shared page), with its defaults."""
    return {
        "name": spec["name"],
        "description": spec.get("description", ""),
        "icon": spec.get("icon", "🏅"),
        "color": spec.get("color", "#d4a017"),
    }


# ---------------------------------------------------------------------------------------------
# Definitions


def _out(row: BadgeDefinition) -> BadgeOut:
    return BadgeOut.model_validate(
        {**row.definition, "id": row.badge_id, "created_at": row.created_at,
         "updated_at": row.updated_at}
    )  # fmt: skip


async def save_badge(
    session: AsyncSession,
    ctx: ProgramContext,
    badge_id: str,
    data: BadgeIn,
    *,
    now: datetime,
    actor: str,
) -> BadgeOut:
    """Create or change a badge definition (audited). Awards already made stay."""
    if isinstance(data.criterion, TierReached):
        scheme = await tiers.load_scheme(session, ctx.id)
        if scheme is None or data.criterion.tier not in {t.code for t in scheme.tiers}:
            raise InvalidInput(
                f"tier {data.criterion.tier!r} is not in the program's tier scheme",
                code="unknown_tier",
                field="criterion.tier",
            )
    row = await _definition(session, ctx.id, badge_id)
    before = row.definition if row else None
    definition = data.model_dump(mode="json")
    if row is None:
        row = BadgeDefinition(
            program_id=ctx.id,
            badge_id=badge_id,
            definition=definition,
            kind=data.criterion.kind,
            enabled=data.enabled,
            sort_order=data.sort_order,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
    else:
        row.definition = definition
        row.kind = data.criterion.kind
        row.enabled = data.enabled
        row.sort_order = data.sort_order
        row.updated_at = now
    await session.flush()
    await record_audit(
        session,
        program_id=ctx.id,
        actor=actor,
        action="badge.save",
        entity_type="badge",
        entity_id=badge_id,
        now=now,
        before=before,
        after=definition,
    )
    return _out(row)


async def _definition(
    session: AsyncSession, program_id: str, badge_id: str
) -> BadgeDefinition | None:
    return (
        await session.scalars(
            select(BadgeDefinition).where(
                BadgeDefinition.program_id == program_id, BadgeDefinition.badge_id == badge_id
            )
        )
    ).first()


async def get_badge(session: AsyncSession, program_id: str, badge_id: str) -> BadgeOut:
    row = await _definition(session, program_id, badge_id)
    if row is None:
        raise NotFound(f"badge {badge_id!r} not found", code="badge_not_found", field="badge_id")
    return _out(row)


async def list_badges(session: AsyncSession, program_id: str) -> list[BadgeOut]:
    return [_out(r) for r in await _definitions(session, program_id)]


async def _definitions(
    session: AsyncSession, program_id: str, kinds: Iterable[str] | None = None
) -> list[BadgeDefinition]:
    stmt = select(BadgeDefinition).where(BadgeDefinition.program_id == program_id)
    if kinds is not None:
        stmt = stmt.where(
            BadgeDefinition.kind.in_(sorted(kinds)), BadgeDefinition.enabled.is_(True)
        )
    stmt = stmt.order_by(BadgeDefinition.sort_order, BadgeDefinition.badge_id)
    return list((await session.scalars(stmt)).all())


async def missing_badges(
    session: AsyncSession, program_id: str, badge_ids: Sequence[str]
) -> list[str]:
    """Those of ``badge_ids`` that are not defined."""
    if not badge_ids:
        return []
    found = set(
        await session.scalars(
            select(BadgeDefinition.badge_id).where(
                BadgeDefinition.program_id == program_id,
                BadgeDefinition.badge_id.in_(sorted(set(badge_ids))),
            )
        )
    )
    return [b for b in badge_ids if b not in found]


# ---------------------------------------------------------------------------------------------
# Awarding


async def _insert_awards(
    session: AsyncSession,
    ctx: ProgramContext,
    pairs: Sequence[tuple[int, str]],
    definitions: dict[str, BadgeDefinition],
    *,
    now: datetime,
    source: str,
) -> list[tuple[int, str]]:
    """Insert the awards that do not exist yet; the ones this call inserted, with one outbox
    message each."""
    if not pairs:
        return []
    inserted: list[tuple[int, str]] = []
    rows = [
        {
            "program_id": ctx.id,
            "member_id": member_id,
            "badge_id": badge_id,
            "awarded_at": now,
            "source": source[:80],
            "share_token": secrets.token_urlsafe(16),
        }
        for member_id, badge_id in sorted(set(pairs))
    ]
    for start in range(0, len(rows), 500):
        stmt = (
            insert_ignore(session, MemberBadge)
            .values(rows[start : start + 500])
            .returning(MemberBadge.member_id, MemberBadge.badge_id, MemberBadge.share_token)
        )
        inserted.extend((m, b) for m, b, _ in (await session.execute(stmt)).all())
    if inserted:
        tokens = {(r["member_id"], r["badge_id"]): r["share_token"] for r in rows}
        external = await members.external_ids(session, ctx.id, {m for m, _ in inserted})
        await enqueue_rows(
            session,
            [
                message_row(
                    program_id=ctx.id,
                    member_id=m,
                    topic=TOPIC,
                    payload={
                        "member": external.get(m),
                        "badge_id": b,
                        "name": definitions[b].definition.get("name", b),
                        "awarded_at": now.isoformat(),
                        "source": source,
                        "share_url": share_url(ctx.id, str(tokens[(m, b)])),
                    },
                    now=now,
                )
                for m, b in inserted
            ],
        )
    return inserted


async def award(
    session: AsyncSession,
    ctx: ProgramContext,
    *,
    member_id: int,
    badge_id: str,
    now: datetime,
    source: str,
) -> bool:
    """Award a badge: True if newly awarded, False if the member already had it."""
    row = await _definition(session, ctx.id, badge_id)
    if row is None:
        raise NotFound(f"badge {badge_id!r} not found", code="badge_not_found", field="badge_id")
    done = await _insert_awards(
        session, ctx, [(member_id, badge_id)], {badge_id: row}, now=now, source=source
    )
    return bool(done)


async def evaluate(
    session: AsyncSession,
    ctx: ProgramContext,
    member_ids: Iterable[int],
    *,
    now: datetime,
    source: str,
    kinds: Iterable[str] = AUTO_KINDS,
    event_types: Iterable[str] | None = None,
) -> list[tuple[int, str]]:
    """Award every enabled automatic badge of ``kinds`` the members now meet; a few queries
    for the whole set of members. Returns the (member id, badge id) pairs newly awarded.

    With ``event_types``, event-count badges are limited to those types."""
    ids = sorted(set(member_ids))
    if not ids:
        return []
    defs = await _definitions(session, ctx.id, kinds)
    if event_types is not None:
        types = set(event_types)
        defs = [
            d
            for d in defs
            if d.kind != "event_count" or d.definition["criterion"]["event_type"] in types
        ]
    if not defs:
        return []
    by_id = {d.badge_id: d for d in defs}
    held = await _held(session, ctx.id, ids, list(by_id))
    criteria = [_criterion.validate_python(d.definition["criterion"]) for d in defs]
    values = await _values(session, ctx, ids, criteria)
    wanted: list[tuple[int, str]] = []
    for d, crit in zip(defs, criteria, strict=True):
        for m in ids:
            if (m, d.badge_id) not in held and _meets(crit, values, m):
                wanted.append((m, d.badge_id))
    return await _insert_awards(session, ctx, wanted, by_id, now=now, source=source)


async def _held(
    session: AsyncSession, program_id: str, member_ids: Sequence[int], badge_ids: Sequence[str]
) -> set[tuple[int, str]]:
    out: set[tuple[int, str]] = set()
    for start in range(0, len(member_ids), 1000):
        rows = await session.execute(
            select(MemberBadge.member_id, MemberBadge.badge_id).where(
                MemberBadge.program_id == program_id,
                MemberBadge.member_id.in_(member_ids[start : start + 1000]),
                MemberBadge.badge_id.in_(badge_ids),
            )
        )
        out.update((m, b) for m, b in rows)
    return out


class _Values:
    """What the criteria of a set of badges read, for a set of members."""

    def __init__(self) -> None:
        self.checkin: dict[int, checkin.CheckInTotals] = {}
        self.events: dict[tuple[int, str], int] = {}
        self.tiers: dict[int, tiers.TierView] = {}
        self.tier_ranks: dict[str, int] = {}


async def _values(
    session: AsyncSession,
    ctx: ProgramContext,
    member_ids: Sequence[int],
    criteria: Sequence[Criterion],
) -> _Values:
    out = _Values()
    if any(isinstance(c, CheckInStreak | CheckInDays) for c in criteria):
        out.checkin = await checkin.stats_of(session, ctx.id, member_ids)
    types = sorted({c.event_type for c in criteria if isinstance(c, EventCount)})
    if types:
        out.events = await event_counts(session, ctx.id, member_ids, types)
    if any(isinstance(c, TierReached) for c in criteria):
        out.tiers = await tiers.tiers_of(session, ctx.id, member_ids)
        scheme = await tiers.load_scheme(session, ctx.id)
        # A tier's rank is its place in the scheme, lowest first.
        out.tier_ranks = {t.code: i for i, t in enumerate(scheme.tiers)} if scheme else {}
    return out


async def event_counts(
    session: AsyncSession, program_id: str, member_ids: Sequence[int], types: Sequence[str]
) -> dict[tuple[int, str], int]:
    """Stored events per (member, type), grouped in one query per 1,000 members."""
    out: dict[tuple[int, str], int] = {}
    for start in range(0, len(member_ids), 1000):
        rows = await session.execute(
            select(Event.member_id, Event.type, func.count())
            .where(
                Event.program_id == program_id,
                Event.member_id.in_(member_ids[start : start + 1000]),
                Event.type.in_(types),
            )
            .group_by(Event.member_id, Event.type)
        )
        out.update({(m, t): int(n) for m, t, n in rows})
    return out


def _meets(crit: Criterion, values: _Values, member_id: int) -> bool:
    p = _progress(crit, values, member_id)
    if p is not None:
        return p.current >= p.target
    if isinstance(crit, TierReached):
        tier = values.tiers.get(member_id)
        if tier is None:
            return False
        if tier.code == crit.tier:
            return True
        target = values.tier_ranks.get(crit.tier)
        return target is not None and int(tier.rank) >= target
    return False


def _progress(crit: Criterion, values: _Values, member_id: int) -> Progress | None:
    totals = values.checkin.get(member_id)
    if isinstance(crit, CheckInStreak):
        return Progress(current=totals.best_streak if totals else 0, target=crit.n)
    if isinstance(crit, CheckInDays):
        return Progress(current=totals.cumulative_days if totals else 0, target=crit.n)
    if isinstance(crit, EventCount):
        return Progress(current=values.events.get((member_id, crit.event_type), 0), target=crit.n)
    return None


async def on_events(
    session: AsyncSession,
    ctx: ProgramContext,
    processed: Sequence[ProcessedEvent],
    now: datetime,
) -> None:
    """The events listener: event-count and tier badges for the batch's members, set-based.

    Check-in badges are awarded by the check-in service, which owns the totals they read."""
    await evaluate(
        session,
        ctx,
        {p.member_id for p in processed},
        now=now,
        source="event",
        kinds=EVENT_KINDS,
        event_types={p.event.type for p in processed},
    )


async def award_by_hand(
    session: AsyncSession,
    ctx: ProgramContext,
    *,
    member: str,
    badge_id: str,
    reason: str | None,
    now: datetime,
    actor: str,
) -> AwardOut:
    """Award a badge by hand (audited). Awarding it again changes nothing."""
    ref = await members.get(session, ctx.id, member)
    created = await award(
        session, ctx, member_id=ref.id, badge_id=badge_id, now=now, source="manual"
    )
    if created:
        await record_audit(
            session,
            program_id=ctx.id,
            actor=actor,
            action="badge.award",
            entity_type="member_badge",
            entity_id=f"{ref.external_id}:{badge_id}",
            now=now,
            after={"member": ref.external_id, "badge_id": badge_id},
            reason=reason,
        )
    earned = {e.badge_id: e for e in await _earned(session, ctx.id, ref.id)}
    return AwardOut(awarded=created, member=ref.external_id, badge=earned[badge_id])


# ---------------------------------------------------------------------------------------------
# Reading


async def _earned(session: AsyncSession, program_id: str, member_id: int) -> list[EarnedBadge]:
    rows = await session.execute(
        select(MemberBadge, BadgeDefinition)
        .join(
            BadgeDefinition,
            (BadgeDefinition.program_id == MemberBadge.program_id)
            & (BadgeDefinition.badge_id == MemberBadge.badge_id),
        )
        .where(MemberBadge.program_id == program_id, MemberBadge.member_id == member_id)
        .order_by(MemberBadge.awarded_at, MemberBadge.id)
    )
    out: list[EarnedBadge] = []
    for award_row, d in rows.tuples():
        out.append(
            EarnedBadge(
                badge_id=award_row.badge_id,
                **_looks(d.definition),
                awarded_at=award_row.awarded_at,
                source=award_row.source,
                share_token=f"{program_id}.{award_row.share_token}",
                share_url=share_url(program_id, award_row.share_token),
            )
        )
    return out


async def wall(
    session: AsyncSession, ctx: ProgramContext, *, member: str, now: datetime
) -> BadgeWall:
    """The member's badges: earned ones with their dates, and the enabled rest with progress."""
    ref = await members.get(session, ctx.id, member)
    earned = await _earned(session, ctx.id, ref.id)
    have = {e.badge_id for e in earned}
    defs = [d for d in await _definitions(session, ctx.id) if d.enabled and d.badge_id not in have]
    criteria = [_criterion.validate_python(d.definition["criterion"]) for d in defs]
    values = await _values(session, ctx, [ref.id], criteria)
    streak: int | None = None
    unearned: list[UnearnedBadge] = []
    for d, crit in zip(defs, criteria, strict=True):
        progress = _progress(crit, values, ref.id)
        if isinstance(crit, CheckInStreak) and progress is not None:
            # What a member can still build on is the streak held now.
            if streak is None:
                streak = await checkin.current_streak(session, ctx, ref.id, now=now)
            progress = Progress(current=min(streak, crit.n), target=crit.n)
        elif progress is not None:
            progress = Progress(
                current=min(progress.current, progress.target), target=progress.target
            )
        unearned.append(
            UnearnedBadge(
                badge_id=d.badge_id,
                **_looks(d.definition),
                criterion=crit,
                progress=progress,
            )
        )
    return BadgeWall(member=ref.external_id, earned=earned, unearned=unearned)


def _mask(name: str | None) -> str | None:
    if not name:
        return None
    return name[0] + "*" * min(max(len(name) - 1, 1), 3)


async def shared(session: AsyncSession, token: str, *, now: datetime) -> SharedBadge:
    """The public view of one member badge, by its share token (``<program>.<random>``)."""
    program_id, _, secret = token.partition(".")
    missing = NotFound("no badge is shared under this link", code="shared_badge_not_found")
    if not program_id or not secret or len(secret) > 64:
        raise missing
    found = (
        await session.execute(
            select(MemberBadge, BadgeDefinition)
            .join(
                BadgeDefinition,
                (BadgeDefinition.program_id == MemberBadge.program_id)
                & (BadgeDefinition.badge_id == MemberBadge.badge_id),
            )
            .where(MemberBadge.program_id == program_id, MemberBadge.share_token == secret)
        )
    ).first()
    if found is None or not secrets.compare_digest(found[0].share_token, secret):
        raise missing
    award_row, d = found
    ctx = await programs.get_context(session, program_id)
    person = (await members.by_ids(session, program_id, [award_row.member_id])).get(
        award_row.member_id
    )
    return SharedBadge(
        program=ctx.name,
        badge_id=award_row.badge_id,
        **_looks(d.definition),
        awarded_on=local_date(award_row.awarded_at, ctx.settings.timezone),
        member_name=_mask(person.name if isinstance(person, Member) else None),
    )


__all__ = [
    "AUTO_KINDS",
    "CHECKIN_KINDS",
    "EVENT_KINDS",
    "award",
    "evaluate",
    "on_events",
]
