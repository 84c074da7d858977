"""Sharding on one machine: the warning aggregation over hash partitions by entity vs the whole.

A model, not the platform's code: a ``records`` table reduced to the columns the warning rules
read (entity, agency, department, openness, date) and an ``entity_person_roles`` table, both
hash-partitioned by ``entity_id`` into ``SHARDS`` partitions on PostgreSQL, as Citus would
distribute them. Each partition stands for one worker node. For the three rule families it times

- the whole table on one "node" (the parent table; every partition in one query),
- each partition alone (what each node runs; on separate machines they run at the same time),

and checks that the shards' answers together equal the whole answer. Entity rules (per agency:
distinct departments; platform: distinct agencies over shared records) are co-located: each
shard's result is final. The person rule (distinct agencies reaching a person through the
entities where the person holds a role) is not: each shard sends its (person, agency) pairs to a
coordinator, which groups them again. The script reports how many pairs cross the network.

Skewed like the warnings benchmark: entity ids are drawn as ``floor(E * u^3)``, so the busiest
1% of entities carry about a fifth of the records. One core per query (no parallel workers), so
that a partition's time is one node's work.

``python bench/run.py scaling_sim`` with ``SIGNALHUB_BENCH_DATABASE_URL`` (or
``SIGNALHUB_TEST_DATABASE_URL``) pointing at PostgreSQL; ``SIGNALHUB_BENCH_SIM_RECORDS`` (a
comma-separated list, default ``1000000,10000000``) sets the sizes, with ten records per entity.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

SHARDS = 4
AGENCIES = 12
DEPARTMENTS_PER_AGENCY = 3
PERSONS_PER_ENTITY = 0.8
ROLES_PER_ENTITY = 1.2
DATABASE = "signalhub_bench_sim"
REPEAT = 3

ENTITY_DEPARTMENTS = """
SELECT entity_id, agency_id, count(DISTINCT department_id) AS departments
FROM {table} WHERE occurred_on > DATE '2026-11-27' - 365
GROUP BY entity_id, agency_id HAVING count(DISTINCT department_id) >= 2
"""
ENTITY_AGENCIES = """
SELECT entity_id, count(DISTINCT agency_id) AS agencies
FROM {table} WHERE occurred_on > DATE '2026-11-27' - 365 AND is_shared
GROUP BY entity_id HAVING count(DISTINCT agency_id) >= 2
"""
# One shard's part of the person rule: its distinct (person, agency) pairs, to be grouped again.
PERSON_PAIRS = """
SELECT DISTINCT p.person_id, r.agency_id
FROM {table} r JOIN {roles} p ON p.entity_id = r.entity_id
WHERE r.occurred_on > DATE '2026-11-27' - 365 AND r.is_shared
"""
# Two shards may both send (person, agency): count distinct agencies again.
PERSON_AGENCIES = (
    "SELECT person_id, count(DISTINCT agency_id) FROM ({pairs}) pairs "
    "GROUP BY person_id HAVING count(DISTINCT agency_id) >= 2"
)


def _connect(admin_url: str, database: str) -> object:
    import psycopg
    from sqlalchemy import make_url

    url = make_url(admin_url).set(drivername="postgresql", database=database)
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def build(admin_url: str, records: int) -> object:
    entities = max(records // 10, 1)
    admin = _connect(admin_url, "postgres")
    admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')  # type: ignore[attr-defined]
    admin.execute(f'CREATE DATABASE "{DATABASE}"')  # type: ignore[attr-defined]
    admin.close()  # type: ignore[attr-defined]
    db = _connect(admin_url, DATABASE)
    run = db.execute  # type: ignore[attr-defined]
    run("SET max_parallel_workers_per_gather = 0")
    run("SET work_mem = '256MB'")
    for table, columns in (
        ("records", "id bigint, entity_id bigint, agency_id int, department_id int, is_shared bool, occurred_on date"),
        ("roles", "entity_id bigint, person_id bigint"),
    ):
        run(f"CREATE UNLOGGED TABLE {table} ({columns}) PARTITION BY HASH (entity_id)")
        for shard in range(SHARDS):
            run(f"CREATE UNLOGGED TABLE {table}_{shard} PARTITION OF {table} "
                f"FOR VALUES WITH (MODULUS {SHARDS}, REMAINDER {shard})")  # fmt: skip
    began = time.perf_counter()
    run(
        f"""INSERT INTO records
        SELECT g, floor({entities} * power(random(), 3))::bigint,
               a, a * 10 + floor(random() * {DEPARTMENTS_PER_AGENCY})::int,
               random() < 0.75, DATE '2026-11-27' - floor(random() * 730)::int
        FROM generate_series(1, {records}) g, LATERAL (SELECT floor(random() * {AGENCIES})::int + g * 0 AS a) agency"""
    )
    persons = int(entities * PERSONS_PER_ENTITY)
    run(
        f"""INSERT INTO roles
        SELECT floor(random() * {entities})::bigint, floor(random() * {persons})::bigint
        FROM generate_series(1, {int(entities * ROLES_PER_ENTITY)})"""
    )
    run("ANALYZE records")
    run("ANALYZE roles")
    print(f"  generated {records:,} records on {entities:,} entities, {persons:,} persons "
          f"in {time.perf_counter() - began:.0f} s")  # fmt: skip
    return db


def timed(db: object, sql: str) -> tuple[float, list[tuple[object, ...]]]:
    samples, rows = [], []
    for _ in range(REPEAT):
        began = time.perf_counter()
        rows = db.execute(sql).fetchall()  # type: ignore[attr-defined]
        samples.append(time.perf_counter() - began)
    return statistics.median(samples), rows


def compare(db: object, name: str, whole_sql: str, shard_sql: Callable[[int], str]) -> None:
    whole_s, whole_rows = timed(db, whole_sql)
    shard_times, shard_rows = [], []
    for shard in range(SHARDS):
        seconds, rows = timed(db, shard_sql(shard))
        shard_times.append(seconds)
        shard_rows.extend(rows)
    same = sorted(map(tuple, whole_rows)) == sorted(map(tuple, shard_rows))
    print(f"  {name:<30} whole {whole_s:7.2f} s | shards max {max(shard_times):6.2f} s, sum {sum(shard_times):6.2f} s "
          f"| {len(whole_rows):,} subjects, shards give the same: {same}")  # fmt: skip


def simulate(admin_url: str, records: int) -> None:
    print(f"scaling simulation: {records:,} records, {SHARDS} hash partitions by entity")
    db = build(admin_url, records)
    try:
        compare(db, "entity: departments per agency", ENTITY_DEPARTMENTS.format(table="records"),
                lambda s: ENTITY_DEPARTMENTS.format(table=f"records_{s}"))  # fmt: skip
        compare(db, "entity: agencies (red)", ENTITY_AGENCIES.format(table="records"),
                lambda s: ENTITY_AGENCIES.format(table=f"records_{s}"))  # fmt: skip
        # The person rule: whole on one node, vs the shards' pairs grouped again at a coordinator.
        whole_pairs = PERSON_PAIRS.format(table="records", roles="roles")
        whole_s, whole_rows = timed(db, PERSON_AGENCIES.format(pairs=whole_pairs))
        pair_times, pair_counts = [], []
        for shard in range(SHARDS):
            pairs = PERSON_PAIRS.format(table=f"records_{shard}", roles=f"roles_{shard}")
            samples = []
            for _ in range(REPEAT):
                db.execute(f"DROP TABLE IF EXISTS pairs_{shard}")  # type: ignore[attr-defined]
                began = time.perf_counter()
                db.execute(f"CREATE TEMP TABLE pairs_{shard} AS {pairs}")  # type: ignore[attr-defined]
                samples.append(time.perf_counter() - began)
            pair_times.append(statistics.median(samples))
            pair_counts.append(int(db.execute(f"SELECT count(*) FROM pairs_{shard}").fetchone()[0]))  # type: ignore[attr-defined]
        # What the coordinator received; then only its regrouping is timed.
        shipped = " UNION ALL ".join(f"SELECT * FROM pairs_{s}" for s in range(SHARDS))
        db.execute(f"CREATE TEMP TABLE shipped AS {shipped}")  # type: ignore[attr-defined]
        db.execute("ANALYZE shipped")  # type: ignore[attr-defined]
        merge_s, merged = timed(db, PERSON_AGENCIES.format(pairs="SELECT * FROM shipped"))
        same = sorted(map(tuple, whole_rows)) == sorted(map(tuple, merged))
        print(f"  {'person: agencies (red)':<30} whole {whole_s:7.2f} s | shards max {max(pair_times):6.2f} s, "
              f"sum {sum(pair_times):6.2f} s, + regrouping {merge_s:.2f} s of {sum(pair_counts):,} shipped "
              f"(person, agency) pairs ({sum(pair_counts) / records:.0%} of the records) "
              f"| {len(whole_rows):,} persons, same: {same}")  # fmt: skip
    finally:
        db.close()  # type: ignore[attr-defined]
        admin = _connect(admin_url, "postgres")
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')  # type: ignore[attr-defined]
        admin.close()  # type: ignore[attr-defined]


def main() -> None:
    admin_url = os.environ.get("SIGNALHUB_BENCH_DATABASE_URL") or os.environ.get("SIGNALHUB_TEST_DATABASE_URL")
    if not admin_url or not admin_url.startswith("postgresql"):
        print("scaling simulation skipped: set SIGNALHUB_BENCH_DATABASE_URL to a PostgreSQL URL")
        return
    sizes = os.environ.get("SIGNALHUB_BENCH_SIM_RECORDS", "1000000,10000000")
    for records in (int(size) for size in sizes.split(",") if size.strip()):
        simulate(admin_url, records)


if __name__ == "__main__":
    main()
