"""Calendar periods in a program's time zone: the keys of counters and budgets."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from jifen.clock import local_date

Window = Literal["day", "week", "month", "lifetime"]
WINDOWS: tuple[Window, ...] = ("day", "week", "month", "lifetime")


def period_key(window: str, day: date) -> str:
    if window == "day":
        return f"d:{day.isoformat()}"
    if window == "week":
        year, week, _ = day.isocalendar()
        return f"w:{year}-W{week:02d}"
    if window == "month":
        return f"m:{day.year}-{day.month:02d}"
    return "all"


def period_keys(instant: datetime, tz: str) -> dict[str, str]:
    """The day, week, month and lifetime keys of ``instant`` in ``tz``."""
    day = local_date(instant, tz)
    return {w: period_key(w, day) for w in WINDOWS}
