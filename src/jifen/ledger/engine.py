"""The ledger's unit of work: lock accounts once, change them in memory, write in bulk.

Every ledger operation (single or batched) runs inside one ``LedgerBatch``:

1. ``lock`` takes the member accounts it will touch with ``SELECT ... FOR UPDATE`` in account-id
   order (so two writers never deadlock), creating missing accounts first; it then lapses the
   accounts' due holds and expires their due lots, so no write ever sees stale points.
2. Operations change balances, lots and holds in memory and queue rows.
3. ``flush`` restores the lot invariant where needed and writes everything with one statement
   per table, whatever the batch size (``jifen.kit.bulk``: ``COPY`` for large sets on PostgreSQL,
   the small ones together in one pipelined round trip; ``executemany`` on SQLite).

Lot invariant, per member account: ``Σ(lot.remaining − lot.held) == max(balance − held, 0)`` and
``Σ lot.held == held``. A member whose available balance went negative (a reversal under the
``allow`` policy) owes points: the next points that become free (a credit, a released hold)
settle the debt first.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.db.engine import is_postgres
from jifen.kit import bulk
from jifen.kit.ids import uuid7
from jifen.kit.sql import in_values, insert_ignore, select_tuples
from jifen.ledger.hashing import content_hash
from jifen.ledger.models import Account, Allocation, Hold, LedgerTransaction, Lot, Posting
from jifen.members.service import MemberRef
from jifen.notify import service as notify
from jifen.programs.context import ProgramContext

_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)

BALANCE_TOPIC = "ledger.balance_changed"


@dataclass(slots=True)
class LotState:
    id: uuid.UUID
    account_id: int
    member_id: int
    asset: str
    transaction_id: uuid.UUID
    amount: int
    remaining: int
    held: int
    expired: int
    earned_at: datetime
    expires_at: datetime | None
    is_new: bool = False
    dirty: bool = False

    @property
    def free(self) -> int:
        return self.remaining - self.held

    def spend_order(self) -> tuple[bool, datetime, datetime, str]:
        """Soonest expiry first, then oldest, then lots that never expire."""
        return (
            self.expires_at is None,
            self.expires_at or _FAR_FUTURE,
            self.earned_at,
            str(self.id),
        )


@dataclass(slots=True)
class AccountState:
    id: int
    member: MemberRef
    asset: str
    balance: int
    held: int
    # Σ(remaining − held) over the account's lots, tracked without loading them.
    free: int
    dirty: bool = False
    lots: list[LotState] | None = None
    last_transaction_id: uuid.UUID | None = None
    # Whether the account had lots past their expiry with free points when it was locked.
    has_due_lots: bool = True

    @property
    def available(self) -> int:
        return self.balance - self.held


@dataclass(slots=True)
class HoldState:
    id: uuid.UUID
    account_id: int
    member_id: int
    asset: str
    amount: int
    status: str
    expires_at: datetime
    captured: int = 0
    resolved_at: datetime | None = None
    capture_transaction_id: uuid.UUID | None = None
    is_new: bool = False
    dirty: bool = False
    reason: str | None = None
    reference: str | None = None
    created_at: datetime | None = None


@dataclass
class LedgerBatch:
    session: AsyncSession
    program: ProgramContext
    now: datetime
    accounts: dict[tuple[int, str], AccountState] = field(default_factory=dict)
    lots: dict[uuid.UUID, LotState] = field(default_factory=dict)
    holds: dict[uuid.UUID, HoldState] = field(default_factory=dict)
    txn_rows: list[dict[str, Any]] = field(default_factory=list)
    posting_rows: list[dict[str, Any]] = field(default_factory=list)
    allocation_rows: list[dict[str, Any]] = field(default_factory=list)
    outbox_rows: list[dict[str, Any]] = field(default_factory=list)
    _system: dict[tuple[str, str], int] | None = None
    _by_id: dict[int, AccountState] = field(default_factory=dict)

    # --- locking ---------------------------------------------------------------------------

    async def lock(self, members: Iterable[MemberRef], assets: Iterable[str]) -> None:
        """Lock (creating if needed) the accounts of ``members`` × ``assets``, in id order."""
        refs = {m.id: m for m in members}
        asset_list = sorted(set(assets))
        pairs = sorted((mid, a) for mid in refs for a in asset_list)
        pairs = [p for p in pairs if p not in self.accounts]
        if not pairs:
            return
        found = await self._select_for_update(refs, pairs)
        missing = [p for p in pairs if p not in found]
        if missing:
            await self.session.execute(
                insert_ignore(self.session, Account),
                [
                    {
                        "program_id": self.program.id,
                        "member_id": mid,
                        "asset": asset,
                        "balance": 0,
                        "held": 0,
                        "created_at": self.now,
                    }
                    for mid, asset in missing
                ],
            )
            found.update(await self._select_for_update(refs, missing))
        new_states = [found[p] for p in pairs]
        for state in new_states:
            self.accounts[(state.member.id, state.asset)] = state
            self._by_id[state.id] = state
        await self._lapse_due_holds(new_states)
        await self._expire_due_lots(new_states)

    async def _select_for_update(
        self, refs: dict[int, MemberRef], pairs: Sequence[tuple[int, str]]
    ) -> dict[tuple[int, str], AccountState]:
        member_ids = sorted({m for m, _ in pairs})
        assets = sorted({a for _, a in pairs})
        wanted = set(pairs)
        out: dict[tuple[int, str], AccountState] = {}
        for start in range(0, len(member_ids), 1000):
            # Whether there is anything to expire comes with the lock, so that the common case
            # (nothing due) costs no second query.
            lot, acc = _table(Lot).c, _table(Account)
            due = (
                select(lot.id)
                .where(
                    lot.account_id == acc.c.id,
                    lot.remaining > 0,
                    lot.remaining > lot.held,
                    lot.expires_at.is_not(None),
                    lot.expires_at <= self.now,
                )
                .exists()
                .label("due")
            )
            stmt = (
                select(acc.c.id, acc.c.member_id, acc.c.asset, acc.c.balance, acc.c.held, due)
                .where(
                    acc.c.program_id == self.program.id,
                    in_values(self.session, acc.c.member_id, member_ids[start : start + 1000]),
                    in_values(self.session, acc.c.asset, assets),
                )
                .order_by(acc.c.id)
            )
            if is_postgres(self.session):
                stmt = stmt.with_for_update(of=acc)
            for acc_id, member_id, asset, balance, held, has_due in await select_tuples(
                self.session, stmt
            ):
                if (member_id, asset) not in wanted:
                    continue
                out[(member_id, asset)] = AccountState(
                    id=acc_id,
                    member=refs[member_id],
                    asset=asset,
                    balance=balance,
                    held=held,
                    free=max(balance - held, 0),
                    has_due_lots=bool(has_due),
                )
        return out

    def account(self, member_id: int, asset: str) -> AccountState:
        try:
            return self.accounts[(member_id, asset)]
        except KeyError:
            raise RuntimeError(f"account ({member_id}, {asset}) was not locked") from None

    async def system_account(self, name: str, asset: str) -> int:
        if self._system is None:
            rows = await self.session.execute(
                select(Account.id, Account.system_name, Account.asset).where(
                    Account.program_id == self.program.id, Account.member_id.is_(None)
                )
            )
            self._system = {(str(n), a): i for i, n, a in rows}
        key = (name, asset)
        if key not in self._system:
            await self.session.execute(
                insert_ignore(self.session, Account),
                [
                    {
                        "program_id": self.program.id,
                        "system_name": name,
                        "asset": asset,
                        "balance": 0,
                        "held": 0,
                        "created_at": self.now,
                    }
                ],
            )
            acc_id = await self.session.scalar(
                select(Account.id).where(
                    Account.program_id == self.program.id,
                    Account.system_name == name,
                    Account.asset == asset,
                )
            )
            assert acc_id is not None
            self._system[key] = acc_id
        return self._system[key]

    # --- lots ------------------------------------------------------------------------------

    def _lot_from_row(self, row: Any) -> LotState:
        existing = self.lots.get(row.id)
        if existing is not None:
            return existing
        lot = LotState(
            id=row.id,
            account_id=row.account_id,
            member_id=row.member_id,
            asset=row.asset,
            transaction_id=row.transaction_id,
            amount=row.amount,
            remaining=row.remaining,
            held=row.held,
            expired=row.expired,
            earned_at=row.earned_at,
            expires_at=row.expires_at,
        )
        self.lots[lot.id] = lot
        return lot

    async def load_lots(self, accounts: Iterable[AccountState]) -> None:
        """Load the lots with something left of the given accounts, in spending order."""
        todo = [a for a in accounts if a.lots is None]
        if not todo:
            return
        ids = [a.id for a in todo]
        for a in todo:
            a.lots = []
        for start in range(0, len(ids), 1000):
            rows = await self.session.execute(
                select(Lot).where(
                    in_values(self.session, Lot.account_id, ids[start : start + 1000]),
                    Lot.remaining > 0,
                )
            )
            for (row,) in rows:
                lot = self._lot_from_row(row)
                acc = self._by_id[lot.account_id]
                assert acc.lots is not None
                acc.lots.append(lot)
        # Lots created earlier in this batch are not in the database yet, and lots the batch
        # refilled (a reversed debit returning points to a spent-out lot) are not there as such.
        id_set = set(ids)
        for lot in self.lots.values():
            if (lot.is_new or lot.remaining > 0) and lot.account_id in id_set:
                acc = self._by_id[lot.account_id]
                assert acc.lots is not None
                if all(other.id != lot.id for other in acc.lots):
                    acc.lots.append(lot)
        for a in todo:
            assert a.lots is not None
            a.lots.sort(key=LotState.spend_order)

    async def lots_by_id(self, lot_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, LotState]:
        lot_ids = list(lot_ids)
        wanted = [i for i in set(lot_ids) if i not in self.lots]
        if wanted:
            for (row,) in await self.session.execute(
                select(Lot).where(in_values(self.session, Lot.id, wanted))
            ):
                self._lot_from_row(row)
        return {i: self.lots[i] for i in lot_ids}

    async def lot_of_transaction(self, transaction_id: uuid.UUID) -> LotState | None:
        for lot in self.lots.values():
            if lot.transaction_id == transaction_id:
                return lot
        row = (
            await self.session.execute(select(Lot).where(Lot.transaction_id == transaction_id))
        ).first()
        return None if row is None else self._lot_from_row(row[0])

    def add_lot(
        self,
        acc: AccountState,
        transaction_id: uuid.UUID,
        amount: int,
        *,
        earned_at: datetime,
        expires_at: datetime | None,
    ) -> LotState:
        lot = LotState(
            id=uuid7(),
            account_id=acc.id,
            member_id=acc.member.id,
            asset=acc.asset,
            transaction_id=transaction_id,
            amount=amount,
            remaining=amount,
            held=0,
            expired=0,
            earned_at=earned_at,
            expires_at=expires_at,
            is_new=True,
        )
        self.lots[lot.id] = lot
        acc.free += amount
        if acc.lots is not None:
            acc.lots.append(lot)
            acc.lots.sort(key=LotState.spend_order)
        return lot

    def _allocate(
        self,
        lot: LotState,
        amount: int,
        kind: str,
        *,
        transaction_id: uuid.UUID | None = None,
        hold_id: uuid.UUID | None = None,
    ) -> None:
        self.allocation_rows.append(
            {
                "program_id": self.program.id,
                "member_id": lot.member_id,
                "lot_id": lot.id,
                "transaction_id": transaction_id,
                "hold_id": hold_id,
                "kind": kind,
                "amount": amount,
            }
        )
        lot.dirty = True

    def spendable(self, acc: AccountState) -> list[LotState]:
        assert acc.lots is not None, "load_lots() first"
        return [
            lot
            for lot in acc.lots
            if lot.free > 0 and (lot.expires_at is None or lot.expires_at > self.now)
        ]

    def take(
        self,
        acc: AccountState,
        amount: int,
        kind: str,
        *,
        transaction_id: uuid.UUID | None = None,
        hold_id: uuid.UUID | None = None,
        first: LotState | None = None,
    ) -> list[tuple[LotState, int]]:
        """Take up to ``amount`` free points from the account's lots, soonest-expiring first.

        ``kind='hold'`` reserves them (``held``); any other kind removes them (``remaining``).
        Returns what was taken from which lot.
        """
        order = self.spendable(acc)
        if first is not None:
            order = [first] + [lot for lot in order if lot.id != first.id]
        taken: list[tuple[LotState, int]] = []
        left = amount
        for lot in order:
            if left == 0:
                break
            part = min(lot.free, left)
            if part <= 0:
                continue
            if kind == "hold":
                lot.held += part
            else:
                lot.remaining -= part
            acc.free -= part
            left -= part
            self._allocate(lot, part, kind, transaction_id=transaction_id, hold_id=hold_id)
            taken.append((lot, part))
        return taken

    def release(self, acc: AccountState, lot: LotState, amount: int) -> None:
        """Give held points of a lot back to its free part (void, lapse, the rest of a capture)."""
        lot.held -= amount
        lot.dirty = True
        acc.free += amount

    def spend_held(
        self, acc: AccountState, lot: LotState, amount: int, transaction_id: uuid.UUID
    ) -> None:
        lot.remaining -= amount
        acc.free -= amount
        self._allocate(lot, amount, "spend", transaction_id=transaction_id)

    def return_to_lot(
        self, acc: AccountState, lot: LotState, amount: int, transaction_id: uuid.UUID
    ) -> None:
        lot.remaining += amount
        acc.free += amount
        if acc.lots is not None and all(other.id != lot.id for other in acc.lots):
            acc.lots.append(lot)
            acc.lots.sort(key=LotState.spend_order)
        self._allocate(lot, amount, "return", transaction_id=transaction_id)

    def mark_expired(
        self, lot: LotState, amount: int, transaction_id: uuid.UUID, kind: str
    ) -> None:
        """Book ``amount`` of a lot as expired (``expire``, ``return_expired``) or recovered
        from the expiry account (``unexpire``, a negative amount)."""
        lot.expired += amount
        self._allocate(lot, abs(amount), kind, transaction_id=transaction_id)

    # --- transactions ------------------------------------------------------------------------

    def post(
        self,
        *,
        kind: str,
        asset: str,
        amount: int,
        legs: Sequence[tuple[int, int]],
        member: MemberRef | None = None,
        transaction_id: uuid.UUID | None = None,
        counterparty: MemberRef | None = None,
        reverses_id: uuid.UUID | None = None,
        hold_id: uuid.UUID | None = None,
        idempotency_key: str | None = None,
        reason: str | None = None,
        reference: str | None = None,
        rule_id: str | None = None,
        rule_version: int | None = None,
        campaign_id: str | None = None,
        operator: str | None = None,
        meta: dict[str, Any] | None = None,
        occurred_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Record a transaction whose ``legs`` (account id, signed amount) sum to zero.

        Member accounts among the legs must be locked; their balances change here.
        """
        if sum(a for _, a in legs) != 0:
            raise RuntimeError(f"unbalanced {kind} transaction: {legs}")
        txn_id = transaction_id or uuid7()
        row: dict[str, Any] = {
            "id": txn_id,
            "program_id": self.program.id,
            "kind": kind,
            "asset": asset,
            "amount": amount,
            "member_id": member.id if member else None,
            "counterparty_member_id": counterparty.id if counterparty else None,
            "reverses_id": reverses_id,
            "hold_id": hold_id,
            "idempotency_key": idempotency_key,
            "reason": reason,
            "reference": reference,
            "rule_id": rule_id,
            "rule_version": rule_version,
            "campaign_id": campaign_id,
            "operator": operator,
            "meta": meta or {},
            "occurred_at": occurred_at or self.now,
            "created_at": self.now,
            "chain_seq": None,
            "chain_hash": None,
        }
        hashed: list[tuple[int, int, int | None]] = []
        for account_id, delta in legs:
            acc = self._by_id.get(account_id)
            balance_after: int | None = None
            if acc is not None:
                acc.balance += delta
                acc.dirty = True
                acc.last_transaction_id = txn_id
                balance_after = acc.balance
                self._queue_balance_message(acc, row, delta)
            self.posting_rows.append(
                {
                    "program_id": self.program.id,
                    "transaction_id": txn_id,
                    "account_id": account_id,
                    "asset": asset,
                    "member_id": acc.member.id if acc else None,
                    "amount": delta,
                    "balance_after": balance_after,
                }
            )
            hashed.append((account_id, delta, balance_after))
        row["content_hash"] = content_hash(row, hashed)
        self.txn_rows.append(row)
        return row

    def _queue_balance_message(self, acc: AccountState, txn: dict[str, Any], delta: int) -> None:
        self.outbox_rows.append(
            notify.message_row(
                program_id=self.program.id,
                member_id=acc.member.id,
                topic=BALANCE_TOPIC,
                now=self.now,
                payload={
                    "member": acc.member.external_id,
                    "asset": acc.asset,
                    "transaction_id": str(txn["id"]),
                    "kind": txn["kind"],
                    "amount": delta,
                    "balance": acc.balance,
                    "reason": txn["reason"],
                    "reference": txn["reference"],
                    "occurred_at": txn["occurred_at"].isoformat(),
                },
            )
        )

    # --- holds -------------------------------------------------------------------------------

    def new_hold(
        self,
        acc: AccountState,
        amount: int,
        *,
        expires_at: datetime,
        reason: str | None,
        reference: str | None,
    ) -> HoldState:
        hold = HoldState(
            id=uuid7(),
            account_id=acc.id,
            member_id=acc.member.id,
            asset=acc.asset,
            amount=amount,
            status="active",
            expires_at=expires_at,
            is_new=True,
            reason=reason,
            reference=reference,
            created_at=self.now,
        )
        self.holds[hold.id] = hold
        self.take(acc, amount, "hold", hold_id=hold.id)
        acc.held += amount
        acc.dirty = True
        return hold

    async def hold_allocations(self, hold_id: uuid.UUID) -> list[tuple[LotState, int]]:
        pending = [
            (r["lot_id"], r["amount"])
            for r in self.allocation_rows
            if r["hold_id"] == hold_id and r["kind"] == "hold"
        ]
        rows = await self.session.execute(
            select(Allocation.lot_id, Allocation.amount)
            .where(Allocation.hold_id == hold_id, Allocation.kind == "hold")
            .order_by(Allocation.id)
        )
        pairs = [(lot_id, amount) for lot_id, amount in rows] + pending
        lots = await self.lots_by_id(lot_id for lot_id, _ in pairs)
        return [(lots[lot_id], amount) for lot_id, amount in pairs]

    async def resolve_hold(self, hold: HoldState, status: str) -> None:
        """Void or lapse: release every held point of the hold."""
        acc = self._by_id[hold.account_id]
        for lot, amount in await self.hold_allocations(hold.id):
            self.release(acc, lot, amount)
        acc.held -= hold.amount
        acc.dirty = True
        hold.status = status
        hold.resolved_at = self.now
        hold.dirty = True

    async def load_hold(self, row: Hold) -> HoldState:
        if row.id in self.holds:
            return self.holds[row.id]
        hold = HoldState(
            id=row.id,
            account_id=row.account_id,
            member_id=row.member_id,
            asset=row.asset,
            amount=row.amount,
            status=row.status,
            expires_at=row.expires_at,
            captured=row.captured,
            resolved_at=row.resolved_at,
            capture_transaction_id=row.capture_transaction_id,
            reason=row.reason,
            reference=row.reference,
            created_at=row.created_at,
        )
        self.holds[hold.id] = hold
        return hold

    async def _lapse_due_holds(self, accounts: Sequence[AccountState]) -> None:
        ids = [a.id for a in accounts if a.held > 0]
        for start in range(0, len(ids), 1000):
            rows = await self.session.execute(
                select(Hold).where(
                    in_values(self.session, Hold.account_id, ids[start : start + 1000]),
                    Hold.status == "active",
                    Hold.expires_at <= self.now,
                )
            )
            for (row,) in rows:
                await self.resolve_hold(await self.load_hold(row), "lapsed")
                # Points a lapsed hold frees may sit in lots that are past their expiry.
                self._by_id[row.account_id].has_due_lots = True

    # --- expiry ------------------------------------------------------------------------------

    async def _expire_due_lots(self, accounts: Sequence[AccountState]) -> None:
        """Move the free part of every lot past its expiry to the expiry account."""
        ids = [a.id for a in accounts if a.free > 0 and a.has_due_lots]
        due: list[LotState] = []
        for start in range(0, len(ids), 1000):
            rows = await self.session.execute(
                select(Lot)
                .where(
                    in_values(self.session, Lot.account_id, ids[start : start + 1000]),
                    # Implied by the next (held >= 0), but lets the partial index serve.
                    Lot.remaining > 0,
                    Lot.remaining > Lot.held,
                    Lot.expires_at.is_not(None),
                    Lot.expires_at <= self.now,
                )
                .order_by(Lot.account_id, Lot.expires_at, Lot.id)
            )
            due.extend(self._lot_from_row(row) for (row,) in rows)
        # A lot that a hold lapsed just now had nothing free in the database: expire it too.
        account_ids, seen = set(ids), {lot.id for lot in due}
        due.extend(
            lot
            for lot in self.lots.values()
            if lot.account_id in account_ids
            and lot.id not in seen
            and lot.expires_at is not None
            and lot.expires_at <= self.now
        )
        by_account: dict[int, list[LotState]] = {}
        for lot in due:
            if lot.free > 0:
                by_account.setdefault(lot.account_id, []).append(lot)
        for account_id, lots in by_account.items():
            acc = self._by_id[account_id]
            total = sum(lot.free for lot in lots)
            txn_id = uuid7()
            for lot in lots:
                part = lot.free
                lot.remaining -= part
                acc.free -= part
                self.mark_expired(lot, part, txn_id, "expire")
            expiry = await self.system_account("expiry", acc.asset)
            self.post(
                kind="expiry",
                asset=acc.asset,
                amount=total,
                member=acc.member,
                transaction_id=txn_id,
                legs=[(acc.id, -total), (expiry, total)],
                reason="points expired",
                meta={"lots": [str(lot.id) for lot in lots]},
            )

    # --- writing -----------------------------------------------------------------------------

    async def _settle(self) -> None:
        """Let free points pay what a member owes, restoring the lot invariant."""
        owing = [a for a in self.accounts.values() if a.free > max(a.available, 0)]
        for acc in self.accounts.values():
            if acc.free < max(acc.available, 0):
                raise RuntimeError(
                    f"ledger invariant broken for account {acc.id}: "
                    f"free lots {acc.free} < available {acc.available}"
                )
        if not owing:
            return
        await self.load_lots(owing)
        for acc in owing:
            excess = acc.free - max(acc.available, 0)
            assert acc.lots is not None
            # Settling may take expired-but-unprocessed lots too: they are not spendable, but
            # they are the member's points until the expiry job moves them.
            left = excess
            for lot in acc.lots:
                if left == 0:
                    break
                part = min(lot.free, left)
                if part <= 0:
                    continue
                lot.remaining -= part
                acc.free -= part
                left -= part
                self._allocate(lot, part, "settle", transaction_id=acc.last_transaction_id)
            if left:
                raise RuntimeError(f"could not settle {left} on account {acc.id}")

    async def flush(self) -> None:
        await self._settle()
        writes = bulk.Writes()
        writes.insert(_table(LedgerTransaction), self.txn_rows)
        writes.insert(_table(Posting), self.posting_rows)
        writes.insert(
            _table(Lot),
            [
                {
                    "id": lot.id,
                    "program_id": self.program.id,
                    "member_id": lot.member_id,
                    "account_id": lot.account_id,
                    "asset": lot.asset,
                    "transaction_id": lot.transaction_id,
                    "amount": lot.amount,
                    "remaining": lot.remaining,
                    "held": lot.held,
                    "expired": lot.expired,
                    "earned_at": lot.earned_at,
                    "expires_at": lot.expires_at,
                }
                for lot in self.lots.values()
                if lot.is_new
            ],
        )
        writes.update(
            _table(Lot),
            "id",
            [
                {"id": lot.id, "remaining": lot.remaining, "held": lot.held, "expired": lot.expired}
                for lot in self.lots.values()
                if lot.dirty and not lot.is_new
            ],
        )
        writes.insert(_table(Allocation), self.allocation_rows)
        writes.insert(
            _table(Hold),
            [
                {
                    "id": h.id,
                    "program_id": self.program.id,
                    "member_id": h.member_id,
                    "account_id": h.account_id,
                    "asset": h.asset,
                    "amount": h.amount,
                    "captured": h.captured,
                    "status": h.status,
                    "reason": h.reason,
                    "reference": h.reference,
                    "expires_at": h.expires_at,
                    "created_at": h.created_at or self.now,
                    "resolved_at": h.resolved_at,
                    "capture_transaction_id": h.capture_transaction_id,
                }
                for h in self.holds.values()
                if h.is_new
            ],
        )
        writes.update(
            _table(Hold),
            "id",
            [
                {
                    "id": h.id,
                    "status": h.status,
                    "captured": h.captured,
                    "resolved_at": h.resolved_at,
                    "capture_transaction_id": h.capture_transaction_id,
                }
                for h in self.holds.values()
                if h.dirty and not h.is_new
            ],
        )
        writes.update(
            _table(Account),
            "id",
            [
                {"id": a.id, "balance": a.balance, "held": a.held}
                for a in self.accounts.values()
                if a.dirty
            ],
        )
        notify.queue_rows(writes, self.outbox_rows)
        await writes.run(self.session)
        self._reset()

    def _reset(self) -> None:
        self.txn_rows = []
        self.posting_rows = []
        self.allocation_rows = []
        self.outbox_rows = []
        for lot in self.lots.values():
            lot.is_new = False
            lot.dirty = False
        for hold in self.holds.values():
            hold.is_new = False
            hold.dirty = False
        for acc in self.accounts.values():
            acc.dirty = False


def _table(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


async def reversed_so_far(session: AsyncSession, program_id: str, txn_id: uuid.UUID) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(LedgerTransaction.amount), 0)).where(
            LedgerTransaction.program_id == program_id,
            LedgerTransaction.reverses_id == txn_id,
        )
    )
    return int(total or 0)
