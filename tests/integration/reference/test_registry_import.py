"""``import_registry`` and ``signalhub registry import``: succession, idempotence, all-or-nothing, formats."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from signalhub_audit.tags import AuditTag
from signalhub_config import Settings
from signalhub_ingest.readers import open_table
from signalhub_ingest.reference import ImportRejected, RegistryImportReport, find_or_create_person, import_registry
from signalhub_platform.cli import CliContext, main
from signalhub_platform.crypto import PersonalDataCipher, mask_id_number
from signalhub_platform.models import (
    Actor,
    AuditEvent,
    CodeStatus,
    Entity,
    EntityPersonRole,
    EntityStatus,
    EntityType,
    Person,
)
from tests.factories import make_entity, make_id_number, make_uscc
from tests.integration.reference.files import (
    TODAY,
    RegistryFixture,
    registry_row,
    roles_of,
    snapshot,
    write_csv,
    write_xlsx,
)

ACTOR = Actor.cli()


def _import(session: Session, cipher: PersonalDataCipher, path: Path) -> RegistryImportReport:
    with open_table(path) as table:
        return import_registry(session, table.rows, actor=ACTOR, cipher=cipher, today=TODAY, file_sha256="f" * 64)


def _cli(settings: Settings, factory: sessionmaker[Session], path: Path) -> Result:
    return CliRunner().invoke(
        main, ["registry", "import", str(path)], obj=CliContext(settings=settings, factory=factory)
    )


def _entity(session: Session, uscc: str) -> Entity:
    return session.scalars(select(Entity).where(Entity.uscc == uscc).execution_options(populate_existing=True)).one()


def test_import_creates_entities_persons_and_role_succession(
    db_session: Session, cipher: PersonalDataCipher, tmp_path: Path
) -> None:
    fx = RegistryFixture(1)
    report = _import(db_session, cipher, write_csv(tmp_path / "registry.csv", fx.rows))

    assert str(report.entities) == "2 created, 0 updated, 0 unchanged"
    assert str(report.persons) == "3 created, 0 updated, 0 unchanged"
    assert report.roles_created == 4

    e1, e2 = _entity(db_session, fx.e1), _entity(db_session, fx.e2)
    assert (e1.name, e1.type, e1.status, e1.uscc_status) == (
        "北京华鑫商贸有限公司",
        EntityType.ENTERPRISE,
        EntityStatus.ACTIVE,
        CodeStatus.VALID,
    )
    assert (e1.region, e1.industry, e1.registered_on, e1.is_in_registry) == (
        "金融街街道",
        "5212",
        dt.date(2015, 3, 1),
        True,
    )
    assert (e2.type, e2.status, e2.industry) == (EntityType.INDIVIDUAL_BUSINESS, EntityStatus.REVOKED, "6291")

    a, b, c = (cipher.blind_index(number) for number in fx.id_numbers)
    # Each representative serves from their since until the next one's; the last is still serving.
    assert roles_of(db_session, cipher, fx.e1) == [
        (a, "2015-03-01", dt.date(2019, 6, 1)),
        (b, "2019-06-01", dt.date(2022, 1, 10)),
        (c, "2022-01-10", None),
    ]
    assert roles_of(db_session, cipher, fx.e2) == [(a, "2018-09-09", None)]

    # One person behind both entities, matched by blind index; the ID number only sealed and masked.
    persons = db_session.scalars(select(Person).order_by(Person.id)).all()
    assert len(persons) == 3
    by_index = {person.id_blind_index: person for person in persons}
    for number in fx.id_numbers:
        person = by_index[cipher.blind_index(number)]
        assert person.id_masked == mask_id_number(number)
        assert person.id_key_id == cipher.primary_key_id
        assert number.encode() not in person.id_ciphertext
        assert cipher.decrypt(person.id_ciphertext, person.id_key_id, person.id_blind_index) == number
    assert by_index[a].name == "张三"

    events = db_session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.CLI_REGISTRY_IMPORT)).all()
    assert len(events) == 1
    assert '"file_sha256":"' + "f" * 64 in events[0].payload
    assert '"entities":{"created":2,"unchanged":0,"updated":0}' in events[0].payload


def test_reimport_of_the_same_file_changes_nothing(
    settings: Settings, session_factory: sessionmaker[Session], db_session: Session, tmp_path: Path
) -> None:
    fx = RegistryFixture(2)
    path = write_csv(tmp_path / "registry.csv", fx.rows)
    first = _cli(settings, session_factory, path)
    assert first.exit_code == 0, first.output
    before = snapshot(db_session)

    second = _cli(settings, session_factory, path)

    assert second.exit_code == 0, second.output
    assert "entities: 0 created, 0 updated, 2 unchanged" in second.output
    assert "persons: 0 created, 0 updated, 3 unchanged" in second.output
    assert "roles: 0 created, 0 updated" in second.output
    db_session.expire_all()
    assert snapshot(db_session) == before  # every column of every row, updated_at included
    assert db_session.scalar(select(func.count()).where(AuditEvent.tag == AuditTag.CLI_REGISTRY_IMPORT)) == 2


def test_changed_row_updates_entity_and_keeps_role_history(
    db_session: Session, cipher: PersonalDataCipher, tmp_path: Path
) -> None:
    uscc, id_a, id_b = make_uscc(3001), make_id_number(serial=301), make_id_number(serial=302)
    _import(db_session, cipher, write_csv(tmp_path / "v1.csv", [registry_row(uscc, id_a, "2015-03-01")]))
    first_updated_at = _entity(db_session, uscc).updated_at

    # The new export lists only the current representative, with a new name and status.
    changed = registry_row(
        uscc, id_b, "2021-07-01", name="北京华鑫商贸（集团）有限公司", status="注销", legal_rep_name="赵六"
    )
    report = _import(db_session, cipher, write_csv(tmp_path / "v2.csv", [changed]))

    assert str(report.entities) == "0 created, 1 updated, 0 unchanged"
    entity = _entity(db_session, uscc)
    assert (entity.name, entity.status) == ("北京华鑫商贸（集团）有限公司", EntityStatus.CANCELLED)
    assert entity.updated_at >= first_updated_at
    assert db_session.scalar(select(func.count()).select_from(Entity).where(Entity.uscc == uscc)) == 1
    assert roles_of(db_session, cipher, uscc) == [
        (cipher.blind_index(id_a), "2015-03-01", dt.date(2021, 7, 1)),
        (cipher.blind_index(id_b), "2021-07-01", None),
    ]


def test_new_representative_alone_counts_as_an_update(
    db_session: Session, cipher: PersonalDataCipher, tmp_path: Path
) -> None:
    uscc, id_a, id_b = make_uscc(3101), make_id_number(serial=311), make_id_number(serial=312)
    _import(db_session, cipher, write_csv(tmp_path / "v1.csv", [registry_row(uscc, id_a, "2015-03-01")]))
    rows = [registry_row(uscc, id_a, "2015-03-01"), registry_row(uscc, id_b, "2020-02-02", legal_rep_name="钱七")]

    report = _import(db_session, cipher, write_csv(tmp_path / "v2.csv", rows))

    assert str(report.entities) == "0 created, 1 updated, 0 unchanged"
    assert (report.roles_created, report.roles_updated) == (1, 1)  # the old role gets its until


def test_entity_first_seen_in_records_joins_the_registry(
    db_session: Session, cipher: PersonalDataCipher, tmp_path: Path
) -> None:
    uscc = make_uscc(3201)
    make_entity(db_session, uscc=uscc, name="北京华鑫商贸有限公司", is_in_registry=False)

    report = _import(
        db_session, cipher, write_csv(tmp_path / "r.csv", [registry_row(uscc, make_id_number(), "2015-03-01")])
    )

    assert str(report.entities) == "0 created, 1 updated, 0 unchanged"
    assert _entity(db_session, uscc).is_in_registry is True


@pytest.mark.parametrize(
    ("type_word", "status_word", "entity_type", "entity_status"),
    [
        ("企业", "存续", EntityType.ENTERPRISE, EntityStatus.ACTIVE),
        ("个体工商户", "吊销", EntityType.INDIVIDUAL_BUSINESS, EntityStatus.REVOKED),
        ("农民专业合作社", "注销", EntityType.FARMER_COOPERATIVE, EntityStatus.CANCELLED),
        ("Farmer_Cooperative", " Revoked ", EntityType.FARMER_COOPERATIVE, EntityStatus.REVOKED),
    ],
)
def test_chinese_and_english_type_and_status_words(
    db_session: Session,
    cipher: PersonalDataCipher,
    tmp_path: Path,
    type_word: str,
    status_word: str,
    entity_type: EntityType,
    entity_status: EntityStatus,
) -> None:
    uscc = make_uscc(3300 + len(type_word) + len(status_word))
    row = registry_row(uscc, make_id_number(), "2015-03-01", type=type_word, status=status_word)
    _import(db_session, cipher, write_csv(tmp_path / "r.csv", [row]))
    entity = _entity(db_session, uscc)
    assert (entity.type, entity.status) == (entity_type, entity_status)


def test_nonstandard_pilot_code_is_accepted_and_marked(
    db_session: Session, cipher: PersonalDataCipher, tmp_path: Path
) -> None:
    row = registry_row("91350211m0000xuf46", make_id_number(), "2015-03-01")  # lower case: normalised too
    _import(db_session, cipher, write_csv(tmp_path / "r.csv", [row]))
    assert _entity(db_session, "91350211M0000XUF46").uscc_status == CodeStatus.NONSTANDARD


def test_invalid_rows_are_all_reported_by_row_number_and_nothing_is_imported(
    db_session: Session, cipher: PersonalDataCipher, tmp_path: Path
) -> None:
    good = make_uscc(3401)
    valid_id = make_id_number(serial=341)
    bad_id = valid_id[:-1] + ("1" if valid_id[-1] != "1" else "2")  # wrong check digit
    bad_uscc = good[:-1] + ("0" if good[-1] != "0" else "1")
    rows = [
        registry_row(good, valid_id, "2015-03-01"),  # row 2: fine
        registry_row(bad_uscc, valid_id, "2015-03-01"),  # row 3
        registry_row(make_uscc(3402), bad_id, "2015-03-01"),  # row 4
        registry_row(make_uscc(3403), valid_id, "2015-02-30"),  # row 5
        registry_row(make_uscc(3404), valid_id, "2015-03-01", type="公司"),  # row 6
        registry_row(make_uscc(3405), valid_id, "2015-03-01", status="在业"),  # row 7
        registry_row(make_uscc(3406), valid_id, "2015-03-01", name=""),  # row 8
        registry_row(make_uscc(3407), valid_id, "2099-01-01"),  # row 9: future
        registry_row(make_uscc(3408), valid_id, "2015-03-01"),  # row 10: fine
        registry_row(make_uscc(3409), "", "2015-03-01", registered_on="yesterday"),  # row 11: two errors
    ]
    before = snapshot(db_session, ("entities", "persons", "entity_person_roles", "audit_events"))

    with pytest.raises(ImportRejected) as caught:
        _import(db_session, cipher, write_csv(tmp_path / "bad.csv", rows))

    found = [(error.row, error.column) for error in caught.value.errors]
    assert found == [
        (3, "uscc"),
        (4, "legal_rep_id_number"),
        (5, "legal_rep_since"),
        (6, "type"),
        (7, "status"),
        (8, "name"),
        (9, "legal_rep_since"),
        (11, "registered_on"),
        (11, "legal_rep_id_number"),
    ]
    assert snapshot(db_session, ("entities", "persons", "entity_person_roles", "audit_events")) == before
    messages = "\n".join(str(error) for error in caught.value.errors) + str(caught.value)
    assert bad_id not in messages and valid_id not in messages


def test_cli_reports_every_error_masks_id_numbers_and_commits_nothing(
    settings: Settings, session_factory: sessionmaker[Session], db_session: Session, tmp_path: Path
) -> None:
    valid_id = make_id_number(serial=351)
    bad_id = valid_id[:-1] + ("1" if valid_id[-1] != "1" else "2")
    rows = [
        registry_row(make_uscc(3501), valid_id, "2015-03-01"),
        registry_row(make_uscc(3502), bad_id, "2015-03-01"),
        registry_row(make_uscc(3503), valid_id, "not a date"),
    ]

    result = _cli(settings, session_factory, write_csv(tmp_path / "bad.csv", rows))

    assert result.exit_code == 1
    assert "row 3: legal_rep_id_number: invalid resident ID number" in result.output
    assert "row 4: legal_rep_since: not a date" in result.output
    assert "nothing was imported" in result.output
    assert valid_id not in result.output and bad_id not in result.output
    assert db_session.scalar(select(func.count()).select_from(Entity)) == 0
    # The rejection itself is audited (row numbers only), in a transaction of its own.
    events = list(db_session.scalars(select(AuditEvent)))
    assert len(events) == 1 and events[0].tag == "cli:registry:import"
    assert '"rejected":true' in events[0].payload and '"rows":[3,4]' in events[0].payload
    assert valid_id not in events[0].payload and bad_id not in events[0].payload


def test_conflicting_rows_for_one_code_or_person_name_both_rows(
    db_session: Session, cipher: PersonalDataCipher, tmp_path: Path
) -> None:
    uscc, id_a, id_b = make_uscc(3601), make_id_number(serial=361), make_id_number(serial=362)
    rows = [
        registry_row(uscc, id_a, "2015-03-01"),  # row 2
        registry_row(uscc, id_b, "2015-03-01", legal_rep_name="李四"),  # row 3: same since as row 2
        registry_row(uscc, id_b, "2019-01-01", legal_rep_name="李四", name="另一个名字"),  # row 4: entity differs
        registry_row(make_uscc(3602), id_a, "2016-01-01", legal_rep_name="张叁"),  # row 5: same ID, other name
    ]
    with pytest.raises(ImportRejected) as caught:
        _import(db_session, cipher, write_csv(tmp_path / "r.csv", rows))
    assert [str(error) for error in caught.value.errors] == [
        f"row 3: legal_rep_since: 2015-03-01 for {uscc} repeats row 2",
        f"row 4: name: differs from row 2 for {uscc} (name)",
        "row 5: legal_rep_name: differs from row 2 for the same ID number",
    ]


def test_missing_columns_are_reported_once(
    settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "r.csv"
    path.write_text("uscc,name\n91350100M000100Y43,x\n", encoding="utf-8")
    result = _cli(settings, session_factory, path)
    assert result.exit_code == 1
    assert "missing columns: type, region, industry, address, status" in result.output


@pytest.mark.parametrize("kind", ["gbk", "utf-8-sig", "utf-8", "xlsx"])
def test_file_formats_are_read_correctly(
    settings: Settings,
    session_factory: sessionmaker[Session],
    db_session: Session,
    cipher: PersonalDataCipher,
    tmp_path: Path,
    kind: str,
) -> None:
    fx = RegistryFixture(4)
    if kind == "xlsx":
        path = write_xlsx(tmp_path / "registry.xlsx", fx.rows)
    else:
        path = write_csv(tmp_path / "registry.csv", fx.rows, encoding=kind)

    result = _cli(settings, session_factory, path)

    assert result.exit_code == 0, result.output
    assert "entities: 2 created" in result.output
    assert _entity(db_session, fx.e2).name == "西城区张三小吃店"  # no mojibake
    assert _entity(db_session, fx.e2).type == EntityType.INDIVIDUAL_BUSINESS
    assert [until for _, _, until in roles_of(db_session, cipher, fx.e1)] == [
        dt.date(2019, 6, 1),
        dt.date(2022, 1, 10),
        None,
    ]


def test_statement_count_does_not_grow_with_rows(
    db_session: Session, cipher: PersonalDataCipher, tmp_path: Path
) -> None:
    """Preloads are per chunk, writes are executemany: 10 or 60 entities cost the same statements."""

    def count_statements(rows: list[dict[str, str]], name: str) -> int:
        statements: list[str] = []
        connection = db_session.connection()

        def listener(*args: object) -> None:
            statements.append(str(args[2]))

        event.listen(connection, "before_cursor_execute", listener)
        try:
            _import(db_session, cipher, write_csv(tmp_path / name, rows))
        finally:
            event.remove(connection, "before_cursor_execute", listener)
        return len(statements)

    def rows(start: int, count: int) -> list[dict[str, str]]:
        birth = dt.date(1960, 1, 1)
        return [
            registry_row(make_uscc(start + n), make_id_number(birth + dt.timedelta(days=n), start % 997), "2015-03-01")
            for n in range(count)
        ]

    small = count_statements(rows(40_000, 10), "small.csv")
    large = count_statements(rows(50_000, 60), "large.csv")
    assert small == large
    # And an unchanged re-import does no writes beyond its audit event.
    again = rows(50_000, 60)
    assert count_statements(again, "again.csv") < large


def test_find_or_create_person_matches_by_blind_index(db_session: Session, cipher: PersonalDataCipher) -> None:
    created = find_or_create_person(db_session, cipher, "11010519491231002x", "王芳")
    again = find_or_create_person(db_session, cipher, "１１０１０５１９４９１２３１００２Ｘ", "王芳")
    assert again.id == created.id
    assert created.id_blind_index == cipher.blind_index("11010519491231002X")
    assert created.id_masked == "110105********002X"
    with pytest.raises(ValueError, match="invalid resident ID number") as caught:
        find_or_create_person(db_session, cipher, "11010519491231001X", "王芳")
    assert "11010519491231001X" not in str(caught.value)
    assert db_session.scalar(select(func.count()).select_from(Person)) == 1
    assert db_session.scalar(select(func.count()).select_from(EntityPersonRole)) == 0
