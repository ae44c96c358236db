"""The qualifying value of members, as SQL: growth balance, spend, points earned or RFM score.

Each builder returns a ``SELECT member_id, value`` over a set of members (a filter on the member
id column: an id range for the scheduled job, a list for immediate upgrades), so the job joins it
into one ``UPDATE ... FROM`` and nothing is computed member by member in Python.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement as _Col

from jifen.clock import local_date, start_of_local_day
from jifen.events.models import Event
from jifen.ledger.models import Account, LedgerTransaction
from jifen.tiers.schemas import Qualification

MemberFilter = Callable[[Any], ColumnElement[bool]]


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (earlier when negative), clamped to the month's end."""
    index = day.year * 12 + day.month - 1 + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def shift_instant(instant: datetime, months: int, tz: str) -> datetime:
    """``instant`` moved by whole calendar months at the same local wall-clock time."""
    zone = ZoneInfo(tz)
    local = instant.astimezone(zone)
    day = add_months(local.date(), months)
    moved = datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=zone)
    return moved.astimezone(instant.tzinfo)


def window_start(q: Qualification, end: datetime, tz: str) -> datetime:
    """The first instant of the qualification window that ends at ``end``."""
    return start_of_local_day(add_months(local_date(end, tz), -q.window_months), tz)


def amount_expr(dialect: str, attribute: str) -> ColumnElement[int]:
    """An event's amount attribute as an integer: a JSON integer or a string of digits (up to
    15), else 0; negative amounts are 0."""
    if dialect == "postgresql":
        # substring() by a regular expression is the digits or NULL: the attribute is read
        # (the JSON parsed) once per event, not once to test it and again to cast it.
        raw = Event.attributes[attribute].as_string()
        matched = func.substring(raw, literal(r"^[0-9]{1,15}$"))
        return func.coalesce(cast(matched, BigInteger), literal(0, BigInteger))
    path = bindparam(None, f'$."{attribute}"', type_=String)
    raw = func.json_extract(Event.attributes, path)
    kind = func.json_type(Event.attributes, path)
    digits = and_(kind == "text", raw.op("GLOB")("[0-9]*"), ~raw.op("GLOB")("*[^0-9]*"))
    return case(
        (and_(kind == "integer", raw >= 0), raw),
        (digits, cast(raw, BigInteger)),
        else_=literal(0, BigInteger),
    )


def metric_query(
    dialect: str,
    program_id: str,
    q: Qualification,
    members: MemberFilter,
    *,
    start: datetime,
    end: datetime | None,
    ref: datetime,
) -> Select[Any]:
    """``SELECT member_id, value`` for the members that have any qualifying data (the others
    are 0). The window is ``[start, end)`` (``end`` None: up to now); RFM recency counts back
    from ``ref``."""
    if q.metric == "growth":
        return select(Account.member_id.label("member_id"), Account.balance.label("value")).where(
            Account.program_id == program_id,
            members(Account.member_id),
            Account.asset == "growth",
        )
    if q.metric == "points_earned":
        return _points_earned(program_id, members, start, end)
    amount = amount_expr(dialect, q.amount_attribute)
    base = [
        Event.program_id == program_id,
        members(Event.member_id),
        Event.type == q.purchase_event,
    ]
    if end is not None:
        base.append(Event.occurred_at < end)
    if q.metric == "spend":
        return (
            select(Event.member_id.label("member_id"), func.sum(amount).label("value"))
            .where(*base, Event.occurred_at >= start)
            .group_by(Event.member_id)
        )
    rfm = q.rfm
    assert rfm is not None
    horizon = min([start, *(ref - timedelta(days=d) for d in rfm.recency_days)])
    in_window = Event.occurred_at >= start
    agg = (
        select(
            Event.member_id.label("member_id"),
            func.max(Event.occurred_at).label("last"),
            func.sum(case((in_window, 1), else_=0)).label("f"),
            func.sum(case((in_window, amount), else_=0)).label("m"),
        )
        .where(*base, Event.occurred_at >= horizon)
        .group_by(Event.member_id)
        .subquery("rfm")
    )
    score: _Col[Any] = literal(0, BigInteger)
    for days in rfm.recency_days:
        cutoff = ref - timedelta(days=days)
        score = score + case((agg.c.last >= cutoff, rfm.weight("r")), else_=0)
    for n in rfm.frequency:
        score = score + case((agg.c.f >= n, rfm.weight("f")), else_=0)
    for fen in rfm.monetary_fen:
        score = score + case((agg.c.m >= fen, rfm.weight("m")), else_=0)
    return select(agg.c.member_id, score.label("value"))


def _points_earned(
    program_id: str, members: MemberFilter, start: datetime, end: datetime | None
) -> Select[Any]:
    """Points credited in the window, less what reversals of those credits took back."""
    txn = LedgerTransaction
    orig = aliased(LedgerTransaction)
    credit_where = [
        txn.program_id == program_id,
        members(txn.member_id),
        txn.kind == "credit",
        txn.asset == "points",
        txn.occurred_at >= start,
    ]
    reversal_where = [
        txn.program_id == program_id,
        members(txn.member_id),
        txn.kind == "reversal",
        txn.asset == "points",
        orig.kind == "credit",
        orig.occurred_at >= start,
    ]
    if end is not None:
        credit_where.append(txn.occurred_at < end)
        reversal_where.append(orig.occurred_at < end)
    credits = select(txn.member_id.label("member_id"), txn.amount.label("v")).where(*credit_where)
    reversals = (
        select(txn.member_id.label("member_id"), (-txn.amount).label("v"))
        .join(orig, orig.id == txn.reverses_id)
        .where(*reversal_where)
    )
    both = union_all(credits, reversals).subquery("earned")
    return select(both.c.member_id, func.sum(both.c.v).label("value")).group_by(both.c.member_id)
