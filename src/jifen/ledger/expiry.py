"""Expiry policies: when a lot earned at a given instant expires."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from dateutil.relativedelta import relativedelta

from jifen.clock import local_date, start_of_local_day
from jifen.programs.schemas import ProgramSettings


def expires_at(settings: ProgramSettings, earned_at: datetime) -> datetime | None:
    """The instant points earned at ``earned_at`` expire under the program's policy.

    Day boundaries are the program's time zone: points stay usable through the whole last day.
    """
    if settings.expiry.kind == "none":
        return None
    return expires_on(settings, local_date(earned_at, settings.timezone))


def expires_on(settings: ProgramSettings, earned_day: date) -> datetime | None:
    """``expires_at`` for points earned on a local day (all instants of a day expire alike)."""
    policy = settings.expiry
    if policy.kind == "none":
        return None
    tz = settings.timezone
    if policy.kind == "rolling":
        assert policy.months is not None
        last_day = earned_day + relativedelta(months=policy.months)
        return start_of_local_day(last_day + timedelta(days=1), tz)
    return start_of_local_day(date(earned_day.year + policy.years_after + 1, 1, 1), tz)
