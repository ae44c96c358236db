"""Ledger operations: credit, debit, hold/capture/void, reverse, adjust, transfer.

Every operation takes a batch of requests (an API call is a batch of one), runs in the caller's
database transaction and returns one ``Outcome`` per request. Each request carries an
idempotency key whose first outcome, success or failure, is stored with the change.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.clock import local_date
from jifen.errors import (
    AlreadyExists,
    CaptureExceedsHold,
    HoldNotActive,
    InsufficientFunds,
    InvalidAmount,
    InvalidInput,
    JifenError,
    MemberFrozen,
    NotFound,
    NotReversible,
)
from jifen.kit import idempotency as idem
from jifen.kit.idempotency import Outcome
from jifen.kit.sql import in_values, insert_ignore
from jifen.ledger import expiry, repository
from jifen.ledger.engine import AccountState, HoldState, LedgerBatch, reversed_so_far
from jifen.ledger.hashing import genesis_hash
from jifen.ledger.models import Account, Allocation, Asset, ChainHead, Hold, LedgerTransaction
from jifen.ledger.schemas import (
    AdjustIn,
    CaptureIn,
    CreditIn,
    DebitIn,
    HoldIn,
    ReverseIn,
    TransactionOut,
    TransferIn,
    VoidIn,
)
from jifen.members import service as members
from jifen.members.service import MemberRef
from jifen.programs.context import ProgramContext

# How far ahead of the server's clock a caller's occurred_at may be (clock skew).
FUTURE_TOLERANCE = timedelta(minutes=5)

SYSTEM_ACCOUNTS = ("issuance", "redemption", "expiry", "loss", "adjustment")

Req = TypeVar("Req", bound=CreditIn | DebitIn | HoldIn | AdjustIn | TransferIn)


# --- set-up -----------------------------------------------------------------------------------


async def create_asset(
    session: AsyncSession,
    program_id: str,
    *,
    code: str,
    name: str,
    kind: str,
    expires: bool,
    now: datetime,
) -> None:
    if await session.get(Asset, (program_id, code)) is not None:
        raise AlreadyExists(f"asset {code!r} already exists", code="asset_exists", field="code")
    session.add(
        Asset(
            program_id=program_id, code=code, name=name, kind=kind, expires=expires, created_at=now
        )
    )
    await session.flush()
    await session.execute(
        insert_ignore(session, Account),
        [
            {
                "program_id": program_id,
                "system_name": system,
                "asset": code,
                "balance": 0,
                "held": 0,
                "created_at": now,
            }
            for system in SYSTEM_ACCOUNTS
        ],
    )


async def list_assets(session: AsyncSession, program_id: str) -> list[Asset]:
    rows = await session.scalars(
        select(Asset).where(Asset.program_id == program_id).order_by(Asset.created_at, Asset.code)
    )
    return list(rows.all())


async def init_chain(session: AsyncSession, program_id: str, *, now: datetime) -> None:
    await session.execute(
        insert(ChainHead),
        [
            {
                "program_id": program_id,
                "last_seq": 0,
                "last_hash": genesis_hash(program_id),
                "updated_at": now,
            }
        ],
    )


async def _assets(session: AsyncSession, program_id: str) -> dict[str, Asset]:
    return {a.code: a for a in await list_assets(session, program_id)}


# --- the idempotent batch runner --------------------------------------------------------------


async def _run(
    session: AsyncSession,
    ctx: ProgramContext,
    operation: str,
    items: Sequence[Any],
    now: datetime,
    apply: Callable[[list[tuple[int, Any]]], Awaitable[dict[int, Outcome]]],
) -> list[Outcome]:
    """Replay known keys, apply the rest, store every new outcome with the change."""
    hashes = [idem.request_hash(operation, item.model_dump(mode="json")) for item in items]
    known = await idem.lookup(session, ctx.id, [item.idempotency_key for item in items])
    outcomes: dict[int, Outcome] = {}
    first_in_batch: dict[str, int] = {}
    todo: list[tuple[int, Any]] = []
    for i, item in enumerate(items):
        key = item.idempotency_key
        if key in known:
            outcomes[i] = idem.replay(known[key], operation, hashes[i])
        elif key in first_in_batch:
            continue  # resolved after the first occurrence is applied
        else:
            first_in_batch[key] = i
            todo.append((i, item))
    if todo:
        outcomes.update(await apply(todo))
    new_records = []
    for i, item in todo:
        new_records.append((item.idempotency_key, operation, hashes[i], outcomes[i]))
    await idem.store(session, ctx.id, new_records, now=now)
    for i, item in enumerate(items):
        if i not in outcomes:
            j = first_in_batch[item.idempotency_key]
            if hashes[i] == hashes[j]:
                first = outcomes[j]
                outcomes[i] = Outcome(first.status, first.body, replayed=True)
            else:
                outcomes[i] = idem.replay_conflict(item.idempotency_key)
    return [outcomes[i] for i in range(len(items))]


async def _resolve_members(
    session: AsyncSession,
    ctx: ProgramContext,
    external_ids: Sequence[str],
    *,
    create: bool,
    now: datetime,
) -> dict[str, MemberRef]:
    """Members by external id; missing ones are created when ``create`` and left out otherwise."""
    return await members.resolve_known(session, ctx.id, external_ids, create=create, now=now)


def _member_missing(external_id: str) -> Outcome:
    return Outcome.from_error(
        NotFound(f"member {external_id!r} not found", code="member_not_found", field="member")
    )


def _asset_missing(code: str) -> Outcome:
    return Outcome.from_error(
        InvalidInput(
            f"asset {code!r} is not defined in this program", code="unknown_asset", field="asset"
        )
    )


def _txn_out(row: dict[str, Any], acc: AccountState | None, **extra: Any) -> dict[str, Any]:
    out = TransactionOut(
        id=row["id"],
        kind=row["kind"],
        asset=row["asset"],
        amount=row["amount"],
        member=acc.member.external_id if acc else None,
        balance=acc.balance if acc else None,
        available=acc.available if acc else None,
        reverses_id=row["reverses_id"],
        hold_id=row["hold_id"],
        reason=row["reason"],
        reference=row["reference"],
        occurred_at=row["occurred_at"],
        created_at=row["created_at"],
        **extra,
    )
    return out.model_dump(mode="json")


def _hold_out(hold: HoldState, member: str, acc: AccountState | None = None) -> dict[str, Any]:
    available = acc.available if acc else None
    return repository.hold_out(hold, member, available=available).model_dump(mode="json")


def _insufficient(acc: AccountState, amount: int) -> InsufficientFunds:
    return InsufficientFunds(
        f"member {acc.member.external_id!r} has {acc.available} {acc.asset} available, "
        f"{amount} needed",
        code="insufficient_points",
        field="amount",
        extra={"asset": acc.asset, "available": acc.available, "requested": amount},
    )


async def _frozen(session: AsyncSession, refs: Sequence[MemberRef]) -> set[int]:
    from jifen.members.models import Member

    ids = [r.id for r in refs]
    if not ids:
        return set()
    rows = await session.scalars(
        select(Member.id).where(in_values(session, Member.id, ids), Member.status == "frozen")
    )
    return set(rows.all())


def _frozen_error(external_id: str) -> Outcome:
    return Outcome.from_error(MemberFrozen(f"member {external_id!r} is frozen", field="member"))


# --- credit -----------------------------------------------------------------------------------


async def credit(
    session: AsyncSession,
    ctx: ProgramContext,
    items: Sequence[CreditIn],
    *,
    now: datetime,
) -> list[Outcome]:
    """Add points: issuance → member, as a new lot expiring by the program's policy."""

    async def apply(todo: list[tuple[int, CreditIn]]) -> dict[int, Outcome]:
        assets = await _assets(session, ctx.id)
        out: dict[int, Outcome] = {}
        valid: list[tuple[int, CreditIn]] = []
        # Refuse bad items before anything is written, a new member included.
        for i, it in todo:
            if it.asset not in assets:
                out[i] = _asset_missing(it.asset)
            elif it.occurred_at is not None and it.occurred_at > now + FUTURE_TOLERANCE:
                out[i] = Outcome.from_error(
                    InvalidInput(
                        "occurred_at is in the future",
                        code="occurred_in_future",
                        field="occurred_at",
                    )
                )
            elif it.expires_at is not None and it.expires_at <= now:
                out[i] = Outcome.from_error(
                    InvalidInput(
                        "expires_at must be in the future",
                        code="invalid_expiry",
                        field="expires_at",
                    )
                )
            else:
                valid.append((i, it))
        if not valid:
            return out
        refs = await _resolve_members(
            session,
            ctx,
            [it.member for _, it in valid],
            create=ctx.settings.auto_create_members,
            now=now,
        )
        batch = LedgerBatch(session, ctx, now)
        await batch.lock(refs.values(), {it.asset for _, it in valid})
        poster = _Crediter(batch, assets)
        await poster.prepare({(it.source, it.asset) for _, it in valid})
        for i, it in valid:
            if it.member not in refs:
                out[i] = _member_missing(it.member)
                continue
            row, acc, lot_expiry = poster.post(
                Payment(
                    member=refs[it.member],
                    asset=it.asset,
                    amount=it.amount,
                    key=it.idempotency_key,
                    reason=it.reason,
                    reference=it.reference,
                    occurred_at=it.occurred_at or now,
                    expires_at=it.expires_at,
                    rule_id=it.rule_id,
                    rule_version=it.rule_version,
                    campaign_id=it.campaign_id,
                    source=it.source,
                    meta=it.meta,
                )
            )
            out[i] = Outcome(201, _txn_out(row, acc, lot_expires_at=lot_expiry))
        await batch.flush()
        return out

    return await _run(session, ctx, "ledger.credit", items, now, apply)


@dataclass(slots=True)
class Payment:
    """A credit to a member jifen has resolved: a rule's payout, a ``credit`` request, or the
    positive side of an operator's adjustment (``kind``, ``source`` and ``operator`` say which)."""

    member: MemberRef
    asset: str
    amount: int
    key: str
    reason: str | None
    reference: str | None
    occurred_at: datetime
    expires_at: datetime | None = None
    rule_id: str | None = None
    rule_version: int | None = None
    campaign_id: str | None = None
    source: str = "issuance"
    meta: dict[str, Any] | None = None
    kind: str = "credit"
    operator: str | None = None


class _Crediter:
    """Posts credits into a ``LedgerBatch`` whose accounts are locked: issuance → member, and
    a lot that expires by the program's policy (computed once per local day). ``prepare``
    finds the system accounts the credits come from; ``post`` then needs no database."""

    def __init__(self, batch: LedgerBatch, assets: dict[str, Asset]) -> None:
        self.batch = batch
        self.assets = assets
        self._expiry: dict[date, datetime | None] = {}
        self._sources: dict[tuple[str, str], int] = {}

    async def prepare(self, sources: Iterable[tuple[str, str]]) -> None:
        """Look up (creating if needed) the system accounts of these (source, asset) pairs."""
        for name, asset in sorted(sources):
            self._sources[(name, asset)] = await self.batch.system_account(name, asset)

    def lot_expiry(self, earned_at: datetime) -> datetime | None:
        settings = self.batch.program.settings
        day = local_date(earned_at, settings.timezone)
        if day not in self._expiry:
            self._expiry[day] = expiry.expires_on(settings, day)
        return self._expiry[day]

    def post(self, it: Payment) -> tuple[dict[str, Any], AccountState, datetime | None]:
        batch = self.batch
        acc = batch.account(it.member.id, it.asset)
        lot_expiry = it.expires_at
        if lot_expiry is None and self.assets[it.asset].expires:
            lot_expiry = self.lot_expiry(it.occurred_at)
        issuance = self._sources[(it.source, it.asset)]
        row = batch.post(
            kind=it.kind,
            asset=it.asset,
            amount=it.amount,
            member=acc.member,
            legs=[(issuance, -it.amount), (acc.id, it.amount)],
            idempotency_key=it.key,
            reason=it.reason,
            reference=it.reference,
            rule_id=it.rule_id,
            rule_version=it.rule_version,
            campaign_id=it.campaign_id,
            operator=it.operator,
            meta=it.meta,
            occurred_at=it.occurred_at,
        )
        batch.add_lot(acc, row["id"], it.amount, earned_at=it.occurred_at, expires_at=lot_expiry)
        return row, acc, lot_expiry


class Paying:
    """Rule payouts on their way into the ledger, in three steps so that a caller can put
    its own work beside the middle one: ``start_paying`` locks the accounts (database),
    ``post`` builds the transactions (memory only), ``flush`` writes them (database)."""

    def __init__(self, poster: _Crediter, payments: Sequence[Payment]) -> None:
        self._poster = poster
        self._payments = payments

    def post(self) -> list[uuid.UUID]:
        """The transactions' ids, in the order of the payments."""
        return [self._poster.post(p)[0]["id"] for p in self._payments]

    async def flush(self) -> None:
        await self._poster.batch.flush()


async def start_paying(
    session: AsyncSession, ctx: ProgramContext, payments: Sequence[Payment], *, now: datetime
) -> Paying:
    """Credit what jifen decided to pay (rule payouts): lock what they touch; see ``Paying``.

    The caller vouches for the input (members resolved, amounts positive, occurred_at not in
    the future) and for idempotency: each key is unique under its own record, written in the
    same transaction (an event's client id). So nothing is validated twice, no idempotency
    record is written and no response bodies are built; everything else is ``credit``.
    """
    batch = LedgerBatch(session, ctx, now)
    if not payments:
        return Paying(_Crediter(batch, {}), payments)
    assets = await _assets(session, ctx.id)
    unknown = sorted({p.asset for p in payments} - set(assets))
    if unknown:
        raise InvalidInput(
            f"asset {unknown[0]!r} is not defined in this program",
            code="unknown_asset",
            field="asset",
        )
    await batch.lock([p.member for p in payments], {p.asset for p in payments})
    poster = _Crediter(batch, assets)
    await poster.prepare({(p.source, p.asset) for p in payments})
    return Paying(poster, payments)


async def pay(
    session: AsyncSession, ctx: ProgramContext, payments: Sequence[Payment], *, now: datetime
) -> list[uuid.UUID]:
    """``start_paying``, ``post`` and ``flush`` in one: the transactions' ids, in order."""
    paying = await start_paying(session, ctx, payments, now=now)
    ids = paying.post()
    await paying.flush()
    return ids


# --- debit ------------------------------------------------------------------------------------


SpendIn = TypeVar("SpendIn", DebitIn, HoldIn)


async def _spend_items(
    session: AsyncSession,
    ctx: ProgramContext,
    todo: list[tuple[int, SpendIn]],
    now: datetime,
    use: Callable[[LedgerBatch, AccountState, SpendIn], Awaitable[Outcome]],
) -> dict[int, Outcome]:
    """Check each request to take points (member known, asset defined, not frozen, enough
    spendable points) under the accounts' locks, and hand the good ones to ``use``."""
    assets = await _assets(session, ctx.id)
    refs = await _resolve_members(
        session, ctx, [it.member for _, it in todo], create=False, now=now
    )
    frozen = await _frozen(session, list(refs.values()))
    batch = LedgerBatch(session, ctx, now)
    await batch.lock(refs.values(), {it.asset for _, it in todo if it.asset in assets})
    await batch.load_lots(batch.accounts.values())
    out: dict[int, Outcome] = {}
    for i, it in todo:
        if it.member not in refs:
            out[i] = _member_missing(it.member)
        elif it.asset not in assets:
            out[i] = _asset_missing(it.asset)
        elif refs[it.member].id in frozen:
            out[i] = _frozen_error(it.member)
        else:
            acc = batch.account(refs[it.member].id, it.asset)
            if _spendable_covers(batch, acc, it.amount):
                out[i] = await use(batch, acc, it)
            else:
                out[i] = Outcome.from_error(_insufficient(acc, it.amount))
    await batch.flush()
    return out


async def debit(
    session: AsyncSession, ctx: ProgramContext, items: Sequence[DebitIn], *, now: datetime
) -> list[Outcome]:
    """Spend points from the soonest-expiring lots: member → redemption."""

    async def use(batch: LedgerBatch, acc: AccountState, it: DebitIn) -> Outcome:
        counter = await batch.system_account(it.counter, it.asset)
        row = _spend(
            batch,
            acc,
            it.amount,
            counter,
            kind="debit",
            key=it.idempotency_key,
            reason=it.reason,
            reference=it.reference,
            meta=it.meta,
        )
        return Outcome(201, _txn_out(row, acc))

    async def apply(todo: list[tuple[int, DebitIn]]) -> dict[int, Outcome]:
        return await _spend_items(session, ctx, todo, now, use)

    return await _run(session, ctx, "ledger.debit", items, now, apply)


def _spendable_covers(batch: LedgerBatch, acc: AccountState, amount: int) -> bool:
    if acc.available < amount:
        return False
    return sum(lot.free for lot in batch.spendable(acc)) >= amount


def _spend(
    batch: LedgerBatch,
    acc: AccountState,
    amount: int,
    counter: int,
    *,
    kind: str,
    key: str | None,
    reason: str | None,
    reference: str | None,
    meta: dict[str, Any] | None = None,
    operator: str | None = None,
) -> dict[str, Any]:
    txn_id = _new_id()
    taken = batch.take(acc, amount, "spend", transaction_id=txn_id)
    assert sum(p for _, p in taken) == amount
    return batch.post(
        kind=kind,
        asset=acc.asset,
        amount=amount,
        member=acc.member,
        transaction_id=txn_id,
        legs=[(acc.id, -amount), (counter, amount)],
        idempotency_key=key,
        reason=reason,
        reference=reference,
        meta=meta,
        operator=operator,
    )


def _new_id() -> uuid.UUID:
    from jifen.kit.ids import uuid7

    return uuid7()


# --- holds ------------------------------------------------------------------------------------


async def hold(
    session: AsyncSession, ctx: ProgramContext, items: Sequence[HoldIn], *, now: datetime
) -> list[Outcome]:
    """Reserve points until captured, voided or lapsed: available = balance − active holds."""

    async def use(batch: LedgerBatch, acc: AccountState, it: HoldIn) -> Outcome:
        timeout = it.timeout_seconds or ctx.settings.hold_timeout_seconds
        h = batch.new_hold(
            acc,
            it.amount,
            expires_at=now + timedelta(seconds=timeout),
            reason=it.reason,
            reference=it.reference,
        )
        return Outcome(201, _hold_out(h, it.member, acc))

    async def apply(todo: list[tuple[int, HoldIn]]) -> dict[int, Outcome]:
        return await _spend_items(session, ctx, todo, now, use)

    return await _run(session, ctx, "ledger.hold", items, now, apply)


async def _locked_hold(
    session: AsyncSession, ctx: ProgramContext, batch: LedgerBatch, hold_id: uuid.UUID
) -> tuple[HoldState, AccountState]:
    row = await session.get(Hold, hold_id)
    if row is None or row.program_id != ctx.id:
        raise NotFound(f"hold {hold_id} not found", code="hold_not_found", field="hold_id")
    member = await session.get(_member_model(), row.member_id)
    assert member is not None
    await batch.lock([MemberRef(member.id, member.external_id)], [row.asset])
    # Re-read under the lock: a concurrent capture or void may have resolved it meanwhile.
    await session.refresh(row)
    h = await batch.load_hold(row)
    if h.status == "active" and row.status != "active":
        h.status = row.status
    return h, batch.account(member.id, row.asset)


def _member_model() -> Any:
    from jifen.members.models import Member

    return Member


async def capture(
    session: AsyncSession,
    ctx: ProgramContext,
    hold_id: uuid.UUID,
    item: CaptureIn,
    *,
    now: datetime,
) -> Outcome:
    """Spend all or part of a hold; the rest is released. A hold is resolved at most once."""

    async def apply(todo: list[tuple[int, CaptureIn]]) -> dict[int, Outcome]:
        batch = LedgerBatch(session, ctx, now)
        try:
            h, acc = await _locked_hold(session, ctx, batch, hold_id)
            if h.status != "active":
                raise HoldNotActive(
                    f"hold {hold_id} is {h.status}", extra={"hold_status": h.status}
                )
            amount = item.amount if item.amount is not None else h.amount
            if amount > h.amount:
                raise CaptureExceedsHold(
                    f"cannot capture {amount} from a hold of {h.amount}", field="amount"
                )
        except JifenError as exc:
            await batch.flush()  # a lapse found under the lock is still recorded
            return {0: Outcome.from_error(exc)}
        txn_id = _new_id()
        left = amount
        for lot, held in await batch.hold_allocations(h.id):
            batch.release(acc, lot, held)
            part = min(held, left)
            if part:
                batch.spend_held(acc, lot, part, txn_id)
                left -= part
        acc.held -= h.amount
        acc.dirty = True
        redemption = await batch.system_account("redemption", acc.asset)
        row = batch.post(
            kind="capture",
            asset=acc.asset,
            amount=amount,
            member=acc.member,
            transaction_id=txn_id,
            hold_id=h.id,
            legs=[(acc.id, -amount), (redemption, amount)],
            idempotency_key=item.idempotency_key,
            reason=item.reason or h.reason,
            reference=item.reference or h.reference,
        )
        h.status = "captured"
        h.captured = amount
        h.capture_transaction_id = txn_id
        h.resolved_at = now
        h.dirty = True
        await batch.flush()
        return {0: Outcome(201, _txn_out(row, acc))}

    return await _run_single(session, ctx, f"ledger.capture:{hold_id}", item, now, apply)


async def void(
    session: AsyncSession,
    ctx: ProgramContext,
    hold_id: uuid.UUID,
    item: VoidIn,
    *,
    now: datetime,
) -> Outcome:
    """Release a hold in full."""

    async def apply(todo: list[tuple[int, VoidIn]]) -> dict[int, Outcome]:
        batch = LedgerBatch(session, ctx, now)
        try:
            h, acc = await _locked_hold(session, ctx, batch, hold_id)
            if h.status != "active":
                raise HoldNotActive(
                    f"hold {hold_id} is {h.status}", extra={"hold_status": h.status}
                )
        except JifenError as exc:
            await batch.flush()
            return {0: Outcome.from_error(exc)}
        await batch.resolve_hold(h, "voided")
        await batch.flush()
        return {0: Outcome(200, _hold_out(h, acc.member.external_id, acc))}

    return await _run_single(session, ctx, f"ledger.void:{hold_id}", item, now, apply)


async def _run_single(
    session: AsyncSession,
    ctx: ProgramContext,
    operation: str,
    item: Any,
    now: datetime,
    apply: Callable[[list[tuple[int, Any]]], Awaitable[dict[int, Outcome]]],
) -> Outcome:
    return (await _run(session, ctx, operation, [item], now, apply))[0]


async def lapse_due_holds(
    session: AsyncSession, ctx: ProgramContext, *, now: datetime, limit: int = 1000
) -> int:
    """Resolve holds past their time-out (the job; writes also lapse them on sight)."""
    from jifen.members.models import Member

    rows = await session.execute(
        select(Member.id, Member.external_id, Hold.asset)
        .join(Hold, Hold.member_id == Member.id)
        .where(Hold.program_id == ctx.id, Hold.status == "active", Hold.expires_at <= now)
        .limit(limit)
    )
    pairs = [(MemberRef(mid, ext), asset) for mid, ext, asset in rows]
    if not pairs:
        return 0
    batch = LedgerBatch(session, ctx, now)
    await batch.lock({r for r, _ in pairs}, {a for _, a in pairs})
    lapsed = sum(1 for h in batch.holds.values() if h.status == "lapsed")
    await batch.flush()
    return lapsed


# --- reversal ---------------------------------------------------------------------------------


async def reverse(
    session: AsyncSession,
    ctx: ProgramContext,
    transaction_id: uuid.UUID,
    item: ReverseIn,
    *,
    now: datetime,
) -> Outcome:
    """Undo all or part of a transaction.

    - A credit (or positive adjustment): out of the lot it made first, then out of what of that
      lot expired (taken back from the expiry account), then out of the member's other points;
      what the member no longer has is a negative balance or booked to ``loss`` (program policy).
    - A debit or capture (or negative adjustment): back into the lots it took from; parts of
      lots that expired meanwhile go straight to the expiry account.
    """

    async def apply(todo: list[tuple[int, ReverseIn]]) -> dict[int, Outcome]:
        batch = LedgerBatch(session, ctx, now)
        try:
            original = await session.get(LedgerTransaction, transaction_id)
            if original is None or original.program_id != ctx.id:
                raise NotFound(
                    f"transaction {transaction_id} not found",
                    code="transaction_not_found",
                    field="transaction_id",
                )
            if original.kind not in ("credit", "debit", "capture", "adjustment"):
                raise NotReversible(f"a {original.kind} transaction cannot be reversed")
            member_model = _member_model()
            member = await session.get(member_model, original.member_id)
            assert member is not None
            ref = MemberRef(member.id, member.external_id)
            await batch.lock([ref], [original.asset])
            done = await reversed_so_far(session, ctx.id, original.id)
            left = original.amount - done
            if left <= 0:
                raise NotReversible(
                    f"transaction {transaction_id} is already fully reversed",
                    code="already_reversed",
                )
            amount = item.amount if item.amount is not None else left
            if amount > left:
                raise InvalidAmount(
                    f"only {left} of transaction {transaction_id} is left to reverse",
                    field="amount",
                )
            acc = batch.account(member.id, original.asset)
            member_leg = await _member_leg(session, original)
        except JifenError as exc:
            await batch.flush()
            return {0: Outcome.from_error(exc)}
        counter_id = await _counter_account(session, original, acc.id)
        if member_leg > 0:
            row = await _reverse_credit(batch, acc, original, amount, counter_id, item)
        else:
            row = await _reverse_debit(batch, acc, original, amount, counter_id, item)
        await batch.flush()
        return {0: Outcome(201, _txn_out(row, acc))}

    return await _run_single(session, ctx, f"ledger.reverse:{transaction_id}", item, now, apply)


async def _member_leg(session: AsyncSession, original: LedgerTransaction) -> int:
    from jifen.ledger.models import Posting

    amount = await session.scalar(
        select(Posting.amount).where(
            Posting.transaction_id == original.id, Posting.member_id == original.member_id
        )
    )
    assert amount is not None
    return int(amount)


async def _counter_account(
    session: AsyncSession, original: LedgerTransaction, member_account: int
) -> int:
    from jifen.ledger.models import Posting

    counter = await session.scalar(
        select(Posting.account_id).where(
            Posting.transaction_id == original.id, Posting.account_id != member_account
        )
    )
    assert counter is not None
    return int(counter)


async def _reverse_credit(
    batch: LedgerBatch,
    acc: AccountState,
    original: LedgerTransaction,
    amount: int,
    counter_id: int,
    item: ReverseIn,
) -> dict[str, Any]:
    txn_id = _new_id()
    lot = await batch.lot_of_transaction(original.id)
    from_lot = 0
    unexpired = 0
    if lot is not None:
        from_lot = min(max(lot.free, 0), amount)
        if from_lot:
            lot.remaining -= from_lot
            acc.free -= from_lot
            batch._allocate(lot, from_lot, "reverse", transaction_id=txn_id)
        unexpired = min(lot.expired, amount - from_lot)
        if unexpired:
            batch.mark_expired(lot, -unexpired, txn_id, "unexpire")
    rest = amount - from_lot - unexpired
    available_after_lot = acc.available - from_lot
    if batch.program.settings.negative_balance == "allow":
        from_member_rest, loss = rest, 0
    else:
        from_member_rest = min(rest, max(available_after_lot, 0))
        loss = rest - from_member_rest
    if from_member_rest:
        await batch.load_lots([acc])
        batch.take(
            acc,
            min(from_member_rest, sum(x.free for x in batch.spendable(acc))),
            "reverse",
            transaction_id=txn_id,
        )
    legs: list[tuple[int, int]] = [(counter_id, amount)]
    member_total = from_lot + from_member_rest
    if member_total:
        legs.append((acc.id, -member_total))
    if unexpired:
        legs.append((await batch.system_account("expiry", acc.asset), -unexpired))
    if loss:
        legs.append((await batch.system_account("loss", acc.asset), -loss))
    return batch.post(
        kind="reversal",
        asset=acc.asset,
        amount=amount,
        member=acc.member,
        transaction_id=txn_id,
        reverses_id=original.id,
        legs=legs,
        idempotency_key=item.idempotency_key,
        reason=item.reason,
        reference=original.reference,
        meta={
            "recovered": {
                "lot": from_lot,
                "expired": unexpired,
                "balance": from_member_rest,
                "loss": loss,
            }
        },
    )


async def _reverse_debit(
    batch: LedgerBatch,
    acc: AccountState,
    original: LedgerTransaction,
    amount: int,
    counter_id: int,
    item: ReverseIn,
) -> dict[str, Any]:
    txn_id = _new_id()
    session = batch.session
    # What each lot gave to this transaction, less what earlier reversals already returned.
    given: dict[uuid.UUID, int] = {}
    rows = await session.execute(
        select(Allocation.lot_id, Allocation.amount).where(
            Allocation.transaction_id == original.id, Allocation.kind == "spend"
        )
    )
    for lot_id, amt in rows:
        given[lot_id] = given.get(lot_id, 0) + amt
    earlier = select(LedgerTransaction.id).where(
        LedgerTransaction.program_id == batch.program.id,
        LedgerTransaction.reverses_id == original.id,
    )
    rows = await session.execute(
        select(Allocation.lot_id, Allocation.amount).where(
            Allocation.transaction_id.in_(earlier),
            Allocation.kind.in_(("return", "return_expired")),
        )
    )
    for lot_id, amt in rows:
        given[lot_id] -= amt
    lots = await batch.lots_by_id(given)
    # Give back to the latest-expiring lots first: the member keeps the longest-lived points.
    order = sorted(lots.values(), key=lambda lot: lot.spend_order(), reverse=True)
    left = amount
    to_member = 0
    to_expiry = 0
    for lot in order:
        part = min(given[lot.id], left)
        if part <= 0:
            continue
        left -= part
        if lot.expires_at is not None and lot.expires_at <= batch.now:
            batch.mark_expired(lot, part, txn_id, "return_expired")
            to_expiry += part
        else:
            batch.return_to_lot(acc, lot, part, txn_id)
            to_member += part
    assert left == 0, "allocations do not cover the reversal"
    legs: list[tuple[int, int]] = [(counter_id, -amount)]
    if to_member:
        legs.append((acc.id, to_member))
    if to_expiry:
        legs.append((await batch.system_account("expiry", acc.asset), to_expiry))
    return batch.post(
        kind="reversal",
        asset=acc.asset,
        amount=amount,
        member=acc.member,
        transaction_id=txn_id,
        reverses_id=original.id,
        legs=legs,
        idempotency_key=item.idempotency_key,
        reason=item.reason,
        reference=original.reference,
        meta={"returned": {"lots": to_member, "expired": to_expiry}},
    )


# --- adjustment -------------------------------------------------------------------------------


async def adjust(
    session: AsyncSession, ctx: ProgramContext, item: AdjustIn, *, now: datetime
) -> Outcome:
    """A manual correction by an operator, with a reason, against the ``adjustment`` account."""
    from jifen.programs.service import record_audit

    async def apply(todo: list[tuple[int, AdjustIn]]) -> dict[int, Outcome]:
        assets = await _assets(session, ctx.id)
        if item.asset not in assets:
            return {0: _asset_missing(item.asset)}
        refs = await _resolve_members(session, ctx, [item.member], create=False, now=now)
        if item.member not in refs:
            return {0: _member_missing(item.member)}
        batch = LedgerBatch(session, ctx, now)
        await batch.lock(refs.values(), [item.asset])
        acc = batch.account(refs[item.member].id, item.asset)
        lot_expiry: datetime | None = None
        if item.amount > 0:
            poster = _Crediter(batch, assets)
            await poster.prepare([("adjustment", item.asset)])
            row, acc, lot_expiry = poster.post(
                Payment(
                    member=acc.member,
                    asset=item.asset,
                    amount=item.amount,
                    key=item.idempotency_key,
                    reason=item.reason,
                    reference=None,
                    occurred_at=now,
                    expires_at=item.expires_at,
                    source="adjustment",
                    kind="adjustment",
                    operator=item.operator,
                )
            )
        else:
            counter = await batch.system_account("adjustment", item.asset)
            await batch.load_lots([acc])
            amount = -item.amount
            if not _spendable_covers(batch, acc, amount):
                await batch.flush()
                return {0: Outcome.from_error(_insufficient(acc, amount))}
            row = _spend(
                batch,
                acc,
                amount,
                counter,
                kind="adjustment",
                key=item.idempotency_key,
                reason=item.reason,
                reference=None,
                operator=item.operator,
            )
        await batch.flush()
        await record_audit(
            session,
            program_id=ctx.id,
            actor=item.operator,
            action="ledger.adjust",
            entity_type="member",
            entity_id=item.member,
            now=now,
            before={"asset": item.asset, "balance": acc.balance - item.amount},
            after={"asset": item.asset, "balance": acc.balance, "transaction_id": str(row["id"])},
            reason=item.reason,
        )
        return {0: Outcome(201, _txn_out(row, acc, lot_expires_at=lot_expiry))}

    return await _run_single(session, ctx, "ledger.adjust", item, now, apply)


# --- transfer ---------------------------------------------------------------------------------


async def transfer(
    session: AsyncSession, ctx: ProgramContext, item: TransferIn, *, now: datetime
) -> Outcome:
    """Move points between two members; the receiver's lots keep the sender's expiry dates."""

    async def apply(todo: list[tuple[int, TransferIn]]) -> dict[int, Outcome]:
        if item.from_member == item.to_member:
            return {
                0: Outcome.from_error(
                    InvalidInput(
                        "cannot transfer to the same member", code="same_member", field="to_member"
                    )
                )
            }
        assets = await _assets(session, ctx.id)
        if item.asset not in assets:
            return {0: _asset_missing(item.asset)}
        refs = await _resolve_members(
            session, ctx, [item.from_member, item.to_member], create=False, now=now
        )
        for ext in (item.from_member, item.to_member):
            if ext not in refs:
                return {0: _member_missing(ext)}
        if refs[item.from_member].id in await _frozen(session, [refs[item.from_member]]):
            return {0: _frozen_error(item.from_member)}
        batch = LedgerBatch(session, ctx, now)
        await batch.lock(refs.values(), [item.asset])
        sender = batch.account(refs[item.from_member].id, item.asset)
        receiver = batch.account(refs[item.to_member].id, item.asset)
        await batch.load_lots([sender])
        if not _spendable_covers(batch, sender, item.amount):
            await batch.flush()
            return {0: Outcome.from_error(_insufficient(sender, item.amount))}
        txn_id = _new_id()
        taken = batch.take(sender, item.amount, "spend", transaction_id=txn_id)
        for lot, part in taken:
            batch.add_lot(receiver, txn_id, part, earned_at=now, expires_at=lot.expires_at)
        row = batch.post(
            kind="transfer",
            asset=item.asset,
            amount=item.amount,
            member=sender.member,
            counterparty=receiver.member,
            transaction_id=txn_id,
            legs=[(sender.id, -item.amount), (receiver.id, item.amount)],
            idempotency_key=item.idempotency_key,
            reason=item.reason,
            reference=item.reference,
        )
        await batch.flush()
        return {0: Outcome(201, _txn_out(row, sender))}

    return await _run_single(session, ctx, "ledger.transfer", item, now, apply)


# --- expiry -----------------------------------------------------------------------------------


async def expire_due(
    session: AsyncSession, ctx: ProgramContext, *, now: datetime, limit: int = 1000
) -> int:
    """Expire the due lots of up to ``limit`` member accounts; returns the points expired.

    Locking an account expires its due lots (see ``LedgerBatch.lock``), so this only picks the
    accounts. Each call is one transaction; a crash loses nothing and a re-run picks up the rest.
    """
    from jifen.ledger.models import Lot
    from jifen.members.models import Member

    rows = await session.execute(
        select(Member.id, Member.external_id, Lot.asset)
        .join(Lot, Lot.member_id == Member.id)
        .where(
            Lot.program_id == ctx.id,
            Lot.remaining > 0,  # implied by the next; lets the partial index ix_lots_due serve
            Lot.remaining > Lot.held,
            Lot.expires_at.is_not(None),
            Lot.expires_at <= now,
        )
        .distinct()
        .limit(limit)
    )
    pairs = [(MemberRef(mid, ext), asset) for mid, ext, asset in rows]
    if not pairs:
        return 0
    batch = LedgerBatch(session, ctx, now)
    await batch.lock({r for r, _ in pairs}, {a for _, a in pairs})
    expired = sum(int(r["amount"]) for r in batch.txn_rows if r["kind"] == "expiry")
    await batch.flush()
    return expired
