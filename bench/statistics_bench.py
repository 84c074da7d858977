"""Statistics benchmark: the platform's classified statistics by street against a bare GROUP BY (issue 6).

(Named ``statistics_bench`` like ``warnings_bench``: ``bench/`` is on ``sys.path`` when ``run.py``
runs, and a ``statistics.py`` there would shadow the standard library's ``statistics``.)

Data, generated straight into a migrated SQLite database with the indexes rebuilt afterwards (see
PERF.md): ``SIGNALHUB_BENCH_RECORDS`` records (default 500,000) over two years from 12 agencies
(3 departments each; a quarter of the records private, a twentieth withdrawn or superseded), on
a tenth as many entities in 15 streets, and a hundredth as many warnings (red for the platform,
yellow and orange for agencies).

(a) bare: the two GROUP BY queries typed by hand with sqlite3 — records per street under the
    visibility rule for one agency's user, and that user's visible warnings per street by level
    with distinct entities — and the total summed in Python;
(b) platform: ``classified_statistics`` by street for the same user: the same counts through
    SQLAlchemy, the merge of the two sides, the audit event, and the commit.
Both are alternated, medians of 5. Also, platform only: by entity (limit 100) and by quarter.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.draw import paired_medians
from bench.timing import median_seconds

RECORDS = int(os.environ.get("SIGNALHUB_BENCH_RECORDS", "500000"))
ENTITIES = max(100, RECORDS // 10)
WARNINGS = max(10, RECORDS // 100)
AGENCIES = 12
STREETS = 15
VIEWER_AGENCY = 1
START = dt.date(2025, 1, 1)


def _load(database: Path) -> None:
    """Fill a migrated SQLite database quickly: the big tables' indexes are dropped and rebuilt."""
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("PRAGMA cache_size=-262144")
    indexes = connection.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL"
        " AND tbl_name IN ('records', 'entities', 'risk_warnings')"
    ).fetchall()
    connection.execute("BEGIN")
    for name, _ in indexes:
        connection.execute(f'DROP INDEX "{name}"')
    now = "2026-11-01 00:00:00"
    for code in range(AGENCIES):
        connection.execute("INSERT INTO agencies (code, name, is_active, created_at) VALUES (?, ?, 1, ?)",
                           (f"A{code:02d}", f"Agency {code}", now))  # fmt: skip
        for d in range(3):
            connection.execute("INSERT INTO departments (agency_id, code, name, is_active) VALUES (?, ?, ?, 1)",
                               (code + 1, f"D{d}", f"Department {d}"))  # fmt: skip
    connection.executemany(
        "INSERT INTO entities (id, uscc, uscc_status, name, type, region, industry, address, status, registered_on,"
        " is_in_registry, created_at, updated_at) VALUES (?, ?, 'valid', ?, 'enterprise', ?, ?, '', 'active',"
        " '2015-01-01', 1, ?, ?)",
        (
            (i, f"91110102{i:010d}", f"Entity {i}", f"Street {i % STREETS}", f"52{i % 40:02d}", now, now)
            for i in range(1, ENTITIES + 1)
        ),
    )
    rng = random.Random(6)

    def records() -> Any:
        for n in range(RECORDS):
            agency = rng.randrange(AGENCIES)
            kind = "penalty" if n % 5 == 0 else "risk"
            yield (
                agency + 1, agency * 3 + 1 + rng.randrange(3), kind,
                None if kind == "penalty" else ("low", "medium", "high")[rng.randrange(3)],
                ("shared", "private", "shared", "public")[n % 4], 1 + rng.randrange(ENTITIES),
                ("complaint", "licence", "violation", "bad_credit")[rng.randrange(4)],
                (START + dt.timedelta(days=rng.randrange(730))).isoformat(), f"S{n}",
                0 if n % 40 == 1 else 1, "withdrawn" if n % 40 == 2 else "active", now,
            )  # fmt: skip

    connection.executemany(
        "INSERT INTO records (agency_id, department_id, kind, risk_level, openness, entity_id, category, description,"
        " occurred_on, source_ref, version, is_current, status, change_reason, content_sha256, source, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, ?, 1, ?, ?, '', '', 'batch', ?)",
        records(),
    )

    def warnings() -> Any:
        for n in range(WARNINGS):
            entity = 1 + n * (ENTITIES // WARNINGS)  # one warning per entity: (subject, scope) stays unique
            red = n % 3 == 0
            agency = None if red else 1 + rng.randrange(AGENCIES)
            opened = f"{START + dt.timedelta(days=rng.randrange(730))} 03:00:00"
            yield (
                f"entity:{entity}", entity, "platform" if red else str(agency), agency,
                "red" if red else ("orange", "yellow")[n % 2], opened, opened, opened,
            )  # fmt: skip

    connection.executemany(
        "INSERT INTO risk_warnings (subject_type, subject_key, entity_id, scope_key, scope_agency_id, level, rules,"
        " evidence, rule_codes, record_count, status, is_active, note, opened_at, level_changed_at, updated_at)"
        " VALUES ('entity', ?, ?, ?, ?, ?, '[]', '{}', '', 0, 'open', 1, '', ?, ?, ?)",
        warnings(),
    )
    connection.execute("COMMIT")
    for _, sql in indexes:
        connection.execute(sql)
    connection.execute("ANALYZE")
    connection.close()


BARE_RECORDS = """
    SELECT COALESCE(e.region, ''), COUNT(*)
    FROM records r LEFT JOIN entities e ON e.id = r.entity_id
    WHERE r.is_current AND r.status = 'active' AND (r.agency_id = :agency OR r.openness IN ('shared', 'public'))
    GROUP BY 1"""
BARE_WARNINGS = """
    SELECT COALESCE(e.region, ''), SUM(w.level = 'red'), SUM(w.level = 'orange'), SUM(w.level = 'yellow'),
           COUNT(DISTINCT w.entity_id)
    FROM risk_warnings w LEFT JOIN entities e ON e.id = w.entity_id
    WHERE w.scope_key = 'platform' OR w.scope_agency_id = :agency
    GROUP BY 1"""


def bare(connection: sqlite3.Connection) -> dict[str, list[int]]:
    """Street → [records, red, orange, yellow, entities with warnings], plus the total under ""."""
    groups: dict[str, list[int]] = {}
    for street, count in connection.execute(BARE_RECORDS, {"agency": VIEWER_AGENCY}):
        groups.setdefault(street, [0, 0, 0, 0, 0])[0] = count
    for street, *figures in connection.execute(BARE_WARNINGS, {"agency": VIEWER_AGENCY}):
        groups.setdefault(street, [0, 0, 0, 0, 0])[1:] = figures
    groups["total"] = [sum(column) for column in zip(*groups.values(), strict=True)]
    return groups


def main() -> None:
    from signalhub_audit.tags import AuditTag
    from signalhub_platform.db import make_engine, make_session_factory, transaction
    from signalhub_platform.models import Actor, Role
    from signalhub_platform.schema import upgrade_database
    from signalhub_platform.statistics.services import Dimension, StatisticsQuery, classified_statistics
    from signalhub_warnings.services import visible_warnings_clause

    print(f"== statistics ({RECORDS:,} records, {ENTITIES:,} entities, {WARNINGS:,} warnings, SQLite)")
    with tempfile.TemporaryDirectory(dir=os.environ.get("SIGNALHUB_BENCH_TMP")) as tmp:
        database = Path(tmp) / "statistics.sqlite3"
        url = f"sqlite:///{database}"
        upgrade_database(make_engine(url))
        began = time.perf_counter()
        _load(database)
        print(f"{'load (generated, indexes rebuilt)':<44} {time.perf_counter() - began:8.1f} s")
        factory = make_session_factory(make_engine(url))
        actor = Actor(name="bench", user_id=None, agency_id=VIEWER_AGENCY, agency_code="A00",
                      roles=frozenset({Role.SUPERVISOR}))  # fmt: skip

        def platform(dimension: Dimension = Dimension.REGION) -> Any:
            with transaction(factory) as session:
                return classified_statistics(
                    session, actor, StatisticsQuery(dimension=dimension), warning_rule=visible_warnings_clause,
                    tag=AuditTag.WEB_STATISTICS_READ,
                )  # fmt: skip

        connection = sqlite3.connect(database)
        expected = bare(connection)
        table = platform()
        got = {row.key or "": [row.records, row.red, row.orange, row.yellow, row.entities_with_warnings]
               for row in table.rows}  # fmt: skip
        got["total"] = [table.total.records, table.total.red, table.total.orange, table.total.yellow,
                        table.total.entities_with_warnings]  # fmt: skip
        assert got == expected, "the platform and the bare queries disagree"
        ours, theirs = paired_medians(platform, lambda: bare(connection), repeat=5)
        print(f"{'(b) by street vs (a) bare GROUP BY':<44} {ours:8.3f} s   bare {theirs:.3f} s   "
              f"ratio {ours / theirs:4.2f}x   {len(table.rows)} streets, {table.total.records:,} records")  # fmt: skip
        by_entity = median_seconds(lambda: platform(Dimension.ENTITY), repeat=5)
        print(f"{'platform by entity (top 100 of ~' + format(ENTITIES, ',') + ')':<44} {by_entity:8.3f} s")
        by_quarter = median_seconds(lambda: platform(Dimension.QUARTER), repeat=5)
        print(f"{'platform by quarter':<44} {by_quarter:8.3f} s")
        connection.close()
