"""The draw ceremony on a real database: freeze, seed (with agency secrets), run, extend, publish,
results, verify (TESTS.md S6, S10, S11, S14) and the append-only guarantees."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from signalhub_platform.drawing import document_sha256
from signalhub_platform.inspections.directory import TargetFilters
from signalhub_platform.inspections.services import (
    DrawRefused,
    commit_secret,
    create_draw,
    extend_draw,
    publish_draw,
    record_result,
    reveal_secret,
    run_draw,
    set_dice,
    verify_draw,
)
from signalhub_platform.models import (
    PLATFORM_SCOPE,
    Actor,
    AuditEvent,
    Draw,
    DrawStatus,
    DrawTarget,
    InspectorConflict,
    Openness,
    RiskWarning,
    Role,
    SubjectType,
    WarningLevel,
)
from signalhub_platform.models.types import beijing_today
from signalhub_platform.sampling import sample
from tests.factories import make_entity, make_record, make_user
from tests.integration.inspections.draw_fixtures import DICE, Directory, make_directory, spec

SYSTEM = Actor.cli()


@pytest.fixture
def directory(db_session: Session) -> Directory:
    return make_directory(db_session)


def drawn(session: Session, **overrides: object) -> Draw:
    draw = create_draw(session, spec(**overrides), actor=SYSTEM, source="cli")
    set_dice(session, draw.id, DICE, actor=SYSTEM, source="cli")
    return run_draw(session, draw.id, actor=SYSTEM, source="cli")


def targets(draw: Draw) -> list[dict]:
    return json.loads(draw.result)["targets"]


def test_creating_a_draw_freezes_the_population_and_audits_its_hash(db_session: Session, directory: Directory) -> None:
    draw = create_draw(db_session, spec(), actor=SYSTEM, source="cli")
    manifest = json.loads(draw.manifest)
    assert draw.status == DrawStatus.FROZEN and draw.seed is None
    assert draw.population_count == 40
    assert [u for u, _ in manifest["population"]] == sorted(e.uscc for e in directory.entities)
    assert draw.population_sha256 == hashlib.sha256(draw.manifest.encode()).hexdigest()
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.tag == "cli:draw:create")).one()
    assert json.loads(event.payload)["data"]["population_sha256"] == draw.population_sha256


def test_filters_narrow_the_target_directory(db_session: Session, directory: Directory) -> None:
    draw = create_draw(db_session, spec(filters=TargetFilters(regions=("月坛街道",))), actor=SYSTEM, source="cli")
    assert draw.population_count == 20


def test_the_target_directory_holds_only_entities_the_public_may_know_of(
    db_session: Session, directory: Directory
) -> None:
    # Targets and a uniform draw's population are published: an entity known only from an agency's
    # private or shared records must not be revealed by a draw (models/visibility.py).
    hidden = {}
    for openness in (Openness.PRIVATE, Openness.SHARED):
        entity = make_entity(db_session, name=f"暗访对象{openness}有限公司", is_in_registry=False)
        make_record(db_session, directory.tax, entity=entity, openness=openness)
        hidden[openness] = entity.uscc
    public = make_entity(db_session, name="公开记录对象有限公司", is_in_registry=False)
    make_record(db_session, directory.tax, entity=public, openness=Openness.PUBLIC)
    draw = create_draw(db_session, spec(), actor=SYSTEM, source="cli")
    population = {uscc for uscc, _ in json.loads(draw.manifest)["population"]}
    assert population == {e.uscc for e in directory.entities} | {public.uscc}
    assert draw.population_count == 41


def test_strata_come_from_open_entity_warnings(db_session: Session, directory: Directory) -> None:
    red_entity = directory.entities[0]
    db_session.add(
        RiskWarning(
            subject_type=SubjectType.ENTITY,
            subject_key=f"entity:{red_entity.id}",
            entity_id=red_entity.id,
            scope_key=PLATFORM_SCOPE,
            level=WarningLevel.RED,
        )
    )
    db_session.flush()
    draw = create_draw(
        db_session,
        spec(strategy="stratified", targets=None, strata={"red": {"count": 1}, "none": {"count": 2}}),
        actor=SYSTEM,
        source="cli",
    )
    assert json.loads(draw.strata_counts) == {"red": 1, "orange": 0, "yellow": 0, "none": 39}
    set_dice(db_session, draw.id, DICE, actor=SYSTEM)
    run_draw(db_session, draw.id, actor=SYSTEM)
    assert [t["uscc"] for t in targets(draw) if t["stratum"] == "red"] == [red_entity.uscc]


def test_targets_are_exactly_what_the_public_sampler_draws(db_session: Session, directory: Directory) -> None:
    draw = drawn(db_session)
    population = [u for u, _ in json.loads(draw.manifest)["population"]]
    assert [t["uscc"] for t in targets(draw)] == [p.id for p in sample(population, DICE, 5)]
    rows = db_session.scalars(select(DrawTarget).where(DrawTarget.draw_id == draw.id).order_by(DrawTarget.position))
    assert [r.entity.uscc for r in rows] == [t["uscc"] for t in targets(draw)]


def test_teams_skip_inactive_and_unqualified_inspectors(db_session: Session, directory: Directory) -> None:
    draw = drawn(db_session)
    for target in targets(draw):
        assert sorted(m["agency"] for m in target["team"]) == ["SAMR", "TAX"]
        assert not {"SAMR-900", "SAMR-901"} & {m["inspector"] for m in target["team"]}
    reasons = {(e["inspector"], e["reason"]) for e in json.loads(draw.result)["pool_exclusions"]}
    assert reasons == {("SAMR-900", "inactive"), ("SAMR-901", "not_qualified")}


def test_a_recused_inspector_is_never_drawn_for_that_entity(db_session: Session, directory: Directory) -> None:
    # S14: recuse two of the three SAMR inspectors for every entity.
    for entity in directory.entities:
        for cert in ("SAMR-001", "SAMR-002"):
            db_session.add(
                InspectorConflict(inspector_id=directory.inspectors[cert].id, entity_id=entity.id, reason="亲属")
            )
    db_session.flush()
    draw = drawn(db_session)
    for target in targets(draw):
        assert [m["inspector"] for m in target["team"] if m["agency"] == "SAMR"] == ["SAMR-003"]
        assert {"agency": "SAMR", "inspector": "SAMR-001", "reason": "recused"} in target["exclusions"]


def test_the_seed_must_be_twenty_digits_exactly_as_typed(db_session: Session, directory: Directory) -> None:
    # S10: " 0..." and short seeds are refused; nothing is recorded.
    draw = create_draw(db_session, spec(), actor=SYSTEM)
    for bad in (" " + DICE, DICE[:19], DICE + "x"):
        with pytest.raises(DrawRefused):
            set_dice(db_session, draw.id, bad, actor=SYSTEM)
    assert draw.dice is None and draw.status == DrawStatus.FROZEN
    with pytest.raises(DrawRefused, match="needs it seeded"):
        run_draw(db_session, draw.id, actor=SYSTEM)


def test_each_step_happens_once(db_session: Session, directory: Directory) -> None:
    draw = drawn(db_session)
    with pytest.raises(DrawRefused, match="is drawn"):
        run_draw(db_session, draw.id, actor=SYSTEM)
    with pytest.raises(DrawRefused, match="is drawn"):
        set_dice(db_session, draw.id, "9" * 20, actor=SYSTEM)
    assert draw.seed == DICE


def test_agency_secrets_are_committed_first_and_combined_into_the_seed(
    db_session: Session, directory: Directory
) -> None:
    draw = create_draw(db_session, spec(), actor=SYSTEM)
    secret = "Tax2026secretXYZ"
    commit_secret(db_session, draw.id, "TAX", hashlib.sha256(secret.encode()).hexdigest(), actor=SYSTEM)
    with pytest.raises(DrawRefused, match="only after the dice"):
        reveal_secret(db_session, draw.id, "TAX", secret, actor=SYSTEM)
    set_dice(db_session, draw.id, DICE, actor=SYSTEM)
    assert draw.status == DrawStatus.FROZEN  # waiting for TAX's reveal
    with pytest.raises(DrawRefused, match="commitments are closed"):
        commit_secret(db_session, draw.id, "SAMR", "a" * 64, actor=SYSTEM)
    with pytest.raises(DrawRefused, match="does not match"):
        reveal_secret(db_session, draw.id, "TAX", "WrongSecret123", actor=SYSTEM)
    reveal_secret(db_session, draw.id, "TAX", secret, actor=SYSTEM)
    assert draw.status == DrawStatus.SEEDED
    assert draw.seed == f"{DICE}|TAX={secret}"
    run_draw(db_session, draw.id, actor=SYSTEM)
    assert verify_draw(db_session, draw.id, actor=SYSTEM) == []


def test_only_an_agencys_own_coordinator_commits_its_secret(db_session: Session, directory: Directory) -> None:
    draw = create_draw(db_session, spec(), actor=SYSTEM)
    samr_coordinator = Actor.for_user(make_user(db_session, directory.samr, Role.COORDINATOR))
    with pytest.raises(DrawRefused):
        commit_secret(db_session, draw.id, "TAX", "a" * 64, actor=samr_coordinator)
    commit_secret(db_session, draw.id, "SAMR", "a" * 64, actor=samr_coordinator)


def test_a_supervisor_cannot_create_or_run_a_draw(db_session: Session, directory: Directory) -> None:
    supervisor = Actor.for_user(make_user(db_session, directory.samr, Role.SUPERVISOR))
    with pytest.raises(DrawRefused, match="coordinator"):
        create_draw(db_session, spec(), actor=supervisor)


def test_more_targets_continue_the_same_stream(db_session: Session, directory: Directory) -> None:
    # S6 for a platform draw: 5 then 3 more equals 8 at once.
    draw = drawn(db_session)
    extend_draw(db_session, draw.id, {"all": 3}, actor=SYSTEM)
    population = [u for u, _ in json.loads(draw.manifest)["population"]]
    assert [t["uscc"] for t in targets(draw)] == [p.id for p in sample(population, DICE, 8)]
    assert [t["round"] for t in targets(draw)] == [1] * 5 + [2] * 3
    assert db_session.query(DrawTarget).filter_by(draw_id=draw.id).count() == 8
    assert verify_draw(db_session, draw.id, actor=SYSTEM) == []


def test_verify_passes_and_is_audited(db_session: Session, directory: Directory) -> None:
    draw = drawn(db_session)
    assert verify_draw(db_session, draw.id, actor=SYSTEM) == []
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.tag == "cli:draw:verify")).one()
    assert json.loads(event.payload)["data"]["ok"] is True


def _drop_manifest_trigger(session: Session) -> None:
    # Simulates someone with the database owner's rights: the trigger would stop anyone else.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("DROP TRIGGER draws_manifest_frozen ON draws"))
    else:
        session.execute(text("DROP TRIGGER draws_manifest_frozen"))


def test_a_population_changed_after_the_seed_fails_verification(db_session: Session, directory: Directory) -> None:
    # S11: the manifest is rewritten (and its hash with it) after the seed was recorded.
    draw = drawn(db_session)
    manifest = json.loads(draw.manifest)
    manifest["population"].pop(0)
    _drop_manifest_trigger(db_session)
    db_session.execute(
        update(Draw)
        .where(Draw.id == draw.id)
        .values(
            manifest=json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
            population_sha256=document_sha256(manifest),
        )
    )
    db_session.expire_all()
    problems = verify_draw(db_session, draw.id, actor=SYSTEM)
    assert any("manifest hash mismatch" in p for p in problems)


def test_a_changed_team_row_fails_verification(db_session: Session, directory: Directory) -> None:
    draw = drawn(db_session)
    first = db_session.scalars(select(DrawTarget).where(DrawTarget.draw_id == draw.id, DrawTarget.position == 1)).one()
    other = (
        directory.inspectors["SAMR-001"]
        if first.team[0].inspector.certificate_no != "SAMR-001"
        else directory.inspectors["SAMR-002"]
    )
    first.team[0].inspector_id = other.id
    db_session.flush()
    assert any("target rows mismatch" in p for p in verify_draw(db_session, draw.id, actor=SYSTEM))


def test_the_manifest_cannot_be_changed_and_draws_cannot_be_deleted(db_session: Session, directory: Directory) -> None:
    draw = drawn(db_session)
    with pytest.raises((DBAPIError, IntegrityError)), db_session.begin_nested():
        db_session.execute(update(Draw).where(Draw.id == draw.id).values(manifest="{}x"))
    with pytest.raises((DBAPIError, IntegrityError)), db_session.begin_nested():
        db_session.execute(delete(DrawTarget).where(DrawTarget.draw_id == draw.id))
    with pytest.raises((DBAPIError, IntegrityError)), db_session.begin_nested():
        db_session.execute(delete(Draw).where(Draw.id == draw.id))


def test_results_become_history_and_the_last_inspector_sits_out_next_time(
    db_session: Session, directory: Directory
) -> None:
    draw = drawn(db_session, targets=40)
    publish_draw(db_session, draw.id, actor=SYSTEM)
    target = targets(draw)[0]
    record_result(db_session, draw.id, target["uscc"], "problems_found", actor=SYSTEM, notes="未公示年报")
    again = drawn(db_session, targets=40, name="第二轮")
    previous_team = {m["inspector"] for m in target["team"]}
    second = next(t for t in targets(again) if t["uscc"] == target["uscc"])
    assert not previous_team & {m["inspector"] for m in second["team"]}
    assert {e["reason"] for e in second["exclusions"]} == {"last_inspector"}
    recent = create_draw(db_session, spec(filters=TargetFilters(not_inspected_days=30), name="第三轮"), actor=SYSTEM)
    assert recent.population_count == 39


def test_results_need_a_drawn_target_and_a_known_outcome(db_session: Session, directory: Directory) -> None:
    draw = create_draw(db_session, spec(), actor=SYSTEM)
    with pytest.raises(DrawRefused):
        record_result(db_session, draw.id, directory.entities[0].uscc, "no_problem", actor=SYSTEM)
    set_dice(db_session, draw.id, DICE, actor=SYSTEM)
    run_draw(db_session, draw.id, actor=SYSTEM)
    drawn_usccs = {t["uscc"] for t in targets(draw)}
    outsider = next(e.uscc for e in directory.entities if e.uscc not in drawn_usccs)
    with pytest.raises(DrawRefused, match="not a target"):
        record_result(db_session, draw.id, outsider, "no_problem", actor=SYSTEM)
    with pytest.raises(DrawRefused, match="unknown outcome"):
        record_result(db_session, draw.id, targets(draw)[0]["uscc"], "fine", actor=SYSTEM)
    with pytest.raises(DrawRefused, match="inspection date"):
        record_result(
            db_session,
            draw.id,
            targets(draw)[0]["uscc"],
            "no_problem",
            actor=SYSTEM,
            inspected_on=beijing_today() + dt.timedelta(days=1),
        )


def test_a_uniform_manifest_carries_no_warning_levels(db_session: Session, directory: Directory) -> None:
    # The package is published with the draw; yellow and orange belong to their own agency only.
    entity = directory.entities[0]
    db_session.add(
        RiskWarning(
            subject_type=SubjectType.ENTITY,
            subject_key=f"entity:{entity.id}",
            entity_id=entity.id,
            scope_key=str(directory.tax.id),
            scope_agency_id=directory.tax.id,
            level=WarningLevel.YELLOW,
        )
    )
    db_session.flush()
    draw = create_draw(db_session, spec(), actor=SYSTEM)
    assert {stratum for _, stratum in json.loads(draw.manifest)["population"]} == {"all"}
    assert json.loads(draw.strata_counts) == {"all": 40}


def test_a_district_may_ask_for_a_longer_seed_but_never_a_shorter_one(
    db_session: Session, directory: Directory
) -> None:
    draw = create_draw(db_session, spec(), actor=SYSTEM)
    with pytest.raises(DrawRefused, match="at least 25"):
        set_dice(db_session, draw.id, DICE, actor=SYSTEM, min_digits=25)
    with pytest.raises(DrawRefused, match="at least 20"):
        set_dice(db_session, draw.id, DICE[:19], actor=SYSTEM, min_digits=10)
    set_dice(db_session, draw.id, DICE + "12345", actor=SYSTEM, min_digits=25)
    assert draw.status == DrawStatus.SEEDED
