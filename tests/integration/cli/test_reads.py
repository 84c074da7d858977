"""``signalhub entities search|show`` and ``records show``: the CLI's own reads, through the one
visibility rule and audited as ``cli:<os user>`` (the issue's "every ... CLI read" requirement)."""

from __future__ import annotations

import datetime as dt
import getpass
import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from click.testing import CliRunner, Result
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from signalhub_config import Settings
from signalhub_platform.cli import CliContext, main
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.models import AuditEvent, Openness, Record, Role
from tests.factories import (
    make_agency,
    make_entity,
    make_id_number,
    make_person,
    make_record,
    make_role,
    make_token,
    make_user,
)

Run = Callable[..., Result]


@dataclass
class World:
    records: dict[Openness, Record]
    uscc: str
    entity_name: str
    id_number: str
    token_b: str  # a member agency B user: sees what the CLI sees (shared and public)


@pytest.fixture
def world(db_session: Session, cipher: PersonalDataCipher) -> World:
    agency_a = make_agency(db_session, "TAX")
    agency_b = make_agency(db_session, "MKT")
    entity = make_entity(db_session, name="北京示例科技有限公司")
    id_number = make_id_number()
    person = make_person(db_session, cipher, id_number)
    make_role(db_session, entity, person, since=dt.date(2020, 1, 1))
    records = {
        openness: make_record(
            db_session, agency_a, entity=entity, person=person, openness=openness, description=f"{openness} 线索"
        )
        for openness in Openness
    }
    token_b = make_token(db_session, make_user(db_session, agency_b, Role.SUPERVISOR))
    db_session.commit()
    return World(records, entity.uscc, entity.name, id_number, token_b)


@pytest.fixture
def run(settings: Settings, session_factory: sessionmaker[Session]) -> Run:
    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), obj=CliContext(settings=settings, factory=session_factory))

    return invoke


def _last_seq(session: Session) -> int:
    return int(session.scalar(select(func.max(AuditEvent.seq))) or 0)


def _events_after(session: Session, seq: int) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq)))


def _record_ids(document: dict) -> list[int]:
    return sorted(r["id"] for rows in document["records_by_agency"].values() for r in rows)


def test_entity_show_lists_shared_and_public_records_never_a_private_one(run: Run, world: World) -> None:
    shown = json.loads(run("entities", "show", world.uscc, "--json").stdout)
    assert _record_ids(shown) == sorted(world.records[o].id for o in (Openness.SHARED, Openness.PUBLIC))
    assert shown["record_count"] == 2

    table = run("entities", "show", world.uscc.lower())  # codes are matched case-insensitively
    assert table.exit_code == 0, table.output
    assert world.entity_name in table.output and "shared 线索" in table.output and "public 线索" in table.output
    assert "private 线索" not in table.output


@pytest.mark.parametrize("openness", list(Openness))
def test_record_show_follows_the_visibility_rule(run: Run, world: World, openness: Openness) -> None:
    record = world.records[openness]
    for args in ((), ("--json",)):
        result = run("records", "show", str(record.id), *args)
        if openness is Openness.PRIVATE:
            assert result.exit_code == 1
            assert result.stdout == "" and "not found" in result.stderr
            assert record.description not in result.output and record.source_ref not in result.output
        else:
            assert result.exit_code == 0, result.output
            assert record.description in result.output and record.source_ref in result.output
    if openness is not Openness.PRIVATE:
        document = json.loads(run("records", "show", str(record.id), "--json").stdout)
        assert document["record"]["id"] == record.id and document["record"]["openness"] == openness.value


@pytest.mark.parametrize("args", [(), ("--json",), ("--purpose", "核查")])
def test_hidden_record_answers_exactly_like_a_missing_one(run: Run, world: World, args: tuple[str, ...]) -> None:
    hidden = run("records", "show", str(world.records[Openness.PRIVATE].id), *args)
    missing = run("records", "show", "987654321", *args)
    assert hidden.exit_code == missing.exit_code == 1
    assert hidden.stdout == missing.stdout == ""
    assert hidden.stderr == missing.stderr == "Error: not found\n"


def test_unknown_entity_is_not_found(run: Run, world: World) -> None:
    result = run("entities", "show", "91110102MA00000000")
    assert result.exit_code == 1 and result.stderr == "Error: not found\n" and result.stdout == ""


def _expected_events(world: World) -> dict[str, tuple[list[str], str, list[list[str]]]]:
    shared, public, private = (world.records[o] for o in (Openness.SHARED, Openness.PUBLIC, Openness.PRIVATE))
    return {
        "search": (["entities", "search", "示例"], "cli:entity:search", [["entity", world.uscc]]),
        "entity": (
            ["entities", "show", world.uscc, "--purpose", "核查"],
            "cli:entity:read",
            sorted([["entity", world.uscc], ["record", str(shared.id)], ["record", str(public.id)]]),
        ),
        "record": (
            ["records", "show", str(shared.id), "--json"],
            "cli:record:read",
            sorted([["entity", world.uscc], ["person", str(shared.person_id)], ["record", str(shared.id)]]),
        ),
        "denied": (["records", "show", str(private.id)], "cli:record:denied", [["record", str(private.id)]]),
    }


@pytest.mark.parametrize("command", ["search", "entity", "record", "denied"])
def test_each_command_writes_exactly_one_audit_event(run: Run, db_session: Session, world: World, command: str) -> None:
    args, tag, subjects = _expected_events(world)[command]
    before = _last_seq(db_session)
    run(*args)
    events = _events_after(db_session, before)
    assert [event.tag for event in events] == [tag]
    payload = json.loads(events[0].payload)
    assert events[0].actor == payload["actor"] == f"cli:{getpass.getuser()}"
    assert payload["agency"] == "platform"
    assert payload["subjects"] == subjects
    if command == "entity":
        assert payload["data"]["purpose"] == "核查"


def test_blank_search_is_a_usage_error_and_reads_nothing(run: Run, db_session: Session, world: World) -> None:
    before = _last_seq(db_session)
    result = run("entities", "search", "  ")
    assert result.exit_code == 2
    assert _events_after(db_session, before) == []


def test_entity_json_is_the_api_document(run: Run, client: FlaskClient, world: World) -> None:
    """Same schemas, same document: an agency-B user and the CLI see the same records."""
    api = client.get(f"/api/v1/entities/{world.uscc}", headers={"Authorization": f"Bearer {world.token_b}"})
    assert api.status_code == 200
    cli = json.loads(run("entities", "show", world.uscc, "--json").stdout)
    expected = api.get_json()
    # The API composes related risk (warnings, linked entities) onto the sharing document in the
    # view; the CLI's `entities show` is that sharing document (warnings have `signalhub warnings`).
    for key in ("warnings", "linked_entities", "linked_entities_truncated"):
        expected.pop(key)
    assert cli.keys() == expected.keys()
    assert cli["entity"].keys() == expected["entity"].keys()
    assert _record_ids(cli) == _record_ids(expected)
    assert cli == expected


def test_record_and_search_json_are_the_api_documents(run: Run, client: FlaskClient, world: World) -> None:
    headers = {"Authorization": f"Bearer {world.token_b}"}
    record_id = world.records[Openness.SHARED].id
    api_record = client.get(f"/api/v1/records/{record_id}", headers=headers).get_json()
    assert json.loads(run("records", "show", str(record_id), "--json").stdout) == api_record
    api_search = client.get(f"/api/v1/entities?q={world.uscc[:10]}", headers=headers).get_json()
    assert json.loads(run("entities", "search", world.uscc[:10], "--json").stdout) == api_search


@pytest.mark.parametrize("command", ["search", "entity", "record", "denied"])
@pytest.mark.parametrize("as_json", [False, True])
def test_a_read_that_cannot_be_audited_shows_nothing(
    run: Run, db_session: Session, world: World, monkeypatch: pytest.MonkeyPatch, command: str, as_json: bool
) -> None:
    from signalhub_platform.sharing import services

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError(f"audit store unavailable {world.records[Openness.SHARED].source_ref}")

    monkeypatch.setattr(services, "record_event", broken)
    args = _expected_events(world)[command][0]
    before = _last_seq(db_session)
    result = run(*args, *(["--json"] if as_json and "--json" not in args else []))
    assert result.exit_code == 3
    assert result.stdout == ""
    for record in world.records.values():
        assert record.description not in result.output and record.source_ref not in result.output
    assert world.uscc not in result.output and world.entity_name not in result.output
    assert _events_after(db_session, before) == []


def test_no_plaintext_id_number_in_output_or_audit(run: Run, db_session: Session, world: World) -> None:
    masked = world.id_number[:6] + "********" + world.id_number[-4:]
    before = _last_seq(db_session)
    shared_id = str(world.records[Openness.SHARED].id)
    for args in (("entities", "show", world.uscc), ("records", "show", shared_id)):
        for extra in ((), ("--json",)):
            result = run(*args, *extra)
            assert result.exit_code == 0, result.output
            assert world.id_number not in result.output
            assert masked in result.output
    # An ID number typed as a search term is neither echoed nor stored.
    searched = run("entities", "search", world.id_number)
    assert searched.exit_code == 0 and world.id_number not in searched.output
    payloads = [event.payload for event in _events_after(db_session, before)]
    assert len(payloads) == 5
    assert all(world.id_number not in payload for payload in payloads)


def test_tables_neutralise_terminal_controls_in_uploaded_text(run: Run, db_session: Session, world: World) -> None:
    record = world.records[Openness.SHARED]
    record.description = "红色\x1b[31m警告\x9b2J\n第二行"
    db_session.commit()
    table = run("records", "show", str(record.id))
    as_json = run("records", "show", str(record.id), "--json")
    assert table.exit_code == as_json.exit_code == 0
    for output in (table.stdout, as_json.stdout):
        assert "\x1b" not in output and "\x9b" not in output
    assert json.loads(as_json.stdout)["record"]["description"] == record.description
