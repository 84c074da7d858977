"""Working days of the official Chinese calendar (法定节假日 and 调休 working weekends).

The ``chinesecalendar`` package carries the State Council's published schedules and refuses
years it does not know; so do we (``CalendarUnavailableError``) wherever a date is a deadline.
Callers that only estimate (a warning's acknowledgement SLA) may pass ``strict=False`` to count
Monday to Friday for an unpublished year.
"""

from __future__ import annotations

import datetime as dt
import functools

import chinese_calendar


class CalendarUnavailableError(ValueError):
    """The official working-day calendar of ``year`` is not known to the installed package."""

    def __init__(self, year: int, supported: range) -> None:
        self.year = year
        self.supported = supported
        super().__init__(
            f"the official working-day calendar for {year} is not available "
            f"(chinesecalendar {chinese_calendar.__version__} covers {supported.start}-{supported.stop - 1}); "
            "update the chinesecalendar package once the State Council has published it"
        )


@functools.cache
def supported_years() -> range:
    """The years the installed ``chinesecalendar`` has official data for (it refuses the others)."""
    years = [day.year for day in chinese_calendar.holidays]
    return range(min(years), max(years) + 1)


def is_working_day(day: dt.date, *, strict: bool = True) -> bool:
    """A working day of the official calendar: adjusted working weekends count, public holidays don't."""
    years = supported_years()
    if day.year not in years:
        if strict:
            raise CalendarUnavailableError(day.year, years)
        return day.weekday() < 5
    return bool(chinese_calendar.is_workday(day))


def working_days_after(day: dt.date, n: int, *, strict: bool = True) -> dt.date:
    """The n-th working day after ``day`` (``day`` itself never counts); ``day`` for n = 0."""
    if n < 0:
        raise ValueError("n must not be negative")
    current, counted = day, 0
    while counted < n:
        current += dt.timedelta(days=1)
        if is_working_day(current, strict=strict):
            counted += 1
    return current


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days d with start < d <= end (0 when end is not after start)."""
    count, current = 0, start
    while current < end:
        current += dt.timedelta(days=1)
        count += is_working_day(current)
    return count
