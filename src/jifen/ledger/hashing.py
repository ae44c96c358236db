"""Content hashes of transactions and the links of the per-program hash chain."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from jifen.kit import jsonenc


@lru_cache(maxsize=4096)
def _iso(value: datetime) -> str:
    # Always in UTC: the database gives instants back in UTC whatever offset they came with.
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _opt(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def content_hash(txn: dict[str, Any], postings: Iterable[tuple[int, int, int | None]]) -> str:
    """SHA-256 over a transaction's fields and its postings ``(account_id, amount, balance_after)``.

    Postings are sorted so that the hash does not depend on row order in the database.
    """
    body = {
        "id": str(txn["id"]),
        "program": txn["program_id"],
        "kind": txn["kind"],
        "asset": txn["asset"],
        "amount": txn["amount"],
        "member": txn.get("member_id"),
        "counterparty": txn.get("counterparty_member_id"),
        "reverses": _opt(txn.get("reverses_id")),
        "hold": _opt(txn.get("hold_id")),
        "key": txn.get("idempotency_key"),
        "reason": txn.get("reason"),
        "reference": txn.get("reference"),
        "rule": [txn.get("rule_id"), txn.get("rule_version")],
        "campaign": txn.get("campaign_id"),
        "operator": txn.get("operator"),
        "meta": txn.get("meta") or {},
        "occurred_at": _iso(txn["occurred_at"]),
        "created_at": _iso(txn["created_at"]),
        "postings": sorted([a, amt, bal] for a, amt, bal in postings),
    }
    # Only meta is free-form: every other field is a string, an integer, None or a list of them.
    blob = jsonenc.canonical_bytes(body, ensure_ascii=False, floats_in=body["meta"])
    return hashlib.sha256(blob).hexdigest()


def canonical(body: dict[str, Any]) -> str:
    """The one spelling that content hashes are computed over: sorted keys, no spaces, as
    ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` writes it."""
    return jsonenc.canonical(body, ensure_ascii=False)


def genesis_hash(program_id: str) -> str:
    return hashlib.sha256(f"jifen:genesis:{program_id}".encode()).hexdigest()


def chain_link(previous: str, seq: int, content: str) -> str:
    return hashlib.sha256(f"{previous}:{seq}:{content}".encode()).hexdigest()
