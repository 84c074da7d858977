"""Writing validated rows into ``batch_rows`` at the driver's bulk speed.

PERF.md: SQLAlchemy Core executemany of dicts runs ~55k rows/s and the ORM far less, while the
drivers' own bulk paths run ~400k rows/s (sqlite3 ``executemany``) and faster (psycopg ``COPY``).
Staging is on the hot path of every import, so it talks to the driver directly, inside the
session's transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy import Column, MetaData, Table, text
from sqlalchemy.orm import Session

from signalhub_platform.db import is_postgresql
from signalhub_platform.models import BatchRow

STAGED_COLUMNS = (
    "batch_id", "row_number", "department_id", "kind", "risk_level", "openness", "uscc", "uscc_status",
    "entity_name", "person_name", "person_blind_index", "person_ciphertext", "person_key_id", "person_masked",
    "category", "description", "occurred_on", "source_ref", "content_sha256",
)  # fmt: skip

StagedRow = tuple[object, ...]  # values in STAGED_COLUMNS order

PERSISTENT = "batch_rows"
# A per-connection twin of batch_rows for imports that validate and commit in one transaction:
# no write-ahead log, no second copy of every row on disk, gone when the transaction ends.
TEMPORARY = "batch_rows_now"
_TABLES = frozenset({PERSISTENT, TEMPORARY})

# Fields that make up a record's content; a re-upload with the same values is "unchanged".
_SEPARATOR = "\x1f"


def content_sha256(
    department_id: int,
    kind: str,
    risk_level: str | None,
    openness: str,
    uscc: str | None,
    person_blind_index: str | None,
    category: str,
    description: str,
    occurred_on: str,
) -> str:
    """SHA-256 of a record's content: what a re-upload compares to decide "unchanged".

    The person enters by blind index, never by ID number; the key (agency, ``source_ref``), the
    row number and the names of the entity and the person (theirs, not the record's) are not content.
    """
    parts = (
        str(department_id), kind, risk_level or "", openness, uscc or "", person_blind_index or "", category,
        description, occurred_on,
    )  # fmt: skip
    return hashlib.sha256(_SEPARATOR.join(parts).encode("utf-8")).hexdigest()


def write_staged_rows(session: Session, rows: Sequence[StagedRow], table: str = PERSISTENT) -> None:
    """Append rows to a staging table in the session's current transaction."""
    if not rows:
        return
    assert table in _TABLES  # the name is spliced into SQL below
    columns = ", ".join(STAGED_COLUMNS)
    driver = session.connection().connection.driver_connection
    if is_postgresql(session):
        with driver.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
    else:
        placeholders = ", ".join("?" * len(STAGED_COLUMNS))
        statement = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608 - constant names
        driver.executemany(statement, rows)  # type: ignore[union-attr]


def temporary_staging(session: Session) -> Table:
    """Create (empty) the temporary staging twin in this transaction and return it for the merge."""
    if is_postgresql(session):
        session.execute(text(f"CREATE TEMPORARY TABLE IF NOT EXISTS {TEMPORARY} (LIKE {PERSISTENT}) ON COMMIT DROP"))
    else:
        create = f"CREATE TEMPORARY TABLE IF NOT EXISTS {TEMPORARY} AS SELECT * FROM {PERSISTENT} WHERE 0"  # noqa: S608
        session.execute(text(create))
        session.execute(text(f"DELETE FROM {TEMPORARY}"))  # noqa: S608 - constant name
    persistent = BatchRow.__table__
    return Table(TEMPORARY, MetaData(), *(Column(c.name, c.type) for c in persistent.columns))
