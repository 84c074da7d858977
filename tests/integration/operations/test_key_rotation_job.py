"""Key rotation on request: ``signalhub keys rotate --request`` records it, the scheduler's
``rotate_keys`` job re-encrypts a bounded slice per run (one audit event per batch) until no person
and no staged batch row is under an old key, then marks the request done; ``keys status`` says
when the old key may be retired (TESTS.md K4, carried out by the job)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from signalhub_audit.tags import AuditTag
from signalhub_config import Settings
from signalhub_config.settings import DATA_KEYS_FILE
from signalhub_ingest.jobs import ROTATE_KEYS, KeyRotationError, request_key_rotation, rotate_keys
from signalhub_ingest.personal_data import key_usage
from signalhub_platform.cli import CliContext, main
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.keys import generate_missing_keys
from signalhub_platform.models import Actor, AuditEvent, Batch, BatchRow, BatchState, Job, JobState, Person
from signalhub_platform.scheduler import periodic_jobs, run_recorded
from signalhub_platform.worker import queue_handlers, run_one
from tests.factories import make_agency, make_id_number, make_person

NOW = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC)


def ring(settings: Settings, *data_keys: tuple[str, bytes]) -> PersonalDataCipher:
    return PersonalDataCipher(dataclasses.replace(settings.load_keys(), data_keys=data_keys))


def stage(session: Session, cipher: PersonalDataCipher, number: str) -> BatchRow:
    """A validated batch's row naming a person, waiting for its commit."""
    agency = make_agency(session)
    batch = Batch(agency_id=agency.id, period="2026Q3", state=BatchState.VALIDATED, file_sha256=os.urandom(8).hex())
    session.add(batch)
    session.flush()
    bidx = cipher.blind_index(number)
    blob, key_id = cipher.encrypt(number, bidx)
    row = BatchRow(batch_id=batch.id, row_number=2, department_id=agency.departments[0].id, kind="risk",
                   risk_level="low", openness="shared", person_name="张三", person_blind_index=bidx,
                   person_ciphertext=blob, person_key_id=key_id, person_masked="x", category="complaint",
                   occurred_on=dt.date(2026, 8, 1), source_ref="R-1", content_sha256="0" * 64)  # fmt: skip
    session.add(row)
    session.flush()
    return row


def rotation_events(session: Session) -> list[dict[str, object]]:
    rows = session.scalars(
        select(AuditEvent.payload).where(AuditEvent.tag == AuditTag.JOB_KEYS_ROTATE).order_by(AuditEvent.seq)
    )
    return [json.loads(row)["data"] for row in rows]


def test_the_job_does_nothing_without_a_request(db_session: Session, settings: Settings) -> None:
    k1 = settings.load_keys().data_keys[0]
    make_person(db_session, PersonalDataCipher(settings.load_keys()))
    new_ring = ring(settings, ("k2", os.urandom(32)), k1)

    assert rotate_keys(db_session, now=NOW, cipher=new_ring, batch_size=10, rows_per_run=100) == 0
    assert key_usage(db_session).persons == {"k1": 1}
    assert rotation_events(db_session) == []


def test_a_request_is_carried_out_in_slices_then_marked_done(
    db_session: Session, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    k1 = settings.load_keys().data_keys[0]
    old = PersonalDataCipher(settings.load_keys())
    numbers = [make_id_number(serial=700 + n) for n in range(5)]
    for number in numbers:
        make_person(db_session, old, number)
    staged = stage(db_session, old, make_id_number(serial=710))
    k2 = ("k2", os.urandom(32))
    new_ring = ring(settings, k2, k1)

    request = request_key_rotation(db_session, new_ring, actor=Actor.cli(), now=NOW)
    assert request_key_rotation(db_session, new_ring, actor=Actor.cli(), now=NOW).id == request.id  # no duplicate
    handlers = queue_handlers(settings, new_ring)
    assert run_one(session_factory, handlers, name="w:1") is None  # no worker takes it: it is the scheduler's

    # Six ID numbers, four a run in batches of two: two runs.
    assert rotate_keys(db_session, now=NOW, cipher=new_ring, batch_size=2, rows_per_run=4) == 4
    assert db_session.get(Job, request.id).state == JobState.QUEUED
    assert key_usage(db_session).pending("k2") == 2
    assert rotate_keys(db_session, now=NOW, cipher=new_ring, batch_size=2, rows_per_run=4) == 2
    assert rotate_keys(db_session, now=NOW, cipher=new_ring, batch_size=2, rows_per_run=4) == 0  # done: no-op

    db_session.expire_all()
    done = db_session.get(Job, request.id)
    assert (done.state, done.finished_at, done.payload["rotated"]) == (JobState.DONE, NOW, 6)
    usage = key_usage(db_session)
    assert (usage.persons, usage.staged) == ({"k2": 5}, {"k2": 1})
    events = rotation_events(db_session)
    assert [(e.get("count"), e.get("action")) for e in events] == [(2, None), (2, None), (1, None), (1, None),
                                                                    (None, "done")]  # fmt: skip
    assert events[-1] == {"action": "done", "to_key_id": "k2", "rotated": 6}
    # k1 can go: a ring of k2 alone reads every person and the staged row, with the same plaintext.
    only_k2 = ring(settings, k2)
    persons = db_session.scalars(select(Person).order_by(Person.id)).all()
    assert [only_k2.decrypt(p.id_ciphertext, p.id_key_id, p.id_blind_index) for p in persons] == numbers
    db_session.refresh(staged)
    assert only_k2.decrypt(staged.person_ciphertext, staged.person_key_id, staged.person_blind_index) == (
        make_id_number(serial=710)
    )


def test_a_scheduler_still_on_the_old_ring_refuses_and_changes_nothing(
    db_session: Session, settings: Settings
) -> None:
    old = PersonalDataCipher(settings.load_keys())
    make_person(db_session, old)
    new_ring = ring(settings, ("k2", os.urandom(32)), settings.load_keys().data_keys[0])
    request_key_rotation(db_session, new_ring, actor=Actor.cli(), now=NOW)

    with pytest.raises(KeyRotationError, match="restart the scheduler"):
        rotate_keys(db_session, now=NOW, cipher=old, batch_size=10, rows_per_run=100)
    assert key_usage(db_session).persons == {"k1": 1}


def test_a_newer_request_supersedes_an_older_one(db_session: Session, settings: Settings) -> None:
    k1 = settings.load_keys().data_keys[0]
    k2, k3 = ("k2", os.urandom(32)), ("k3", os.urandom(32))
    make_person(db_session, PersonalDataCipher(settings.load_keys()))
    first = request_key_rotation(db_session, ring(settings, k2, k1), actor=Actor.cli(), now=NOW)
    second = request_key_rotation(db_session, ring(settings, k3, k2, k1), actor=Actor.cli(), now=NOW)

    assert rotate_keys(db_session, now=NOW, cipher=ring(settings, k3, k2, k1), batch_size=10, rows_per_run=10) == 1

    db_session.expire_all()
    assert db_session.get(Job, first.id).error == f"superseded by request {second.id}"
    assert db_session.get(Job, second.id).state == JobState.DONE
    assert key_usage(db_session).persons == {"k3": 1}


def test_the_scheduled_job_runs_the_request_through_the_job_list(
    db_session: Session, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    """``periodic_jobs`` binds the scheduler's own ring: restarted on k2, it carries the request out."""
    k1 = settings.load_keys().data_keys[0]
    make_person(db_session, PersonalDataCipher(settings.load_keys()))
    k2 = ("k2", os.urandom(32))
    keys = dataclasses.replace(settings.load_keys(), data_keys=(k2, k1))
    request_key_rotation(db_session, PersonalDataCipher(keys), actor=Actor.cli(), now=NOW)
    db_session.commit()
    [job] = [job for job in periodic_jobs(keys, settings) if job.name == ROTATE_KEYS]

    run = run_recorded(session_factory, job, holder="a:1", now=NOW)

    assert (run.outcome, run.error) == ("ok", "")
    assert key_usage(db_session).persons == {"k2": 1}


# --- the command line ----------------------------------------------------------------------------


@pytest.fixture
def file_settings(tmp_path: Path) -> Settings:
    settings = Settings(instance_path=str(tmp_path / "instance"))
    generate_missing_keys(settings)
    return settings


def keys_cli(settings: Settings, factory: sessionmaker[Session], *args: str) -> Result:
    return CliRunner().invoke(main, ["keys", *args], obj=CliContext(settings=settings, factory=factory))


def test_request_status_and_retire_from_the_command_line(
    db_session: Session, session_factory: sessionmaker[Session], file_settings: Settings
) -> None:
    for n in range(3):
        make_person(db_session, PersonalDataCipher(file_settings.load_keys()), make_id_number(serial=730 + n))
    db_session.commit()
    assert keys_cli(file_settings, session_factory, "add").exit_code == 0

    requested = keys_cli(file_settings, session_factory, "rotate", "--request")

    assert requested.exit_code == 0, requested.output
    assert "rotation to key k2 requested" in requested.output and "3 ID numbers to re-encrypt" in requested.output
    assert key_usage(db_session).persons == {"k1": 3}  # nothing re-encrypted by the command itself
    status = keys_cli(file_settings, session_factory, "status")
    assert status.exit_code == 0, status.output
    assert "k1: 3 persons, 0 staged batch rows - still in use: rotate before retiring it" in status.output
    assert "open rotation request" in status.output and "3 to go" in status.output

    [job] = [j for j in periodic_jobs(file_settings.load_keys(), file_settings) if j.name == ROTATE_KEYS]
    assert run_recorded(session_factory, job, holder="a:1", now=NOW).outcome == "ok"

    status = keys_cli(file_settings, session_factory, "status")
    assert "k1: 0 persons, 0 staged batch rows - unused: may be retired" in status.output
    assert "open rotation request" not in status.output
    # Retire k1: the file keeps k2 only, and status now shows nothing under a missing key.
    key_file = file_settings.key_dir / DATA_KEYS_FILE
    key_file.write_text(key_file.read_text().splitlines()[0] + "\n")
    status = keys_cli(file_settings, session_factory, "status")
    assert "key ring: k2 (primary k2)" in status.output and "NOT IN THE RING" not in status.output
    query = select(AuditEvent.payload).where(AuditEvent.tag == AuditTag.CLI_KEYS_ROTATE).order_by(AuditEvent.seq)
    tags = [json.loads(payload)["data"].get("action") for payload in db_session.scalars(query)]
    assert tags == ["request", "status", "status", "status"]


def test_status_warns_about_rows_under_a_key_missing_from_the_ring(
    db_session: Session, session_factory: sessionmaker[Session], file_settings: Settings, settings: Settings
) -> None:
    make_person(db_session, ring(settings, ("k9", os.urandom(32))))
    db_session.commit()

    status = keys_cli(file_settings, session_factory, "status")

    assert "k9: 1 persons, 0 staged batch rows - NOT IN THE RING" in status.output


def test_status_finds_key_material_that_does_not_fit(
    db_session: Session, session_factory: sessionmaker[Session], file_settings: Settings, settings: Settings
) -> None:
    """A ring whose k1 holds other bytes than the k1 the rows were written with (a mixed-up key file)."""
    make_person(db_session, ring(settings, ("k1", os.urandom(32))))
    db_session.commit()

    status = keys_cli(file_settings, session_factory, "status")

    assert "k1: 1 persons, 0 staged batch rows - WRONG KEY MATERIAL" in status.output
