"""Board periods in the program's time zone: ``2026-03-05`` (day), ``2026-W10`` (ISO week,
Monday to Sunday) and ``2026-03`` (month), and the UTC instants where each begins and ends."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from jifen.clock import local_date, start_of_local_day
from jifen.errors import InvalidInput
from jifen.kit.periods import period_key

_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def key_of(window: str, instant: datetime, tz: str) -> str:
    """The period of ``window`` that ``instant`` falls in."""
    return period_key(window, local_date(instant, tz)).split(":", 1)[1]


def _first_day(window: str, key: str) -> tuple[date, date]:
    if window == "day" and (m := _DAY.match(key)):
        first = date(int(m[1]), int(m[2]), int(m[3]))
        return first, first + timedelta(days=1)
    if window == "week" and (m := _WEEK.match(key)):
        first = date.fromisocalendar(int(m[1]), int(m[2]), 1)
        return first, first + timedelta(days=7)
    if window == "month" and (m := _MONTH.match(key)):
        first = date(int(m[1]), int(m[2]), 1)
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        return first, following
    raise ValueError(key)


def bounds(window: str, key: str, tz: str) -> tuple[datetime, datetime]:
    """``[start, end)`` of a period in UTC; ``invalid_period`` when the key is not one of
    ``window``'s periods."""
    examples = {"day": "2026-03-05", "week": "2026-W10", "month": "2026-03"}
    try:
        first, following = _first_day(window, key)
        return start_of_local_day(first, tz), start_of_local_day(following, tz)
    except (ValueError, OverflowError) as exc:  # 2026-02-30, 2026-W54, 9999-12-31, 0001-01-01
        raise InvalidInput(
            f"period {key!r} is not a {window} (like {examples.get(window, '?')})",
            code="invalid_period",
            field="period",
        ) from exc
