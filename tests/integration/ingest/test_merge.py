"""The set-based merge: new records, new versions, unchanged rows, provisional entities, persons."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from signalhub_ingest.merge import merge_staged_rows
from signalhub_ingest.staging import content_sha256, write_staged_rows
from signalhub_platform.crypto import PersonalDataCipher, mask_id_number
from signalhub_platform.models import Agency, Batch, BatchState, Entity, Person, Record, RecordSource
from tests.factories import make_agency, make_entity, make_id_number, make_uscc

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


def _batch(session: Session, agency: Agency) -> Batch:
    batch = Batch(agency_id=agency.id, period="2026Q4", filename="f.csv", file_sha256=None, state=BatchState.COMMITTING)
    session.add(batch)
    session.flush()
    return batch


def _row(
    batch: Batch, agency: Agency, n: int, *, uscc: str | None, description: str = "d", person: tuple | None = None
):
    department_id = agency.departments[n % len(agency.departments)].id
    bidx, blob, key_id, masked, name = person or (None, None, None, None, "")
    digest = content_sha256(
        department_id=department_id, kind="risk", risk_level="high", openness="shared", uscc=uscc,
        person_blind_index=bidx, category="投诉举报", description=description,
        occurred_on="2026-06-01",
    )  # fmt: skip
    return (
        batch.id, n, department_id, "risk", "high", "shared", uscc, "valid" if uscc else None, "新主体", name,
        bidx, blob, key_id, masked, "投诉举报", description, dt.date(2026, 6, 1), f"R-{n}", digest,
    )  # fmt: skip


def _merge(session: Session, batch: Batch, agency: Agency):
    return merge_staged_rows(
        session, batch_id=batch.id, agency_id=agency.id, source=RecordSource.BATCH, created_by_id=None, now=NOW
    )


def test_first_batch_inserts_version_one_and_provisional_entities(db_session: Session) -> None:
    agency = make_agency(db_session, "TAX")
    known = make_entity(db_session)
    unknown = make_uscc(424242)
    batch = _batch(db_session, agency)
    write_staged_rows(db_session, [_row(batch, agency, 1, uscc=known.uscc), _row(batch, agency, 2, uscc=unknown)])
    counts = _merge(db_session, batch, agency)
    assert (counts.staged, counts.inserted, counts.versioned, counts.unchanged) == (2, 2, 0, 0)
    assert counts.entities_created == 1
    provisional = db_session.scalars(select(Entity).where(Entity.uscc == unknown)).one()
    assert provisional.is_in_registry is False and provisional.name == "新主体"
    records = list(db_session.scalars(select(Record).order_by(Record.source_ref)))
    assert [(r.source_ref, r.version, r.is_current, r.supersedes_id) for r in records] == [
        ("R-1", 1, True, None),
        ("R-2", 1, True, None),
    ]
    assert records[0].entity_id == known.id and records[1].entity_id == provisional.id


def test_reupload_versions_changed_rows_and_leaves_the_rest(db_session: Session) -> None:
    agency = make_agency(db_session, "TAX")
    entity = make_entity(db_session)
    first = _batch(db_session, agency)
    write_staged_rows(db_session, [_row(first, agency, n, uscc=entity.uscc) for n in range(1, 11)])
    _merge(db_session, first, agency)

    second = _batch(db_session, agency)
    rows = [_row(second, agency, n, uscc=entity.uscc, description="changed" if n <= 3 else "d") for n in range(1, 11)]
    write_staged_rows(db_session, rows)
    counts = _merge(db_session, second, agency)
    assert (counts.inserted, counts.versioned, counts.unchanged) == (0, 3, 7)

    current = {r.source_ref: r for r in db_session.scalars(select(Record).where(Record.is_current))}
    assert len(current) == 10
    assert current["R-1"].version == 2 and current["R-1"].description == "changed"
    assert current["R-1"].change_reason == f"batch #{second.id}"
    old = db_session.get(Record, current["R-1"].supersedes_id)
    assert old is not None and old.version == 1 and not old.is_current and old.description == "d"
    assert current["R-9"].version == 1
    total = db_session.scalar(select(func.count()).select_from(Record))
    assert total == 13


def test_persons_are_created_once_from_staged_ciphertext(db_session: Session, cipher: PersonalDataCipher) -> None:
    agency = make_agency(db_session, "TAX")
    number = make_id_number()
    bidx = cipher.blind_index(number)
    blob, key_id = cipher.encrypt(number, bidx)
    batch = _batch(db_session, agency)
    first = (bidx, blob, key_id, mask_id_number(number), "王五")
    again = (bidx, None, None, mask_id_number(number), "王五")  # later rows carry no ciphertext
    write_staged_rows(db_session, [_row(batch, agency, 1, uscc=None, person=first),
                                   _row(batch, agency, 2, uscc=None, person=again)])  # fmt: skip
    counts = _merge(db_session, batch, agency)
    assert counts.persons_created == 1
    person = db_session.scalars(select(Person)).one()
    assert cipher.decrypt(person.id_ciphertext, person.id_key_id, person.id_blind_index) == number
    assert {r.person_id for r in db_session.scalars(select(Record))} == {person.id}
