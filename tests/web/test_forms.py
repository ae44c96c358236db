"""The definition forms (jifen.web.forms): posted fields become the dict the JSON editor takes,
valid for the domain's schema; a stored definition fills the form and comes back unchanged;
schema errors land by the input their path names; and over HTTP the form saves through the
domain's service, or comes back with the error beside the field and nothing saved."""

from __future__ import annotations

import importlib
import json
import re
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.clock import FixedClock
from jifen.web import forms, resources
from jifen.web.console import domain_ready
from jifen.web.i18n import ZH, translator
from tests.conftest import api_program
from tests.web.test_roles import add_user, sign_in


def model_of(slug: str) -> Any:
    resource = resources.BY_SLUG[slug]
    assert resource.editor is not None
    schemas = importlib.import_module(f"jifen.{resource.domain}.schemas")
    return getattr(schemas, resource.editor.schema)


def validate(slug: str, data: dict[str, Any]) -> Any:
    body = dict(data)
    if resources.BY_SLUG[slug].editor.id_argument:  # type: ignore[union-attr]
        body.pop("id")
    return model_of(slug).model_validate(body)


def problems_of(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "position": None}
        for e in exc.errors()
    ]


def test_coupon_form_builds_the_json_editors_dict() -> None:
    built = forms.build(
        forms.FORMS["coupons"],
        {
            "id": "full-100-20",
            "name": "满 100 减 20",
            "kind": "fixed",
            "discount_fen": "2000",
            "threshold_fen": "10000",
            "percent_off": "15",  # not a fixed coupon's field: left out
            "scope": "categories",
            "categories": "饮品, 甜点，咖啡",
            "product_ids": "x",  # scope is categories: left out
            "valid_days": "30",
            "valid_from": "2026-03-01T00:00",
            "valid_until": "",
            "per_member_limit": "2",
            "total_quantity": "",
            "active": "on",
            "_extra": "",
        },
    )
    assert built.errors == []
    assert built.data == {
        "id": "full-100-20",
        "name": "满 100 减 20",
        "kind": "fixed",
        "discount_fen": 2000,
        "threshold_fen": 10000,
        "scope": "categories",
        "categories": ["饮品", "甜点", "咖啡"],
        "valid_days": 30,
        "valid_from": "2026-03-01T00:00:00+08:00",
        "per_member_limit": 2,
        "active": True,
    }
    template = validate("coupons", built.data)
    assert template.discount_fen == 2000
    assert template.valid_from.utcoffset().total_seconds() == 8 * 3600


def test_lottery_form_with_two_prize_rows_and_a_removed_one() -> None:
    posted = {
        "id": "wheel",
        "name": "幸运大转盘",
        "cost_points": "50",
        "daily_limit": "3",
        "budget_points": "",
        "consolation_prize": "",
        "active": "on",
        # Rows 0, 2 and 5 posted (row 1 removed in the page): taken in order, renumbered.
        "prizes.0.id": "p100",
        "prizes.0.name": "100 积分",
        "prizes.0.kind": "points",
        "prizes.0.weight": "1",
        "prizes.0.points": "100",
        "prizes.0.template_id": "ignored",  # only coupon prizes have a template
        "prizes.0.stock": "10",
        "prizes.0._extra": "",
        "prizes.2.id": "none",
        "prizes.2.name": "谢谢参与",
        "prizes.2.kind": "nothing",
        "prizes.2.weight": "3",
        "prizes.2.points": "5",  # only points prizes have points
        "prizes.2.stock": "",
        "prizes.2._extra": "",
        "prizes.5.id": "c5",
        "prizes.5.name": "5 元券",
        "prizes.5.kind": "coupon",
        "prizes.5.weight": "2",
        "prizes.5.template_id": "no-threshold-5",
        "prizes.5._extra": "",
    }
    built = forms.build(forms.FORMS["lottery"], posted)
    assert built.errors == []
    assert built.data == {
        "id": "wheel",
        "name": "幸运大转盘",
        "cost_points": 50,
        "daily_limit": 3,
        "active": True,
        "prizes": [
            {"id": "p100", "name": "100 积分", "kind": "points", "weight": 1, "points": 100,
             "stock": 10},
            {"id": "none", "name": "谢谢参与", "kind": "nothing", "weight": 3},
            {"id": "c5", "name": "5 元券", "kind": "coupon", "weight": 2,
             "template_id": "no-threshold-5"},
        ],
    }  # fmt: skip
    assert built.state.rows == {"prizes": 3}
    assert built.state.get("prizes.2.id") == "c5"
    pool = validate("lottery", built.data)
    assert [p.id for p in pool.prizes] == ["p100", "none", "c5"]


def test_tier_form_keeps_what_it_has_no_input_for() -> None:
    """A stored scheme fills the form; the custom benefits and RFM settings, which the form has
    no inputs for, ride along in hidden fields and come back as they were."""
    stored = {
        "name": "会员等级",
        "qualification": {
            "metric": "growth",
            "window_months": 12,
            "purchase_event": "order_paid",
            "amount_attribute": "amount_fen",
            "rfm": None,
        },
        "evaluation": {
            "period": "month",
            "downgrade_after_periods": None,  # never: kept as null, not the default 1
            "downgrade_to": "one_step",
            "protection_months": 3,
        },
        "tiers": [
            {"code": "normal", "name": "普通会员", "min": 0,
             "benefits": {"discount_rate": "1", "points_multiplier": "1",
                          "exclusive_activities_per_month": 0, "free_returns": False,
                          "dedicated_support": False, "custom": {}}},
            {"code": "gold", "name": "金卡", "min": 5000,
             "benefits": {"discount_rate": "0.9", "points_multiplier": "1.5",
                          "exclusive_activities_per_month": 2, "free_returns": True,
                          "dedicated_support": False, "custom": {"lounge": "机场贵宾厅"}}},
        ],
        "version": 3,
        "updated_at": "2026-03-01T04:00:00Z",
    }  # fmt: skip
    form = forms.FORMS["tiers"]
    state = forms.state_of(form, stored, "Asia/Shanghai")
    assert state.get("tiers.1.benefits.discount_rate") == "0.9"
    assert state.get("tiers.1.benefits.free_returns") == "on"
    assert state.get("tiers.0.benefits.free_returns") == ""
    # What a browser posts back: checked boxes only, every other input as it is.
    posted = {k: v for k, v in state.values.items() if v or not k.endswith(("returns", "support"))}
    built = forms.build(form, posted)
    assert built.errors == []
    expected = {k: v for k, v in stored.items() if k not in ("version", "updated_at")}
    assert validate("tiers", built.data) == validate("tiers", expected)
    assert built.data["tiers"][1]["benefits"]["custom"] == {"lounge": "机场贵宾厅"}
    assert built.data["qualification"]["purchase_event"] == "order_paid"
    assert built.data["evaluation"]["downgrade_after_periods"] is None


def test_task_form_takes_only_the_chosen_completion() -> None:
    form = forms.FORMS["tasks"]
    common = {"id": "share", "name": "分享截图", "kind": "daily", "reward.points": "30"}
    built = forms.build(
        form,
        {
            **common,
            "completion.by": "submission",
            "completion.trigger": "share",
            "completion.count": "3",
            "completion.require_url": "on",
            "completion.instructions": "上传分享截图",
            "enabled": "on",
        },
    )
    assert built.data == {
        "id": "share",
        "name": "分享截图",
        "kind": "daily",
        "completion": {
            "by": "submission",
            "require_url": True,
            "require_text": False,
            "instructions": "上传分享截图",
        },
        "reward": {"points": 30},
        "enabled": True,
    }
    validate("tasks", built.data)
    built = forms.build(
        form,
        {**common, "completion.by": "event", "completion.trigger": "", "completion.count": "3"},
    )
    with pytest.raises(ValidationError) as caught:
        validate("tasks", built.data)
    by_input, general = forms.place(form, built.state, problems_of(caught.value))
    assert "completion.trigger" in by_input  # completion.event.trigger in the schema's path
    assert general == []


def test_catalog_checkin_and_examples_round_trip() -> None:
    """Every form's resource example fills the form and builds back to a valid definition."""
    for slug, form in forms.FORMS.items():
        resource = resources.BY_SLUG[slug]
        assert resource.editor is not None
        if not domain_ready(resource.domain):
            continue
        example = resource.editor.example
        state = forms.state_of(form, example, "Asia/Shanghai")
        posted = {k: v for k, v in state.values.items() if v or not _is_bool(form, k)}
        built = forms.build(form, posted)
        assert built.errors == [], slug
        assert validate(slug, built.data) == validate(slug, example), slug


def _is_bool(form: forms.Form, name: str) -> bool:
    last = re.sub(r"^\w+\.\d+\.", "", name)
    for item in form.fields:
        for f in item.fields if isinstance(item, forms.Rows) else (item,):
            if f.name == last and f.kind == "bool":
                return True
    return False


def test_bad_numbers_and_schema_errors_are_placed_by_their_input() -> None:
    form = forms.FORMS["tiers"]
    built = forms.build(
        form,
        {
            "name": "等级",
            "tiers.0.code": "normal",
            "tiers.0.name": "普通",
            "tiers.0.min": "0",
            "tiers.1.code": "gold",
            "tiers.1.name": "金卡",
            "tiers.1.min": "abc",
            "tiers.1.benefits.discount_rate": "九折",
        },
    )
    assert built.errors == [
        {"field": "tiers.1.min", "message": "Enter a whole number", "position": None},
        {"field": "tiers.1.benefits.discount_rate", "message": "Enter a number", "position": None},
    ]
    by_input, general = forms.place(form, built.state, built.errors)
    assert set(by_input) == {"tiers.1.min", "tiers.1.benefits.discount_rate"}
    by_input, general = forms.place(
        form,
        built.state,
        [
            {"field": "tiers.1", "message": "row problem"},
            {"field": "", "message": "whole form"},
            {"field": "tiers", "message": "tier mins must increase"},
        ],
    )
    assert by_input == {"tiers.1": ["row problem"], "tiers": ["tier mins must increase"]}
    assert general == [{"field": "", "message": "whole form"}]


def test_listing_headers_and_cells_are_translated() -> None:
    zh, en = translator("zh-CN"), translator("en")
    for column in ("code", "name", "rank", "min", "discount_rate", "points_multiplier", "stock",
                   "price_points", "status"):  # fmt: skip
        assert resources.header(column) in ZH, column
    assert zh(resources.header("discount_rate")) == "折扣"
    assert zh(resources.header("price_points")) == "积分价格"
    assert resources.formatted("discount_rate", "0.9", zh, "zh-CN") == "9 折"
    assert resources.formatted("discount_rate", "0.85", zh, "zh-CN") == "8.5 折"
    assert resources.formatted("discount_rate", "0.9", en, "en") == "10% off"
    assert resources.formatted("discount_rate", "1", zh, "zh-CN") == "无折扣"
    assert resources.formatted("points_multiplier", "1.50", zh, "zh-CN") == "1.5×"
    assert resources.formatted("free_returns", True, zh, "zh-CN") == "是"
    assert resources.formatted("free_returns", False, en, "en") == "No"
    assert resources.formatted("discount_fen", 5000, zh, "zh-CN") == "¥50.00"
    assert resources.formatted("kind", "no_threshold", zh, "zh-CN", forms.options_of("coupons"))
    assert resources.formatted("valid_until", "2026-03-01T04:00:00Z", zh) == "2026-03-01 12:00"
    assert resources.formatted("stock", None, zh) == ""
    assert Decimal("0.9") * 10 == 9


def test_every_listing_column_has_a_chinese_header() -> None:
    """The fields of the models the listings show all have a label with its Chinese."""
    listed = {
        "tiers": ["ComparisonRow"],
        "tasks": ["TaskDefinition", "SubmissionOut"],
        "badges": ["BadgeOut"],
        "leaderboards": ["LeaderboardDefinition", "Entry"],
        "catalog": ["ItemOut", "OrderOut"],
        "coupons": ["TemplateOut"],
        "lottery": ["PoolOut"],
        "webhooks": ["WebhookOut", "DeliveryOut"],
        "wallet": ["WithdrawalOut", "PayableReport"],
        "partners": ["PartnerOut"],
    }
    missing = []
    for domain, names in listed.items():
        if not domain_ready(domain):
            continue
        schemas = importlib.import_module(f"jifen.{domain}.schemas")
        for name in names:
            for column in getattr(schemas, name).model_fields:
                if column not in resources.COLUMNS or resources.COLUMNS[column] not in ZH:
                    missing.append(f"{domain}.{name}.{column}")
    assert missing == []


async def test_coupon_form_saves_through_the_service_and_shows_errors_inline(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    if not domain_ready("coupons"):
        pytest.skip("coupons not there yet")
    pid, headers = await api_program(client)
    csrf = await sign_in(client, await add_user(sessionmaker, clock, pid, "operator"))
    url = f"/console/p/{pid}/x/coupons/form"
    fields = {
        "csrf_token": csrf,
        "id": "pct-15",
        "name": "85 折券",
        "kind": "percent",
        "percent_off": "150",  # over 100: refused by the schema
        "max_discount_fen": "3000",
        "scope": "all",
        "valid_days": "7",
        "active": "on",
    }
    r = await client.post(url, data=fields)
    assert r.status_code == 422
    assert re.search(r'data-error-for="percent_off">[^<]*100', r.text), r.text
    assert 'value="150"' in r.text  # the operator's input kept
    r = await client.get("/v1/coupon-templates/pct-15", headers=headers)
    assert r.status_code == 404
    r = await client.post(url, data={**fields, "percent_off": "15"})
    assert r.status_code == 200, r.text
    assert r.headers["HX-Refresh"] == "true"
    r = await client.get("/v1/coupon-templates/pct-15", headers=headers)
    assert r.status_code == 200
    body = r.json()
    assert (body["kind"], Decimal(body["percent_off"]), body["max_discount_fen"]) == (
        "percent", Decimal(15), 3000,
    )  # fmt: skip
    assert body["valid_days"] == 7
    assert body["active"] is True
    # The listing: Chinese headers and labels, and the form filled to edit it.
    r = await client.get(f"/console/p/{pid}/x/coupons?edit=pct-15")
    assert '<th data-column="percent_off">折扣（减免比例）</th>' in r.text
    assert "折扣券" in r.text
    assert 'name="percent_off" value="15"' in r.text
    # The advanced JSON editor shows the schema's messages in Chinese too.
    bad = {"id": "pct-16", "name": "x", "kind": "percent", "percent_off": "150", "valid_days": 7}
    r = await client.post(
        f"/console/p/{pid}/x/coupons/save",
        data={"csrf_token": csrf, "definition": json.dumps(bad)},
    )
    assert r.status_code == 422
    assert "<code>percent_off</code>: 应小于 100" in r.text
    # In English: the same page in English words.
    r = await client.get(f"/console/lang/en?next=/console/p/{pid}/x/coupons")
    r = await client.get(f"/console/p/{pid}/x/coupons")
    assert '<th data-column="percent_off">Percent off</th>' in r.text
    assert "Percent-off coupon" in r.text
    assert "<td>Yes</td>" in r.text
    # A read-only user sees the form but cannot save.
    client.cookies.clear()
    csrf = await sign_in(client, await add_user(sessionmaker, clock, pid, "read_only"))
    r = await client.get(f"/console/p/{pid}/x/coupons")
    assert 'data-testid="form-save"' not in r.text
    r = await client.post(url, data={**fields, "csrf_token": csrf, "percent_off": "20"})
    assert r.status_code == 403


def test_every_word_of_the_forms_has_its_chinese() -> None:
    words: set[str] = set()
    for form in forms.FORMS.values():
        words.add(form.title)
        for item in form.fields:
            if isinstance(item, forms.Rows):
                words.update((item.label, item.add_label))
            for f in item.fields if isinstance(item, forms.Rows) else (item,):
                words.update(w for w in (f.label, f.hint) if w)
                words.update(label for _, label in f.options)
    words.update(resources.COLUMNS.values())
    words.update(resources.VALUES.values())
    words.update(("Enter a whole number", "Enter a number", "Enter a date and time", "Yes", "No"))
    assert sorted(w for w in words if w not in ZH) == []


def test_schema_messages_in_chinese() -> None:
    with pytest.raises(ValidationError) as caught:
        validate("lottery", {"id": "w", "name": "", "cost_points": -1, "prizes": []})
    zh = {p["field"]: p["message"] for p in forms.problems_of(list(caught.value.errors()), "zh-CN")}
    assert zh == {"name": "至少 1 个字符", "cost_points": "应大于或等于 0", "prizes": "至少 1 项"}
    en = {p["field"]: p["message"] for p in forms.problems_of(list(caught.value.errors()), "en")}
    assert en["cost_points"] == "Input should be greater than or equal to 0"


def test_badge_form_takes_only_the_chosen_criterions_fields() -> None:
    form = forms.FORMS["badges"]
    common = {"id": "talker", "name": "话痨", "icon": "💬", "color": "#336699", "enabled": "on"}
    built = forms.build(
        form,
        {
            **common,
            "criterion.kind": "event_count",
            "criterion.n": "100",
            "criterion.event_type": "message",
            "criterion.tier": "gold",  # a tier badge's field: left out
            "sort_order": "2",
        },
    )
    assert built.errors == []
    assert built.data == {
        "id": "talker",
        "name": "话痨",
        "icon": "💬",
        "color": "#336699",
        "criterion": {"kind": "event_count", "n": 100, "event_type": "message"},
        "sort_order": 2,
        "enabled": True,
    }
    assert validate("badges", built.data).criterion.event_type == "message"
    built = forms.build(form, {**common, "criterion.kind": "manual", "criterion.n": "7"})
    assert built.data["criterion"] == {"kind": "manual"}
    validate("badges", built.data)
    # A streak badge without its number: the schema's path names the union's branch
    # (criterion.checkin_streak.n); the error lands by the "Times" input all the same.
    built = forms.build(form, {**common, "criterion.kind": "checkin_streak", "criterion.n": ""})
    with pytest.raises(ValidationError) as caught:
        validate("badges", built.data)
    by_input, general = forms.place(form, built.state, problems_of(caught.value))
    assert set(by_input) == {"criterion.n"}
    assert general == []
    # A stored badge fills the form (id read-only) and builds back to the same badge.
    stored = {**built.data, "criterion": {"kind": "tier", "tier": "gold"}, "description": "",
              "sort_order": 0, "created_at": "2026-03-01T04:00:00Z",
              "updated_at": "2026-03-01T04:00:00Z"}  # fmt: skip
    state = forms.state_of(form, stored, "Asia/Shanghai")
    assert state.get("criterion.kind") == "tier"
    assert state.get("criterion.tier") == "gold"
    assert state.get("_extra") == ""
    again = forms.build(form, state.values)
    assert again.errors == []
    assert validate("badges", again.data) == validate(
        "badges", {k: v for k, v in stored.items() if not k.endswith("_at")}
    )


def test_leaderboard_form_with_two_reward_rows() -> None:
    form = forms.FORMS["leaderboards"]
    assert forms.state_of(form, None, "Asia/Shanghai").rows == {"rewards": 0}  # optional
    posted = {
        "id": "weekly-speakers",
        "name": "本周发言榜",
        "metric": "event_count",
        "event_type": "message",
        "asset": "growth",  # a points_earned board's field: left out
        "event_types": "order_paid",  # likewise
        "period": "week",
        "enabled": "on",
        "rewards.0.from": "1",
        "rewards.0.to": "1",
        "rewards.0.reward.points": "500",
        "rewards.0.reward.coupon_template": "vip-50",
        "rewards.3.from": "2",
        "rewards.3.to": "10",
        "rewards.3.reward.points": "100",
        "rewards.3.reward.growth": "",
    }
    built = forms.build(form, posted)
    assert built.errors == []
    assert built.data == {
        "id": "weekly-speakers",
        "name": "本周发言榜",
        "metric": "event_count",
        "event_type": "message",
        "period": "week",
        "enabled": True,
        "rewards": [
            {"from": 1, "to": 1, "reward": {"points": 500, "coupon_template": "vip-50"}},
            {"from": 2, "to": 10, "reward": {"points": 100}},
        ],
    }
    board = validate("leaderboards", built.data)
    assert [(r.from_rank, r.to_rank, r.reward.points) for r in board.rewards] == [
        (1, 1, 500), (2, 10, 100),
    ]  # fmt: skip
    # What the listing holds (by alias) fills the form and builds back to the same board.
    stored = board.model_dump(mode="json", by_alias=True)
    state = forms.state_of(form, stored, "Asia/Shanghai")
    assert state.rows == {"rewards": 2}
    assert (state.get("rewards.1.from"), state.get("rewards.1.to")) == ("2", "10")
    again = forms.build(form, state.values)
    assert again.errors == []
    assert validate("leaderboards", again.data) == board
    # Ranks out of order: the row's own error by the row; a bad rank by its input.
    bad = {**posted, "rewards.3.from": "0", "rewards.0.to": "x"}
    built = forms.build(form, bad)
    assert built.errors == [
        {"field": "rewards.0.to", "message": "Enter a whole number", "position": None}
    ]
    built = forms.build(form, {**posted, "rewards.3.from": "0"})
    with pytest.raises(ValidationError) as caught:
        validate("leaderboards", built.data)
    by_input, _ = forms.place(form, built.state, problems_of(caught.value))
    assert set(by_input) == {"rewards.1.from"}
    built = forms.build(form, {**posted, "rewards.3.from": "12"})
    with pytest.raises(ValidationError) as caught:
        validate("leaderboards", built.data)
    by_input, _ = forms.place(form, built.state, problems_of(caught.value))
    assert set(by_input) == {"rewards.1"}  # to before from
    # A points board: asset and event type filter, no single event type.
    built = forms.build(
        form,
        {"id": "rich", "name": "积分榜", "metric": "points_earned", "event_type": "message",
         "asset": "points", "event_types": "order_paid, check_in", "period": "month"},
    )  # fmt: skip
    assert built.data == {
        "id": "rich",
        "name": "积分榜",
        "metric": "points_earned",
        "asset": "points",
        "event_types": ["order_paid", "check_in"],
        "period": "month",
        "enabled": False,
        "rewards": [],
    }
    validate("leaderboards", built.data)


def test_webhook_form_makes_new_endpoints_only() -> None:
    form = forms.FORMS["webhooks"]
    assert not form.editable
    built = forms.build(
        form,
        {"url": "https://example.cn/hook", "events": "points.*, coupon.issued\nbadge.awarded",
         "description": "", "max_attempts": "5"},
    )  # fmt: skip
    assert built.data == {
        "url": "https://example.cn/hook",
        "events": ["points.*", "coupon.issued", "badge.awarded"],
        "max_attempts": 5,
    }
    assert validate("webhooks", built.data).max_attempts == 5
    built = forms.build(form, {"url": "ftp://x", "events": "", "max_attempts": "8"})
    with pytest.raises(ValidationError) as caught:
        validate("webhooks", built.data)
    by_input, general = forms.place(form, built.state, problems_of(caught.value))
    assert set(by_input) == {"url", "events"}
    assert general == []


def test_settings_forms_build_their_schemas() -> None:
    """Checkout, referral, wallet and gift settings: single forms, empty inputs as defaults."""
    built = forms.build(
        forms.FORMS["checkout"],
        {"enabled": "on", "point_value_fen": "", "max_share": "0.5", "min_points": "100",
         "step": "10"},
    )  # fmt: skip
    assert built.data == {"enabled": True, "max_share": "0.5", "min_points": 100, "step": 10}
    checkout = validate("checkout", built.data)
    assert (checkout.point_value_fen, checkout.max_share) == (None, Decimal("0.5"))
    state = forms.state_of(forms.FORMS["checkout"], None, "Asia/Shanghai")
    assert (state.get("enabled"), state.get("max_share"), state.get("step")) == ("on", "1", "1")

    referral = forms.FORMS["referrals"]
    built = forms.build(
        referral,
        {"link_base_url": "https://example.cn/i/{code}", "qualify_on": "registered",
         "qualify_days": "30", "refuse_shared_device": "on", "refund_window_days": "14"},
    )  # fmt: skip
    assert built.data == {
        "link_base_url": "https://example.cn/i/{code}",
        "qualify_on": "registered",
        "refuse_shared_device": True,
        "refuse_shared_ip": False,
        "refund_window_days": 14,
    }
    assert validate("referrals", built.data).qualify_days == 7  # only for days_stayed
    built = forms.build(referral, {"qualify_on": "days_stayed", "qualify_days": "400"})
    with pytest.raises(ValidationError) as caught:
        validate("referrals", built.data)
    assert set(forms.place(referral, built.state, problems_of(caught.value))[0]) == {"qualify_days"}

    built = forms.build(
        forms.FORMS["wallet"],
        {"min_amount": "100", "max_amount": "", "daily_limit": "20000", "hold_days": "7"},
    )
    assert built.data == {"min_amount": 100, "daily_limit": 20000, "hold_days": 7}
    assert validate("wallet", built.data).max_amount is None

    gifts = forms.FORMS["transfers"]
    posted = {"enabled": "on", "asset": "points", "min_amount": "10", "max_amount": "",
              "daily_limit": "500", "eligible_tiers": "", "fee_rate": "0.01",
              "fee_account": "redemption"}  # fmt: skip
    built = forms.build(gifts, posted)
    # No tiers: null (anyone may give), not [] (no one).
    assert built.data == {
        "enabled": True,
        "asset": "points",
        "min_amount": 10,
        "daily_limit": 500,
        "eligible_tiers": None,
        "fee_rate": "0.01",
        "fee_account": "redemption",
    }
    assert validate("transfers", built.data).eligible_tiers is None
    built = forms.build(gifts, {**posted, "eligible_tiers": "silver，gold"})
    assert validate("transfers", built.data).eligible_tiers == ["silver", "gold"]
    stored = validate("transfers", built.data).model_dump(mode="json")
    again = forms.build(gifts, forms.state_of(gifts, stored, "Asia/Shanghai").values)
    assert validate("transfers", again.data) == validate("transfers", built.data)


def test_partner_form_rates_and_limits() -> None:
    form = forms.FORMS["partners"]
    posted = {"id": "air-miles", "name": "航空里程", "rate_out": "10", "rate_in": "8.5",
              "min_units_out": "100", "min_units_in": "1", "daily_units_out": "5000",
              "daily_units_in": "", "active": "on"}  # fmt: skip
    built = forms.build(form, posted)
    assert built.data == {
        "id": "air-miles",
        "name": "航空里程",
        "rate_out": "10",
        "rate_in": "8.5",
        "min_units_out": 100,
        "min_units_in": 1,
        "daily_units_out": 5000,
        "active": True,
    }
    partner = validate("partners", built.data)
    assert (partner.rate_in, partner.daily_units_in) == (Decimal("8.5"), None)
    built = forms.build(form, {**posted, "rate_in": "八"})
    assert built.errors == [{"field": "rate_in", "message": "Enter a number", "position": None}]


def test_badge_and_leaderboard_cells() -> None:
    zh, en = translator("zh-CN"), translator("en")
    rewards = [
        {"from": 1, "to": 1, "reward": {"points": 500, "growth": 0, "cash": 0,
                                        "coupon_template": None}},
        {"from": 2, "to": 10, "reward": {"points": 100, "growth": 20}},
    ]  # fmt: skip
    assert resources.formatted("rewards", rewards, zh) == "1: 500 积分; 2–10: 100 积分 · 20 成长值"
    assert resources.formatted("criterion", {"kind": "checkin_streak", "n": 7}, zh) == (
        "连续签到 N 天 (7)"
    )
    assert resources.formatted("criterion", {"kind": "event_count", "event_type": "message",
                                             "n": 100}, en) == "Sent N events of a type (message, 100)"  # fmt: skip
    assert resources.formatted("criterion", {"kind": "manual"}, zh) == "仅手动颁发"
    boards = forms.options_of("leaderboards")
    assert resources.formatted("metric", "event_count", zh, "zh-CN", boards) == "事件次数"


async def test_settings_webhook_and_partner_forms_save_through_their_services(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    needed = ("referrals", "transfers", "webhooks", "partners")
    if not all(domain_ready(d) for d in needed):
        pytest.skip("a domain is not there yet")
    pid, _ = await api_program(client)
    csrf = await sign_in(client, await add_user(sessionmaker, clock, pid, "owner"))

    async def post(slug: str, fields: dict[str, str]) -> httpx.Response:
        return await client.post(
            f"/console/p/{pid}/x/{slug}/form", data={"csrf_token": csrf, **fields}
        )

    # Settings: the page's form is filled from the current settings (or the example).
    r = await client.get(f"/console/p/{pid}/x/referrals")
    assert 'name="qualify_on"' in r.text
    r = await post(
        "referrals",
        {"link_base_url": "https://example.cn/i/{code}", "qualify_on": "days_stayed",
         "qualify_days": "14", "refuse_shared_ip": "on", "refund_window_days": "30"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    r = await post("transfers", {"enabled": "on", "min_amount": "10", "eligible_tiers": "",
                                 "fee_rate": "2", "fee_account": "fee"})  # fmt: skip
    assert r.status_code == 422
    assert re.search(r'data-error-for="fee_rate">[^<]*1', r.text), r.text
    r = await post("transfers", {"enabled": "on", "min_amount": "10", "eligible_tiers": "",
                                 "fee_rate": "0.02", "fee_account": "fee"})  # fmt: skip
    assert r.status_code == 200, r.text
    # A webhook endpoint is made by the form (no edit link: it cannot be edited).
    r = await post(
        "webhooks",
        {"url": "https://example.cn/hook", "events": "points.*, coupon.issued",
         "max_attempts": "5"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    r = await client.get(f"/console/p/{pid}/x/webhooks")
    assert "https://example.cn/hook" in r.text
    assert "data-edit=" not in r.text
    r = await post(
        "partners",
        {"id": "air-miles", "name": "航空里程", "rate_out": "10", "rate_in": "8",
         "min_units_out": "100", "daily_units_in": "500", "active": "on"},
    )  # fmt: skip
    assert r.status_code == 200, r.text

    from jifen.partners import service as partners
    from jifen.referrals import service as referrals
    from jifen.transfers import service as transfers
    from jifen.webhooks import service as webhooks

    async with sessionmaker() as s:
        referral = await referrals.get_settings(s, pid)
        gifts = await transfers.get_settings(s, pid)
        hooks = await webhooks.list_endpoints(s, pid)
        partner = await partners.get_partner(s, pid, "air-miles")
    assert (referral.qualify_on, referral.qualify_days, referral.refund_window_days) == (
        "days_stayed", 14, 30,
    )  # fmt: skip
    assert (referral.refuse_shared_device, referral.refuse_shared_ip) == (False, True)
    assert (gifts.min_amount, gifts.eligible_tiers, gifts.fee_rate) == (10, None, Decimal("0.02"))
    assert [(h.url, h.events, h.max_attempts) for h in hooks] == [
        ("https://example.cn/hook", ["coupon.issued", "points.*"], 5)  # stored sorted
    ]
    assert (partner.rate_out, partner.rate_in, partner.min_units_out) == (
        Decimal(10), Decimal(8), 100,
    )  # fmt: skip
    assert (partner.daily_units_out, partner.daily_units_in) == (None, 500)
    # The saved settings fill the form again.
    r = await client.get(f"/console/p/{pid}/x/referrals")
    assert 'name="qualify_days" value="14"' in r.text
