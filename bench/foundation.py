"""Foundation benchmarks: identifier checks, ID-number sealing, audit appends, audited API reads.

Baselines:
- identifiers: the same check-digit arithmetic inlined in a bare loop (no normalisation, no result objects);
- sealing: bare AES-GCM + HMAC with the cryptography package, one cipher object;
- audit append: sqlite3 inserts of the same rows with a hashlib SHA-256 chain, one transaction;
- audited read: a bare Flask endpoint doing one sqlite3 primary-key lookup, through the test client.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import random
import sqlite3
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench.timing import median_seconds, report

N_IDS = 100_000
N_EVENTS = 5_000
N_READS = 1_000


def _ids(n: int) -> tuple[list[str], list[str]]:
    from signalhub_platform.identifiers.resident_id import id_check_char
    from signalhub_platform.identifiers.uscc import ALPHABET, organisation_check_char, uscc_check_char

    rng = random.Random(7)
    usccs, id_numbers = [], []
    org_alphabet = [c for c in ALPHABET]
    for _ in range(n):
        org8 = "".join(rng.choice(org_alphabet) for _ in range(8))
        body = "91110102" + org8 + organisation_check_char(org8)
        usccs.append(body + uscc_check_char(body))
        birth = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(20000))
        first17 = f"110102{birth:%Y%m%d}{rng.randrange(1000):03d}"
        id_numbers.append(first17 + id_check_char(first17))
    return usccs, id_numbers


def bench_identifiers() -> None:
    from signalhub_platform.identifiers.resident_id import validate_id_number
    from signalhub_platform.identifiers.uscc import validate_uscc

    usccs, id_numbers = _ids(N_IDS)
    values = {c: i for i, c in enumerate("0123456789ABCDEFGHJKLMNPQRTUWXY")}
    weights = [pow(3, i, 31) for i in range(17)]
    id_weights = [pow(2, 17 - i, 11) for i in range(17)]

    def platform() -> None:
        today = dt.date(2026, 11, 27)
        for code, number in zip(usccs, id_numbers, strict=True):
            validate_uscc(code)
            validate_id_number(number, today=today)

    def baseline() -> None:
        ok = 0
        for code, number in zip(usccs, id_numbers, strict=True):
            ok += (31 - sum(values[c] * w for c, w in zip(code[:17], weights, strict=True)) % 31) % 31 == values[
                code[17]
            ]
            ok += (
                "10X98765432"[sum(int(c) * w for c, w in zip(number[:17], id_weights, strict=True)) % 11] == number[17]
            )
            dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        assert ok == 2 * len(usccs)

    report("identifiers: USCC + ID number check (pairs)", N_IDS, median_seconds(platform), median_seconds(baseline))


def bench_sealing() -> None:
    from signalhub_config import KeyMaterial
    from signalhub_platform.crypto import PersonalDataCipher

    _, id_numbers = _ids(20_000)
    key, index_key = os.urandom(32), os.urandom(32)
    cipher = PersonalDataCipher(KeyMaterial(b"s", (("k1", key),), index_key, b"x" * 32))
    bare = AESGCM(key)

    def platform() -> None:
        for number in id_numbers:
            bidx = cipher.blind_index(number)
            cipher.encrypt(number, bidx)

    def baseline() -> None:
        for number in id_numbers:
            bidx = hmac.new(index_key, number.encode(), hashlib.sha256).hexdigest()
            bare.encrypt(os.urandom(12), number.encode(), bidx.encode())

    report(
        "sealing: blind index + AES-GCM per ID number",
        len(id_numbers),
        median_seconds(platform),
        median_seconds(baseline),
    )


def bench_audit_append(tmp: Path) -> None:
    from signalhub_audit.services import record_event
    from signalhub_audit.tags import AuditTag
    from signalhub_platform.db import make_engine, make_session_factory
    from signalhub_platform.models import Actor
    from signalhub_platform.schema import upgrade_database

    engine = make_engine(f"sqlite:///{tmp / 'audit.sqlite3'}")
    upgrade_database(engine)
    factory = make_session_factory(engine)
    actor = Actor(name="bench", agency_code="TAX", client_ip="127.0.0.1")

    def platform() -> None:
        with factory() as session:
            for i in range(N_EVENTS):
                record_event(session, AuditTag.API_ENTITY_READ, actor=actor, subjects=[("entity", i)], data={"n": i})
            session.commit()

    bare_db = sqlite3.connect(tmp / "bare.sqlite3", isolation_level=None)
    bare_db.execute("PRAGMA journal_mode=WAL")
    bare_db.execute("CREATE TABLE ev (seq INTEGER PRIMARY KEY, payload TEXT, prev TEXT UNIQUE, hash TEXT)")
    state = {"seq": 0, "head": "0" * 64}

    def baseline() -> None:
        bare_db.execute("BEGIN IMMEDIATE")
        for i in range(N_EVENTS):
            payload = json.dumps({"tag": "api:entity:read", "actor": "bench", "n": i}, sort_keys=True)
            state["seq"] += 1
            digest = hashlib.sha256(f"{state['seq']}\n{state['head']}\n{payload}".encode()).hexdigest()
            bare_db.execute("INSERT INTO ev VALUES (?,?,?,?)", (state["seq"], payload, state["head"], digest))
            state["head"] = digest
        bare_db.execute("COMMIT")

    report(
        "audit: append one event (SQLite)",
        N_EVENTS,
        median_seconds(platform, repeat=3),
        median_seconds(baseline, repeat=3),
        unit="events",
    )


def bench_audited_read(tmp: Path) -> None:
    from flask import Flask
    from tests.factories import make_agency, make_entity, make_record, make_token, make_user

    from signalhub_config import Settings
    from signalhub_platform.app import create_app
    from signalhub_platform.db import make_engine, make_session_factory, transaction
    from signalhub_platform.keys import generate_missing_keys
    from signalhub_platform.schema import upgrade_database

    settings = Settings(instance_path=str(tmp / "inst"))
    generate_missing_keys(settings)
    engine = make_engine(settings.resolved_database_url)
    upgrade_database(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        agency = make_agency(session, "TAX")
        entity = make_entity(session)
        make_record(session, agency, entity=entity)
        token = make_token(session, make_user(session, agency))
        uscc = entity.uscc
    client = create_app(settings).test_client()
    headers = {"Authorization": f"Bearer {token}"}

    bare_db = sqlite3.connect(settings.instance_dir / "signalhub.sqlite3", check_same_thread=False)
    bare = Flask("bare")

    @bare.get("/e/<uscc>")
    def lookup(uscc: str) -> dict[str, object]:
        row = bare_db.execute("SELECT uscc, name FROM entities WHERE uscc = ?", (uscc,)).fetchone()
        return {"uscc": row[0], "name": row[1]}

    bare_client = bare.test_client()

    def platform() -> None:
        for _ in range(N_READS):
            assert client.get(f"/api/v1/entities/{uscc}", headers=headers).status_code == 200

    def baseline() -> None:
        for _ in range(N_READS):
            assert bare_client.get(f"/e/{uscc}").status_code == 200

    report(
        "API: audited entity profile read (SQLite)",
        N_READS,
        median_seconds(platform, repeat=3),
        median_seconds(baseline, repeat=3),
        unit="req",
    )


def main() -> None:
    print("== foundation")
    bench_identifiers()
    bench_sealing()
    with tempfile.TemporaryDirectory() as tmp:
        bench_audit_append(Path(tmp))
        bench_audited_read(Path(tmp))
