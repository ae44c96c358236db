"""Message templates: the built-in wording per event type and language, and safe rendering.

An outbox message has a ``topic`` (what its writer called it, e.g. ``ledger.balance_changed``)
and an *event type* derived from it (``points.credited``, ``points.expired``, ``coupon.issued``):
templates, webhook subscriptions and the member's feed all speak event types. Templates are
Jinja2 run in a sandboxed environment over the message's payload: an operator's template can
format values and branch on them, never call into Python.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

import structlog
from jinja2 import Template, TemplateError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

log = structlog.get_logger("jifen.notify")

LEDGER_TOPIC = "ledger.balance_changed"
LOCALES = ("zh-CN", "en")
MAX_TEXT = 1000

_ZH = "zh-CN"
_EN = "en"

# Built-in templates: (event type, locale) → Jinja2 source. ``balance.<verb>`` serves any asset
# without a wording of its own; ``*`` any event type without one.
DEFAULTS: dict[tuple[str, str], str] = {
    ("points.credited", _ZH): (
        '{% if reason and reason.startswith("purchase") %}您本次消费获{{ abs_amount }}积分'
        "{% else %}您获得{{ abs_amount }}积分{% endif %},累计积分{{ balance }}"
    ),
    ("points.credited", _EN): "You earned {{ abs_amount }} points; your balance is {{ balance }}",
    ("points.debited", _ZH): "您使用了{{ abs_amount }}积分,剩余积分{{ balance }}",
    ("points.debited", _EN): "You spent {{ abs_amount }} points; your balance is {{ balance }}",
    ("points.expired", _ZH): "您有{{ abs_amount }}积分已过期,剩余积分{{ balance }}",
    ("points.expired", _EN): "{{ abs_amount }} points expired; your balance is {{ balance }}",
    ("points.reversed", _ZH): (
        "{% if amount < 0 %}扣回{{ abs_amount }}积分{% else %}退回{{ abs_amount }}积分{% endif %}"
        ",剩余积分{{ balance }}"
    ),
    ("points.reversed", _EN): (
        "{% if amount < 0 %}{{ abs_amount }} points were taken back"
        "{% else %}{{ abs_amount }} points were returned to you{% endif %}"
        "; your balance is {{ balance }}"
    ),
    ("points.received", _ZH): "您收到{{ abs_amount }}积分,累计积分{{ balance }}",
    ("points.received", _EN): "You received {{ abs_amount }} points; your balance is {{ balance }}",
    ("points.sent", _ZH): "您赠出{{ abs_amount }}积分,剩余积分{{ balance }}",
    ("points.sent", _EN): "You gave away {{ abs_amount }} points; your balance is {{ balance }}",
    ("points.expiring", _ZH): "您有{{ amount }}积分将于{{ expires_on }}过期,请尽快使用",
    ("points.expiring", _EN): "{{ amount }} points will expire on {{ expires_on }}; use them soon",
    ("growth.credited", _ZH): "您获得{{ abs_amount }}成长值,累计成长值{{ balance }}",
    ("growth.credited", _EN): "You gained {{ abs_amount }} growth; your total is {{ balance }}",
    ("cash.credited", _ZH): "您获得{{ yuan }}元现金奖励,现金余额{{ balance_yuan }}元",
    ("cash.credited", _EN): "You earned ¥{{ yuan }} cash; your cash balance is ¥{{ balance_yuan }}",
    ("cash.debited", _ZH): "您的现金余额支出{{ yuan }}元,剩余{{ balance_yuan }}元",
    ("cash.debited", _EN): "¥{{ yuan }} left your cash balance; ¥{{ balance_yuan }} remains",
    ("balance.credited", _ZH): "您的{{ asset }}增加{{ abs_amount }},余额{{ balance }}",
    (
        "balance.credited",
        _EN,
    ): "Your {{ asset }} went up by {{ abs_amount }}; balance {{ balance }}",
    ("balance.debited", _ZH): "您的{{ asset }}减少{{ abs_amount }},余额{{ balance }}",
    (
        "balance.debited",
        _EN,
    ): "Your {{ asset }} went down by {{ abs_amount }}; balance {{ balance }}",
    ("birthday.gift", _ZH): "生日快乐!送您{{ amount }}积分",
    ("birthday.gift", _EN): "Happy birthday! Here are {{ amount }} points for you",
    ("anniversary.gift", _ZH): "入会{{ years }}周年快乐!送您{{ amount }}积分",
    ("anniversary.gift", _EN): "Happy {{ years }}-year anniversary! Here are {{ amount }} points",
    ("coupon.issued", _ZH): "您获得一张优惠券:{{ name }}",
    ("coupon.issued", _EN): "You received a coupon: {{ name }}",
    ("coupon.expired", _ZH): "您的优惠券{{ code }}已过期",
    ("coupon.expired", _EN): "Your coupon {{ code }} has expired",
    ("tier.changed", _ZH): (
        "{% if direction == 'downgrade' %}您的会员等级已调整为{{ to }}"
        "{% else %}恭喜您升级为{{ to }}会员{% endif %}"
    ),
    ("tier.changed", _EN): (
        "{% if direction == 'downgrade' %}Your membership tier is now {{ to }}"
        "{% else %}Congratulations, you are now a {{ to }} member{% endif %}"
    ),
    ("badge.awarded", _ZH): "恭喜获得勋章:{{ name | default(badge_id | default('')) }}",
    ("badge.awarded", _EN): "You earned a badge: {{ name | default(badge_id | default('')) }}",
    ("referral.qualified", _ZH): "您邀请的好友{{ invitee }}已加入,邀请奖励已发放",
    ("referral.qualified", _EN): "Your friend {{ invitee }} joined: your invitation reward is in",
    ("referral.revoked", _ZH): "好友{{ invitee }}的邀请奖励已收回",
    ("referral.revoked", _EN): "The reward for inviting {{ invitee }} was taken back",
    ("withdrawal.approved", _ZH): "您的{{ yuan }}元提现申请已通过",
    ("withdrawal.approved", _EN): "Your withdrawal of ¥{{ yuan }} was approved",
    ("withdrawal.rejected", _ZH): "您的{{ yuan }}元提现申请未通过",
    ("withdrawal.rejected", _EN): "Your withdrawal of ¥{{ yuan }} was declined",
    ("withdrawal.paid", _ZH): "您提现的{{ yuan }}元已到账",
    ("withdrawal.paid", _EN): "Your withdrawal of ¥{{ yuan }} has been paid",
    ("order.created", _ZH): "兑换成功:{{ item }}",
    ("order.created", _EN): "Redeemed: {{ item }}",
    ("order.shipped", _ZH): "您兑换的{{ item }}已发货",
    ("order.shipped", _EN): "Your {{ item }} has shipped",
    ("order.fulfilled", _ZH): "您兑换的{{ item }}已完成",
    ("order.fulfilled", _EN): "Your {{ item }} redemption is complete",
    ("order.cancelled", _ZH): "您的兑换订单已取消:{{ item }}",
    ("order.cancelled", _EN): "Your redemption was cancelled: {{ item }}",
    ("*", _ZH): "您有一条新通知",
    ("*", _EN): "You have a new notification",
}

# What a template may be saved for, with a payload to test it against.
SAMPLE_PAYLOAD: dict[str, Any] = {
    "member": "m1",
    "asset": "points",
    "amount": 50,
    "balance": 1200,
    "kind": "credit",
    "reason": "purchase",
    "reference": "order-1",
    "expires_on": "2026-12-31",
    "years": 1,
    "name": "name",
    "code": "CODE",
    "item": "item",
}


def event_type(topic: str, payload: Mapping[str, Any]) -> str:
    """The event type a message is known by: ledger balance messages get their asset and what
    happened (``points.credited``, ``cash.debited``, ``points.expired``); others keep the topic."""
    if topic != LEDGER_TOPIC:
        return topic
    asset = str(payload.get("asset") or "points")
    return f"{asset}.{_verb(str(payload.get('kind') or ''), _int(payload.get('amount')))}"


def _verb(kind: str, amount: int) -> str:
    if kind == "expiry":
        return "expired"
    if kind == "reversal":
        return "reversed"
    if kind == "transfer":
        return "received" if amount > 0 else "sent"
    return "credited" if amount > 0 else "debited"


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:.2f}"


def context(etype: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """What a template sees: the payload, plus ``abs_amount`` and, for cash, yuan strings."""
    ctx = dict(payload)
    ctx["type"] = etype
    if "amount" in payload:
        amount = _int(payload.get("amount"))
        ctx["abs_amount"] = abs(amount)
        if payload.get("asset") == "cash":
            ctx["yuan"] = _yuan(abs(amount))
            ctx["balance_yuan"] = _yuan(_int(payload.get("balance")))
    return ctx


def normalise_locale(locale: str | None, fallback: str = _ZH) -> str:
    """``zh``, ``zh-Hans``, ``zh_CN`` → ``zh-CN``; ``en-US`` → ``en``; others as given."""
    if not locale:
        return fallback
    low = locale.replace("_", "-").lower()
    if low.startswith("zh"):
        return _ZH
    if low.startswith("en"):
        return _EN
    return locale


# Immutable: a template cannot change a list or dict it is given, let alone reach Python.
MAX_REPEAT = 1000


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox keeps templates out of Python; this also keeps them from building huge
    values (``"x" * 10**9``, ``10 ** 10 ** 10``) with the operators that can."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise SecurityError("exponent too large")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int) and n > MAX_REPEAT:
                    raise SecurityError("repetition too large")
        if operator == "%" and isinstance(left, str):
            raise SecurityError("% formatting is not available; use the values directly")
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if getattr(value, "__name__", None) in ("format", "format_map") and isinstance(
            getattr(value, "__self__", None), str
        ):

            def refuse(*args: Any, **kwargs: Any) -> str:
                raise SecurityError("str.format is not available; use the values directly")

            return refuse
        return super().wrap_str_format(value)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr in _SIZED_METHODS:
            return False
        return bool(super().is_safe_attribute(obj, attr, value))


# String methods whose output size the template chooses ("{:1000000000}".format(1)).
_SIZED_METHODS = frozenset(
    {"format", "format_map", "center", "ljust", "rjust", "zfill", "expandtabs"}
)


def _range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_REPEAT:
        raise SecurityError(f"range longer than {MAX_REPEAT}")
    return r


_ENV = _Sandbox(autoescape=False)
# Filters that pad or repeat to a size given in the template.
for _name in ("center", "indent", "wordwrap", "truncate", "format"):
    _ENV.filters.pop(_name, None)
_ENV.globals["range"] = _range


@lru_cache(maxsize=1024)
def _compiled(source: str) -> Template:
    return _ENV.from_string(source)


def check(source: str) -> str | None:
    """The problem with a template, or None: it must compile and render the sample payload
    (names missing from a real message's payload render as empty text). The sandbox already
    renders private attributes as nothing; naming one is refused outright."""
    try:
        tree = _ENV.parse(source)
        for loop in tree.find_all(nodes.For):
            if any(True for _ in loop.find_all(nodes.For)):
                return "loops inside loops are not allowed"
        for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
            if isinstance(node, nodes.Getattr):
                name: object = node.attr
            else:  # x["_y"]
                name = getattr(getattr(node, "arg", None), "value", None)
            if isinstance(name, str) and name.startswith("_"):
                return f"access to {name!r} is not allowed"
        _compiled(source).render(context("points.credited", SAMPLE_PAYLOAD))
    except TemplateError as exc:
        return str(exc)
    except Exception as exc:  # a template can raise anything its expressions do (1/0)
        return f"{type(exc).__name__}: {exc}"
    return None


def _candidates(etype: str, topic: str) -> list[str]:
    keys = [etype]
    if topic == LEDGER_TOPIC:
        keys.append("balance." + etype.split(".", 1)[1])
    keys.append("*")
    return keys


def render(
    etype: str,
    topic: str,
    payload: Mapping[str, Any],
    locale: str,
    overrides: Mapping[tuple[str, str], str],
    program_locale: str = _ZH,
) -> str:
    """The message's text in ``locale``: the program's template for the event type if it has
    one, else the built-in one; in the program's language when neither speaks the member's."""
    ctx = context(etype, payload)
    locales = [locale] if locale == program_locale else [locale, program_locale]
    for key in _candidates(etype, topic):
        for loc in locales:
            for table in (overrides, DEFAULTS):
                source = table.get((key, loc))
                if source is None:
                    continue
                try:
                    return _compiled(source).render(ctx)[:MAX_TEXT]
                except Exception as exc:  # a broken program template falls back to the next one
                    log.warning("template_failed", type=key, locale=loc, error=str(exc))
    return etype
