"""A condition is given only the parts of its context it reads (CEL converts every value it
is given, on every run). Whatever way a condition reads a value, it must see the same value
it would see in the whole context."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jifen.rules import conditions
from jifen.rules.evaluator import EvalState, Evaluator, EventView, MemberView, RuleVersionView
from jifen.rules.schemas import RuleDefinition

AT = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)  # 23:30 in Asia/Shanghai, a Tuesday

TRUE_CONDITIONS = [
    "event.attributes.channel == 'app'",
    "event['type'] == 'purchase'",
    "'channel' in event.attributes",
    "event.attributes['order-id'] == 'o-1'",
    "has(event.attributes.channel) && !has(event.attributes.missing)",
    "event.attributes.items.exists(i, i.sku == 'tea')",
    "size(event.attributes) == 4",
    "event.hour == 23 && event.weekday == 2 && event.local_date == '2026-11-24'",
    "event.type == 'purchase' && event.client_id == 'e-1'",
    "member.tier == 'gold' && 'vip' in member.tags && member.attributes.city == 'sh'",
    "member['tier'] == 'gold' && size(member.tags) == 1",
    "counts.today == 1 && counts.total == 1 && hits.today == 0 && hits.total == 0",
    "counts['today'] == 1 && hits['week'] == 0",
    "streak == 1",
    "event . type == 'purchase'",
]


def test_fields_read_names_only_plain_field_uses() -> None:
    assert conditions.fields_read("counts.today == 1 && event.attributes.channel == 'app'") == {
        "counts": frozenset({"today"}),
        "event": frozenset({"attributes"}),
        "event.attributes": frozenset({"channel"}),
    }
    # Indexing, membership and a bare name give the whole value.
    assert conditions.fields_read("event['type'] == 'x'")["event"] is None
    assert conditions.fields_read("'a' in event.attributes")["event.attributes"] is None
    # A name inside a string literal is not a use.
    assert conditions.fields_read("event.type == 'member.tier'") == {
        "event": frozenset({"type"}),
        "event.attributes": frozenset(),
    }


@pytest.mark.parametrize("condition", TRUE_CONDITIONS)
def test_each_way_of_reading_sees_the_whole_value(condition: str) -> None:
    conditions.validate(condition)
    rule = RuleDefinition.model_validate(
        {
            "id": "r",
            "name": "r",
            "trigger": "purchase",
            "condition": condition,
            "effects": [{"amount": {"fixed": 5}}],
        }
    )
    evaluator = Evaluator(
        timezone="Asia/Shanghai",
        rounding="down",
        versions=[RuleVersionView(rule, 1, AT - timedelta(days=1))],
        campaigns=[],
        state=EvalState(),
    )
    member = MemberView(
        id=1, external_id="m1", tier="gold", tags=["vip"], attributes={"city": "sh"}, joined_at=AT
    )
    event = EventView(
        client_id="e-1",
        type="purchase",
        member=member,
        occurred_at=AT,
        attributes={
            "channel": "app",
            "order-id": "o-1",
            "items": [{"sku": "tea"}],
            "amount": 100,
        },
    )
    result = evaluator.evaluate(event)
    assert [s.reason for s in result.skipped] == []
    assert [p.amount for p in result.payouts] == [5]
