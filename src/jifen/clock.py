"""The injectable clock: every service takes ``now`` from here, never from ``datetime.now``."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to (tests, dry-runs, replays)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, instant: datetime) -> None:
        with self._lock:
            self._now = instant.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta


def local_date(instant: datetime, tz: str) -> date:
    """The calendar day of ``instant`` in the program's time zone."""
    return instant.astimezone(ZoneInfo(tz)).date()


def start_of_local_day(day: date, tz: str) -> datetime:
    """The UTC instant at which ``day`` begins in ``tz`` (handles DST transitions)."""
    local = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz))
    return local.astimezone(UTC)


def as_utc(instant: datetime) -> datetime:
    """Normalise a datetime read back from the database (SQLite drops the zone) to aware UTC."""
    if instant.tzinfo is None:
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)
