"""Real forms for the domains' definitions (coupon templates, catalog items, lottery pools,
the tier scheme, check-in settings, tasks, badges, leaderboards, webhook endpoints, checkout,
referral, wallet and gift settings, partners), described as data. A form's inputs are named by the
definition's field path (``prizes.1.weight``); the server turns the posted fields into the same
dict the JSON editor takes (``build``) and saves it through the same service function, so the
domain schema's errors (``tiers.1.min``) land next to the input of that path (``place``).
Whatever a form has no input for (a tier's custom benefits, RFM settings, an item's meta) rides
along unchanged in hidden ``_extra`` JSON fields, so saving a form never drops it."""

from __future__ import annotations

import contextlib
import copy
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from zoneinfo import ZoneInfo

Kind = Literal["text", "textarea", "int", "decimal", "bool", "select", "list", "datetime"]


@dataclass(frozen=True)
class Field:
    name: str  # dot path in the definition (in a row, relative to the row)
    label: str  # English; translated on the page
    kind: Kind = "text"
    options: tuple[tuple[str, str], ...] = ()  # select: (value, English label)
    required: bool = False
    hint: str = ""
    # Only posted when the field named (same scope) has one of these values.
    when: tuple[str, tuple[str, ...]] | None = None
    key: bool = False  # the definition's id: read-only once saved
    default: str = ""  # the input's text when the definition leaves the field out
    # An empty input (a list with no items) means null (the schema's default is not null, or
    # a list's empty value means something else than null).
    empty_null: bool = False


@dataclass(frozen=True)
class Rows:
    """A repeatable section (tiers, prizes, gift packs): one row per list item."""

    name: str
    label: str
    fields: tuple[Field, ...]
    add_label: str
    drop: tuple[str, ...] = ()  # keys of a stored row that are outputs, not inputs
    start: int = 1  # rows of an empty form (0: the section is optional)


@dataclass(frozen=True)
class Form:
    slug: str
    title: str
    fields: tuple[Field | Rows, ...]
    drop: tuple[str, ...] = ()  # keys of a stored definition that are outputs (issued, version)
    # Error paths of the schema that name a union's branch: prefix -> the inputs' prefix.
    aliases: tuple[tuple[str, str], ...] = ()
    multi: bool = True  # many definitions keyed by id (an empty form is a new one)
    editable: bool = True  # False: the form only makes new ones (no Edit link in the listing)


@dataclass
class State:
    """What the form shows: each input's text by its full name, and each section's row count."""

    values: dict[str, str] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return self.values.get(name, "")


@dataclass
class Built:
    data: dict[str, Any]
    errors: list[dict[str, Any]]  # [{field, message, position}] as the JSON editor shows
    state: State


# --- the forms --------------------------------------------------------------------------------

COUPON_KINDS = (
    ("fixed", "Fixed amount off above a threshold"),
    ("percent", "Percent-off coupon"),
    ("no_threshold", "No-threshold amount off"),
)
SCOPES = (("all", "All products"), ("categories", "Some categories"), ("products", "Some products"))
ITEM_KINDS = (
    ("virtual", "Virtual"),
    ("physical", "Physical (shipped)"),
    ("coupon", "Coupon"),
    ("privilege", "Privilege"),
)
WINDOWS = (
    ("", "—"),
    ("day", "Per day"),
    ("week", "Per week"),
    ("month", "Per month"),
    ("lifetime", "Lifetime"),
)
PRIZE_KINDS = (
    ("points", "Points"),
    ("coupon", "Coupon"),
    ("item", "Item"),
    ("nothing", "Nothing (thanks for playing)"),
)
TASK_KINDS = (
    ("newbie", "Newbie task"),
    ("daily", "Daily task"),
    ("growth", "Growth task"),
    ("challenge", "Challenge"),
)
REPEATS = (("", "—"), ("once", "Once"), ("day", "Daily"), ("week", "Weekly"), ("month", "Monthly"))
METRICS = (
    ("growth", "Growth value"),
    ("spend", "Spend"),
    ("points_earned", "Points earned"),
    ("rfm", "RFM score"),
)
EVAL_PERIODS = (("month", "Monthly"), ("quarter", "Quarterly"), ("year", "Yearly"))
DOWNGRADE_TO = (("one_step", "One tier down"), ("to_qualified", "To the tier qualified for"))
ASSETS = (("points", "Points"), ("growth", "Growth value"), ("cash", "Cash (fen)"))
COMPLETIONS = (("event", "By events"), ("submission", "By submission (reviewed)"))

_EVENT = ("completion.by", ("event",))
_SUBMISSION = ("completion.by", ("submission",))
CRITERIA = (
    ("checkin_streak", "Checked in N days in a row"),
    ("checkin_days", "Checked in on N days in all"),
    ("event_count", "Sent N events of a type"),
    ("tier", "Reached a tier"),
    ("manual", "Only awarded by hand"),
)
BOARD_METRICS = (("event_count", "Events counted"), ("points_earned", "Points earned"))
BOARD_PERIODS = (("week", "Per week"), ("day", "Per day"), ("month", "Per month"))
QUALIFY_ON = (
    ("registered", "At registration"),
    ("first_purchase", "At the first purchase"),
    ("days_stayed", "After staying some days"),
)
FEE_ACCOUNTS = (("fee", "Fee account"), ("redemption", "Redemption"))

_COUNTED = ("metric", ("event_count",))
_EARNED = ("metric", ("points_earned",))

FORMS: dict[str, Form] = {
    f.slug: f
    for f in (
        Form(
            "coupons",
            "Coupon template",
            (
                Field("id", "ID", required=True, key=True, hint="a-z, 0-9, - _ ."),
                Field("name", "Name", required=True),
                Field("kind", "Kind", "select", COUPON_KINDS, required=True),
                Field(
                    "discount_fen",
                    "Discount (fen)",
                    "int",
                    when=("kind", ("fixed", "no_threshold")),
                ),
                Field(
                    "threshold_fen", "Threshold (fen)", "int", when=("kind", ("fixed", "percent"))
                ),
                Field("percent_off", "Percent off (%)", "decimal", when=("kind", ("percent",))),
                Field("max_discount_fen", "Max discount (fen)", "int", when=("kind", ("percent",))),
                Field("scope", "Scope", "select", SCOPES),
                Field("categories", "Categories", "list", when=("scope", ("categories",))),
                Field("product_ids", "Product ids", "list", when=("scope", ("products",))),
                Field("valid_days", "Valid for (days)", "int"),
                Field("valid_from", "Valid from", "datetime"),
                Field("valid_until", "Valid until", "datetime"),
                Field("per_member_limit", "Per member limit", "int"),
                Field("total_quantity", "Total quantity", "int"),
                Field("active", "Active", "bool", default="on"),
            ),
            drop=("issued", "remaining"),
        ),
        Form(
            "catalog",
            "Catalog item",
            (
                Field("id", "ID", required=True, key=True, hint="a-z, 0-9, - _ ."),
                Field("name", "Name", required=True),
                Field("kind", "Kind", "select", ITEM_KINDS, required=True),
                Field("category", "Category"),
                Field("price_points", "Price (points)", "int", required=True),
                Field("cash_fen", "Cash part (fen)", "int"),
                Field("stock", "Stock", "int", hint="empty: unlimited"),
                Field("coupon_template_id", "Coupon template", when=("kind", ("coupon",))),
                Field("tiers", "Tiers allowed", "list", hint="tier codes, comma separated"),
                Field("limit.count", "Limit per member", "int"),
                Field("limit.window", "Limit window", "select", WINDOWS),
                Field("available_from", "Available from", "datetime"),
                Field("available_until", "Available until", "datetime"),
                Field("description", "Description", "textarea"),
                Field("enabled", "Enabled", "bool", default="on"),
            ),
            drop=("created_at", "updated_at"),
        ),
        Form(
            "lottery",
            "Lottery pool",
            (
                Field("id", "ID", required=True, key=True, hint="a-z, 0-9, - _ ."),
                Field("name", "Name", required=True),
                Field("cost_points", "Cost per draw (points)", "int", required=True),
                Field("daily_limit", "Draws per member per day", "int"),
                Field("budget_points", "Points budget", "int"),
                Field("consolation_prize", "Consolation prize (prize id)"),
                Field("starts_at", "Starts", "datetime"),
                Field("ends_at", "Ends", "datetime"),
                Field("active", "Active", "bool", default="on"),
                Rows(
                    "prizes",
                    "Prizes",
                    (
                        Field("id", "Prize id", required=True),
                        Field("name", "Name", required=True),
                        Field("kind", "Kind", "select", PRIZE_KINDS, required=True),
                        Field("weight", "Weight", "int", required=True),
                        Field("points", "Points", "int", when=("kind", ("points",))),
                        Field("template_id", "Coupon template", when=("kind", ("coupon",))),
                        Field("stock", "Stock", "int"),
                    ),
                    "Add a prize",
                    drop=("won",),
                ),
            ),
            drop=("budget_spent",),
        ),
        Form(
            "tiers",
            "Tier scheme",
            (
                Field("name", "Name"),
                Field("qualification.metric", "Qualifying metric", "select", METRICS),
                Field("qualification.window_months", "Window (months)", "int"),
                Field("evaluation.period", "Evaluated", "select", EVAL_PERIODS),
                Field(
                    "evaluation.downgrade_after_periods",
                    "Downgrade after (periods)",
                    "int",
                    hint="empty: never downgrade",
                    default="1",  # the schema's default when the scheme leaves it out
                    empty_null=True,
                ),
                Field("evaluation.downgrade_to", "Downgrade to", "select", DOWNGRADE_TO),
                Field("evaluation.protection_months", "Protection (months)", "int"),
                Rows(
                    "tiers",
                    "Tiers",
                    (
                        Field("code", "Code", required=True),
                        Field("name", "Name", required=True),
                        Field("min", "Threshold", "int", required=True),
                        Field(
                            "benefits.discount_rate", "Discount", "decimal", hint="0.9 = 10% off"
                        ),
                        Field("benefits.points_multiplier", "Points multiplier", "decimal"),
                        Field(
                            "benefits.exclusive_activities_per_month",
                            "Exclusive activities / month",
                            "int",
                        ),
                        Field("benefits.free_returns", "Free returns", "bool"),
                        Field("benefits.dedicated_support", "Dedicated support", "bool"),
                    ),
                    "Add a tier",
                ),
            ),
            drop=("version", "updated_at"),
            multi=False,
        ),
        Form(
            "checkin",
            "Check-in settings",
            (
                Field("makeup_cost", "Make-up cost (points)", "int"),
                Field("makeup_monthly_limit", "Make-ups per month", "int"),
                Rows(
                    "gift_packs",
                    "Gift packs",
                    (
                        Field("streak", "Streak (days)", "int", required=True),
                        Field("repeat", "Repeats every streak", "bool"),
                        Field("name", "Name"),
                        Field("asset", "Asset", "select", ASSETS),
                        Field("amount", "Amount", "int"),
                        Field("coupon_template_id", "Coupon template"),
                        Field("badge_id", "Badge"),
                    ),
                    "Add a gift pack",
                ),
            ),
            multi=False,
        ),
        Form(
            "tasks",
            "Task",
            (
                Field("id", "ID", required=True, key=True, hint="a-z, 0-9, - _ ."),
                Field("name", "Name", required=True),
                Field("kind", "Kind", "select", TASK_KINDS, required=True),
                Field("repeat", "Repeat", "select", REPEATS),
                Field("group", "Group"),
                Field("description", "Description", "textarea"),
                Field("completion.by", "Completed", "select", COMPLETIONS, required=True),
                Field("completion.trigger", "Trigger event", when=_EVENT),
                Field("completion.count", "Times", "int", when=_EVENT),
                Field("completion.condition", "Condition (CEL)", when=_EVENT),
                Field("completion.require_url", "Requires a link", "bool", when=_SUBMISSION),
                Field("completion.require_text", "Requires a note", "bool", when=_SUBMISSION),
                Field("completion.instructions", "Instructions", "textarea", when=_SUBMISSION),
                Field("reward.points", "Reward points", "int"),
                Field("reward.growth", "Reward growth", "int"),
                Field("reward.cash", "Reward cash (fen)", "int"),
                Field("reward.coupon_template", "Reward coupon template"),
                Field("deadline.within_days_of_joining", "Within days of joining", "int"),
                Field("starts_at", "Starts", "datetime"),
                Field("ends_at", "Ends", "datetime"),
                Field("position", "Position", "int"),
                Field("enabled", "Enabled", "bool", default="on"),
            ),
            aliases=(
                ("completion.event.", "completion."),
                ("completion.submission.", "completion."),
            ),
        ),
        Form(
            "badges",
            "Badge",
            (
                Field("id", "ID", required=True, key=True, hint="a-z, 0-9, - _ ."),
                Field("name", "Name", required=True),
                Field("description", "Description", "textarea"),
                Field("icon", "Icon", default="🏅", hint="an emoji or a short mark"),
                Field("color", "Colour", default="#d4a017", hint="#rrggbb"),
                Field("criterion.kind", "Awarded when", "select", CRITERIA, required=True),
                Field(
                    "criterion.n",
                    "Times",
                    "int",
                    when=("criterion.kind", ("checkin_streak", "checkin_days", "event_count")),
                ),
                Field(
                    "criterion.event_type",
                    "Event type",
                    when=("criterion.kind", ("event_count",)),
                ),
                Field("criterion.tier", "Tier code", when=("criterion.kind", ("tier",))),
                Field("sort_order", "Order", "int"),
                Field("enabled", "Enabled", "bool", default="on"),
            ),
            drop=("created_at", "updated_at"),
            aliases=tuple((f"criterion.{kind}.", "criterion.") for kind, _ in CRITERIA),
        ),
        Form(
            "leaderboards",
            "Leaderboard",
            (
                Field("id", "ID", required=True, key=True, hint="a-z, 0-9, - _ ."),
                Field("name", "Name", required=True),
                Field("metric", "Ranked by", "select", BOARD_METRICS, required=True),
                Field("event_type", "Event type", when=_COUNTED),
                Field("asset", "Asset", "select", ASSETS, when=_EARNED),
                Field(
                    "event_types",
                    "Only from event types",
                    "list",
                    when=_EARNED,
                    hint="empty: every event",
                ),
                Field("period", "Period", "select", BOARD_PERIODS, required=True),
                Field("enabled", "Enabled", "bool", default="on"),
                Rows(
                    "rewards",
                    "Rewards when a period closes",
                    (
                        Field("from", "From rank", "int", required=True, default="1"),
                        Field("to", "To rank", "int", required=True),
                        Field("reward.points", "Reward points", "int"),
                        Field("reward.growth", "Reward growth", "int"),
                        Field("reward.cash", "Reward cash (fen)", "int"),
                        Field("reward.coupon_template", "Reward coupon template"),
                    ),
                    "Add a reward",
                    start=0,
                ),
            ),
        ),
        Form(
            "webhooks",
            "Webhook endpoint",
            (
                Field("url", "URL", required=True, hint="https://…"),
                Field(
                    "events",
                    "Events",
                    "list",
                    required=True,
                    hint="comma separated: points.*, coupon.issued, *",
                ),
                Field("description", "Description"),
                Field("max_attempts", "Max attempts", "int", default="8"),
            ),
            editable=False,  # an endpoint is created (with its secret), not edited
        ),
        Form(
            "checkout",
            "Checkout settings",
            (
                Field("enabled", "Enabled", "bool", default="on"),
                Field(
                    "point_value_fen",
                    "Point value (fen)",
                    "decimal",
                    hint="empty: the program's point value",
                ),
                Field(
                    "max_share",
                    "Max share of an order",
                    "decimal",
                    default="1",
                    hint="0.5 = points pay at most half",
                ),
                Field("min_points", "Min points", "int", default="0"),
                Field("step", "Points in multiples of", "int", default="1"),
            ),
            multi=False,
        ),
        Form(
            "referrals",
            "Referral settings",
            (
                Field("link_base_url", "Invite link", hint="{code} is replaced by the code"),
                Field("qualify_on", "An invite counts", "select", QUALIFY_ON),
                Field(
                    "qualify_days",
                    "Days stayed",
                    "int",
                    default="7",
                    when=("qualify_on", ("days_stayed",)),
                ),
                Field("refuse_shared_device", "Refuse a shared device", "bool", default="on"),
                Field("refuse_shared_ip", "Refuse a shared IP", "bool"),
                Field(
                    "refund_window_days",
                    "Refund window (days)",
                    "int",
                    default="0",
                    hint="0: refunds never revoke an invite",
                ),
            ),
            multi=False,
        ),
        Form(
            "wallet",
            "Wallet settings",
            (
                Field("min_amount", "Min withdrawal (fen)", "int", default="100"),
                Field("max_amount", "Max withdrawal (fen)", "int", hint="empty: no limit"),
                Field("daily_limit", "Daily limit (fen)", "int", hint="empty: no limit"),
                Field("hold_days", "Hold (days)", "int", default="30"),
            ),
            multi=False,
        ),
        Form(
            "transfers",
            "Gift settings",
            (
                Field("enabled", "Enabled", "bool", default="on"),
                Field("asset", "Asset", "select", ASSETS),
                Field("min_amount", "Min gift", "int", default="1"),
                Field("max_amount", "Max gift", "int", hint="empty: no limit"),
                Field("daily_limit", "Daily limit per member", "int", hint="empty: no limit"),
                Field(
                    "eligible_tiers",
                    "Tiers that may give",
                    "list",
                    empty_null=True,
                    hint="tier codes; empty: anyone",
                ),
                Field("fee_rate", "Fee rate", "decimal", default="0", hint="0.01 = 1% fee"),
                Field("fee_account", "Fees go to", "select", FEE_ACCOUNTS),
            ),
            multi=False,
        ),
        Form(
            "partners",
            "Partner",
            (
                Field("id", "ID", required=True, key=True, hint="a-z, 0-9, - _ ."),
                Field("name", "Name", required=True),
                Field(
                    "rate_out",
                    "Rate out",
                    "decimal",
                    required=True,
                    hint="points paid for 1 partner unit",
                ),
                Field(
                    "rate_in",
                    "Rate in",
                    "decimal",
                    required=True,
                    hint="points given for 1 partner unit",
                ),
                Field("min_units_out", "Min units out", "int", default="1"),
                Field("min_units_in", "Min units in", "int", default="1"),
                Field("daily_units_out", "Daily units out", "int", hint="empty: no limit"),
                Field("daily_units_in", "Daily units in", "int", hint="empty: no limit"),
                Field("active", "Active", "bool", default="on"),
            ),
            drop=("created_at", "updated_at"),
        ),
    )
}


def options_of(slug: str) -> dict[str, dict[str, str]]:
    """Each select's values and labels by field name (also for the listing's cells)."""
    form = FORMS.get(slug)
    out: dict[str, dict[str, str]] = {}
    if form is None:
        return out
    for item in form.fields:
        for f in item.fields if isinstance(item, Rows) else (item,):
            if f.options:
                out.setdefault(f.name.rsplit(".", 1)[-1], {}).update(
                    {v: label for v, label in f.options if v}
                )
    return out


# --- nested dicts -----------------------------------------------------------------------------


def _get(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _has(data: dict[str, Any], path: str) -> bool:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    return True


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        child = data.get(part)
        if not isinstance(child, dict):
            child = data[part] = {}
        data = child
    data[last] = value


def _pop(data: dict[str, Any], path: str) -> None:
    *parents, last = path.split(".")
    for part in parents:
        child = data.get(part)
        if not isinstance(child, dict):
            return
        data = child
    data.pop(last, None)


def _prune(data: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """Without the dicts that removing the inputs' keys left empty (``before``: the dict before
    the removal; a dict that was empty there, like a tier's ``custom: {}``, stays)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            was = before.get(key)
            if isinstance(was, dict) and was:
                value = _prune(value, was)
                if not value:
                    continue
        out[key] = value
    return out


# --- definition -> form -----------------------------------------------------------------------


def _text(f: Field, value: Any, tz: str) -> str:
    if value is None:
        return ""
    if f.kind == "bool":
        return "on" if value else ""
    if f.kind == "list":
        return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    if f.kind == "datetime":
        try:
            instant = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
        if instant.tzinfo is not None:
            instant = instant.astimezone(ZoneInfo(tz))
        return instant.strftime("%Y-%m-%dT%H:%M")
    return str(value)


def _fill(
    fields: tuple[Field, ...], data: dict[str, Any], prefix: str, state: State, tz: str
) -> None:
    rest = copy.deepcopy(data)
    for f in fields:
        present = _has(data, f.name)
        text = _text(f, _get(data, f.name), tz) if present else f.default
        if f.kind == "select" and text not in {v for v, _ in f.options}:
            text = f.options[0][0]  # what the browser shows selected
        state.values[prefix + f.name] = text
        _pop(rest, f.name)
    rest = _prune(rest, data)
    state.values[prefix + "_extra"] = json.dumps(rest, ensure_ascii=False) if rest else ""


def state_of(form: Form, data: dict[str, Any] | None, tz: str) -> State:
    """The form's inputs filled from a stored (or example) definition; None: an empty form with
    each section's first rows (``start``) and each select at its first choice."""
    state = State()
    definition = copy.deepcopy(data) if data is not None else {}
    for key in form.drop:
        definition.pop(key, None)
    plain = tuple(f for f in form.fields if isinstance(f, Field))
    for section in (r for r in form.fields if isinstance(r, Rows)):
        items = definition.pop(section.name, None)
        rows = [r for r in items if isinstance(r, dict)] if isinstance(items, list) else []
        if data is None:
            rows = [{} for _ in range(section.start)]
        state.rows[section.name] = len(rows)
        for i, row in enumerate(rows):
            row = {k: v for k, v in row.items() if k not in section.drop}
            _fill(section.fields, row, f"{section.name}.{i}.", state, tz)
    _fill(plain, definition, "", state, tz)
    return state


# --- form -> definition -----------------------------------------------------------------------


def _parse(f: Field, raw: str, tz: str) -> tuple[Any, str | None]:
    """(value, error); value None: leave the field out (the schema's default)."""
    text = raw.strip()
    if f.kind == "bool":
        return text.lower() in ("on", "true", "1", "yes"), None
    if f.kind == "list":
        items = [p.strip() for p in re.split(r"[,，\n]", text) if p.strip()]
        return (None if not items and f.empty_null else items), None
    if not text:
        return None, None
    if f.kind == "int":
        try:
            return int(text), None
        except ValueError:
            return None, "Enter a whole number"
    if f.kind == "decimal":
        try:
            Decimal(text)
        except InvalidOperation:
            return None, "Enter a number"
        return text, None
    if f.kind == "datetime":
        try:
            instant = datetime.fromisoformat(text)
        except ValueError:
            return None, "Enter a date and time"
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=ZoneInfo(tz))
        return instant.isoformat(), None
    return text, None


def _collect(
    fields: tuple[Field, ...],
    posted: dict[str, str],
    src: str,
    dst: str,
    state: State,
    errors: list[dict[str, Any]],
    tz: str,
) -> dict[str, Any]:
    """One scope's fields (the form's, or a row's) posted under ``src``, shown under ``dst``."""
    out: dict[str, Any] = {}
    extra = posted.get(src + "_extra", "").strip()
    state.values[dst + "_extra"] = extra
    if extra:
        try:
            loaded = json.loads(extra)
            out = loaded if isinstance(loaded, dict) else {}
        except json.JSONDecodeError:
            errors.append({"field": dst.rstrip("."), "message": "Not valid JSON", "position": None})
    for f in fields:
        raw = posted.get(src + f.name, "")
        state.values[dst + f.name] = raw
        if f.when is not None and posted.get(src + f.when[0], "") not in f.when[1]:
            _pop(out, f.name)
            continue
        value, error = _parse(f, raw, tz)
        if error is not None:
            errors.append({"field": dst + f.name, "message": error, "position": None})
        elif value is not None or f.empty_null:
            _set(out, f.name, value)
    return out


def build(form: Form, posted: dict[str, str], tz: str = "Asia/Shanghai") -> Built:
    """The definition (as the JSON editor would have it) from the posted fields. Rows are taken
    in the order of their posted index and renumbered from 0, so error paths match the page."""
    state = State()
    errors: list[dict[str, Any]] = []
    plain = tuple(f for f in form.fields if isinstance(f, Field))
    data = _collect(plain, posted, "", "", state, errors, tz)
    for section in (r for r in form.fields if isinstance(r, Rows)):
        pattern = re.compile(rf"^{re.escape(section.name)}\.(\d+)\.")
        indices = sorted({int(m.group(1)) for k in posted if (m := pattern.match(k))})
        rows = []
        for new, old in enumerate(indices):
            rows.append(
                _collect(
                    section.fields,
                    posted,
                    f"{section.name}.{old}.",
                    f"{section.name}.{new}.",
                    state,
                    errors,
                    tz,
                )
            )
        state.rows[section.name] = len(rows)
        data[section.name] = rows
    return Built(data, errors, state)


# --- errors next to their inputs --------------------------------------------------------------


def place(
    form: Form, state: State, problems: list[dict[str, Any]]
) -> tuple[dict[str, list[str]], list[dict[str, Any]]]:
    """Each problem by the input (or row) its field path names; the rest for the form's top."""
    names = {k for k in state.values if not k.endswith("_extra")}
    names |= {f"{section}.{i}" for section, n in state.rows.items() for i in range(n)}
    names |= set(state.rows)
    by_input: dict[str, list[str]] = {}
    general: list[dict[str, Any]] = []
    for problem in problems:
        path = str(problem.get("field") or "")
        for prefix, to in form.aliases:
            if path.startswith(prefix):
                path = to + path[len(prefix) :]
        found = [n for n in names if path == n or path.startswith(n + ".")]
        if found:
            by_input.setdefault(max(found, key=len), []).append(str(problem.get("message", "")))
        else:
            general.append(problem)
    return by_input, general


# Pydantic's messages by error type, in Chinese (English keeps Pydantic's own words).
_ZH_MESSAGES = {
    "missing": "必填",
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应大于或等于 {ge}",
    "less_than": "应小于 {lt}",
    "less_than_equal": "应小于或等于 {le}",
    "string_too_short": "至少 {min_length} 个字符",
    "string_too_long": "最多 {max_length} 个字符",
    "string_pattern_mismatch": "格式不符：{pattern}",
    "too_short": "至少 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "literal_error": "应为其中之一：{expected}",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "decimal_parsing": "应为数字",
    "decimal_type": "应为数字",
    "decimal_max_digits": "最多 {max_digits} 位数字",
    "decimal_max_places": "最多 {decimal_places} 位小数",
    "bool_parsing": "应为是或否",
    "datetime_from_date_parsing": "应为日期时间",
    "datetime_parsing": "应为日期时间",
    "extra_forbidden": "不允许此字段",
    "union_tag_invalid": "应为其中之一：{expected_tags}",
}


def problems_of(errors: list[Any], locale: str) -> list[dict[str, Any]]:
    """A ValidationError's ``errors()`` as ``[{field, message, position}]``, in the locale."""
    out = []
    for e in errors:
        message = str(e.get("msg", ""))
        template = _ZH_MESSAGES.get(str(e.get("type"))) if locale.startswith("zh") else None
        if template is not None:
            with contextlib.suppress(KeyError, IndexError):  # a context without the key
                message = template.format(**(e.get("ctx") or {}))
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        out.append(
            {
                "field": ".".join(str(p) for p in e.get("loc", ())),
                "message": message,
                "position": None,
            }
        )
    return out
