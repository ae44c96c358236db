"""Within a batch, a condition's verdict is remembered by the values it reads. The key must
tell apart every pair of contexts that CEL tells apart, or an event gets another's verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from itertools import permutations
from typing import Any

import pytest

from jifen.rules import conditions
from jifen.rules.evaluator import EvalState, Evaluator

AT = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)


def test_the_key_keeps_apart_values_a_python_dict_would_merge() -> None:
    key = conditions.context_key
    assert len({key({"n": 1}), key({"n": 1.0}), key({"n": True})}) == 3
    assert key({"n": 0.0}) != key({"n": -0.0})
    assert key({"at": AT}) != key({"at": AT.astimezone(timezone(timedelta(hours=8)))})
    assert key({"tags": ["a", "b"]}) != key({"tags": ["b", "a"]})
    assert key({"a": {"b": [1, None]}}) == key({"a": {"b": [1, None]}})


@pytest.mark.parametrize("value", [Decimal("1.0"), {1, 2}, b"bytes", object()])
def test_values_of_other_types_have_no_key(value: Any) -> None:
    with pytest.raises(TypeError):
        conditions.context_key({"event": {"attributes": {"x": value}}})


CONDITION = "event.attributes.n == 1"
CONTEXTS: list[dict[str, Any]] = [
    {"event": {"attributes": {"n": value}}} for value in (1, 1.0, True, 2, "1", -0.0, 0.0)
]


def verdict(evaluator: Evaluator, context: dict[str, Any]) -> bool | str:
    try:
        return evaluator._holds(CONDITION, context)
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        return type(exc).__name__


@pytest.mark.parametrize("order", list(permutations(range(len(CONTEXTS)), 3))[::17])
def test_remembered_verdicts_are_the_ones_cel_gives(order: tuple[int, ...]) -> None:
    evaluator = Evaluator(
        timezone="Asia/Shanghai", rounding="down", versions=[], campaigns=[], state=EvalState()
    )
    expected = {}
    for i, context in enumerate(CONTEXTS):
        try:
            expected[i] = conditions.evaluate(CONDITION, context)
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            expected[i] = type(exc).__name__
    # Whatever came first, each context gets its own verdict, asked once or again.
    for i in [*order, *range(len(CONTEXTS)), *order]:
        assert verdict(evaluator, CONTEXTS[i]) == expected[i]
