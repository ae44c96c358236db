"""Limit periods are calendar periods in the program's time zone."""

from __future__ import annotations

from datetime import UTC, datetime

from jifen.catalog.service import period_start

SH = "Asia/Shanghai"


def test_periods_start_at_local_midnight() -> None:
    # 2026-03-04 (a Wednesday) 01:00 in Shanghai is 2026-03-03 17:00 UTC.
    now = datetime(2026, 3, 3, 17, 0, tzinfo=UTC)
    assert period_start("day", now, SH) == datetime(2026, 3, 3, 16, 0, tzinfo=UTC)
    # The ISO week starts on Monday 2026-03-02.
    assert period_start("week", now, SH) == datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
    assert period_start("month", now, SH) == datetime(2026, 2, 28, 16, 0, tzinfo=UTC)
    assert period_start("lifetime", now, SH) is None
    # The same instant is still 3 March in New York.
    assert period_start("day", now, "America/New_York") == datetime(2026, 3, 3, 5, 0, tzinfo=UTC)
