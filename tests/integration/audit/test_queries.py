"""Read side of the audit log: "who read my data" aggregated from record reads, the per-address counts
behind the public search's rate limit, the last checkpoint's state, and the chunked listing."""

from __future__ import annotations

import datetime as dt
import functools

import pytest
from sqlalchemy.orm import Session

from signalhub_audit.integrity import create_checkpoint, key_id, known_checkpoint_keys, public_key_bytes
from signalhub_audit.queries import (
    EventFilters,
    iter_events,
    last_checkpoint,
    readers_of_records,
    recent_activity,
)
from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_config import Settings
from signalhub_ingest import corrections
from signalhub_platform.models import Actor, Agency, Openness, Record, Role
from tests.factories import make_agency, make_entity, make_record, make_user
from tests.integration.audit.conftest import START, drop_append_only_triggers, record_reads, tamper

MKT = Actor(name="mkt_reader", agency_id=2, agency_code="MKT", client_ip="10.0.0.2")
HOU = Actor(name="hou_reader", agency_id=3, agency_code="HOU", client_ip="10.0.0.3")
TAX = Actor(name="tax_liaison", agency_id=1, agency_code="TAX", client_ip="10.0.0.1")
OFFICE = Actor(name="office", agency_code="platform", client_ip="10.0.0.4")


def at(minutes: int) -> dt.datetime:
    return START + dt.timedelta(minutes=minutes)


def read(session: Session, actor: Actor, records: list[Record], minutes: int, tag: AuditTag) -> None:
    record_event(session, tag, actor=actor, subjects=[("record", r.id) for r in records], at=at(minutes))


@pytest.fixture
def owners(db_session: Session) -> tuple[Agency, Agency]:
    return make_agency(db_session, "TAX"), make_agency(db_session, "HOU")


def test_readers_are_other_agencies_aggregated_over_record_reads(
    db_session: Session, owners: tuple[Agency, Agency]
) -> None:
    tax, hou = owners
    entity = make_entity(db_session)
    first = make_record(db_session, tax, entity=entity, openness=Openness.SHARED)
    second = make_record(db_session, tax, entity=entity, openness=Openness.SHARED)
    theirs = make_record(db_session, hou, entity=entity, openness=Openness.SHARED)
    read(db_session, MKT, [first], 1, AuditTag.WEB_RECORD_READ)
    read(db_session, MKT, [first, second, theirs], 2, AuditTag.WEB_ENTITY_READ)  # the entity page lists all three
    read(db_session, MKT, [first], 3, AuditTag.API_RECORD_EXPORT)
    read(db_session, OFFICE, [second], 4, AuditTag.CLI_RECORD_READ)
    read(db_session, TAX, [first, second], 5, AuditTag.WEB_ENTITY_READ)  # the owner's own read
    read(db_session, HOU, [first], 6, AuditTag.WEB_RECORD_DENIED)  # refused: it showed nothing
    read(db_session, HOU, [first], 7, AuditTag.WEB_RECORD_CORRECT)  # not a read
    read(db_session, HOU, [theirs], 8, AuditTag.WEB_RECORD_READ)  # HOU's own record

    report = readers_of_records(db_session, owner_agency_id=tax.id, owner_agency_code="TAX")
    summary = [(r.agency_code, r.reads, r.records, r.first_at, r.last_at) for r in report.readers]
    assert summary == [("MKT", 3, 2, at(1), at(3)), ("platform", 1, 1, at(4), at(4))]
    assert [(e.agency_code, e.tag, e.records) for e in report.recent] == [
        ("platform", "cli:record:read", [(second.source_ref, second.id)]),
        ("MKT", "api:record:export", [(first.source_ref, first.id)]),
        ("MKT", "web:entity:read", sorted([(first.source_ref, first.id), (second.source_ref, second.id)])),
        ("MKT", "web:record:read", [(first.source_ref, first.id)]),
    ]
    assert not report.has_older

    hou_report = readers_of_records(db_session, owner_agency_id=hou.id, owner_agency_code="HOU")
    assert [(r.agency_code, r.reads) for r in hou_report.readers] == [("MKT", 1)]  # not its own read
    assert [e.records for e in hou_report.recent] == [[(theirs.source_ref, theirs.id)]]


def test_versions_of_one_record_count_once(db_session: Session, owners: tuple[Agency, Agency]) -> None:
    tax, _hou = owners
    record = make_record(db_session, tax, entity=make_entity(db_session), openness=Openness.SHARED)
    liaison = Actor.for_user(make_user(db_session, tax, Role.LIAISON))
    newer = corrections.correct_record(
        db_session, liaison, record.id, {"description": "更正"}, reason="核实", tag=AuditTag.WEB_RECORD_CORRECT
    )
    read(db_session, MKT, [record, newer], 1, AuditTag.WEB_RECORD_READ)  # a read lists every version
    report = readers_of_records(db_session, owner_agency_id=tax.id, owner_agency_code="TAX")
    assert [(r.reads, r.records) for r in report.readers] == [(1, 1)]
    assert report.recent[0].records == [(record.source_ref, newer.id)]  # the newest version read


def test_readers_filter_by_period_and_record_and_page_by_seq(
    db_session: Session, owners: tuple[Agency, Agency]
) -> None:
    tax, _hou = owners
    entity = make_entity(db_session)
    first = make_record(db_session, tax, entity=entity)
    second = make_record(db_session, tax, entity=entity)
    for minute in range(1, 6):
        read(db_session, MKT, [first if minute % 2 else second], minute, AuditTag.WEB_RECORD_READ)

    report = functools.partial(readers_of_records, db_session, owner_agency_id=tax.id, owner_agency_code="TAX")

    assert [r.reads for r in report(since=at(2), until=at(4)).readers] == [2]  # since inclusive, until exclusive
    assert [r.reads for r in report(source_ref=second.source_ref).readers] == [2]
    page = report(limit=2)
    assert [e.occurred_at for e in page.recent] == [at(5), at(4)] and page.has_older
    page = report(limit=2, before_seq=page.recent[-1].seq)
    assert [e.occurred_at for e in page.recent] == [at(3), at(2)] and page.has_older
    page = report(limit=2, before_seq=page.recent[-1].seq)
    assert [e.occurred_at for e in page.recent] == [at(1)] and not page.has_older


def test_a_non_numeric_record_reference_does_not_break_the_query(
    db_session: Session, owners: tuple[Agency, Agency]
) -> None:
    tax, _hou = owners
    record_event(db_session, AuditTag.WEB_RECORD_READ, actor=MKT, subjects=[("record", "abc")], at=at(1))
    assert readers_of_records(db_session, owner_agency_id=tax.id, owner_agency_code="TAX").readers == []


def test_recent_activity_counts_one_address_inside_the_window(db_session: Session) -> None:
    public_a, public_b = Actor.public("192.0.2.1"), Actor.public("192.0.2.2")
    for minutes, actor in ((0, public_a), (1, public_a), (2, public_b), (3, public_a)):
        record_event(db_session, AuditTag.PUBLIC_RECORD_SEARCH, actor=actor, at=at(minutes))
    record_event(db_session, AuditTag.API_PUBLIC_SEARCH, actor=public_a, at=at(4))
    record_event(db_session, AuditTag.PUBLIC_DRAW_READ, actor=public_a, at=at(4))  # not a search
    tags = (AuditTag.PUBLIC_RECORD_SEARCH, AuditTag.API_PUBLIC_SEARCH)
    activity = recent_activity(db_session, tags, client_ip="192.0.2.1", since=at(1))
    assert (activity.count, activity.oldest_at) == (3, at(1))
    assert recent_activity(db_session, tags, client_ip="192.0.2.3", since=at(0)).count == 0


def test_last_checkpoint_reports_its_signature(db_session: Session, settings: Settings) -> None:
    signing_key = settings.load_keys().signing_key
    keys = known_checkpoint_keys(signing_key)
    assert last_checkpoint(db_session, keys) is None
    record_reads(db_session, 2)
    create_checkpoint(db_session, signing_key, actor=Actor.cli(), tag=AuditTag.CLI_AUDIT_CHECKPOINT, now=at(10))
    state = last_checkpoint(db_session, keys)
    assert state is not None
    assert (state.size, state.created_at, state.is_valid) == (2, at(10), True)
    assert state.key_id == key_id(public_key_bytes(signing_key))
    unknown = last_checkpoint(db_session, {})
    assert unknown is not None and not unknown.is_valid and unknown.key_id == state.key_id
    assert "no valid known signature" in unknown.problem
    drop_append_only_triggers(db_session)
    tamper(db_session, "UPDATE audit_checkpoints SET size = 1")
    db_session.expire_all()
    edited = last_checkpoint(db_session, keys)
    assert edited is not None and not edited.is_valid and "disagree" in edited.problem


def test_iter_events_walks_the_filtered_log_in_chunks(db_session: Session) -> None:
    record_reads(db_session, 7)
    chunks = list(iter_events(db_session, EventFilters(actor="alice"), chunk_size=3))
    assert [[event.seq for event in chunk] for chunk in chunks] == [[7, 6, 5], [4, 3, 2], [1]]
    chunks = list(iter_events(db_session, EventFilters(actor="alice"), before_seq=7, chunk_size=3))
    assert [[event.seq for event in chunk] for chunk in chunks] == [[6, 5, 4], [3, 2, 1]]
    assert list(iter_events(db_session, EventFilters(actor="nobody"))) == []
