"""Idempotency keys: the first outcome under a key is final, failures included.

A replay with the same request returns the stored outcome; the same key with a different
request is ``idempotency_conflict`` (409). Records are written in the same transaction as the
change, so a crash leaves either both or neither. Two requests racing on one new key both try
to insert the record; the loser's whole transaction rolls back (``IdempotencyRace``) and its
retry replays the winner's outcome.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.errors import IdempotencyConflict, JifenError
from jifen.kit import bulk, jsonenc
from jifen.kit.idempotency_models import IdempotencyRecord
from jifen.kit.sql import in_values


class IdempotencyRace(Exception):
    """Another transaction stored an outcome under the same key first; retry the whole unit."""


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int
    body: dict[str, Any]
    replayed: bool = False

    @property
    def ok(self) -> bool:
        return self.status < 400

    @classmethod
    def from_error(cls, error: JifenError) -> Outcome:
        return cls(error.status, error.to_problem())


def request_hash(operation: str, payload: dict[str, Any]) -> str:
    """What tells a replay from a different request under the same key. Stored with the
    outcome, so its spelling never changes (``jsonenc.canonical``, ASCII)."""
    blob = jsonenc.canonical_bytes({"op": operation, "request": payload}, ensure_ascii=True)
    return hashlib.sha256(blob).hexdigest()


async def lookup(
    session: AsyncSession, program_id: str, keys: Sequence[str]
) -> dict[str, IdempotencyRecord]:
    out: dict[str, IdempotencyRecord] = {}
    unique = sorted(set(keys))
    for start in range(0, len(unique), 1000):
        rows = await session.scalars(
            select(IdempotencyRecord).where(
                IdempotencyRecord.program_id == program_id,
                in_values(session, IdempotencyRecord.key, unique[start : start + 1000]),
            )
        )
        for record in rows:
            out[record.key] = record
    return out


def replay_conflict(key: str) -> Outcome:
    return Outcome.from_error(
        IdempotencyConflict(
            f"idempotency key {key!r} was used for a different request", field="idempotency_key"
        )
    )


def replay(record: IdempotencyRecord, operation: str, req_hash: str) -> Outcome:
    if record.operation != operation or record.request_hash != req_hash:
        return replay_conflict(record.key)
    return Outcome(record.status_code, record.response, replayed=True)


async def store(
    session: AsyncSession,
    program_id: str,
    entries: Sequence[tuple[str, str, str, Outcome]],
    *,
    now: datetime,
) -> None:
    """Store ``(key, operation, request_hash, outcome)`` rows; raise ``IdempotencyRace`` if a
    concurrent transaction stored one of the keys first."""
    if not entries:
        return
    table = IdempotencyRecord.__table__
    assert isinstance(table, Table)
    try:
        await bulk.insert_rows(
            session,
            table,
            [
                {
                    "program_id": program_id,
                    "key": key,
                    "operation": op,
                    "request_hash": h,
                    "status_code": outcome.status,
                    "response": outcome.body,
                    "created_at": now,
                }
                for key, op, h, outcome in entries
            ],
        )
    except IntegrityError as exc:
        raise IdempotencyRace(str(exc)) from exc


class OutcomeFailed(JifenError):
    """A failed outcome (say, a ledger debit refused for insufficient points) raised as an error,
    keeping the status and problem body it had."""

    def __init__(self, outcome: Outcome) -> None:
        body = outcome.body
        super().__init__(str(body.get("detail", "")), code=str(body.get("code", "error")))
        self.status = outcome.status  # type: ignore[misc]
        self.body = body

    def to_problem(self) -> dict[str, Any]:
        return dict(self.body)


def raise_for(outcome: Outcome) -> Outcome:
    """Return a successful outcome; raise a failed one as ``OutcomeFailed``."""
    if not outcome.ok:
        raise OutcomeFailed(outcome)
    return outcome


async def run_once(
    session: AsyncSession,
    program_id: str,
    *,
    key: str,
    operation: str,
    payload: dict[str, Any],
    now: datetime,
    apply: Callable[[], Awaitable[Outcome]],
) -> Outcome:
    """Apply a write once under ``key``: a replay with the same payload returns the stored outcome,
    a different payload is an ``idempotency_conflict``.

    ``apply`` runs in a savepoint. A ``JifenError`` it raises (or a failed ``Outcome`` it returns
    through ``raise_for``) undoes its writes, and the failure is stored as the key's final outcome.
    """
    h = request_hash(operation, payload)
    known = await lookup(session, program_id, [key])
    if key in known:
        return replay(known[key], operation, h)
    try:
        async with session.begin_nested():
            outcome = await apply()
    except JifenError as exc:
        outcome = Outcome(exc.status, exc.to_problem())
    await store(session, program_id, [(key, operation, h, outcome)], now=now)
    return outcome


def derived_key(prefix: str, request_key: str) -> str:
    """A key for a write made on behalf of a request, derived from the request's own key
    (hashed: a request key may be up to 200 characters, and a prefix is added)."""
    return f"{prefix}:{hashlib.sha256(request_key.encode()).hexdigest()[:40]}"
