"""Draw benchmark: a 1% double-random draw from 1,000,000 entities (issue 5).

Data: 1,000,000 distinct USCC-like 18-character codes (right shape, check characters not computed),
2 agencies with 50 inspectors each (one inactive, one unqualified), 1,000 declared conflicts and
50,000 entities with a last inspector.
(a) the draw proper: ``draw_targets`` for 10,000 targets, against the bare loop computing the same
    tickets with hashlib and keeping the 10,000 smallest with ``heapq.nsmallest`` (target ≤ 2×);
(b) the whole ``compute_draw``: (a) plus the teams (a ticket per candidate inspector per target) and
    the manifest's SHA-256; reported on its own, there is no bare counterpart;
(c) the database path on SQLite: ``create_draw`` (freeze the directory into the manifest) next to a
    bare sqlite3 select + canonical JSON + SHA-256 + store, and ``run_draw`` (set ``SIGNALHUB_BENCH_DRAW_DB=0``
    to skip it). ``SIGNALHUB_BENCH_ENTITIES`` scales the data; the draw takes 1% of it.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.timing import median_seconds

ENTITIES = int(os.environ.get("SIGNALHUB_BENCH_ENTITIES", "1000000"))
TARGETS = max(1, ENTITIES // 100)
INSPECTORS_PER_AGENCY = 50
AGENCIES = ("SAMR", "TAX")
SEED = "31415926535897932384"
REGIONS = ("110101", "110102", "110105", "110106", "110107", "110108", "110109", "110111")
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def population(n: int = ENTITIES) -> list[str]:
    """``n`` distinct codes shaped like USCCs (91 + region + 9-character organisation code + check), sorted."""
    rng = random.Random(5)
    codes = []
    for org in rng.sample(range(31**9), n):
        digits = []
        for _ in range(9):
            org, digit = divmod(org, 31)
            digits.append(ALPHABET[digit])
        codes.append("91" + REGIONS[org % len(REGIONS)] + "".join(digits) + ALPHABET[rng.randrange(31)])
    codes.sort()
    return codes


def manifest(usccs: list[str]) -> dict[str, Any]:
    from signalhub_platform.drawing import MANIFEST_FORMAT

    rng = random.Random(6)
    inspectors = [
        {"agency": agency, "certificate_no": f"{agency}-{n:04d}", "active": n != 0, "qualified": n != 1}
        for agency in AGENCIES
        for n in range(INSPECTORS_PER_AGENCY)
    ]
    certificates = [i["certificate_no"] for i in inspectors]
    return {
        "format": MANIFEST_FORMAT,
        "draw_id": 1,
        "name": "bench",
        "frozen_at": "2026-11-27T00:00:00+00:00",
        "parameters": {
            "strategy": "uniform",
            "targets": TARGETS,
            "ratio": None,
            "strata": None,
            "agencies": list(AGENCIES),
            "items": [],
            "filters": {},
            "team": {"per_agency": 1},
            "inspector_cap": None,
            "as_of": "2026-11-27",
        },
        "population": [[uscc, "none"] for uscc in usccs],
        "inspectors": inspectors,
        "recusals": sorted([rng.choice(certificates), rng.choice(usccs)] for _ in range(1000)),
        "last_inspectors": sorted([uscc, rng.choice(certificates)] for uscc in rng.sample(usccs, len(usccs) // 20)),
    }


def bare_draw(usccs: list[str], seed: str, take: int) -> list[tuple[str, str]]:
    """The same first tickets with hashlib inline, the ``take`` smallest: (ticket, uscc)."""
    seed_hash = hashlib.sha256(seed.encode()).hexdigest()
    keyed = []
    for id_ in usccs:
        ticket = "0." + f"{int(hashlib.sha256((seed_hash + id_).encode()).hexdigest(), 16):064d}"[::-1]
        keyed.append((ticket, id_))
    return heapq.nsmallest(take, keyed)


def paired_medians(platform: Callable[[], object], baseline: Callable[[], object], repeat: int) -> tuple[float, float]:
    # Alternate the two so that a noisy neighbour on the shared machine slows both alike.
    runs = [(median_seconds(platform, repeat=1), median_seconds(baseline, repeat=1)) for _ in range(repeat)]
    return statistics.median(p for p, _ in runs), statistics.median(b for _, b in runs)


def bench_draw_targets(usccs: list[str], document: dict[str, Any]) -> None:
    from signalhub_platform.drawing import draw_targets

    drawn = [t["uscc"] for t in draw_targets(document, SEED, [{}])]
    assert drawn == [uscc for _, uscc in bare_draw(usccs, SEED, TARGETS)], "the bare loop draws other targets"
    platform, bare = paired_medians(
        lambda: draw_targets(document, SEED, [{}]), lambda: bare_draw(usccs, SEED, TARGETS), repeat=5
    )
    print(f"{'(a) draw_targets, 1% uniform':<44} {platform:8.2f} s   bare loop {bare:6.2f} s   "
          f"ratio {platform / bare:4.2f}x   target 2x")  # fmt: skip


def bench_compute_draw(document: dict[str, Any]) -> None:
    from signalhub_platform.drawing import assign_teams, compute_draw, document_sha256, draw_targets

    targets = draw_targets(document, SEED, [{}])
    whole = median_seconds(lambda: compute_draw(document, SEED, [{}]), repeat=5)
    teams = median_seconds(lambda: assign_teams(document, SEED, [dict(t) for t in targets]), repeat=5)
    manifest_hash = median_seconds(lambda: document_sha256(document), repeat=5)
    print(f"{'(b) compute_draw, teams of 2 from 2 x 50':<44} {whole:8.2f} s   of which teams {teams:.2f} s, "
          f"manifest SHA-256 {manifest_hash:.2f} s")  # fmt: skip


def _load(database: Path, usccs: list[str]) -> None:
    """Entities straight through sqlite3 with their indexes rebuilt afterwards (see PERF.md)."""
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("PRAGMA cache_size=-262144")
    indexes = connection.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL AND tbl_name = 'entities'"
    ).fetchall()
    connection.execute("BEGIN")
    for name, _ in indexes:
        connection.execute(f'DROP INDEX "{name}"')
    now = "2026-11-01 00:00:00"
    connection.executemany(
        "INSERT INTO entities (id, uscc, uscc_status, name, type, region, industry, address, status, registered_on,"
        " is_in_registry, created_at, updated_at) VALUES (?, ?, 'valid', ?, 'enterprise', ?, '5211', '', 'active',"
        " '2015-01-01', 1, ?, ?)",
        ((i, uscc, f"Entity {i}", f"Street {i % 15}", now, now) for i, uscc in enumerate(usccs, start=1)),
    )
    connection.execute("COMMIT")
    for _, sql in indexes:
        connection.execute(sql)
    connection.execute("ANALYZE")
    connection.close()


def _directory(url: str) -> None:
    """Two agencies, one inspection item each, 50 inspectors each (one inactive, one unqualified)."""
    from tests.factories import make_agency

    from signalhub_platform.db import make_engine, make_session_factory, transaction
    from signalhub_platform.models import InspectionItem, Inspector, InspectorQualification

    with transaction(make_session_factory(make_engine(url))) as session:
        for code in AGENCIES:
            agency = make_agency(session, code)
            item = InspectionItem(agency_id=agency.id, item_code="I1", name="item", legal_basis="")
            session.add(item)
            session.flush()
            for n in range(INSPECTORS_PER_AGENCY):
                inspector = Inspector(
                    agency_id=agency.id, name=f"inspector {n}", certificate_no=f"{code}-{n:04d}", is_active=n != 0
                )
                inspector.qualifications = [] if n == 1 else [InspectorQualification(item_id=item.id)]
                session.add(inspector)


def bare_freeze(database: Path) -> None:
    """By hand: the active entities' codes in order, canonical JSON, SHA-256, stored in one row."""
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("CREATE TEMP TABLE IF NOT EXISTS frozen (manifest TEXT, sha256 TEXT)")
    rows = connection.execute("SELECT uscc FROM entities WHERE status = 'active' ORDER BY uscc").fetchall()
    text = json.dumps({"population": [[uscc, "none"] for (uscc,) in rows]}, sort_keys=True, separators=(",", ":"))
    connection.execute("BEGIN")
    connection.execute("INSERT INTO frozen VALUES (?, ?)", (text, hashlib.sha256(text.encode()).hexdigest()))
    connection.execute("COMMIT")
    connection.close()


def bench_database(tmp: Path, usccs: list[str]) -> None:
    from signalhub_platform.db import make_engine, make_session_factory, transaction
    from signalhub_platform.inspections.directory import DrawSpec
    from signalhub_platform.inspections.services import create_draw, run_draw, set_dice
    from signalhub_platform.models import Actor
    from signalhub_platform.schema import upgrade_database

    database = tmp / "draw.sqlite3"
    url = f"sqlite:///{database}"
    upgrade_database(make_engine(url))
    began = time.perf_counter()
    _load(database, usccs)
    _directory(url)
    print(f"{'(c) load (generated, indexes rebuilt)':<44} {time.perf_counter() - began:8.1f} s")
    factory = make_session_factory(make_engine(url))
    actor = Actor.cli()
    spec = DrawSpec(name="bench", agencies=AGENCIES, targets=TARGETS, items=tuple(f"{a}:I1" for a in AGENCIES))
    draw_ids: list[int] = []

    def freeze() -> None:
        with transaction(factory) as session:
            draw_ids.append(create_draw(session, spec, actor=actor, source="cli").id)

    frozen, bare = paired_medians(freeze, lambda: bare_freeze(database), repeat=3)
    with transaction(factory) as session:
        for draw_id in draw_ids:
            set_dice(session, draw_id, SEED, actor=actor, source="cli")
    pending = iter(draw_ids)

    def run() -> None:
        with transaction(factory) as session:
            run_draw(session, next(pending), actor=actor, source="cli")

    ran = median_seconds(run, repeat=3)
    print(f"{'(c) create_draw: freeze, hash, audit, commit':<44} {frozen:8.2f} s   bare select+JSON+hash+store "
          f"{bare:.2f} s   ratio {frozen / bare:4.2f}x")  # fmt: skip
    print(f"{'(c) run_draw: draw, teams, store, commit':<44} {ran:8.2f} s   {TARGETS:,} targets")


def main() -> None:
    print(f"== draw ({ENTITIES:,} entities, {TARGETS:,} targets)")
    usccs = population()
    document = manifest(usccs)
    bench_draw_targets(usccs, document)
    bench_compute_draw(document)
    if os.environ.get("SIGNALHUB_BENCH_DRAW_DB", "1") != "0":
        with tempfile.TemporaryDirectory(dir=os.environ.get("SIGNALHUB_BENCH_TMP")) as tmp:
            bench_database(Path(tmp), usccs)
