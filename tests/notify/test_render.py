"""Rendering without a database: event types, language fallback, the built-in templates."""

from __future__ import annotations

from jifen.notify import templates as t

LEDGER = t.LEDGER_TOPIC


def test_event_types_of_ledger_messages() -> None:
    cases = [
        ({"asset": "points", "kind": "credit", "amount": 5}, "points.credited"),
        ({"asset": "points", "kind": "adjustment", "amount": -5}, "points.debited"),
        ({"asset": "points", "kind": "capture", "amount": -5}, "points.debited"),
        ({"asset": "points", "kind": "expiry", "amount": -5}, "points.expired"),
        ({"asset": "points", "kind": "reversal", "amount": 5}, "points.reversed"),
        ({"asset": "points", "kind": "transfer", "amount": 5}, "points.received"),
        ({"asset": "points", "kind": "transfer", "amount": -5}, "points.sent"),
        ({"asset": "growth", "kind": "credit", "amount": 5}, "growth.credited"),
    ]
    for payload, expected in cases:
        assert t.event_type(LEDGER, payload) == expected
    assert t.event_type("coupon.issued", {}) == "coupon.issued"


def test_every_built_in_template_renders() -> None:
    for (etype, locale), source in t.DEFAULTS.items():
        assert t.check(source) is None, (etype, locale)
    assert set(t.LOCALES) == {loc for _, loc in t.DEFAULTS}


def test_language_fallbacks_and_program_overrides() -> None:
    payload = {"asset": "stars", "kind": "credit", "amount": 3, "balance": 9}
    # An asset without wording of its own gets the generic balance message.
    assert t.render("stars.credited", LEDGER, payload, "en", {}) == (
        "Your stars went up by 3; balance 9"
    )
    assert t.normalise_locale("en-US") == "en"
    assert t.normalise_locale("zh_Hans") == "zh-CN"
    assert t.normalise_locale(None, "en") == "en"
    # A language nobody wrote falls back to the program's.
    assert t.render("coupon.issued", "coupon.issued", {"name": "满100减10"}, "ja", {},
                    program_locale="en") == "You received a coupon: 满100减10"  # fmt: skip
    overrides = {("coupon.issued", "ja"): "クーポン: {{ name }}"}
    assert t.render("coupon.issued", "coupon.issued", {"name": "A"}, "ja", overrides,
                    program_locale="en") == "クーポン: A"  # fmt: skip
    # A broken override (it fails on this payload) gives way to the built-in template.
    broken = {("points.credited", "en"): "{{ 1 // amount_zero }}"}
    assert t.render("points.credited", LEDGER, {**payload, "asset": "points", "amount_zero": 0},
                    "en", broken) == "You earned 3 points; your balance is 9"  # fmt: skip
    assert t.render("mystery.event", "mystery.event", {}, "zh-CN", {}) == "您有一条新通知"
