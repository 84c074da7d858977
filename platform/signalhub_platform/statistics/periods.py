"""Quarters (``2026Q3``) in Python and in SQL, the same on SQLite and PostgreSQL.

A warning's quarter is that of its opening day on the district's (Beijing) calendar, so the SQL
shifts the stored UTC instant before taking the date; a record's occurred date is a plain date.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import Date, Integer, case, cast, extract, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

QUARTER_PATTERN = re.compile(r"^(\d{4})Q([1-4])$")


def quarter_bounds(quarter: str) -> tuple[dt.date, dt.date]:
    """The first and last day of ``2026Q3``; ``ValueError`` for anything else."""
    match = QUARTER_PATTERN.match(quarter)
    if match is None:
        raise ValueError(f"not a quarter: {quarter!r} (expected e.g. 2026Q3)")
    year, number = int(match.group(1)), int(match.group(2))
    first = dt.date(year, 3 * number - 2, 1)
    following = dt.date(year + 1, 1, 1) if number == 4 else dt.date(year, 3 * number + 1, 1)
    return first, following - dt.timedelta(days=1)


def quarter_label(key: int) -> str:
    """``20263`` (what ``quarter_key`` computes) → ``2026Q3``."""
    return f"{key // 10}Q{key % 10}"


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
