"""``reveal_id_number``: the rare decrypt, and what happens when a ciphertext is not its row's (TESTS K2, K3)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_ingest.personal_data import PersonalDataIntegrityError, reveal_id_number
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.db import make_session_factory, transaction
from signalhub_platform.models import Actor, AuditEvent, Person
from tests.factories import make_id_number, make_person

ANALYST = Actor(name="analyst", agency_id=1, agency_code="TAX", client_ip="10.0.0.9")


def test_reveal_returns_the_number_and_leaves_auditing_to_the_caller(
    db_session: Session, session_factory: sessionmaker[Session], cipher: PersonalDataCipher
) -> None:
    number = make_id_number(serial=501)
    person = make_person(db_session, cipher, number)
    assert reveal_id_number(db_session, cipher, person, actor=ANALYST, session_factory=session_factory) == number
    assert db_session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_k2_copied_ciphertext_raises_and_a_security_event_survives_the_rollback(
    scratch_database: Engine, cipher: PersonalDataCipher, caplog: pytest.LogCaptureFixture
) -> None:
    factory = make_session_factory(scratch_database)
    first_number, second_number = make_id_number(serial=511), make_id_number(serial=512)
    with transaction(factory) as session:
        first = make_person(session, cipher, first_number, name="甲")
        second = make_person(session, cipher, second_number, name="乙")
        first_id, second_id = first.id, second.id
        # The attacker (or a bad migration) copies row 1's ciphertext into row 2.
        session.execute(update(Person).where(Person.id == second_id).values(id_ciphertext=first.id_ciphertext))

    caller = factory()
    try:
        victim = caller.get(Person, second_id)
        assert victim is not None
        # The caller has already written in its transaction: it holds the locks the security event needs.
        record_event(caller, AuditTag.WEB_ENTITY_READ, actor=ANALYST, subjects=[("person", second_id)])
        with caplog.at_level(logging.DEBUG), pytest.raises(PersonalDataIntegrityError) as caught:
            reveal_id_number(caller, cipher, victim, actor=ANALYST, session_factory=factory)
        caller.rollback()
    finally:
        caller.close()

    error = caught.value
    assert (error.person_id, error.key_id) == (second_id, cipher.primary_key_id)
    shown = str(error) + repr(error) + caplog.text
    for number in (first_number, second_number):
        assert number not in shown
        assert number[6:14] not in shown  # not even the birth date part
    with factory() as check:
        events = check.execute(
            select(AuditEvent.tag, AuditEvent.actor, AuditEvent.payload).order_by(AuditEvent.seq)
        ).all()
    assert [(tag, actor) for tag, actor, _ in events] == [(AuditTag.SECURITY_DECRYPT_FAILED.value, "analyst")]
    payload = events[0].payload
    assert f'"person_id":{second_id}' in payload and first_number not in payload and second_number not in payload
    assert first_id != second_id


def test_k3_flipped_bit_in_the_stored_row_raises_integrity_error(
    db_session: Session, session_factory: sessionmaker[Session], cipher: PersonalDataCipher
) -> None:
    number = make_id_number(serial=521)
    person = make_person(db_session, cipher, number)
    tampered = bytearray(person.id_ciphertext)
    tampered[20] ^= 0x04
    db_session.execute(update(Person).where(Person.id == person.id).values(id_ciphertext=bytes(tampered)))
    db_session.refresh(person)

    with pytest.raises(PersonalDataIntegrityError) as caught:
        reveal_id_number(db_session, cipher, person, actor=ANALYST, session_factory=session_factory)

    assert number not in str(caught.value)
    tags = db_session.scalars(select(AuditEvent.tag)).all()
    assert tags == [AuditTag.SECURITY_DECRYPT_FAILED.value]
