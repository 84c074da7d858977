"""Evaluation runs: every commit (batch, API record, correction, withdrawal) queues an incremental
evaluation in its own transaction and the worker runs it; the CLI ingest evaluates in-process; the
daily full run (in the one scheduler list, 01:30 Beijing time) clears warnings whose records aged out."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from signalhub_audit.tags import AuditTag
from signalhub_config import Settings
from signalhub_ingest import corrections, services
from signalhub_platform.cli import CliContext, main
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.db import transaction
from signalhub_platform.models import (
    Actor,
    Agency,
    Entity,
    EvaluationRun,
    Job,
    JobState,
    Openness,
    RiskWarning,
    Role,
    WarningLevel,
    WarningStatus,
)
from signalhub_platform.models.types import beijing_today
from signalhub_platform.scheduler import periodic_jobs, run_job
from signalhub_platform.worker import run_until_empty
from signalhub_warnings.jobs import EVALUATE_WARNINGS, affected_by_payload, evaluate_all, queue_handlers
from signalhub_warnings.rules import Thresholds
from tests.factories import make_agency, make_entity, make_record, make_token, make_uscc, make_user
from tests.integration.ingest.conftest import write_csv
from tests.web.test_pages import BASE

ACK = {"red": 2, "orange": 3, "yellow": 5}
TODAY = beijing_today()
RECENT = TODAY - dt.timedelta(days=30)


@pytest.fixture
def run_worker(session_factory: sessionmaker[Session]) -> Any:
    handlers = queue_handlers(thresholds=Thresholds(), acknowledge_days=ACK)
    return lambda: run_until_empty(session_factory, handlers)


def evaluation_jobs(session: Session) -> list[Job]:
    session.expire_all()
    return list(session.scalars(select(Job).where(Job.kind == EVALUATE_WARNINGS).order_by(Job.id)))


def active_levels(session: Session, entity_id: int) -> dict[str, WarningLevel]:
    session.expire_all()
    query = select(RiskWarning).where(RiskWarning.entity_id == entity_id, RiskWarning.is_active)
    return {w.scope_key: w.level for w in session.scalars(query)}


def entity_by_uscc(session: Session, uscc: str) -> Entity:
    return session.scalars(select(Entity).where(Entity.uscc == uscc)).one()


def row(uscc: str, department: str, source_ref: str, **changes: str) -> dict[str, str]:
    values = {
        "department": department, "kind": "risk", "risk_level": "medium", "openness": "shared", "uscc": uscc,
        "entity_name": "北京预警测试有限公司", "person_name": "", "person_id_number": "", "category": "投诉举报",
        "description": "日常检查发现问题", "occurred_on": RECENT.isoformat(), "source_ref": source_ref,
    }  # fmt: skip
    values.update(changes)
    return values


def commit_file(
    session_factory: sessionmaker[Session], settings: Settings, cipher: PersonalDataCipher, agency: Agency, path: Path
) -> int:
    actor = Actor.cli()
    with transaction(session_factory) as session, path.open("rb") as stream:
        outcome = services.store_upload(
            session, actor, agency=session.merge(agency), period=services.quarter_of(TODAY), filename=path.name,
            stream=stream, instance_dir=settings.instance_dir, channel="cli",
        )  # fmt: skip
        batch_id = outcome.batch.id
    services.validate_batch(
        session_factory, batch_id, cipher=cipher, instance_dir=settings.instance_dir, today=TODAY, actor=actor
    )
    services.commit_batch(session_factory, batch_id, actor=actor, channel="cli")
    return batch_id


def test_the_job_kind_is_the_same_on_both_sides() -> None:
    # Ingest may not import warnings: the literal is written twice and kept equal here.
    assert services.EVALUATE_WARNINGS_JOB == EVALUATE_WARNINGS
    assert set(queue_handlers(thresholds=Thresholds(), acknowledge_days=ACK)) == {EVALUATE_WARNINGS}


def test_a_payload_without_subjects_is_refused() -> None:
    with pytest.raises(ValueError, match="batch_id or record_ids"):
        affected_by_payload({"something": 1})


def test_a_committed_batch_queues_an_evaluation_the_worker_runs(
    session_factory: sessionmaker[Session],
    db_session: Session,
    settings: Settings,
    cipher: PersonalDataCipher,
    tmp_path: Path,
    run_worker: Any,
) -> None:
    tax = make_agency(db_session, "TAX")
    db_session.commit()
    uscc = make_uscc(4242)
    path = write_csv(tmp_path / "q.csv", [row(uscc, "D1", "W-1"), row(uscc, "D2", "W-2")])
    batch_id = commit_file(session_factory, settings, cipher, tax, path)

    [job] = evaluation_jobs(db_session)
    assert (job.payload, job.state) == ({"batch_id": batch_id}, JobState.QUEUED)
    entity = entity_by_uscc(db_session, uscc)
    assert active_levels(db_session, entity.id) == {}  # nothing until the worker runs

    assert run_worker() == 1
    assert evaluation_jobs(db_session)[0].state == JobState.DONE
    assert active_levels(db_session, entity.id) == {str(tax.id): WarningLevel.YELLOW}
    run = db_session.scalars(select(EvaluationRun).order_by(EvaluationRun.id.desc())).first()
    assert run is not None and (run.kind, run.trigger, run.opened) == ("incremental", f"batch:{batch_id}", 1)


def test_a_reupload_that_moves_a_record_re_evaluates_the_old_entity(
    session_factory: sessionmaker[Session],
    db_session: Session,
    settings: Settings,
    cipher: PersonalDataCipher,
    tmp_path: Path,
    run_worker: Any,
) -> None:
    tax = make_agency(db_session, "TAX")
    db_session.commit()
    first, second = make_uscc(5151), make_uscc(5252)
    commit_file(session_factory, settings, cipher, tax,
                write_csv(tmp_path / "a.csv", [row(first, "D1", "M-1"), row(first, "D2", "M-2")]))  # fmt: skip
    run_worker()
    old_entity = entity_by_uscc(db_session, first)
    assert active_levels(db_session, old_entity.id) == {str(tax.id): WarningLevel.YELLOW}
    # The same source_ref now names another entity: the old one keeps one department only.
    commit_file(session_factory, settings, cipher, tax, write_csv(tmp_path / "b.csv", [row(second, "D2", "M-2")]))
    run_worker()
    assert active_levels(db_session, old_entity.id) == {}


def test_an_unchanged_reupload_queues_nothing(
    session_factory: sessionmaker[Session], db_session: Session, settings: Settings, cipher: PersonalDataCipher,
    tmp_path: Path, run_worker: Any,
) -> None:  # fmt: skip
    tax = make_agency(db_session, "TAX")
    db_session.commit()
    rows = [row(make_uscc(6161), "D1", "U-1")]
    commit_file(session_factory, settings, cipher, tax, write_csv(tmp_path / "a.csv", rows))
    run_worker()
    commit_file(session_factory, settings, cipher, tax, write_csv(tmp_path / "b.csv", rows, encoding="utf-8"))
    assert [job.state for job in evaluation_jobs(db_session)] == [JobState.DONE]


def test_an_api_record_queues_an_evaluation(app: Flask, db_session: Session, run_worker: Any) -> None:
    tax = make_agency(db_session, "TAX")
    token = make_token(db_session, make_user(db_session, tax, Role.LIAISON))
    db_session.commit()
    uscc = make_uscc(7373)
    client = app.test_client()
    for department, ref in (("D1", "A-1"), ("D2", "A-2")):
        body = {k: v for k, v in row(uscc, department, ref).items() if not k.startswith("person_")}
        response = client.post(f"{BASE}/api/v1/records", json=body, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 201, response.get_json()
    assert len(evaluation_jobs(db_session)) == 2
    run_worker()
    assert active_levels(db_session, entity_by_uscc(db_session, uscc).id) == {str(tax.id): WarningLevel.YELLOW}


@pytest.mark.parametrize("change", ["correct", "withdraw"])
def test_a_correction_or_withdrawal_queues_an_evaluation(db_session: Session, run_worker: Any, change: str) -> None:
    tax = make_agency(db_session, "TAX")
    entity = make_entity(db_session)
    kept = make_record(db_session, tax, entity=entity, department=tax.departments[0], occurred_on=RECENT)
    changed = make_record(db_session, tax, entity=entity, department=tax.departments[1], occurred_on=RECENT)
    evaluate_all(db_session, now=dt.datetime.now(dt.UTC), thresholds=Thresholds(), acknowledge_days=ACK)
    db_session.commit()
    assert active_levels(db_session, entity.id) == {str(tax.id): WarningLevel.YELLOW}
    liaison = Actor.for_user(make_user(db_session, tax, Role.LIAISON))
    if change == "correct":
        # Same department as the other record now: one department, no yellow.
        new = corrections.correct_record(db_session, liaison, changed.id, {"department_id": kept.department_id},
                                         reason="科室填错", tag=AuditTag.WEB_RECORD_CORRECT)  # fmt: skip
    else:
        new = corrections.withdraw_record(db_session, liaison, changed.id, reason="重复录入",
                                          tag=AuditTag.WEB_RECORD_WITHDRAW)  # fmt: skip
    db_session.commit()
    [job] = evaluation_jobs(db_session)
    assert job.payload == {"record_ids": [changed.id, new.id]}
    run_worker()
    assert active_levels(db_session, entity.id) == {}
    warning = db_session.scalars(select(RiskWarning).where(RiskWarning.entity_id == entity.id)).one()
    assert warning.status == WarningStatus.CLEARED


def test_a_rolled_back_commit_leaves_no_job(db_session: Session) -> None:
    tax = make_agency(db_session, "TAX")
    record = make_record(db_session, tax, entity=make_entity(db_session), occurred_on=RECENT)
    db_session.commit()
    liaison = Actor.for_user(make_user(db_session, tax, Role.LIAISON))
    db_session.commit()
    corrections.withdraw_record(db_session, liaison, record.id, reason="x", tag=AuditTag.WEB_RECORD_WITHDRAW)
    db_session.rollback()
    assert evaluation_jobs(db_session) == []


def test_the_daily_job_is_listed_once_and_clears_aged_out_warnings(db_session: Session, settings: Settings) -> None:
    [job] = [job for job in periodic_jobs(settings.load_keys(), settings) if job.name == "evaluate_warnings"]
    assert job.cron == {"hour": "1", "minute": "30"}  # Beijing time, like every cron in the list
    tax = make_agency(db_session, "TAX")
    entity = make_entity(db_session)
    day = dt.date(2026, 11, 27)
    make_record(db_session, tax, entity=entity, department=tax.departments[0], occurred_on=day - dt.timedelta(365))
    make_record(db_session, tax, entity=entity, department=tax.departments[1], occurred_on=day - dt.timedelta(10))
    at_0130 = dt.datetime(2026, 11, 26, 17, 30, tzinfo=dt.UTC)  # 01:30 on the 27th in Beijing
    result = run_job(job, db_session, at_0130)
    assert result.opened == 1 and active_levels(db_session, entity.id) == {str(tax.id): WarningLevel.YELLOW}
    result = run_job(job, db_session, at_0130 + dt.timedelta(days=1))  # the older record has aged out
    assert result.cleared == 1 and active_levels(db_session, entity.id) == {}
    runs = list(db_session.scalars(select(EvaluationRun).order_by(EvaluationRun.id)))
    assert [(r.kind, r.trigger, r.as_of) for r in runs] == [
        ("full", "daily", day), ("full", "daily", day + dt.timedelta(days=1)),
    ]  # fmt: skip


def ingest_three_departments(
    settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path, uscc: str, *flags: str
) -> None:
    """``signalhub ingest`` of three TAX records on one entity from three departments (orange)."""
    path = write_csv(tmp_path / "cli.csv", [row(uscc, "D1", "C-1"), row(uscc, "D2", "C-2"), row(uscc, "D3", "C-3")])
    result = CliRunner().invoke(
        main, ["ingest", str(path), "--agency", "TAX", *flags, "--json"],
        obj=CliContext(settings=settings, factory=session_factory),
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def test_the_cli_ingest_evaluates_in_process(
    settings: Settings, session_factory: sessionmaker[Session], db_session: Session, tmp_path: Path
) -> None:
    tax = make_agency(db_session, "TAX")
    db_session.commit()
    uscc = make_uscc(8484)
    ingest_three_departments(settings, session_factory, tmp_path, uscc)
    assert [job.state for job in evaluation_jobs(db_session)] == [JobState.DONE]
    assert active_levels(db_session, entity_by_uscc(db_session, uscc).id) == {str(tax.id): WarningLevel.ORANGE}


def test_the_cli_ingest_can_leave_the_evaluation_to_a_worker(
    settings: Settings, session_factory: sessionmaker[Session], db_session: Session, tmp_path: Path, run_worker: Any
) -> None:
    tax = make_agency(db_session, "TAX")
    db_session.commit()
    uscc = make_uscc(8585)
    ingest_three_departments(settings, session_factory, tmp_path, uscc, "--defer-evaluation")
    entity_id = entity_by_uscc(db_session, uscc).id
    assert [job.state for job in evaluation_jobs(db_session)] == [JobState.QUEUED]
    assert active_levels(db_session, entity_id) == {}
    run_worker()
    assert active_levels(db_session, entity_id) == {str(tax.id): WarningLevel.ORANGE}


def test_private_records_in_a_batch_count_only_for_their_owner(
    session_factory: sessionmaker[Session], db_session: Session, settings: Settings, cipher: PersonalDataCipher,
    tmp_path: Path, run_worker: Any,
) -> None:  # fmt: skip
    tax, market = make_agency(db_session, "TAX"), make_agency(db_session, "MKT")
    db_session.commit()
    uscc = make_uscc(9595)
    commit_file(session_factory, settings, cipher, tax, write_csv(tmp_path / "t.csv", [row(uscc, "D1", "P-1")]))
    commit_file(session_factory, settings, cipher, market,
                write_csv(tmp_path / "m.csv", [row(uscc, "D1", "P-2", openness=Openness.PRIVATE.value)]))  # fmt: skip
    run_worker()
    assert active_levels(db_session, entity_by_uscc(db_session, uscc).id) == {}  # a private record is not red


@pytest.mark.concurrency
def test_concurrent_evaluations_of_one_subject_open_one_warning(scratch_database: Any) -> None:
    from sqlalchemy import func

    from signalhub_platform.db import make_session_factory
    from signalhub_warnings.jobs import evaluate_affected

    factory = make_session_factory(scratch_database)
    with transaction(factory) as session:
        tax = make_agency(session, "TAX")
        entity = make_entity(session)
        ids = [make_record(session, tax, entity=entity, department=d, occurred_on=RECENT).id
               for d in tax.departments[:2]]  # fmt: skip
        entity_id = entity.id
    threads_count, rounds = 2, 5
    start = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def evaluate() -> None:
        try:
            for _ in range(rounds):
                start.wait()
                evaluate_affected(factory, {"record_ids": ids}, lambda: None, thresholds=Thresholds(),
                                  acknowledge_days=ACK)  # fmt: skip
        except BaseException as exc:  # re-raised in the main thread below
            errors.append(exc)
            start.abort()

    threads = [threading.Thread(target=evaluate) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with transaction(factory) as session:
        warnings = session.scalar(
            select(func.count()).select_from(RiskWarning).where(RiskWarning.entity_id == entity_id)
        )
        runs = session.scalar(select(func.count()).select_from(EvaluationRun))
    assert (warnings, runs) == (1, threads_count * rounds)
