"""Column types shared by the models."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import BigInteger, DateTime, Enum, Integer
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# 64-bit keys on PostgreSQL; SQLite only auto-increments a column declared INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC in Python on both databases (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def closed_vocabulary(enum_cls: type[enum.StrEnum], name: str) -> Enum:
    """A string column restricted by a CHECK to an enum's values (portable, no native enum type)."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda cls: [member.value for member in cls],
        validate_strings=True,
    )


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# The district's calendar day: "today", due dates and windows follow Beijing time whatever the
# server's own time zone (China has no daylight saving time, so a fixed offset is exact).
BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


def beijing_today(now: dt.datetime | None = None) -> dt.date:
    return (now or utcnow()).astimezone(BEIJING).date()
