"""Quarters and years as the district counts them: calendar periods in Beijing time (Asia/Shanghai).

Timestamps are stored in UTC; a quarter runs from 00:00 Beijing time on its first day to 00:00 on
the first day of the next one, so a batch committed at 07:30 UTC on 30 September (15:30 in
Beijing) belongs to Q3 and one committed at 17:00 UTC that day (01:00 on 1 October) to Q4.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from signalhub_platform.models.types import BEIJING, beijing_today

_QUARTER = re.compile(r"^\s*(\d{4})\s*[Qq]\s*([1-4])\s*$")
# Reports are for the years the platform can hold data for: earlier or later is a typing error.
FIRST_YEAR = 2000
LAST_YEAR = 2099


def beijing_midnight(day: dt.date) -> dt.datetime:
    """The first instant of a Beijing calendar day, as a UTC datetime."""
    return dt.datetime.combine(day, dt.time(), BEIJING).astimezone(dt.UTC)


def check_year(year: int) -> int:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"the year must lie between {FIRST_YEAR} and {LAST_YEAR}, not {year}")
    return year


@dataclass(frozen=True, order=True)
class Quarter:
    year: int
    number: int  # 1..4

    @classmethod
    def parse(cls, text: str) -> Quarter:
        """``2026Q3`` (case and spaces forgiven); ``ValueError`` with a message to show otherwise."""
        match = _QUARTER.match(text or "")
        if match is None:
            raise ValueError(f"a quarter is written like 2026Q3, not {str(text)[:20]!r}")
        return cls(check_year(int(match.group(1))), int(match.group(2)))

    @classmethod
    def of(cls, day: dt.date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @classmethod
    def current(cls, now: dt.datetime | None = None) -> Quarter:
        return cls.of(beijing_today(now))

    def __str__(self) -> str:
        return f"{self.year}Q{self.number}"

    @property
    def starts_on(self) -> dt.date:
        return dt.date(self.year, 3 * self.number - 2, 1)

    @property
    def ends_on(self) -> dt.date:
        """The last day; also the deadline for the quarter's batches (成批导入每季度不得少于一次)."""
        return self.next.starts_on - dt.timedelta(days=1)

    @property
    def start_at(self) -> dt.datetime:
        return beijing_midnight(self.starts_on)

    @property
    def end_at(self) -> dt.datetime:
        """The first instant after the quarter (exclusive bound)."""
        return beijing_midnight(self.next.starts_on)

    @property
    def previous(self) -> Quarter:
        return Quarter(self.year, self.number - 1) if self.number > 1 else Quarter(self.year - 1, 4)

    @property
    def next(self) -> Quarter:
        return Quarter(self.year, self.number + 1) if self.number < 4 else Quarter(self.year + 1, 1)


def quarters_of_year(year: int) -> list[Quarter]:
    return [Quarter(year, number) for number in range(1, 5)]


def year_bounds(year: int) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a Beijing calendar year as UTC instants."""
    return beijing_midnight(dt.date(year, 1, 1)), beijing_midnight(dt.date(year + 1, 1, 1))
