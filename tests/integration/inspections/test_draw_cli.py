"""``signalhub draw ...`` and ``signalhub inspectors conflict``; the exported package re-derived by
the standalone ``verify_draw.py`` in a bare interpreter (TESTS.md S15)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from signalhub_config import Settings
from signalhub_platform.cli import CliContext, main
from signalhub_platform.models import AuditEvent, InspectorConflict
from tests.integration.inspections.draw_fixtures import DICE, Directory, make_directory


@pytest.fixture
def directory(db_session: Session) -> Directory:
    return make_directory(db_session)


def cli(settings: Settings, factory: sessionmaker[Session], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), obj=CliContext(settings=settings, factory=factory))


def create_seed_run(settings: Settings, factory: sessionmaker[Session]) -> dict:
    created = cli(
        settings,
        factory,
        *("draw", "create", "--name", "联合抽查", "--agencies", "SAMR,TAX", "--targets", "4"),
        *("--items", "SAMR:M1,TAX:T1", "--json"),
    )
    assert created.exit_code == 0, created.output
    draw_id = json.loads(created.output)["draw_id"]
    assert cli(settings, factory, "draw", "seed", str(draw_id), "--seed", DICE).exit_code == 0
    ran = cli(settings, factory, "draw", "run", str(draw_id), "--json")
    assert ran.exit_code == 0, ran.output
    return json.loads(ran.output)


def test_create_seed_run_prints_the_documented_json(
    settings: Settings, session_factory: sessionmaker[Session], directory: Directory
) -> None:
    document = create_seed_run(settings, session_factory)
    assert {"draw_id", "population_sha256", "seed", "targets"} <= set(document)
    assert document["seed"] == DICE and len(document["population_sha256"]) == 64
    assert len(document["targets"]) == 4
    for target in document["targets"]:
        assert {"uscc", "ticket", "stratum", "team"} <= set(target)
        assert sorted(m["agency"] for m in target["team"]) == ["SAMR", "TAX"]
        assert set(target["team"][0]) == {"agency", "inspector"}


def test_the_draw_matches_signalhub_sample_on_the_published_ids(
    settings: Settings, session_factory: sessionmaker[Session], directory: Directory, tmp_path: Path
) -> None:
    document = create_seed_run(settings, session_factory)
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(e.uscc for e in directory.entities) + "\n")
    sampled = cli(settings, session_factory, "sample", "--seed", DICE, "--take", "4", "--ids-file", str(ids))
    assert [line.split()[1] for line in sampled.output.splitlines()] == [t["uscc"] for t in document["targets"]]


def test_verify_json_and_exit_status(
    settings: Settings, session_factory: sessionmaker[Session], directory: Directory
) -> None:
    draw_id = create_seed_run(settings, session_factory)["draw_id"]
    result = cli(settings, session_factory, "draw", "verify", str(draw_id), "--json")
    assert result.exit_code == 0
    assert json.loads(result.output) == {"ok": True, "problems": []}
    assert cli(settings, session_factory, "draw", "verify", "999999").exit_code != 0


def test_refused_steps_exit_non_zero_with_the_reason(
    settings: Settings, session_factory: sessionmaker[Session], directory: Directory
) -> None:
    created = cli(settings, session_factory, "draw", "create", "--name", "x", "--agencies", "SAMR", "--targets", "2")
    draw_id = created.output.split()[1].rstrip(":")
    short = cli(settings, session_factory, "draw", "seed", draw_id, "--seed", "1234")
    assert short.exit_code == 1 and "at least 20" in short.output
    early = cli(settings, session_factory, "draw", "run", draw_id)
    assert early.exit_code == 1 and "seeded" in early.output


def run_script(script: Path, package: Path) -> subprocess.CompletedProcess[str]:
    # -I: isolated mode, no site-packages and no project on the path: the script stands alone.
    return subprocess.run(  # noqa: S603 -- our own interpreter running the script we just wrote
        [sys.executable, "-I", str(script), str(package), "--json"], capture_output=True, text=True, check=False
    )


def test_the_standalone_script_rederives_an_exported_package_and_catches_any_edit(
    settings: Settings, session_factory: sessionmaker[Session], directory: Directory, tmp_path: Path
) -> None:
    draw_id = create_seed_run(settings, session_factory)["draw_id"]
    package = tmp_path / "draw.json"
    script = tmp_path / "verify_draw.py"
    assert cli(settings, session_factory, "draw", "export", str(draw_id), "--out", str(package)).exit_code == 0
    assert cli(settings, session_factory, "draw", "script", "--out", str(script)).exit_code == 0
    ok = run_script(script, package)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == {"ok": True, "problems": []}

    original = json.loads(package.read_text())
    assert "检查员" not in package.read_text()  # the public package names no inspector
    edits = {
        "population": lambda p: p["manifest"]["population"].pop(),
        "seed": lambda p: p.update(dice=DICE.replace("3", "4", 1)),
        "parameters": lambda p: p["manifest"]["parameters"].update(targets=5),
        "result": lambda p: p["result"]["targets"][0]["team"].reverse(),
    }
    for name, edit in edits.items():
        edited = json.loads(json.dumps(original))
        edit(edited)
        package.write_text(json.dumps(edited, ensure_ascii=False))
        failed = run_script(script, package)
        assert failed.returncode == 1, name
        assert json.loads(failed.stdout)["ok"] is False, name


def test_declaring_a_conflict_from_the_cli(
    settings: Settings, session_factory: sessionmaker[Session], directory: Directory, db_session: Session
) -> None:
    uscc = directory.entities[0].uscc
    result = cli(
        settings,
        session_factory,
        "inspectors",
        "conflict",
        "--certificate",
        "SAMR-001",
        "--uscc",
        uscc.lower(),
        "--reason",
        "近亲属任职",
    )
    assert result.exit_code == 0, result.output
    assert db_session.scalars(select(InspectorConflict)).one().reason == "近亲属任职"
    assert db_session.scalars(select(AuditEvent).where(AuditEvent.tag == "cli:inspector:conflict")).one()
    unknown = cli(
        settings, session_factory, "inspectors", "conflict", "--certificate", "NOPE", "--uscc", uscc, "--reason", "x"
    )
    assert unknown.exit_code == 1 and "no inspector" in unknown.output
