"""Quarters (``2026Q3``) and years as the district counts them, in Python and in SQL.

Periods are calendar periods in Beijing time (Asia/Shanghai). Timestamps are stored in UTC; a
quarter runs from 00:00 Beijing time on its first day to 00:00 on the first day of the next one,
so a batch committed at 07:30 UTC on 30 September (15:30 in Beijing) belongs to Q3 and one
committed at 17:00 UTC that day (01:00 on 1 October) to Q4. In SQL a warning's quarter is that of
its opening day on the Beijing calendar, so the stored UTC instant is shifted before taking the
date (``beijing_date``); a record's occurred date is a plain date. The SQL is the same on SQLite
and PostgreSQL.

The statistics and the periodic reports both count by quarter; they are sibling packages, so the
one calendar lives here, next to the UTC column type it reads.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Date, Integer, case, cast, extract, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from signalhub_platform.models.types import BEIJING, beijing_today

# The strict form a query string must take (the statistics API validates against it).
QUARTER_PATTERN = re.compile(r"^(\d{4})Q([1-4])$")
# What a person may type for a report: case and spaces forgiven.
_TYPED_QUARTER = re.compile(r"^\s*(\d{4})\s*[Qq]\s*([1-4])\s*$")
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
        match = _TYPED_QUARTER.match(text or "")
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


def quarter_bounds(quarter: str) -> tuple[dt.date, dt.date]:
    """The first and last day of ``2026Q3`` in the strict form (``QUARTER_PATTERN``, any year);
    ``ValueError`` for anything else."""
    match = QUARTER_PATTERN.match(quarter)
    if match is None:
        raise ValueError(f"not a quarter: {quarter!r} (expected e.g. 2026Q3)")
    period = Quarter(int(match.group(1)), int(match.group(2)))
    return period.starts_on, period.ends_on


def quarters_of_year(year: int) -> list[Quarter]:
    return [Quarter(year, number) for number in range(1, 5)]


def year_bounds(year: int) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a Beijing calendar year as UTC instants."""
    return beijing_midnight(dt.date(year, 1, 1)), beijing_midnight(dt.date(year + 1, 1, 1))


# --- in SQL ----------------------------------------------------------------------------------------


def quarter_label(key: int) -> str:
    """``20263`` (what ``quarter_key`` computes) → ``2026Q3``."""
    return str(Quarter(key // 10, key % 10))


def quarter_key(day: ColumnElement[Any]) -> ColumnElement[int]:
    """SQL: year * 10 + quarter of a date expression (``2026-08-01`` → 20263), an integer to group on."""
    year = cast(extract("year", day), Integer)
    month = cast(extract("month", day), Integer)
    # Constants as SQL text, not bound parameters: PostgreSQL accepts a grouped expression in the
    # select list only if it is textually the GROUP BY one, and two binds are two parameters.
    # CASE rather than (month + 2) / 3: integer division renders as FLOOR, which SQLite may lack.
    quarter = case(
        (month <= literal_column("3"), literal_column("1")),
        (month <= literal_column("6"), literal_column("2")),
        (month <= literal_column("9"), literal_column("3")),
        else_=literal_column("4"),
    )
    return year * literal_column("10") + quarter


class beijing_date(FunctionElement[dt.date]):
    """SQL: the Beijing calendar date of a UTC timestamp column (``UTCDateTime``)."""

    type = Date()
    inherit_cache = True


@compiles(beijing_date, "sqlite")
def _beijing_date_sqlite(element: beijing_date, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps the UTC instant as naive text; China has no daylight saving time, so +8 hours is exact.
    return f"date({compiler.process(element.clauses, **kw)}, '+8 hours')"


@compiles(beijing_date, "postgresql")
def _beijing_date_postgresql(element: beijing_date, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(timezone('Asia/Shanghai', {compiler.process(element.clauses, **kw)}) AS DATE)"
