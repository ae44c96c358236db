"""The outbox: messages written in the same database transaction as the change they report."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit import bulk
from jifen.kit.ids import uuid7
from jifen.notify.models import OutboxMessage


def message_row(
    *, program_id: str, member_id: int | None, topic: str, payload: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "id": uuid7(),
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
