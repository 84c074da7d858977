"""Warnings benchmark: the full evaluation against the bare aggregation, and an incremental run.

Data: 1,000,000 entities, 800,000 persons with 1,200,000 roles, 10,000,000 records (12 agencies,
3 departments each, a skewed spread over entities so that some subjects collect many hits), on
SQLite (and PostgreSQL when ``SIGNALHUB_TEST_DATABASE_URL`` is set; not yet wired).
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
from collections.abc import Iterator
from pathlib import Path

RECORDS = int(os.environ.get("SIGNALHUB_BENCH_RECORDS", "10000000"))
ENTITIES = max(1000, RECORDS // 10)
PERSONS = ENTITIES * 4 // 5
ROLES = ENTITIES * 6 // 5
AS_OF = dt.date(2026, 11, 27)
WINDOW = 365


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
    now = "2026-11-01 00:00:00"
    for code in range(12):
        connection.execute("INSERT INTO agencies (code, name, is_active, created_at) VALUES (?, ?, 1, ?)",
                           (f"A{code:02d}", f"Agency {code}", now))  # fmt: skip
        for d in range(3):
            connection.execute("INSERT INTO departments (agency_id, code, name, is_active) VALUES (?, ?, ?, 1)",
                               (code + 1, f"D{d}", f"Department {d}"))  # fmt: skip
    connection.executemany(
        "INSERT INTO entities (id, uscc, uscc_status, name, type, region, industry, address, status, registered_on,"
        " is_in_registry, created_at, updated_at) VALUES (?, ?, 'valid', ?, 'enterprise', ?, '5211', '', 'active',"
        " '2015-01-01', 1, ?, ?)",
        ((i, f"91110102{i:010d}", f"Entity {i}", f"Street {i % 15}", now, now) for i in range(1, ENTITIES + 1)),
    )
    connection.executemany(
        "INSERT INTO persons (id, name, id_ciphertext, id_key_id, id_blind_index, id_masked, created_at)"
        " VALUES (?, ?, x'00', 'k1', ?, '110102********0000', ?)",
        ((i, f"Person {i}", f"{i:064x}", now) for i in range(1, PERSONS + 1)),
    )
    rng = random.Random(4)
    connection.executemany(
        "INSERT INTO entity_person_roles (entity_id, person_id, role, since, until) VALUES (?, ?,"
        " 'legal_representative', ?, NULL)",
        # An entity's second role starts later, so (entity, person, role, since) stays unique.
        (
            (1 + i % ENTITIES, 1 + rng.randrange(PERSONS), "2010-01-01" if i < ENTITIES else "2012-01-01")
            for i in range(ROLES)
        ),
    )
    start = AS_OF - dt.timedelta(days=2 * WINDOW)

    def records() -> Iterator[tuple[object, ...]]:
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
                (start + dt.timedelta(days=rng.randrange(2 * WINDOW))).isoformat(), f"S{n}", now,
            )  # fmt: skip

    connection.executemany(
        "INSERT INTO records (agency_id, department_id, kind, risk_level, openness, entity_id, person_id, category,"
        " description, occurred_on, source_ref, version, is_current, status, change_reason, content_sha256, source,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'c', '', ?, ?, 1, 1, 'active', '', '', 'batch', ?)",
        records(),
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


def main() -> None:
    from signalhub_platform.db import make_engine
    from signalhub_platform.schema import upgrade_database
    from signalhub_warnings.services import affected_by_batch

    print(f"== warnings ({ENTITIES:,} entities, {RECORDS:,} records, SQLite)")
    with tempfile.TemporaryDirectory(dir=os.environ.get("SIGNALHUB_BENCH_TMP")) as tmp:
        database = Path(tmp) / "warnings.sqlite3"
        url = f"sqlite:///{database}"
        upgrade_database(make_engine(url))
        began = time.perf_counter()
        _load(database)
        print(f"{'load (generated, indexes rebuilt)':<44} {time.perf_counter() - began:8.1f} s")
        bare, rows = run_bare(database)
        print(f"{'bare GROUP BY queries (a)':<44} {bare:8.2f} s   {rows:,} candidate rows")
        first, result = run_platform(url)
        print(f"{'evaluate_warnings, first full run (b)':<44} {first:8.2f} s   ratio {first / bare:4.2f}x   "
              f"opened {result.opened:,}")  # type: ignore[attr-defined]  # fmt: skip
        bare2, _ = run_bare(database)
        steady, result = run_platform(url)
        print(f"{'evaluate_warnings, steady state (b)':<44} {steady:8.2f} s   ratio {steady / bare2:4.2f}x "
              f"(bare again {bare2:.2f} s)")  # fmt: skip
        batch_id = add_batch(database)
        incremental, result = run_platform(url, affected=affected_by_batch(batch_id))
        print(f"{'incremental after a 10,000-row batch (c)':<44} {incremental:8.2f} s   target 1 s   "
              f"opened {result.opened:,} escalated {result.escalated:,}")  # type: ignore[attr-defined]  # fmt: skip
