"""Warnings benchmark: the full evaluation against the bare aggregation, and an incremental run.

Data: 1,000,000 entities, 800,000 persons with 1,200,000 roles, 10,000,000 records (12 agencies,
3 departments each, a skewed spread over entities so that some subjects collect many hits), on
SQLite, and PostgreSQL when ``SIGNALHUB_TEST_DATABASE_URL`` is set (``SIGNALHUB_BENCH_BACKENDS``,
default ``sqlite,postgresql``, picks them).
(a) bare: the four GROUP BY queries typed by hand (entity/person × agency/platform, same HAVING),
    all rows fetched;
(b) platform: ``evaluate_warnings`` — the same aggregation plus classification, the plan against
    stored warnings, and writing warnings, events and the run (first run: everything is new;
    second run: the steady state, nothing changes);
(c) incremental: a 10,000-row batch committed, then only its subjects evaluated.
Targets (issue 4): (b) ≤ 1.5× (a); (c) ≤ 1 s. ``SIGNALHUB_BENCH_RECORDS`` scales the data.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

RECORDS = int(os.environ.get("SIGNALHUB_BENCH_RECORDS", "10000000"))
ENTITIES = max(1000, RECORDS // 10)
PERSONS = ENTITIES * 4 // 5
ROLES = ENTITIES * 6 // 5
AS_OF = dt.date(2026, 11, 27)
WINDOW = 365


NOW = "2026-11-01 00:00:00"


def _entity_rows() -> Iterator[tuple[object, ...]]:
    return ((i, f"91110102{i:010d}", f"Entity {i}", f"Street {i % 15}", NOW, NOW) for i in range(1, ENTITIES + 1))


def _person_rows() -> Iterator[tuple[object, ...]]:
    return ((i, f"Person {i}", f"{i:064x}", NOW) for i in range(1, PERSONS + 1))


def _role_rows(rng: random.Random) -> Iterator[tuple[object, ...]]:
    # An entity's second role starts later, so (entity, person, role, since) stays unique.
    return (
        (1 + i % ENTITIES, 1 + rng.randrange(PERSONS), "2010-01-01" if i < ENTITIES else "2012-01-01")
        for i in range(ROLES)
    )


def _record_rows(rng: random.Random) -> Iterator[tuple[object, ...]]:
    start = AS_OF - dt.timedelta(days=2 * WINDOW)
    for n in range(RECORDS):
        agency = rng.randrange(12)
        # Skewed as supervision is: ~46% of the records concern the busiest 1% of entities, while
        # half of the entities share ~11% of them.
        entity = 1 + int(ENTITIES * rng.random() ** 6)
        kind = "penalty" if n % 5 == 0 else "risk"
        yield (
            agency + 1, agency * 3 + 1 + rng.randrange(3), kind,
            None if kind == "penalty" else ("low", "medium", "high")[rng.randrange(3)],
            ("shared", "shared", "private", "public")[n % 4], entity,
            1 + rng.randrange(PERSONS) if n % 50 == 0 else None,
            (start + dt.timedelta(days=rng.randrange(2 * WINDOW))).isoformat(), f"S{n}", NOW,
        )  # fmt: skip


def _load(database: Path) -> None:
    """Fill a migrated SQLite database quickly: indexes of the big tables are dropped and rebuilt."""
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("PRAGMA cache_size=-262144")
    indexes = connection.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL"
        " AND tbl_name IN ('records', 'entities', 'persons', 'entity_person_roles')"
    ).fetchall()
    connection.execute("BEGIN")
    for name, _ in indexes:
        connection.execute(f'DROP INDEX "{name}"')
    for code in range(12):
        connection.execute("INSERT INTO agencies (code, name, is_active, created_at) VALUES (?, ?, 1, ?)",
                           (f"A{code:02d}", f"Agency {code}", NOW))  # fmt: skip
        for d in range(3):
            connection.execute("INSERT INTO departments (agency_id, code, name, is_active) VALUES (?, ?, ?, 1)",
                               (code + 1, f"D{d}", f"Department {d}"))  # fmt: skip
    connection.executemany(
        "INSERT INTO entities (id, uscc, uscc_status, name, type, region, industry, address, status, registered_on,"
        " is_in_registry, created_at, updated_at) VALUES (?, ?, 'valid', ?, 'enterprise', ?, '5211', '', 'active',"
        " '2015-01-01', 1, ?, ?)",
        _entity_rows(),
    )
    connection.executemany(
        "INSERT INTO persons (id, name, id_ciphertext, id_key_id, id_blind_index, id_masked, created_at)"
        " VALUES (?, ?, x'00', 'k1', ?, '110102********0000', ?)",
        _person_rows(),
    )
    rng = random.Random(4)
    connection.executemany(
        "INSERT INTO entity_person_roles (entity_id, person_id, role, since, until) VALUES (?, ?,"
        " 'legal_representative', ?, NULL)",
        _role_rows(rng),
    )
    connection.executemany(
        "INSERT INTO records (agency_id, department_id, kind, risk_level, openness, entity_id, person_id, category,"
        " description, occurred_on, source_ref, version, is_current, status, change_reason, content_sha256, source,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'c', '', ?, ?, 1, 1, 'active', '', '', 'batch', ?)",
        _record_rows(rng),
    )
    connection.execute("COMMIT")
    for _, sql in indexes:
        connection.execute(sql)
    connection.execute("ANALYZE")
    connection.close()


BARE = {
    "entity_agency": """
        SELECT entity_id, agency_id, COUNT(DISTINCT department_id),
               SUM(CASE WHEN kind = 'risk' AND risk_level = 'high' THEN 1 ELSE 0 END), COUNT(*)
        FROM records WHERE is_current AND status = 'active' AND occurred_on BETWEEN :start AND :end
              AND entity_id IS NOT NULL
        GROUP BY entity_id, agency_id
        HAVING COUNT(DISTINCT department_id) >= 2
            OR SUM(CASE WHEN kind = 'risk' AND risk_level = 'high' THEN 1 ELSE 0 END) >= 2""",
    "entity_platform": """
        SELECT entity_id, COUNT(DISTINCT agency_id), COUNT(*)
        FROM records WHERE is_current AND status = 'active' AND occurred_on BETWEEN :start AND :end
              AND entity_id IS NOT NULL AND openness IN ('shared', 'public')
        GROUP BY entity_id HAVING COUNT(DISTINCT agency_id) >= 2""",
    "person_agency": """
        WITH hits AS (
            SELECT person_id AS subject, id, agency_id, department_id, kind, risk_level, openness FROM records
            WHERE is_current AND status = 'active' AND occurred_on BETWEEN :start AND :end AND person_id IS NOT NULL
            UNION
            SELECT r.person_id, records.id, agency_id, department_id, kind, risk_level, openness
            FROM records JOIN entity_person_roles r ON r.entity_id = records.entity_id
                 AND r.since <= records.occurred_on AND (r.until IS NULL OR records.occurred_on < r.until)
            WHERE is_current AND status = 'active' AND occurred_on BETWEEN :start AND :end)
        SELECT subject, agency_id, COUNT(DISTINCT department_id),
               SUM(CASE WHEN kind = 'risk' AND risk_level = 'high' THEN 1 ELSE 0 END), COUNT(*)
        FROM hits GROUP BY subject, agency_id
        HAVING COUNT(DISTINCT department_id) >= 2
            OR SUM(CASE WHEN kind = 'risk' AND risk_level = 'high' THEN 1 ELSE 0 END) >= 2""",
    "person_platform": """
        WITH hits AS (
            SELECT person_id AS subject, id, agency_id, openness FROM records
            WHERE is_current AND status = 'active' AND occurred_on BETWEEN :start AND :end AND person_id IS NOT NULL
            UNION
            SELECT r.person_id, records.id, agency_id, openness
            FROM records JOIN entity_person_roles r ON r.entity_id = records.entity_id
                 AND r.since <= records.occurred_on AND (r.until IS NULL OR records.occurred_on < r.until)
            WHERE is_current AND status = 'active' AND occurred_on BETWEEN :start AND :end)
        SELECT subject, COUNT(DISTINCT agency_id), COUNT(*) FROM hits WHERE openness IN ('shared', 'public')
        GROUP BY subject HAVING COUNT(DISTINCT agency_id) >= 2""",
}


def run_bare(database: Path) -> tuple[float, int]:
    connection = sqlite3.connect(database)
    params = {"start": (AS_OF - dt.timedelta(days=WINDOW)).isoformat(), "end": AS_OF.isoformat()}
    began = time.perf_counter()
    rows = sum(len(connection.execute(sql, params).fetchall()) for sql in BARE.values())
    elapsed = time.perf_counter() - began
    connection.close()
    return elapsed, rows


def run_platform(url: str, **kwargs: object) -> tuple[float, object]:
    from signalhub_audit.tags import AuditTag
    from signalhub_platform.db import make_engine, make_session_factory, transaction
    from signalhub_platform.models import Actor
    from signalhub_warnings.rules import Thresholds
    from signalhub_warnings.services import evaluate_warnings

    factory = make_session_factory(make_engine(url))
    began = time.perf_counter()
    with transaction(factory) as session:
        result = evaluate_warnings(
            session, thresholds=Thresholds(window_days=WINDOW), acknowledge_days={"red": 2, "orange": 3, "yellow": 5},
            actor=Actor.job("bench"), tag=AuditTag.JOB_WARNINGS_EVALUATE, as_of=AS_OF, **kwargs,
        )  # fmt: skip
    return time.perf_counter() - began, result


def add_batch(database: Path, rows: int = 10_000) -> int:
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("BEGIN")
    batch_id = connection.execute(
        "INSERT INTO batches (agency_id, source, period, filename, file_size, file_path, content_sha256, state,"
        " row_count, valid_count, error_count, warning_count, progress_read, progress_validated, progress_committed,"
        " inserted_count, versioned_count, unchanged_count, rejected_rows, failure, is_valid_only_accepted,"
        " is_on_behalf, created_at) VALUES (1, 'batch', '2026Q4', 'b.csv', 0, '', '', 'committed', 0, 0, 0, 0, 0,"
        " 0, 0, 0, 0, 0, '', '', 0, 0, '2026-11-27 00:00:00')"
    ).lastrowid
    rng = random.Random(9)
    connection.executemany(
        "INSERT INTO records (agency_id, department_id, kind, risk_level, openness, entity_id, category, description,"
        " occurred_on, source_ref, version, is_current, status, change_reason, content_sha256, source, batch_id,"
        " created_at) VALUES (1, ?, 'risk', 'high', 'shared', ?, 'c', '', ?, ?, 1, 1, 'active', '', '', 'batch', ?,"
        " '2026-11-27 00:00:00')",
        ((1 + rng.randrange(3), 1 + rng.randrange(ENTITIES), "2026-11-20", f"B{n}", batch_id) for n in range(rows)),
    )
    connection.execute("COMMIT")
    connection.close()
    return int(batch_id)


# --- PostgreSQL (when SIGNALHUB_TEST_DATABASE_URL is set) -----------------------------------------


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _load_postgres(url: str) -> None:
    """The same generated district, with COPY; the primary-key sequences moved past the given ids."""
    import psycopg

    with psycopg.connect(_psycopg_url(url)) as connection, connection.cursor() as cursor:
        for code in range(12):
            cursor.execute("INSERT INTO agencies (id, code, name, is_active, created_at) VALUES (%s, %s, %s, true, %s)",
                           (code + 1, f"A{code:02d}", f"Agency {code}", NOW))  # fmt: skip
            for d in range(3):
                cursor.execute(
                    "INSERT INTO departments (id, agency_id, code, name, is_active) VALUES (%s, %s, %s, %s, true)",
                    (code * 3 + d + 1, code + 1, f"D{d}", f"Department {d}"),
                )
        copies = [
            ("entities (id, uscc, uscc_status, name, type, region, industry, address, status, registered_on,"
             " is_in_registry, created_at, updated_at)",
             ((i, u, "valid", n, "enterprise", r, "5211", "", "active", "2015-01-01", True, c, c)
              for i, u, n, r, c, _ in _entity_rows())),
            ("persons (id, name, id_ciphertext, id_key_id, id_blind_index, id_masked, created_at)",
             ((i, n, b"\x00", "k1", b, "110102********0000", c) for i, n, b, c in _person_rows())),
        ]  # fmt: skip
        rng = random.Random(4)
        for table, rows in copies:
            with cursor.copy(f"COPY {table} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        with cursor.copy("COPY entity_person_roles (entity_id, person_id, role, since, until) FROM STDIN") as copy:
            for entity_id, person_id, since in _role_rows(rng):
                copy.write_row((entity_id, person_id, "legal_representative", since, None))
        with cursor.copy(
            "COPY records (agency_id, department_id, kind, risk_level, openness, entity_id, person_id, category,"
            " description, occurred_on, source_ref, version, is_current, status, change_reason, content_sha256,"
            " source, created_at) FROM STDIN"
        ) as copy:
            for a, d, k, level, o, e, person, on, ref, c in _record_rows(rng):
                copy.write_row((a, d, k, level, o, e, person, "c", "", on, ref, 1, True, "active", "", "", "batch", c))
        for table in ("agencies", "departments", "entities", "persons"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        connection.commit()
        connection.autocommit = True
        connection.execute("VACUUM ANALYZE")


def run_bare_postgres(url: str) -> tuple[float, int]:
    import psycopg

    params = {"start": AS_OF - dt.timedelta(days=WINDOW), "end": AS_OF}
    with psycopg.connect(_psycopg_url(url)) as connection:
        began = time.perf_counter()
        rows = 0
        for sql in BARE.values():
            rows += len(connection.execute(sql.replace(":start", "%(start)s").replace(":end", "%(end)s"),
                                           params).fetchall())  # fmt: skip
        return time.perf_counter() - began, rows


def add_batch_postgres(url: str, rows: int = 10_000) -> int:
    import psycopg

    rng = random.Random(9)
    with psycopg.connect(_psycopg_url(url)) as connection, connection.cursor() as cursor:
        batch_id = cursor.execute(
            "INSERT INTO batches (agency_id, source, period, filename, file_size, file_path, content_sha256, state,"
            " row_count, valid_count, error_count, warning_count, progress_read, progress_validated,"
            " progress_committed, inserted_count, versioned_count, unchanged_count, rejected_rows, failure,"
            " is_valid_only_accepted, is_on_behalf, created_at) VALUES (1, 'batch', '2026Q4', 'b.csv', 0, '', '',"
            " 'committed', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '', '', false, false, '2026-11-27 00:00:00') RETURNING id"
        ).fetchone()[0]  # type: ignore[index]
        with cursor.copy(
            "COPY records (agency_id, department_id, kind, risk_level, openness, entity_id, category, description,"
            " occurred_on, source_ref, version, is_current, status, change_reason, content_sha256, source, batch_id,"
            " created_at) FROM STDIN"
        ) as copy:
            for n in range(rows):
                copy.write_row((1, 1 + rng.randrange(3), "risk", "high", "shared", 1 + rng.randrange(ENTITIES), "c",
                                "", "2026-11-20", f"B{n}", 1, True, "active", "", "", "batch", batch_id,
                                "2026-11-27 00:00:00"))  # fmt: skip
        connection.commit()
        return int(batch_id)


def _measure(url: str, bare: Callable[[], tuple[float, int]], add_batch_rows: Callable[[], int]) -> None:
    """(a), (b) first and steady, (c): the same sequence on either database."""
    from signalhub_warnings.services import affected_by_batch

    bare_s, rows = bare()
    print(f"{'bare GROUP BY queries (a)':<44} {bare_s:8.2f} s   {rows:,} candidate rows")
    first, result = run_platform(url)
    print(f"{'evaluate_warnings, first full run (b)':<44} {first:8.2f} s   ratio {first / bare_s:4.2f}x   "
          f"opened {result.opened:,}")  # type: ignore[attr-defined]  # fmt: skip
    bare2, _ = bare()
    steady, result = run_platform(url)
    print(f"{'evaluate_warnings, steady state (b)':<44} {steady:8.2f} s   ratio {steady / bare2:4.2f}x "
          f"(bare again {bare2:.2f} s)")  # fmt: skip
    batch_id = add_batch_rows()
    incremental, result = run_platform(url, affected=affected_by_batch(batch_id))
    print(f"{'incremental after a 10,000-row batch (c)':<44} {incremental:8.2f} s   target 1 s   "
          f"opened {result.opened:,} escalated {result.escalated:,}")  # type: ignore[attr-defined]  # fmt: skip


def main_postgres(base_url: str) -> None:
    from tests.conftest import _create_postgres_database, _drop_postgres_database  # the suite's helpers

    from signalhub_platform.db import make_engine
    from signalhub_platform.schema import upgrade_database

    print(f"== warnings ({ENTITIES:,} entities, {RECORDS:,} records, PostgreSQL)")
    url = _create_postgres_database(base_url, "signalhub_bench_warnings")
    try:
        engine = make_engine(url)
        upgrade_database(engine)
        engine.dispose()
        began = time.perf_counter()
        _load_postgres(url)
        print(f"{'load (generated, COPY, VACUUM ANALYZE)':<44} {time.perf_counter() - began:8.1f} s")
        _measure(url, lambda: run_bare_postgres(url), lambda: add_batch_postgres(url))
    finally:
        _drop_postgres_database(base_url, "signalhub_bench_warnings")


def main_sqlite() -> None:
    from signalhub_platform.db import make_engine
    from signalhub_platform.schema import upgrade_database

    print(f"== warnings ({ENTITIES:,} entities, {RECORDS:,} records, SQLite)")
    with tempfile.TemporaryDirectory(dir=os.environ.get("SIGNALHUB_BENCH_TMP")) as tmp:
        database = Path(tmp) / "warnings.sqlite3"
        url = f"sqlite:///{database}"
        upgrade_database(make_engine(url))
        began = time.perf_counter()
        _load(database)
        print(f"{'load (generated, indexes rebuilt)':<44} {time.perf_counter() - began:8.1f} s")
        _measure(url, lambda: run_bare(database), lambda: add_batch(database))


def main() -> None:
    backends = os.environ.get("SIGNALHUB_BENCH_BACKENDS", "sqlite,postgresql").split(",")
    if "sqlite" in backends:
        main_sqlite()
    base = os.environ.get("SIGNALHUB_TEST_DATABASE_URL", "")
    if "postgresql" in backends and base.startswith("postgresql"):
        main_postgres(base)
