"""Content hashes must never change spelling: ``verify`` recomputes them from stored rows,
so the fast encoder must write exactly what ``json.dumps`` writes for every body."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from jifen.ledger.hashing import canonical, content_hash

texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
maybe_text = st.none() | texts
ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
json_values = st.recursive(
    st.none() | st.booleans() | ints | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


def reference(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@settings(max_examples=300)
@given(
    kind=texts,
    amount=ints,
    member=st.none() | ints,
    reason=maybe_text,
    reference_=maybe_text,
    rule=st.tuples(maybe_text, st.none() | ints),
    meta=st.dictionaries(texts, json_values, max_size=3),
    postings=st.lists(
        st.tuples(ints, ints, st.none() | ints), max_size=4, unique_by=lambda p: p[0]
    ),
)
def test_canonical_spells_bodies_as_json_dumps(
    kind: str,
    amount: int,
    member: int | None,
    reason: str | None,
    reference_: str | None,
    rule: tuple[str | None, int | None],
    meta: dict[str, Any],
    postings: list[tuple[int, int, int | None]],
) -> None:
    body = {
        "id": str(uuid.uuid4()),
        "program": "p",
        "kind": kind,
        "amount": amount,
        "member": member,
        "reason": reason,
        "reference": reference_,
        "rule": list(rule),
        "meta": meta,
        "postings": sorted(list(p) for p in postings),
    }
    assert canonical(body) == reference(body)


def test_a_known_transaction_keeps_its_hash() -> None:
    # Computed when transactions were first hashed; a change here breaks every stored chain.
    txn = {
        "id": uuid.UUID("01930000-0000-7000-8000-000000000001"),
        "program_id": "shop",
        "kind": "credit",
        "asset": "points",
        "amount": 20,
        "member_id": 7,
        "idempotency_key": "evt:e1:check-in:0",
        "reason": 'check_in: 签到 "daily"\n',
        "reference": "e1",
        "rule_id": "check-in",
        "rule_version": 3,
        "meta": {},
        "occurred_at": datetime(2026, 11, 24, 15, 59, 59, tzinfo=UTC),
        "created_at": datetime(2026, 11, 24, 16, 0, 0, 123456, tzinfo=UTC),
    }
    assert (
        content_hash(txn, [(9, 20, 120), (1, -20, None)])
        == "4796f72490c1d38beedf08e02461129708f89f21c4d6e6aef7584d83b0f4cd28"
    )
    with_meta = {**txn, "meta": {"rate": 1.5, "big": 2**70}}
    assert (
        content_hash(with_meta, [(1, -20, None), (9, 20, 120)])
        == "eaa07215633c101f34011a7e222fdcedc8ad0a46893487ac6c8f759ddad2c15f"
    )
