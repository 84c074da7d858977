"""The batch lifecycle through the services: TESTS.md I1–I6, I8, I10, I13."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from signalhub_ingest import merge, services
from signalhub_platform.models import (
    Actor,
    AuditEvent,
    BatchRow,
    BatchState,
    Entity,
    Person,
    Record,
    Role,
)
from tests.factories import make_agency, make_user
from tests.integration.ingest.conftest import batch, record_rows, write_csv


def _live(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Record).where(Record.is_current)) or 0)


def _events(session: Session, tag: str) -> list[dict[str, Any]]:
    return [json.loads(e.payload) for e in session.scalars(select(AuditEvent).where(AuditEvent.tag == tag))]


def _commit(factory: sessionmaker[Session], batch_id: int, **options: Any) -> None:
    services.commit_batch(factory, batch_id, actor=Actor.cli(), channel="cli", **options)


def test_i1_valid_file_commits_every_row_once(
    db_session: Session, session_factory: sessionmaker[Session], ingest: Callable[..., int], tmp_path: Path
) -> None:
    agency = make_agency(db_session, "TAX", departments=2)
    batch_id = ingest(agency, write_csv(tmp_path / "q4.csv", record_rows(1000)))
    assert batch(db_session, batch_id).state == BatchState.VALIDATED
    _commit(session_factory, batch_id)
    done = batch(db_session, batch_id)
    assert done.state == BatchState.COMMITTED
    assert (done.row_count, done.inserted_count, done.versioned_count, done.unchanged_count) == (1000, 1000, 0, 0)
    assert _live(db_session) == 1000
    [event] = _events(db_session, "cli:batch:commit")
    assert event["data"]["inserted"] == 1000 and event["subjects"] == [["batch", str(batch_id)]]
    # Staging is emptied after the commit; persons are stored once, sealed.
    assert db_session.scalar(select(func.count()).select_from(BatchRow)) == 0
    assert db_session.scalar(select(func.count()).select_from(Person)) > 0


def test_i2_identical_bytes_point_to_the_earlier_batch(
    db_session: Session, session_factory: sessionmaker[Session], ingest: Callable[..., int], tmp_path: Path
) -> None:
    agency = make_agency(db_session, "TAX", departments=2)
    path = write_csv(tmp_path / "q4.csv", record_rows(20))
    first = ingest(agency, path)
    _commit(session_factory, first)
    again = ingest(agency, path)
    assert again == -first  # the earlier batch, flagged duplicate
    assert _live(db_session) == 20
    [event] = _events(db_session, "cli:batch:duplicate")
    assert event["data"]["earlier_batch"] == first


def test_i3_same_content_resaved_commits_as_unchanged(
    db_session: Session, session_factory: sessionmaker[Session], ingest: Callable[..., int], tmp_path: Path
) -> None:
    agency = make_agency(db_session, "TAX", departments=2)
    rows = record_rows(50)
    first = ingest(agency, write_csv(tmp_path / "a.csv", rows))
    _commit(session_factory, first)
    # Excel re-saves the same content with different bytes: here, GBK instead of UTF-8.
    second = ingest(agency, write_csv(tmp_path / "b.csv", rows, encoding="gb18030"))
    assert second > 0
    assert batch(db_session, second).same_content_as_id == first
    _commit(session_factory, second)
    done = batch(db_session, second)
    assert (done.inserted_count, done.versioned_count, done.unchanged_count) == (0, 0, 50)
    assert db_session.scalar(select(func.count()).select_from(Record)) == 50


def _with_three_bad_rows(count: int) -> list[dict[str, str]]:
    rows = record_rows(count)
    rows[9]["uscc"] = rows[9]["uscc"][:-1] + ("0" if rows[9]["uscc"][-1] != "0" else "1")  # bad check char
    rows[99]["occurred_on"] = "2026-02-30"  # bad date
    rows[499]["category"] = ""  # missing required field
    return rows


def test_i4_invalid_rows_are_all_reported_and_nothing_commits(
    db_session: Session, session_factory: sessionmaker[Session], ingest: Callable[..., int], tmp_path: Path
) -> None:
    agency = make_agency(db_session, "TAX", departments=2)
    batch_id = ingest(agency, write_csv(tmp_path / "bad.csv", _with_three_bad_rows(1000)))
    found = batch(db_session, batch_id)
    assert found.state == BatchState.INVALID
    assert sorted({e["row"] for e in found.errors or []}) == [11, 101, 501]  # file rows: header is row 1
    assert {e["column"] for e in found.errors or []} == {"uscc", "occurred_on", "category"}
    with pytest.raises(services.BatchNeedsDecision):
        _commit(session_factory, batch_id)
    assert _live(db_session) == 0
    assert batch(db_session, batch_id).state == BatchState.INVALID


def test_i5_accepting_the_valid_rows_is_explicit_and_audited(
    db_session: Session, session_factory: sessionmaker[Session], ingest: Callable[..., int], tmp_path: Path
) -> None:
    agency = make_agency(db_session, "TAX", departments=2)
    liaison = make_user(db_session, agency, Role.LIAISON)
    batch_id = ingest(agency, write_csv(tmp_path / "bad.csv", _with_three_bad_rows(1000)))
    services.commit_batch(session_factory, batch_id, actor=Actor.for_user(liaison), channel="web", accept_valid=True)
    assert _live(db_session) == 997
    assert batch(db_session, batch_id).is_valid_only_accepted
    [event] = _events(db_session, "web:batch:commit")
    assert event["actor"] == liaison.username
    assert event["data"]["rejected_rows"] == "11,101,501"


def test_i6_failure_mid_commit_rolls_everything_back(
    db_session: Session,
    session_factory: sessionmaker[Session],
    ingest: Callable[..., int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    agency = make_agency(db_session, "TAX", departments=2)
    batch_id = ingest(agency, write_csv(tmp_path / "q4.csv", record_rows(600)))
    real_merge = merge.merge_staged_rows

    def explode(session: Session, **kwargs: Any) -> Any:
        real_merge(session, **kwargs)  # the rows are written inside the transaction...
        raise RuntimeError("injected failure after writing")  # ...and must all disappear

    monkeypatch.setattr(services, "merge_staged_rows", explode)
    with pytest.raises(RuntimeError, match="injected"):
        _commit(session_factory, batch_id)
    assert _live(db_session) == 0
    assert db_session.scalar(select(func.count()).select_from(Entity)) == 0
    assert batch(db_session, batch_id).state == BatchState.VALIDATED
    [event] = _events(db_session, "cli:batch:commit_failed")
    assert event["data"]["error"] == "RuntimeError"
    monkeypatch.setattr(services, "merge_staged_rows", real_merge)
    _commit(session_factory, batch_id)  # the staged rows are intact: a retry succeeds
    assert _live(db_session) == 600


def test_i8_a_double_submit_commits_once(
    db_session: Session, session_factory: sessionmaker[Session], ingest: Callable[..., int], tmp_path: Path
) -> None:
    agency = make_agency(db_session, "TAX", departments=2)
    batch_id = ingest(agency, write_csv(tmp_path / "q4.csv", record_rows(30)))
    _commit(session_factory, batch_id)
    with pytest.raises(services.BatchConflict):
        _commit(session_factory, batch_id)
    assert db_session.scalar(select(func.count()).select_from(Record)) == 30


def test_i10_changed_rows_become_new_versions(
    db_session: Session, session_factory: sessionmaker[Session], ingest: Callable[..., int], tmp_path: Path
) -> None:
    agency = make_agency(db_session, "TAX", departments=2)
    rows = record_rows(100)
    _commit(session_factory, ingest(agency, write_csv(tmp_path / "a.csv", rows)))
    for row in rows[:10]:
        row["description"] = "复查后更正"
    second = ingest(agency, write_csv(tmp_path / "b.csv", rows))
    _commit(session_factory, second)
    done = batch(db_session, second)
    assert (done.inserted_count, done.versioned_count, done.unchanged_count) == (0, 10, 90)
    changed = list(db_session.scalars(select(Record).where(Record.is_current, Record.version == 2)))
    assert len(changed) == 10 and all(r.description == "复查后更正" and r.supersedes_id for r in changed)
    old = db_session.get(Record, changed[0].supersedes_id)
    assert old is not None and not old.is_current and old.description != "复查后更正"


def test_i13_another_agency_cannot_upload_or_commit(
    db_session: Session,
    session_factory: sessionmaker[Session],
    ingest: Callable[..., int],
    tmp_path: Path,
    settings: Any,
) -> None:
    tax = make_agency(db_session, "TAX", departments=2)
    other = make_agency(db_session, "MKT", departments=2)
    outsider = Actor.for_user(make_user(db_session, other, Role.LIAISON, Role.AGENCY_ADMIN))
    path = write_csv(tmp_path / "q4.csv", record_rows(5))
    with pytest.raises(services.BatchForbidden), path.open("rb") as stream:
        services.store_upload(
            db_session, outsider, agency=tax, period="2026Q4", filename="q4.csv", stream=stream,
            instance_dir=settings.instance_dir, channel="web",
        )  # fmt: skip
    batch_id = ingest(tax, path)
    with pytest.raises(services.BatchNotFound):
        services.commit_batch(session_factory, batch_id, actor=outsider, channel="web")
    assert batch(db_session, batch_id).state == BatchState.VALIDATED


@pytest.mark.concurrency
def test_i8_two_threads_commit_the_same_batch_once(scratch_database: Any, tmp_path: Path, settings: Any) -> None:
    """Real commits: exactly one thread wins the compare-and-set; the other gets a conflict."""
    from signalhub_platform.crypto import PersonalDataCipher
    from signalhub_platform.db import make_session_factory, transaction
    from tests.integration.ingest.conftest import TODAY

    factory = make_session_factory(scratch_database)
    cipher = PersonalDataCipher(settings.load_keys())
    with transaction(factory) as session:
        agency = make_agency(session, "TAX", departments=2)
        path = write_csv(tmp_path / "q4.csv", record_rows(200))
        with path.open("rb") as stream:
            batch_id = services.store_upload(
                session, Actor.cli(), agency=agency, period="2026Q4", filename="q4.csv", stream=stream,
                instance_dir=settings.instance_dir, channel="cli",
            ).batch.id  # fmt: skip
    services.validate_batch(
        factory, batch_id, cipher=cipher, instance_dir=settings.instance_dir, today=TODAY, actor=Actor.cli()
    )
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def commit() -> None:
        barrier.wait()
        try:
            _commit(factory, batch_id)
            outcomes.append("ok")
        except services.BatchConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=commit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    with transaction(factory) as session:
        assert session.scalar(select(func.count()).select_from(Record)) == 200


def test_reuploading_an_old_file_does_not_undo_corrections_or_withdrawals(
    db_session: Session, session_factory: sessionmaker[Session], ingest: Callable[..., int], tmp_path: Path
) -> None:
    from signalhub_audit.tags import AuditTag
    from signalhub_ingest import corrections
    from signalhub_platform.models import Openness, RecordStatus

    agency = make_agency(db_session, "TAX", departments=2)
    owner = Actor.for_user(make_user(db_session, agency, Role.LIAISON))
    rows = record_rows(10)
    _commit(session_factory, ingest(agency, write_csv(tmp_path / "a.csv", rows)))
    first, second = (
        db_session.scalars(select(Record).where(Record.source_ref == ref)).one() for ref in ("R-0000001", "R-0000002")
    )
    corrections.correct_record(db_session, owner, first.id, {"openness": Openness.PRIVATE}, reason="shared by mistake",
                               tag=AuditTag.WEB_RECORD_CORRECT)  # fmt: skip
    corrections.withdraw_record(db_session, owner, second.id, reason="entered twice", tag=AuditTag.WEB_RECORD_WITHDRAW)
    db_session.commit()

    again = ingest(agency, write_csv(tmp_path / "b.csv", rows, encoding="gb18030"))  # same content, new bytes
    _commit(session_factory, again)
    assert (batch(db_session, again).versioned_count, batch(db_session, again).unchanged_count) == (0, 10)
    current = {r.source_ref: r for r in db_session.scalars(select(Record).where(Record.is_current))}
    assert current["R-0000001"].openness == Openness.PRIVATE
    assert current["R-0000002"].status == RecordStatus.WITHDRAWN

    rows[1]["description"] = "新的情况"  # new content on the withdrawn record: a new active version
    third = ingest(agency, write_csv(tmp_path / "c.csv", rows))
    _commit(session_factory, third)
    revived = db_session.scalars(select(Record).where(Record.source_ref == "R-0000002", Record.is_current)).one()
    assert revived.status == RecordStatus.ACTIVE and revived.version == 3 and revived.description == "新的情况"


def test_a_validation_that_died_is_run_again_from_scratch(
    db_session: Session, session_factory: sessionmaker[Session], ingest: Callable[..., int], tmp_path: Path,
    cipher: Any, settings: Any,
) -> None:  # fmt: skip
    from sqlalchemy import update

    from signalhub_platform.models import Batch
    from tests.integration.ingest.conftest import TODAY

    agency = make_agency(db_session, "TAX", departments=2)
    batch_id = ingest(agency, write_csv(tmp_path / "q4.csv", record_rows(30)))
    # As a crash mid-validation leaves it: state validating, some rows staged.
    db_session.execute(update(Batch).where(Batch.id == batch_id).values(state=BatchState.VALIDATING))
    db_session.commit()
    services.validate_batch(session_factory, batch_id, cipher=cipher, instance_dir=settings.instance_dir,
                            today=TODAY, actor=Actor.cli())  # fmt: skip
    assert batch(db_session, batch_id).state == BatchState.VALIDATED
    assert services.staged_row_count(db_session, batch_id) == 30
    _commit(session_factory, batch_id)
    assert _live(db_session) == 30


def test_cli_path_validates_and_commits_in_one_transaction(
    db_session: Session, session_factory: sessionmaker[Session], tmp_path: Path, cipher: Any, settings: Any
) -> None:
    from tests.integration.ingest.conftest import TODAY

    agency = make_agency(db_session, "TAX", departments=2)
    path = write_csv(tmp_path / "q4.csv", _with_three_bad_rows(600))
    with path.open("rb") as stream:
        batch_id = services.store_upload(
            db_session, Actor.cli(), agency=agency, period="2026Q4", filename="q4.csv", stream=stream,
            instance_dir=settings.instance_dir, channel="cli",
        ).batch.id  # fmt: skip
    db_session.commit()
    options = {"actor": Actor.cli(), "cipher": cipher, "instance_dir": settings.instance_dir, "today": TODAY,
               "channel": "cli"}  # fmt: skip
    with pytest.raises(services.BatchNeedsDecision):
        services.ingest_at_once(session_factory, batch_id, **options)
    refused = batch(db_session, batch_id)
    assert (refused.state, refused.error_count, refused.rejected_rows) == (BatchState.UPLOADED, 3, "11,101,501")
    assert _live(db_session) == 0 and services.staged_row_count(db_session, batch_id) == 0
    services.ingest_at_once(session_factory, batch_id, accept_valid=True, **options)
    done = batch(db_session, batch_id)
    assert (done.state, done.inserted_count) == (BatchState.COMMITTED, 597)
    assert _live(db_session) == 597


def test_an_id_number_in_the_file_name_is_masked_not_fatal(db_session: Session, tmp_path: Path, settings: Any) -> None:
    """The name is shown on batch pages and audited: the number is masked there (the audit log
    refuses an ID number, which would otherwise fail the upload)."""
    from tests.factories import make_id_number

    agency = make_agency(db_session, "TAX", departments=2)
    number = make_id_number(serial=3)
    path = write_csv(tmp_path / "q4.csv", record_rows(3))
    for expected_tag in ("cli:batch:upload", "cli:batch:duplicate"):
        with path.open("rb") as stream:
            outcome = services.store_upload(
                db_session, Actor.cli(), agency=agency, period="2026Q4", filename=f"张三{number}.csv", stream=stream,
                instance_dir=settings.instance_dir, channel="cli",
            )  # fmt: skip
        assert outcome.batch.filename == f"张三{number[:6]}********{number[-4:]}.csv"
        [event] = _events(db_session, expected_tag)
        assert number not in json.dumps(event, ensure_ascii=False)
        assert event["data"]["filename"] == outcome.batch.filename
