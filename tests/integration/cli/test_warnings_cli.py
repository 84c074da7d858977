"""``signalhub warnings evaluate|list``: the JSON shape, levels, masked persons, the as-of backtest
that leaves the database as it was, and the audit trail of the CLI operator."""

from __future__ import annotations

import datetime as dt
import getpass
import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from signalhub_config import Settings
from signalhub_platform.cli import CliContext, main
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.models import (
    AuditEvent,
    Entity,
    EvaluationRun,
    Openness,
    Person,
    RiskWarning,
    WarningEvent,
)
from signalhub_platform.models.types import beijing_today
from tests.factories import make_agency, make_entity, make_id_number, make_person, make_record, make_role

Run = Callable[..., Result]
KEYS = {"id", "subject_type", "subject", "name", "scope", "level", "status", "rules", "agencies", "departments",
        "record_count"}  # fmt: skip
TODAY = beijing_today()
RECENT = TODAY - dt.timedelta(days=30)
PAST = TODAY - dt.timedelta(days=400)  # a backtest day whose window holds OLD, which today's does not
OLD = PAST - dt.timedelta(days=10)


@dataclass
class World:
    yellow_co: Entity  # TAX: two departments (one record private)
    red_co: Entity  # TAX shared + MKT public, and MKT's private one that red ignores
    old_co: Entity  # two TAX departments long ago: only the backtest sees it
    person: Person  # behind three companies, one agency each: red
    id_number: str


@pytest.fixture
def world(db_session: Session, cipher: PersonalDataCipher) -> World:
    tax, market, food = (make_agency(db_session, code) for code in ("TAX", "MKT", "FDA"))
    yellow_co = make_entity(db_session, name="黄色预警公司")
    make_record(db_session, tax, entity=yellow_co, department=tax.departments[0], occurred_on=RECENT)
    make_record(db_session, tax, entity=yellow_co, department=tax.departments[1], occurred_on=RECENT,
                openness=Openness.PRIVATE)  # fmt: skip
    red_co = make_entity(db_session, name="红色预警公司")
    make_record(db_session, tax, entity=red_co, department=tax.departments[2], occurred_on=RECENT)
    make_record(db_session, market, entity=red_co, department=market.departments[0], occurred_on=RECENT,
                openness=Openness.PUBLIC)  # fmt: skip
    make_record(db_session, market, entity=red_co, department=market.departments[1], occurred_on=RECENT,
                openness=Openness.PRIVATE)  # fmt: skip
    old_co = make_entity(db_session, name="往年公司")
    for department in tax.departments[:2]:
        make_record(db_session, tax, entity=old_co, department=department, occurred_on=OLD)
    id_number = make_id_number()
    person = make_person(db_session, cipher, id_number, name="王五")
    for agency in (tax, market, food):
        company = make_entity(db_session)
        make_role(db_session, company, person, since=dt.date(2015, 1, 1))
        make_record(db_session, agency, entity=company, department=agency.departments[2], occurred_on=RECENT)
    db_session.commit()
    return World(yellow_co, red_co, old_co, person, id_number)


@pytest.fixture
def run(settings: Settings, session_factory: sessionmaker[Session]) -> Run:
    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), obj=CliContext(settings=settings, factory=session_factory))

    return invoke


def listed(run: Run, *args: str) -> list[dict]:
    result = run("warnings", "list", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def by_subject(rows: list[dict]) -> dict[tuple[str, str], dict]:
    return {(row["subject"], row["scope"]): row for row in rows}


def state(session: Session) -> tuple[int, int, int]:
    session.expire_all()
    return tuple(  # type: ignore[return-value]
        session.scalar(select(func.count()).select_from(model)) for model in (RiskWarning, WarningEvent, EvaluationRun)
    )


def test_evaluate_applies_and_list_prints_the_documented_json(run: Run, world: World) -> None:
    evaluated = run("warnings", "evaluate")
    assert evaluated.exit_code == 0, evaluated.output
    assert "evaluation run" in evaluated.stdout and "opened" in evaluated.stdout
    rows = listed(run)
    assert all(set(row) == KEYS for row in rows)
    assert all(isinstance(row["id"], int) and row["status"] == "open" for row in rows)
    subjects = by_subject(rows)

    yellow = subjects[(world.yellow_co.uscc, "TAX")]
    assert yellow == {
        "id": yellow["id"], "subject_type": "entity", "subject": world.yellow_co.uscc, "name": "黄色预警公司",
        "scope": "TAX", "level": "yellow", "status": "open", "rules": ["yellow_departments"], "agencies": ["TAX"],
        "departments": ["Department 1", "Department 2"], "record_count": 2,
    }  # fmt: skip
    red = subjects[(world.red_co.uscc, "platform")]
    assert (red["level"], red["rules"], red["record_count"]) == ("red", ["red_agencies"], 2)
    # Red counts shared and public hits only: MKT's private department is not listed.
    assert red["agencies"] == ["MKT", "TAX"] and red["departments"] == ["Department 1", "Department 3"]
    # MKT's own two departments (one private) make MKT's yellow, with MKT's departments only.
    assert subjects[(world.red_co.uscc, "MKT")]["departments"] == ["Department 1", "Department 2"]

    person = subjects[(world.person.id_masked, "platform")]
    assert (person["subject_type"], person["name"], person["level"]) == ("person", "王五", "red")
    assert person["agencies"] == ["FDA", "MKT", "TAX"] and person["record_count"] == 3
    assert "*" in person["subject"]
    assert [row["level"] for row in rows] == sorted((row["level"] for row in rows),
                                                    key=["red", "orange", "yellow"].index)  # fmt: skip
    assert (world.old_co.uscc, "TAX") not in subjects  # aged out of today's window
    summary = json.loads(run("warnings", "evaluate", "--json").stdout)
    assert summary["warnings"] == len(rows) and summary["opened"] == 0  # a second run: all in force, none new


def test_no_id_number_is_ever_printed(run: Run, world: World) -> None:
    run("warnings", "evaluate")
    for args in ((), ("--json",), ("--as-of", RECENT.isoformat()), ("--as-of", RECENT.isoformat(), "--json")):
        result = run("warnings", "list", *args)
        assert result.exit_code == 0, result.output
        assert world.id_number not in result.output
        assert world.person.id_masked in result.output
    backtest = run("warnings", "evaluate", "--as-of", TODAY.isoformat())
    assert world.id_number not in backtest.output and world.person.id_masked in backtest.output


def test_level_filter(run: Run, world: World) -> None:
    run("warnings", "evaluate")
    assert {row["level"] for row in listed(run, "--level", "red")} == {"red"}
    assert {row["level"] for row in listed(run, "--level", "yellow")} == {"yellow"}
    assert listed(run, "--level", "orange") == []
    assert run("warnings", "list", "--level", "purple").exit_code == 2


@pytest.mark.parametrize("command", ["list", "evaluate"])
def test_as_of_is_a_backtest_that_changes_nothing(run: Run, db_session: Session, world: World, command: str) -> None:
    run("warnings", "evaluate")
    before = state(db_session)
    result = run("warnings", command, "--as-of", PAST.isoformat(), "--json")
    assert result.exit_code == 0, result.output
    assert state(db_session) == before
    rows = json.loads(result.stdout)
    assert all(set(row) == KEYS and row["id"] is None and row["status"] is None for row in rows)
    assert by_subject(rows)[(world.old_co.uscc, "TAX")]["departments"] == ["Department 1", "Department 2"]
    assert (world.yellow_co.uscc, "TAX") not in by_subject(rows)  # its records lie after that day


def test_evaluate_as_of_prints_and_writes_no_warning(run: Run, db_session: Session, world: World) -> None:
    result = run("warnings", "evaluate", "--as-of", TODAY.isoformat())
    assert result.exit_code == 0, result.output
    assert "live warnings untouched" in result.stdout and "黄色预警公司" in result.stdout
    assert state(db_session) == (0, 0, 0)


def test_every_command_is_audited_as_the_cli_operator(run: Run, db_session: Session, world: World) -> None:
    before = int(db_session.scalar(select(func.max(AuditEvent.seq))) or 0)
    run("warnings", "evaluate")
    run("warnings", "list")
    run("warnings", "list", "--as-of", PAST.isoformat())
    db_session.expire_all()
    events = list(db_session.scalars(select(AuditEvent).where(AuditEvent.seq > before).order_by(AuditEvent.seq)))
    assert [e.tag for e in events] == ["cli:warnings:evaluate", "cli:warnings:list", "cli:warnings:list"]
    assert {e.actor for e in events} == {f"cli:{getpass.getuser()}"}
    live = json.loads(events[1].payload)
    assert ["warning", str(db_session.scalars(select(RiskWarning.id)).first())] in live["subjects"]
    backtest = json.loads(events[2].payload)
    assert backtest["data"]["backtest"] is True and ["entity", world.old_co.uscc] in backtest["subjects"]
