"""Event ingestion: store, evaluate the rules, pay through the ledger, all in one transaction.

For a batch: replays are answered from the stored events; members are locked (id order), then
budgets, then ledger accounts, so concurrent batches never deadlock and a budget is never
overspent; counters are read once and written once; credits go to the ledger as one batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Select,
    Table,
    bindparam,
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.campaigns import service as campaigns
from jifen.db.engine import is_postgres
from jifen.errors import IdempotencyConflict, InvalidInput, JifenError, MemberFrozen, NotFound
from jifen.events.listeners import ProcessedEvent, after_events
from jifen.events.models import Event
from jifen.events.schemas import (
    EventIn,
    EventResult,
    GrantCaused,
    PostingCaused,
    ReversalCaused,
    ReviewCaused,
    SkipOut,
)
from jifen.experiments import service as experiments
from jifen.kit import bulk, overlap
from jifen.kit import idempotency as idem
from jifen.kit.periods import WINDOWS, period_key, period_keys
from jifen.kit.sql import in_values, insert_ignore, select_tuples
from jifen.ledger import service as ledger
from jifen.ledger.models import LedgerTransaction
from jifen.ledger.schemas import ReverseIn
from jifen.members import service as members
from jifen.members.models import Member
from jifen.members.service import MemberRef
from jifen.programs.context import ProgramContext
from jifen.rules import service as rules
from jifen.rules.evaluator import (
    PROGRAM_WIDE,
    EvalState,
    Evaluator,
    EventView,
    Grant,
    MemberView,
    Payout,
    RuleVersionView,
    grant_counter,
    needs_streak,
    needs_subject_counts,
    subject_counter,
)
from jifen.rules.models import Counter, PendingReward
from jifen.tiers import service as tiers

FUTURE_TOLERANCE = timedelta(minutes=5)
# What an event's subject is, per type: the order of a purchase, the invitee of an invite.
SUBJECT_ATTRIBUTE = {
    "purchase": "order_id",
    "refund": "order_id",
    "invite_accepted": "invitee",
    "report_violation": "violation_id",
}
STREAK_DAYS = 400


def member_tier(member: Member | Any, tier: tiers.TierView | None = None) -> str:
    """The tier code of a member (a ``Member`` or a ``members.MemberRow``) for multipliers and
    audiences: from the tiers domain (``tiers.tiers_of``); only when the program has no tier
    scheme, the ``tier`` attribute."""
    if tier is not None:
        return tier.code
    code = (member.attributes or {}).get("tier", "")
    return code if isinstance(code, str) else ""


def member_view(member: Member | Any, tier: tiers.TierView | None = None) -> MemberView:
    """What rules see of a member (read only: the member's own lists are not copied)."""
    birthday = member.birthday
    return MemberView(
        id=member.id,
        external_id=member.external_id,
        tier=member_tier(member, tier),
        tier_multiplier=tier.multiplier if tier is not None else _ONE,
        tags=member.tags or [],
        region=member.region or "",
        joined_at=member.joined_at,
        attributes=member.attributes or {},
        name=member.name or "",
        birthday=birthday.isoformat() if birthday else "",
        locale=member.locale,
        consent=member.consent or {},
    )


_ONE = Decimal(1)


def _subject(event: EventIn) -> str | None:
    """``attributes.subject`` when sent, else the type's usual attribute (see SUBJECT_ATTRIBUTE)."""
    value = event.attributes.get("subject")
    if value is None:
        attr = SUBJECT_ATTRIBUTE.get(event.type)
        value = event.attributes.get(attr) if attr else None
    return str(value)[:200] if value is not None and not isinstance(value, dict | list) else None


@dataclass
class _Pending:
    index: int
    event: EventIn
    hash: str
    subject: str | None = None
    member: MemberRef | None = None
    view: EventView | None = None
    result: EventResult | None = None
    payouts: list[Payout] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)


async def ingest(
    session: AsyncSession, ctx: ProgramContext, events: Sequence[EventIn], *, now: datetime
) -> list[EventResult]:
    """Ingest a batch of events; one result per event, in order."""
    pend = [
        _Pending(i, e, idem.request_hash("event", e.model_dump(mode="json")), _subject(e))
        for i, e in enumerate(events)
    ]
    results: dict[int, EventResult] = {}
    stored = await _stored(session, ctx.id, [p.event.client_id for p in pend])
    first_seen: dict[str, _Pending] = {}
    todo: list[_Pending] = []
    for p in pend:
        e = p.event
        prior = stored.get(e.client_id)
        if prior is not None:
            results[p.index] = _replay(e, prior, p.hash)
        elif e.client_id in first_seen:
            continue  # answered after the first one is processed
        else:
            first_seen[e.client_id] = p
            error = _refusal(ctx, e, now)
            if error is not None:
                results[p.index] = _refused(e, error)
            else:
                todo.append(p)
    if todo:
        await _process(session, ctx, todo, now)
        for p in todo:
            assert p.result is not None
            results[p.index] = p.result
    for p in pend:
        if p.index not in results:
            first = first_seen[p.event.client_id]
            first_result = results[first.index]
            if first.hash != p.hash:
                results[p.index] = _refused(p.event, _client_id_conflict(p.event.client_id))
            else:
                results[p.index] = (
                    first_result.model_copy(update={"status": "duplicate"})
                    if first_result.status == "processed"
                    else first_result
                )
    return [results[i] for i in range(len(pend))]


def _refusal(ctx: ProgramContext, e: EventIn, now: datetime) -> dict[str, Any] | None:
    if e.occurred_at > now + FUTURE_TOLERANCE:
        return InvalidInput(
            "occurred_at is in the future", code="occurred_in_future", field="occurred_at"
        ).to_problem()
    limit = timedelta(days=ctx.settings.max_event_age_days)
    if now - e.occurred_at > limit:
        return InvalidInput(
            f"the event is older than the program's limit of {ctx.settings.max_event_age_days} days",
            code="event_too_old",
            field="occurred_at",
        ).to_problem()
    return None


def _client_id_conflict(client_id: str) -> dict[str, Any]:
    return IdempotencyConflict(
        f"client_id {client_id!r} was already used for a different event", field="client_id"
    ).to_problem()


def _refused(e: EventIn, problem: dict[str, Any]) -> EventResult:
    return EventResult(
        client_id=e.client_id, status="refused", type=e.type, member=e.member, error=problem
    )


def _replay(e: EventIn, prior: Event, h: str) -> EventResult:
    if prior.request_hash != h:
        return _refused(e, _client_id_conflict(e.client_id))
    result = EventResult.model_validate(
        {**prior.result, "status": "duplicate", "event_id": prior.id}
    )
    return result


async def explanation_of(
    session: AsyncSession, program_id: str, txn: LedgerTransaction
) -> dict[str, Any] | None:
    """The explanation stored with the event whose rule payout is this transaction."""
    key = txn.idempotency_key or ""
    if not key.startswith("evt:"):
        return None
    client_id = key[4:].rsplit(":", 2)[0]
    event = (
        await session.scalars(
            select(Event).where(Event.program_id == program_id, Event.client_id == client_id)
        )
    ).first()
    if event is None:
        return None
    for posting in (event.result or {}).get("postings", []):
        if posting.get("transaction_id") == str(txn.id):
            explanation: dict[str, Any] = posting.get("explanation") or {}
            return explanation
    return None


def _events_table() -> Table:
    table = Event.__table__
    assert isinstance(table, Table)
    return table


async def _event_ids(session: AsyncSession, n: int) -> list[int]:
    """Ids for ``n`` new events, known before the rows go in (``bulk.stream_rows``, with no
    query for them afterwards): on PostgreSQL from the sequence, in one query; on SQLite the
    ones after the largest, since the transaction holds the database's write lock from its
    start (``BEGIN IMMEDIATE``) and nobody else can insert."""
    if is_postgres(session):
        return list(
            (
                await session.scalars(
                    text(
                        "SELECT nextval(pg_get_serial_sequence('events', 'id'))"
                        " FROM generate_series(1, :n)"
                    ),
                    {"n": n},
                )
            ).all()
        )
    last = await session.scalar(select(func.max(Event.id))) or 0
    return list(range(last + 1, last + 1 + n))


async def _stored(
    session: AsyncSession, program_id: str, client_ids: Sequence[str]
) -> dict[str, Event]:
    out: dict[str, Event] = {}
    ids = sorted(set(client_ids))
    for start in range(0, len(ids), 1000):
        for row in await session.scalars(
            select(Event).where(
                Event.program_id == program_id,
                in_values(session, Event.client_id, ids[start : start + 1000]),
            )
        ):
            out[row.client_id] = row
    return out


async def _process(
    session: AsyncSession, ctx: ProgramContext, todo: list[_Pending], now: datetime
) -> None:
    tz = ctx.settings.timezone
    refs = await members.resolve_known(
        session,
        ctx.id,
        [p.event.member for p in todo],
        create=ctx.settings.auto_create_members,
        now=now,
    )
    live: list[_Pending] = []
    for p in todo:
        ref = refs.get(p.event.member)
        if ref is None:
            p.result = _refused(
                p.event,
                NotFound(
                    f"member {p.event.member!r} not found", code="member_not_found", field="member"
                ).to_problem(),
            )
        else:
            p.member = ref
            live.append(p)
    if not live:
        return
    locked = await members.rows_by_ids(
        session, ctx.id, [p.member.id for p in live if p.member], lock=True
    )
    # A frozen member earns nothing: the event is refused, not stored, and may be sent again
    # under the same client id once the member is unfrozen.
    frozen = [p for p in live if p.member and locked[p.member.id].status == "frozen"]
    for p in frozen:
        p.result = _refused(
            p.event,
            MemberFrozen(f"member {p.event.member!r} is frozen", field="member").to_problem(),
        )
    if frozen:
        live = [p for p in live if p.result is None]
        if not live:
            return
    tier_of = await tiers.tiers_of(session, ctx.id, sorted(locked))
    for p in live:
        assert p.member is not None
        e = p.event
        p.view = EventView(
            client_id=e.client_id,
            type=e.type,
            member=member_view(locked[p.member.id], tier_of.get(p.member.id)),
            occurred_at=e.occurred_at,
            attributes=e.attributes,
            subject=p.subject,
        )
    types = sorted({p.event.type for p in live})
    versions = await rules.load_views(session, ctx.id, types)
    start = min(p.event.occurred_at for p in live)
    end = max(p.event.occurred_at for p in live)
    active_campaigns = await campaigns.campaigns_between(session, ctx.id, start, end)
    state = EvalState()
    state.budget_specs = await campaigns.budget_specs(session, ctx.id)
    exp_ids = {v.definition.experiment.id for v in versions if v.definition.experiment}
    state.groups = await experiments.groups_for(
        session, ctx.id, exp_ids, [p.member for p in live if p.member], now=now
    )
    await _load_counters(session, ctx, state, live, versions)
    if needs_streak(versions):
        await _load_active_days(session, ctx, state, live)
    if needs_subject_counts(versions):
        await _lock_subject_counters(session, ctx.id, state, live, now=now)
    triggers = {v.definition.trigger for v in versions}
    rule_budgets: dict[str, set[str]] = {}
    for v in versions:
        if v.definition.budget:
            rule_budgets.setdefault(v.definition.trigger, set()).add(v.definition.budget)
    campaign_budgets = sorted({c.budget for c in active_campaigns if c.budget})
    wanted_budgets: list[tuple[str, datetime]] = []
    for p in live:
        for budget in [*sorted(rule_budgets.get(p.event.type, ())), *campaign_budgets]:
            wanted_budgets.append((budget, p.event.occurred_at))
    state.budgets = await campaigns.lock_budgets(
        session, ctx.id, state.budget_specs, wanted_budgets, tz=tz, now=now
    )
    evaluator = Evaluator(
        timezone=tz,
        rounding=ctx.settings.rounding,
        versions=versions,
        campaigns=active_campaigns,
        state=state,
    )
    skipped: dict[int, list[SkipOut]] = {}
    for p in sorted(live, key=lambda x: (x.event.occurred_at, x.index)):
        assert p.view is not None
        ev = evaluator.evaluate(p.view)
        p.payouts = ev.payouts
        p.grants = ev.grants
        skipped[p.index] = [
            SkipOut(rule_id=s.rule_id, reason=s.reason, detail=s.detail) for s in ev.skipped
        ]
        if p.event.type not in triggers:
            skipped[p.index].append(SkipOut(rule_id=None, reason="no_rule"))
    # Pay through the ledger in one batch.
    payments: list[ledger.Payment] = []
    owners: list[tuple[_Pending, Payout]] = []
    for p in live:
        assert p.member is not None
        for payout in p.payouts:
            if payout.review:
                continue
            payments.append(
                ledger.Payment(
                    member=p.member,
                    asset=payout.asset,
                    amount=payout.amount,
                    key=f"evt:{p.event.client_id}:{payout.rule_id}:{payout.effect_index}",
                    reason=f"{p.event.type}: {payout.rule_id}",
                    reference=p.subject or p.event.client_id,
                    # UTC: the ledger hashes occurred_at as given but reads it back in UTC.
                    occurred_at=min(p.event.occurred_at, now).astimezone(UTC),
                    expires_at=payout.expires_at
                    if payout.expires_at and payout.expires_at > now
                    else None,
                    rule_id=payout.rule_id,
                    rule_version=payout.rule_version,
                    campaign_id=payout.campaign_id,
                )
            )
            owners.append((p, payout))
    # Each payout's key derives from its event's client id, which the events table keeps
    # unique in this same transaction: the ledger need not record the keys again. The
    # counters are written while the ledger builds its transactions (the server updates
    # thousands of rows meanwhile): nothing below reads them.
    paying = await ledger.start_paying(session, ctx, payments, now=now)
    async with overlap.beside(write_counters(session, ctx.id, state)):
        transaction_ids = paying.post()
    await paying.flush()
    caused: dict[int, list[PostingCaused]] = {}
    for (p, payout), transaction_id in zip(owners, transaction_ids, strict=True):
        caused.setdefault(p.index, []).append(
            PostingCaused(
                transaction_id=str(transaction_id),
                rule_id=payout.rule_id,
                rule_version=payout.rule_version,
                asset=payout.asset,
                amount=payout.amount,
                campaign_id=payout.campaign_id,
                explanation=payout.explanation,
            )
        )
    # Reviews, reversals, counters and budgets; then each event is stored once, with its result.
    reviews: dict[int, list[ReviewCaused]] = {}
    held = [
        (p, payout) for p in live if p.member is not None for payout in p.payouts if payout.review
    ]
    if held:
        inserted = await session.execute(
            insert(PendingReward).returning(PendingReward.id, sort_by_parameter_order=True),
            [
                {
                    "program_id": ctx.id,
                    "member_id": p.member.id if p.member else 0,
                    "event_client_id": p.event.client_id,
                    "rule_id": payout.rule_id,
                    "rule_version": payout.rule_version,
                    "effect_index": payout.effect_index,
                    "asset": payout.asset,
                    "amount": payout.amount,
                    "explanation": payout.explanation,
                    "status": "pending",
                    "created_at": now,
                }
                for p, payout in held
            ],
        )
        for (p, payout), (review_id,) in zip(held, inserted.all(), strict=True):
            reviews.setdefault(p.index, []).append(
                ReviewCaused(
                    id=review_id, rule_id=payout.rule_id, asset=payout.asset, amount=payout.amount
                )
            )
    reversals: dict[int, list[ReversalCaused]] = {}
    for p in sorted(live, key=lambda x: (x.event.occurred_at, x.index)):
        if p.event.type in ("refund", "member_left"):
            reversals[p.index] = await _reverse_for(session, ctx, p, now, batch=live, caused=caused)
    granted = await _grant(session, ctx, live, skipped, now)
    await campaigns.write_budgets(session, state.budgets.values(), now=now)

    def stored_rows() -> Iterator[dict[str, Any]]:
        # Each result is built as its row goes to the database: the server stores the first
        # events while the rest are still being built here.
        for p, event_id in zip(live, ids, strict=True):
            p.result = result = EventResult(
                client_id=p.event.client_id,
                status="processed",
                event_id=event_id,
                type=p.event.type,
                member=p.event.member,
                postings=caused.get(p.index, []),
                reviews=reviews.get(p.index, []),
                reversals=reversals.get(p.index, []),
                grants=granted.get(p.index, []),
                skipped=skipped.get(p.index, []),
            )
            yield {
                "id": event_id,
                "program_id": ctx.id,
                "client_id": p.event.client_id,
                "type": p.event.type,
                "member_id": p.member.id if p.member else 0,
                "subject": p.subject,
                "occurred_at": p.event.occurred_at,
                "received_at": now,
                "attributes": p.event.attributes,
                "request_hash": p.hash,
                "result": result.model_dump(mode="json", exclude={"event_id", "status"}),
            }

    ids = await _event_ids(session, len(live))
    try:
        table = _events_table()
        await bulk.stream_rows(session, table, table.columns.keys(), stored_rows())
    except IntegrityError as exc:
        # Another transaction stored one of these client ids first: retry, and replay it.
        raise idem.IdempotencyRace(str(exc)) from exc
    processed: list[ProcessedEvent] = []
    for p, event_id in zip(live, ids, strict=True):
        assert p.result is not None
        assert p.member is not None
        processed.append(ProcessedEvent(p.event, p.member.id, event_id, p.result))
    await after_events(session, ctx, processed, now)
    # Listeners may add to a result (a tier change): store those results again.
    changed = [p.result for p in live if p.result is not None and p.result.tier_changes]
    if changed:
        events_table = _events_table()
        await session.execute(
            update(events_table)
            .where(events_table.c.program_id == ctx.id, events_table.c.id == bindparam("e_id"))
            .values(result=bindparam("e_result")),
            [
                {
                    "e_id": r.event_id,
                    "e_result": r.model_dump(mode="json", exclude={"event_id", "status"}),
                }
                for r in changed
            ],
        )


async def _grant(
    session: AsyncSession,
    ctx: ProgramContext,
    live: Sequence[_Pending],
    skipped: dict[int, list[SkipOut]],
    now: datetime,
) -> dict[int, list[GrantCaused]]:
    """Issue the coupons and award the badges that rules gave. Each is idempotent under the
    event's client id and effect; one that is refused (a sold-out template, a member's coupon
    limit) is a skip with its code, undone in its savepoint, and never fails the event."""
    from jifen.badges import service as badges
    from jifen.coupons import service as coupons

    out: dict[int, list[GrantCaused]] = {}
    for p in sorted(live, key=lambda x: (x.event.occurred_at, x.index)):
        if not p.grants or p.member is None:
            continue
        for g in p.grants:
            ref = f"evt:{p.event.client_id}:{g.rule_id}:{g.effect_index}"
            caused = GrantCaused(
                rule_id=g.rule_id, rule_version=g.rule_version, kind=g.kind, target=g.target
            )
            try:
                async with session.begin_nested():
                    if g.kind == "coupon":
                        coupon = await coupons.issue_coupon(
                            session,
                            ctx,
                            member_id=p.member.id,
                            template_id=g.target,
                            now=now,
                            source="rule",
                            source_ref=ref,
                        )
                        caused.coupon_code = coupon.code
                    else:
                        caused.awarded = await badges.award(
                            session,
                            ctx,
                            member_id=p.member.id,
                            badge_id=g.target,
                            now=now,
                            source=f"rule:{g.rule_id}",
                        )
            except JifenError as exc:
                skipped.setdefault(p.index, []).append(
                    SkipOut(rule_id=g.rule_id, reason=f"{g.kind}_refused", detail=exc.code)
                )
                continue
            out.setdefault(p.index, []).append(caused)
    return out


async def write_counters(session: AsyncSession, program_id: str, state: EvalState) -> None:
    """Counters changed by this batch: existing rows updated by id, new rows inserted, each in
    one statement. The batch holds its members' locks, so nobody else writes these rows."""
    table = Counter.__table__
    assert isinstance(table, Table)
    ids: list[int] = []
    counts: list[int] = []
    amounts: list[int] = []
    inserts = []
    counters, counter_ids = state.counters, state.counter_ids
    for key in state.touched:
        count, amount = counters[key]
        counter_id = counter_ids.get(key)
        if counter_id is not None:
            ids.append(counter_id)
            counts.append(count)
            amounts.append(amount)
        else:
            member_id, name, period = key
            inserts.append(
                {
                    "program_id": program_id,
                    "member_id": member_id,
                    "name": name,
                    "period": period,
                    "count": count,
                    "amount": amount,
                }
            )
    if ids:
        await bulk.update_columns(
            session, table, "id", {"id": ids, "count": counts, "amount": amounts}
        )
    await bulk.insert_rows(session, table, inserts)


async def _lock_subject_counters(
    session: AsyncSession,
    program_id: str,
    state: EvalState,
    live: Sequence[_Pending],
    *,
    now: datetime,
) -> None:
    """Lock the program-wide counters of the batch's subjects (e.g. "first reporter of this
    violation"), so two members reporting at once cannot both be first."""
    names = sorted(
        {subject_counter(p.event.type, p.subject) for p in live if p.subject is not None}
    )
    if not names:
        return
    await session.execute(
        insert_ignore(session, Counter),
        [
            {
                "program_id": program_id,
                "member_id": PROGRAM_WIDE,
                "name": n,
                "period": "all",
                "count": 0,
                "amount": 0,
            }
            for n in names
        ],
    )
    stmt = (
        select(Counter.id, Counter.name, Counter.count, Counter.amount)
        .where(
            Counter.program_id == program_id,
            Counter.member_id == PROGRAM_WIDE,
            Counter.name.in_(names),
            Counter.period == "all",
        )
        .order_by(Counter.id)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update()
    for counter_id, name, count, amount in await session.execute(stmt):
        state.counters[(PROGRAM_WIDE, name, "all")] = [count, amount]
        state.counter_ids[(PROGRAM_WIDE, name, "all")] = counter_id


async def _load_counters(
    session: AsyncSession,
    ctx: ProgramContext,
    state: EvalState,
    live: Sequence[_Pending],
    versions: Sequence[RuleVersionView],
) -> None:
    # The counters each event can read: its type's, and those of the rules it triggers.
    by_type: dict[str, list[str]] = {}
    for v in versions:
        rule_names = by_type.setdefault(v.definition.trigger, [])
        rule_names.append(f"rule:{v.definition.id}")
        if v.definition.limits:
            for i, e in enumerate(v.definition.effects):
                if e.amount is None:
                    rule_names.append(grant_counter(v.definition.id, i))
                else:
                    rule_names.append(f"paid:{v.definition.id}:{e.asset}")
    names_of = {t: (f"evt:{t}", *by_type.get(t, ())) for t in {p.event.type for p in live}}
    periods: set[str] = set()
    for instant in {p.event.occurred_at for p in live}:
        periods.update(period_keys(instant, ctx.settings.timezone).values())
    # Thousands of rows a batch: selected as plain tuples (``select_tuples``).
    c = Counter.__table__.c
    columns = (c.id, c.member_id, c.name, c.period, c.count, c.amount)
    statements: list[Select[Any]] = []
    if is_postgres(session):
        # Lists of members and names, planned robustly even before statistics exist.
        members = sorted({p.member.id for p in live if p.member})
        names = sorted({n for group in names_of.values() for n in group})
        for start in range(0, len(members), 1000):
            statements.append(
                select(*columns).where(
                    in_values(session, c.member_id, members[start : start + 1000]),
                    in_values(session, c.name, names),
                )
            )
    else:
        # SQLite: exactly these (member, counter) pairs, one index probe each; lists of
        # members, names and periods make it probe every combination.
        keys = sorted({(p.member.id, n) for p in live if p.member for n in names_of[p.event.type]})
        for start in range(0, len(keys), 2000):
            statements.append(
                select(*columns).where(tuple_(c.member_id, c.name).in_(keys[start : start + 2000]))
            )
    for stmt in statements:
        rows = await select_tuples(
            session,
            stmt.where(c.program_id == ctx.id, in_values(session, c.period, sorted(periods))),
        )
        for counter_id, mid, name, period, count, amount in rows:
            state.counters[(mid, name, period)] = [count, amount]
            state.counter_ids[(mid, name, period)] = counter_id


async def _load_active_days(
    session: AsyncSession, ctx: ProgramContext, state: EvalState, live: Sequence[_Pending]
) -> None:
    """The days on which each of the batch's members had each event type, back as far as a
    streak can reach, for the rules that read ``streak``: one query for the whole batch."""
    from jifen.clock import local_date

    last: dict[tuple[int, str], date] = {}
    for p in live:
        assert p.member is not None
        key = (p.member.id, p.event.type)
        if key in state.active_days:
            continue
        day = local_date(p.event.occurred_at, ctx.settings.timezone)
        if key not in last or day > last[key]:
            last[key] = day
    if not last:
        return
    for key in last:
        state.active_days[key] = set()
    since = period_key("day", min(last.values()) - timedelta(days=STREAK_DAYS))
    until = period_key("day", max(last.values()))
    names = sorted({f"evt:{event_type}" for _, event_type in last})
    member_ids = sorted({member_id for member_id, _ in last})
    for start in range(0, len(member_ids), 1000):
        rows = await session.execute(
            select(Counter.member_id, Counter.name, Counter.period).where(
                Counter.program_id == ctx.id,
                in_values(session, Counter.member_id, member_ids[start : start + 1000]),
                in_values(session, Counter.name, names),
                Counter.period >= since,
                Counter.period <= until,
                Counter.count > 0,
            )
        )
        for member_id, name, period in rows:
            key = (member_id, name[4:])
            if key in last and period.startswith("d:"):
                state.active_days[key].add(date.fromisoformat(period[2:]))


async def _reverse_for(
    session: AsyncSession,
    ctx: ProgramContext,
    p: _Pending,
    now: datetime,
    *,
    batch: Sequence[_Pending],
    caused: dict[int, list[PostingCaused]],
) -> list[ReversalCaused]:
    """Claw back what earlier events paid: a refund proportionally, a member leaving in full.

    The earlier events may be stored already or sit earlier in this same batch.
    """
    e = p.event
    wanted_type = "purchase" if e.type == "refund" else "invite_accepted"
    subject = str(e.attributes.get("order_id")) if e.type == "refund" else e.member
    if e.type == "refund" and e.attributes.get("order_id") is None:
        return []
    # (event attributes, transaction ids it caused) for each original event.
    originals: list[tuple[dict[str, Any], list[str]]] = []
    for orig in await session.scalars(
        select(Event).where(
            Event.program_id == ctx.id, Event.type == wanted_type, Event.subject == subject
        )
    ):
        originals.append(
            (
                orig.attributes,
                [x["transaction_id"] for x in (orig.result or {}).get("postings", [])],
            )
        )
    earlier = [q for q in batch if (q.event.occurred_at, q.index) < (e.occurred_at, p.index)]
    for q in earlier:
        if q.event.type == wanted_type and _subject(q.event) == subject:
            originals.append(
                (q.event.attributes, [x.transaction_id for x in caused.get(q.index, [])])
            )
    refunded = 0
    if e.type == "refund":
        refunded = whole_amount(e.attributes.get("refund_amount"))
        refunded += sum(
            whole_amount(r.attributes.get("refund_amount"))
            for r in await session.scalars(
                select(Event).where(
                    Event.program_id == ctx.id, Event.type == "refund", Event.subject == subject
                )
            )
        )
        refunded += sum(
            whole_amount(q.event.attributes.get("refund_amount"))
            for q in earlier
            if q.event.type == "refund" and _subject(q.event) == subject
        )
    out: list[ReversalCaused] = []
    for attributes, txn_ids in originals:
        # The share to claw back, as an exact fraction: refunded so far / order total.
        total = whole_amount(attributes.get("amount")) if e.type == "refund" else 0
        num, den = (min(refunded, total), total) if total > 0 else (1, 1)
        for raw_id in txn_ids:
            txn_id = uuid.UUID(raw_id)
            txn = await session.get(LedgerTransaction, txn_id)
            if txn is None:
                continue
            done = await session.scalar(
                select(func.coalesce(func.sum(LedgerTransaction.amount), 0)).where(
                    LedgerTransaction.program_id == ctx.id, LedgerTransaction.reverses_id == txn_id
                )
            )
            target = txn.amount * num // den
            amount = target - int(done or 0)
            if amount <= 0:
                continue
            outcome = await ledger.reverse(
                session,
                ctx,
                txn_id,
                ReverseIn(
                    idempotency_key=f"evt:{e.client_id}:rev:{txn_id}",
                    amount=amount,
                    reason=f"{e.type} {e.client_id}",
                ),
                now=now,
            )
            if outcome.ok:
                out.append(
                    ReversalCaused(
                        transaction_id=outcome.body["id"],
                        reverses=str(txn_id),
                        asset=txn.asset,
                        amount=amount,
                    )
                )
    return out


def whole_amount(value: Any) -> int:
    """An order amount from event attributes: an integer or a string of digits, else 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return 0


__all__ = ["WINDOWS", "JifenError", "ingest", "whole_amount"]
