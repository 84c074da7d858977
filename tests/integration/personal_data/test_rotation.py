"""Key rotation: ``rotate_personal_data``, ``signalhub keys add`` and ``signalhub keys rotate`` (TESTS K4)."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from signalhub_audit.tags import AuditTag
from signalhub_config import Settings
from signalhub_config.settings import DATA_KEYS_FILE
from signalhub_ingest.personal_data import PersonalDataIntegrityError, rotate_personal_data
from signalhub_platform.cli import CliContext, main
from signalhub_platform.crypto import InvalidTag, PersonalDataCipher
from signalhub_platform.keys import generate_missing_keys
from signalhub_platform.models import Actor, AuditEvent, Person
from tests.factories import make_id_number, make_person

JOB = Actor.job("keys_rotate")


def _ring(settings: Settings, *data_keys: tuple[str, bytes]) -> PersonalDataCipher:
    return PersonalDataCipher(dataclasses.replace(settings.load_keys(), data_keys=data_keys))


def _persons(session: Session) -> list[Person]:
    return list(session.scalars(select(Person).order_by(Person.id).execution_options(populate_existing=True)))


def test_k4_rotation_moves_every_row_to_the_primary_key(
    db_session: Session, settings: Settings, cipher: PersonalDataCipher
) -> None:
    k1 = settings.load_keys().data_keys[0]
    k2 = ("k2", os.urandom(32))
    numbers = [make_id_number(serial=600 + n) for n in range(5)]
    for number in numbers:
        make_person(db_session, cipher, number)  # under k1
    before = {person.id: person.id_ciphertext for person in _persons(db_session)}

    count = rotate_personal_data(db_session, _ring(settings, k2, k1), actor=JOB, batch_size=2)

    assert count == 5
    persons = _persons(db_session)
    assert {person.id_key_id for person in persons} == {"k2"}
    assert all(before[person.id] != person.id_ciphertext for person in persons)
    payloads = db_session.scalars(
        select(AuditEvent.payload).where(AuditEvent.tag == AuditTag.JOB_KEYS_ROTATE).order_by(AuditEvent.seq)
    ).all()
    batches = [json.loads(payload)["data"] for payload in payloads]
    assert [(batch["batch"], batch["count"], batch["from_key_ids"], batch["to_key_id"]) for batch in batches] == [
        (1, 2, ["k1"], "k2"),
        (2, 2, ["k1"], "k2"),
        (3, 1, ["k1"], "k2"),
    ]
    # k1 can go now: a ring holding only k2 reads every row, with the plaintext unchanged.
    only_k2 = _ring(settings, k2)
    assert [only_k2.decrypt(p.id_ciphertext, p.id_key_id, p.id_blind_index) for p in persons] == numbers
    with pytest.raises(InvalidTag):
        cipher.decrypt(persons[0].id_ciphertext, persons[0].id_key_id, persons[0].id_blind_index)

    # Nothing left to do: no rows touched, no events.
    assert rotate_personal_data(db_session, only_k2, actor=JOB) == 0
    assert db_session.scalar(select(func.count()).where(AuditEvent.tag == AuditTag.JOB_KEYS_ROTATE)) == 3


def test_rotation_stops_on_a_row_that_fails_authentication(
    db_session: Session, settings: Settings, cipher: PersonalDataCipher
) -> None:
    number = make_id_number(serial=611)
    person = make_person(db_session, cipher, number)
    db_session.execute(update(Person).where(Person.id == person.id).values(id_ciphertext=b"\x00" * 40))
    ring = _ring(settings, ("k2", os.urandom(32)), settings.load_keys().data_keys[0])
    with pytest.raises(PersonalDataIntegrityError, match=f"person {person.id}") as caught:
        rotate_personal_data(db_session, ring, actor=JOB)
    assert number not in str(caught.value)


@pytest.fixture
def file_settings(tmp_path: Path) -> Settings:
    """Settings whose keys live in instance/keys/ files, as ``signalhub init`` leaves them."""
    settings = Settings(instance_path=str(tmp_path / "instance"))
    generate_missing_keys(settings)
    return settings


def _invoke(settings: Settings, factory: sessionmaker[Session], *args: str) -> Result:
    return CliRunner().invoke(main, ["keys", *args], obj=CliContext(settings=settings, factory=factory))


def test_keys_add_then_rotate_from_the_command_line(
    db_session: Session, session_factory: sessionmaker[Session], file_settings: Settings
) -> None:
    old = PersonalDataCipher(file_settings.load_keys())
    numbers = [make_id_number(serial=620 + n) for n in range(3)]
    for number in numbers:
        make_person(db_session, old, number)
    db_session.commit()
    key_file = file_settings.key_dir / DATA_KEYS_FILE
    old_text = key_file.read_text()

    added = _invoke(file_settings, session_factory, "add")

    assert added.exit_code == 0, added.output
    assert "data key k2 is now primary; key ring: k2, k1" in added.output
    lines = key_file.read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["k2", "k1"]
    assert lines[1] == old_text.strip()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert lines[0].split(":")[1] not in added.output  # key material is never printed
    assert file_settings.load_keys().primary_data_key_id == "k2"

    rotated = _invoke(file_settings, session_factory, "rotate", "--batch-size", "2")

    assert rotated.exit_code == 0, rotated.output
    assert "re-encrypted 3 ID numbers under key k2" in rotated.output
    assert db_session.scalar(select(func.count()).where(AuditEvent.tag == AuditTag.CLI_KEYS_ROTATE)) == 2
    # Remove k1 from the file: everything still decrypts.
    key_file.write_text(lines[0] + "\n")
    new = PersonalDataCipher(file_settings.load_keys())
    assert new.key_ids == ("k2",)
    assert [new.decrypt(p.id_ciphertext, p.id_key_id, p.id_blind_index) for p in _persons(db_session)] == numbers


def test_keys_add_refuses_duplicates_and_environment_keys(
    session_factory: sessionmaker[Session], file_settings: Settings
) -> None:
    duplicate = _invoke(file_settings, session_factory, "add", "--key-id", "k1")
    assert duplicate.exit_code != 0 and "already in the ring" in duplicate.output
    bad = _invoke(file_settings, session_factory, "add", "--key-id", "k:3")
    assert bad.exit_code != 0 and "a key id is" in bad.output
    inline = _invoke(file_settings.replace(data_keys="k1:" + "A" * 44), session_factory, "add")
    assert inline.exit_code != 0 and "SIGNALHUB_DATA_KEYS" in inline.output
    assert [line.split(":")[0] for line in (file_settings.key_dir / DATA_KEYS_FILE).read_text().splitlines()] == ["k1"]


def test_keys_add_without_a_key_file(session_factory: sessionmaker[Session], tmp_path: Path) -> None:
    result = _invoke(Settings(instance_path=str(tmp_path)), session_factory, "add")
    assert result.exit_code != 0 and "signalhub init" in result.output
