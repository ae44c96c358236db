"""``jsonenc.canonical`` must spell every value exactly as ``json.dumps`` does: request hashes
and content hashes are stored, and a replay or ``ledger verify`` recomputes them."""

from __future__ import annotations

import enum
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jifen.kit.jsonenc import canonical

texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | texts
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(texts, inner, max_size=3)
    ),
    max_leaves=10,
)


def reference(value: Any, ensure_ascii: bool) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=ensure_ascii, default=str
    )


@settings(max_examples=400)
@given(value=values, ensure_ascii=st.booleans())
def test_canonical_spells_any_json_value_as_json_dumps(value: Any, ensure_ascii: bool) -> None:
    assert canonical(value, ensure_ascii=ensure_ascii) == reference(value, ensure_ascii)


class Colour(enum.StrEnum):
    RED = "red"


class Size(enum.IntEnum):
    BIG = 3


@dataclass
class Box:
    n: int


@pytest.mark.parametrize(
    "value",
    [
        {"at": datetime(2026, 12, 3, 8, 30, tzinfo=UTC), "day": date(2026, 12, 3)},
        {"id": uuid.UUID("01930000-0000-7000-8000-000000000001")},
        {"colour": Colour.RED, "size": Size.BIG},
        {"box": Box(1), "price": Decimal("9.90")},
        {"big": 1e16, "small": 1e-7, "nan": float("nan"), "inf": float("-inf")},
        {"签到": "连续 7 天\n\t\u2028\x1f\x7f", "é": ["ü", {"b": 1, "a": 2}]},
        {1: "an integer key", "2": "a string key"},
        {"huge": 2**64, "negative": -(2**63) - 1},
    ],
)
@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_canonical_matches_json_dumps_for_values_orjson_spells_its_own_way(
    value: dict[Any, Any], ensure_ascii: bool
) -> None:
    try:
        expected = reference(value, ensure_ascii)
    except TypeError:
        with pytest.raises(TypeError):
            canonical(value, ensure_ascii=ensure_ascii)
        return
    assert canonical(value, ensure_ascii=ensure_ascii) == expected
