"""The draw ceremony (抽查): create and freeze, commit secrets, fix the seed, run, extend, publish, verify.

Every step is one service that flushes and audits; the caller commits once. A step loads its draw
``FOR UPDATE`` (PostgreSQL; SQLite already serialises writers with BEGIN IMMEDIATE) and checks the
state, so a double submit or two coordinators clicking at once performs a step exactly once.
The audit events carry the published hashes and the seed, so ``verify_draw`` can tell a tampered
row from the one the meeting saw even if someone rewrote the row and its hash together.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, defer, selectinload

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform.drawing import (
    STRATA,
    UNIFORM_STRATUM,
    DrawError,
    canonical_json,
    check_ratio,
    combine_seed,
    compute_draw,
    document_sha256,
    stratum_sizes,
)
from signalhub_platform.inspections.directory import DirectoryError, DrawSpec, build_manifest
from signalhub_platform.models import (
    Actor,
    Agency,
    AuditEvent,
    AuditSubject,
    Draw,
    DrawCommitment,
    DrawStatus,
    DrawTarget,
    DrawTeamMember,
    Entity,
    InspectionOutcome,
    InspectionResult,
    Inspector,
    Role,
)
from signalhub_platform.models.types import beijing_today, utcnow
from signalhub_platform.sampling import SamplingError, validate_seed

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
ATTACHMENT_TYPES = {"application/pdf", "image/jpeg", "image/png"}


class DrawRefused(ValueError):
    """The step is not allowed: wrong state, wrong actor or invalid input. The message says which."""


# --- who may do what ---------------------------------------------------------------------------


def _agency_codes(draw: Draw) -> list[str]:
    return list(json.loads(draw.manifest)["parameters"]["agencies"])


def can_manage_draws(actor: Actor) -> bool:
    return actor.is_system or Role.COORDINATOR in actor.roles


def can_read_draw(actor: Actor, draw: Draw) -> bool:
    """Every signed-in agency user may follow a draw; the public sees published ones (see ``public``)."""
    return not actor.is_public and (actor.is_system or actor.user_id is not None)


def can_commit_secret(actor: Actor, draw: Draw, agency_code: str) -> bool:
    if actor.is_system:
        return True
    return actor.agency_code == agency_code and bool({Role.COORDINATOR, Role.AGENCY_ADMIN} & actor.roles)


def can_record_result(actor: Actor, draw: Draw) -> bool:
    if actor.is_system:
        return True
    return Role.COORDINATOR in actor.roles or (
        Role.SUPERVISOR in actor.roles and actor.agency_code in _agency_codes(draw)
    )


def _require(allowed: bool, message: str) -> None:
    if not allowed:
        raise DrawRefused(message)


def _tag(source: str, action: str) -> AuditTag:
    return AuditTag(f"{source}:draw:{action}")


def _locked(session: Session, draw_id: int) -> Draw:
    draw = session.scalars(
        select(Draw).where(Draw.id == draw_id).with_for_update().execution_options(populate_existing=True)
    ).first()
    if draw is None:
        raise DrawRefused(f"no draw {draw_id}")
    return draw


def _expect(draw: Draw, *states: DrawStatus) -> None:
    if draw.status not in states:
        wanted = " or ".join(s.value for s in states)
        raise DrawRefused(f"draw {draw.id} is {draw.status.value}; this step needs it {wanted}")


# --- (a) create: freeze the population and publish its hash ------------------------------------


def _check_spec(spec: DrawSpec) -> None:
    if not spec.name.strip():
        raise DrawRefused("a draw needs a name")
    if spec.per_agency < 1:
        raise DrawRefused("a team needs at least one inspector per agency")
    if spec.inspector_cap is not None and spec.inspector_cap < 1:
        raise DrawRefused("the per-inspector cap must be at least 1")
    parameters: dict[str, Any] = {
        "strategy": spec.strategy,
        "targets": spec.targets,
        "ratio": spec.ratio,
        "strata": spec.strata,
    }
    try:
        sizes = stratum_sizes(parameters)
        for stratum, size in sizes.items():
            if "ratio" in size:
                check_ratio(size["ratio"])
            elif not isinstance(size.get("count"), int) or size["count"] < 0:
                raise DrawRefused(f"the size of stratum {stratum} must be a count >= 0 or a ratio")
    except DrawError as error:
        raise DrawRefused(str(error)) from error
    if spec.strategy == "uniform" and spec.ratio is None and not spec.targets:
        raise DrawRefused("a uniform draw needs a number of targets (or a ratio)")
    if spec.strategy == "stratified" and not spec.strata:
        raise DrawRefused(f"a stratified draw needs a count or ratio for at least one of {', '.join(STRATA)}")


def create_draw(
    session: Session, spec: DrawSpec, *, actor: Actor, source: str = "web", now: dt.datetime | None = None
) -> Draw:
    """Create the draw and freeze its manifest; the population hash is fixed from here on."""
    _require(can_manage_draws(actor), "only a joint-inspection coordinator may create a draw")
    _check_spec(spec)
    now = now or utcnow()
    draw = Draw(
        name=spec.name.strip(),
        status=DrawStatus.FROZEN,
        strategy=spec.strategy,
        created_by_id=actor.user_id,
        created_at=now,
        manifest="{}",
        population_sha256="",
    )
    session.add(draw)
    session.flush()  # the id is part of the manifest (it derives the inspectors' seeds)
    try:
        manifest, directory = build_manifest(session, draw.id, spec, as_of=beijing_today(now), frozen_at=now)
    except DirectoryError as error:
        raise DrawRefused(str(error)) from error
    # The placeholder manifest is replaced once, here; the database refuses any later change.
    counts = Counter(stratum for _, _, stratum in directory)
    draw.manifest = canonical_json(manifest)
    draw.population_sha256 = document_sha256(manifest)
    draw.population_count = len(directory)
    shown = STRATA if spec.strategy == "stratified" else (UNIFORM_STRATUM,)
    draw.strata_counts = canonical_json({s: counts.get(s, 0) for s in shown})
    session.flush()
    record_event(
        session,
        _tag(source, "create"),
        actor=actor,
        subjects=[("draw", draw.id)],
        data={
            "population_sha256": draw.population_sha256,
            "population": draw.population_count,
            "strata": json.loads(draw.strata_counts),
            "inspectors": len(manifest["inspectors"]),
            "recusals": len(manifest["recusals"]),
        },
        at=now,
    )
    return draw


# --- (b) the seed: agency commitments, the dice, the reveals ----------------------------------


def _agency(session: Session, code: str) -> Agency:
    agency = session.scalars(select(Agency).where(Agency.code == code)).first()
    if agency is None:
        raise DrawRefused(f"unknown agency {code}")
    return agency


def commit_secret(
    session: Session, draw_id: int, agency_code: str, commitment_sha256: str, *, actor: Actor, source: str = "web"
) -> DrawCommitment:
    """An agency publishes the SHA-256 of a secret it will reveal after the dice are rolled."""
    draw = _locked(session, draw_id)
    _require(
        can_commit_secret(actor, draw, agency_code), "only the agency's coordinator or admin may commit its secret"
    )
    _expect(draw, DrawStatus.FROZEN)
    if draw.dice is not None:
        raise DrawRefused("the dice have been rolled: commitments are closed")
    if agency_code not in _agency_codes(draw):
        raise DrawRefused(f"{agency_code} does not take part in draw {draw.id}")
    commitment = commitment_sha256.strip().lower()
    if len(commitment) != 64 or any(c not in "0123456789abcdef" for c in commitment):
        raise DrawRefused("a commitment is the 64-character hex SHA-256 of the secret")
    agency = _agency(session, agency_code)
    if any(c.agency_id == agency.id for c in draw.commitments):
        raise DrawRefused(f"{agency_code} has already committed a secret for draw {draw.id}")
    row = DrawCommitment(draw_id=draw.id, agency_id=agency.id, commitment_sha256=commitment)
    session.add(row)
    session.flush()
    record_event(
        session,
        _tag(source, "commit"),
        actor=actor,
        subjects=[("draw", draw.id)],
        data={"agency": agency_code, "commitment_sha256": commitment},
    )
    return row


def set_dice(
    session: Session, draw_id: int, dice: str, *, actor: Actor, source: str = "web", min_digits: int = 20
) -> Draw:
    """Record the digits rolled in the meeting; with no agency secrets this fixes the seed."""
    draw = _locked(session, draw_id)
    _require(can_manage_draws(actor), "only a joint-inspection coordinator may enter the seed")
    _expect(draw, DrawStatus.FROZEN)
    if draw.dice is not None:
        raise DrawRefused(f"draw {draw.id} already has its dice: {draw.dice}")
    try:
        # The district may ask for more than the 20 digits every draw needs, never fewer.
        validate_seed(dice, max(20, min_digits))
    except SamplingError as error:
        raise DrawRefused(str(error)) from error
    draw.dice = dice
    record_event(session, _tag(source, "dice"), actor=actor, subjects=[("draw", draw.id)], data={"dice": dice})
    _fix_seed_when_complete(session, draw, actor=actor, source=source)
    session.flush()
    return draw


def reveal_secret(
    session: Session, draw_id: int, agency_code: str, secret: str, *, actor: Actor, source: str = "web"
) -> Draw:
    """An agency reveals its secret; it must hash to its commitment. The last reveal fixes the seed."""
    draw = _locked(session, draw_id)
    _require(
        can_commit_secret(actor, draw, agency_code), "only the agency's coordinator or admin may reveal its secret"
    )
    _expect(draw, DrawStatus.FROZEN)
    if draw.dice is None:
        raise DrawRefused("secrets are revealed only after the dice have been entered")
    agency = _agency(session, agency_code)
    commitment = next((c for c in draw.commitments if c.agency_id == agency.id), None)
    if commitment is None:
        raise DrawRefused(f"{agency_code} committed no secret for draw {draw.id}")
    if commitment.secret is not None:
        raise DrawRefused(f"{agency_code} has already revealed its secret")
    try:
        combine_seed(draw.dice, {agency_code: secret})
    except DrawError as error:
        raise DrawRefused(str(error)) from error
    if hashlib.sha256(secret.encode("utf-8")).hexdigest() != commitment.commitment_sha256:
        raise DrawRefused(f"the secret does not match {agency_code}'s commitment")
    commitment.secret = secret
    commitment.revealed_at = utcnow()
    record_event(
        session, _tag(source, "reveal"), actor=actor, subjects=[("draw", draw.id)], data={"agency": agency_code}
    )
    _fix_seed_when_complete(session, draw, actor=actor, source=source)
    session.flush()
    return draw


# A draw has a commitment for a few agencies at most: their codes come through the relationship
# rather than a query over every agency.
def _reveals(draw: Draw) -> dict[str, str]:
    return {c.agency.code: c.secret for c in draw.commitments if c.secret is not None}


def _commitments(draw: Draw) -> dict[str, str]:
    return {c.agency.code: c.commitment_sha256 for c in draw.commitments}


def _fix_seed_when_complete(session: Session, draw: Draw, *, actor: Actor, source: str) -> None:
    if draw.dice is None or any(c.secret is None for c in draw.commitments):
        return
    draw.seed = combine_seed(draw.dice, _reveals(draw))
    draw.seeded_at = utcnow()
    draw.status = DrawStatus.SEEDED
    record_event(
        session,
        _tag(source, "dice"),
        actor=actor,
        subjects=[("draw", draw.id)],
        data={"seed": draw.seed, "population_sha256": draw.population_sha256},
    )


# --- (c) run and extend ------------------------------------------------------------------------


def _store_targets(session: Session, draw: Draw, targets: list[dict[str, Any]]) -> None:
    if not targets:
        return
    manifest = json.loads(draw.manifest)
    usccs = [t["uscc"] for t in targets]
    entity_ids: dict[str, int] = {}
    for chunk_start in range(0, len(usccs), 5000):
        chunk = usccs[chunk_start : chunk_start + 5000]
        entity_ids.update(session.execute(select(Entity.uscc, Entity.id).where(Entity.uscc.in_(chunk))).all())
    certificate_nos = sorted({m["inspector"] for t in targets for m in t["team"]})
    inspectors = {
        row.certificate_no: row
        for row in session.scalars(select(Inspector).where(Inspector.certificate_no.in_(certificate_nos)))
    }
    agency_ids = dict(
        session.execute(select(Agency.code, Agency.id).where(Agency.code.in_(manifest["parameters"]["agencies"]))).all()
    )
    session.execute(
        insert(DrawTarget),
        [
            {
                "draw_id": draw.id,
                "entity_id": entity_ids[t["uscc"]],
                "position": t["position"],
                "round": t["round"],
                "stratum": t["stratum"],
                "ticket": t["ticket"],
            }
            for t in targets
        ],
    )
    target_ids = dict(
        session.execute(
            select(DrawTarget.position, DrawTarget.id).where(
                DrawTarget.draw_id == draw.id, DrawTarget.position >= targets[0]["position"]
            )
        ).all()
    )
    members = [
        {
            "target_id": target_ids[t["position"]],
            "inspector_id": inspectors[m["inspector"]].id,
            "agency_id": agency_ids[m["agency"]],
        }
        for t in targets
        for m in t["team"]
    ]
    if members:
        session.execute(insert(DrawTeamMember), members)


def run_draw(
    session: Session, draw_id: int, *, actor: Actor, source: str = "web", now: dt.datetime | None = None
) -> Draw:
    """Draw the targets and teams from the frozen manifest and the seed (once)."""
    draw = _locked(session, draw_id)
    _require(can_manage_draws(actor), "only a joint-inspection coordinator may run a draw")
    _expect(draw, DrawStatus.SEEDED)
    assert draw.seed is not None
    rounds = [{}]
    try:
        result = compute_draw(json.loads(draw.manifest), draw.seed, rounds)
    except SamplingError as error:
        raise DrawRefused(str(error)) from error
    draw.rounds = canonical_json(rounds)
    draw.result = canonical_json(result)
    draw.result_sha256 = document_sha256(result)
    draw.drawn_at = now or utcnow()
    draw.status = DrawStatus.DRAWN
    session.flush()
    _store_targets(session, draw, result["targets"])
    record_event(
        session,
        _tag(source, "run"),
        actor=actor,
        subjects=[("draw", draw.id), *(("entity", t["uscc"]) for t in result["targets"][:1000])],
        data={"result_sha256": draw.result_sha256, "targets": len(result["targets"]), "seed": draw.seed},
    )
    return draw


def extend_draw(session: Session, draw_id: int, more: dict[str, int], *, actor: Actor, source: str = "web") -> Draw:
    """More targets from the same streams: ``{"all": 5}`` for uniform, ``{"red": 2, ...}`` for strata."""
    draw = _locked(session, draw_id)
    _require(can_manage_draws(actor), "only a joint-inspection coordinator may extend a draw")
    _expect(draw, DrawStatus.DRAWN, DrawStatus.PUBLISHED)
    assert draw.seed is not None and draw.result is not None
    if not more or any(not isinstance(n, int) or n < 1 for n in more.values()):
        raise DrawRefused("say how many more targets to draw (at least 1)")
    round_spec: dict[str, Any] = (
        {"targets": more.get("all", 0)} if draw.strategy == "uniform" else {"strata": dict(sorted(more.items()))}
    )
    rounds = [*json.loads(draw.rounds), round_spec]
    try:
        result = compute_draw(json.loads(draw.manifest), draw.seed, rounds)
    except SamplingError as error:
        raise DrawRefused(str(error)) from error
    previous = json.loads(draw.result)["targets"]
    if result["targets"][: len(previous)] != previous:  # earlier rounds never change
        raise DrawRefused("internal error: the continued stream does not start with the drawn targets")
    added = result["targets"][len(previous) :]
    draw.rounds = canonical_json(rounds)
    draw.result = canonical_json(result)
    draw.result_sha256 = document_sha256(result)
    session.flush()
    _store_targets(session, draw, added)
    record_event(
        session,
        _tag(source, "extend"),
        actor=actor,
        subjects=[("draw", draw.id), *(("entity", t["uscc"]) for t in added[:1000])],
        data={"round": round_spec, "added": len(added), "result_sha256": draw.result_sha256},
    )
    return draw


# --- (d) publish, results ----------------------------------------------------------------------


def publish_draw(session: Session, draw_id: int, *, actor: Actor, source: str = "web") -> Draw:
    draw = _locked(session, draw_id)
    _require(can_manage_draws(actor), "only a joint-inspection coordinator may publish a draw")
    _expect(draw, DrawStatus.DRAWN)
    draw.status = DrawStatus.PUBLISHED
    draw.published_at = utcnow()
    record_event(
        session,
        _tag(source, "publish"),
        actor=actor,
        subjects=[("draw", draw.id)],
        data={"result_sha256": draw.result_sha256},
    )
    session.flush()
    return draw


def record_result(
    session: Session,
    draw_id: int,
    uscc: str,
    outcome: InspectionOutcome | str,
    *,
    actor: Actor,
    inspected_on: dt.date | None = None,
    notes: str = "",
    attachment: tuple[str, str, bytes] | None = None,
    source: str = "web",
) -> InspectionResult:
    """The team's finding at one target; recording again replaces it (both audited)."""
    draw = _locked(session, draw_id)
    _require(
        can_record_result(actor, draw), "only a coordinator or a participating agency's supervisor may record results"
    )
    _expect(draw, DrawStatus.DRAWN, DrawStatus.PUBLISHED)
    try:
        outcome = InspectionOutcome(outcome)
    except ValueError as error:
        raise DrawRefused(
            f"unknown outcome {outcome!r}; use one of {', '.join(o.value for o in InspectionOutcome)}"
        ) from error
    target = session.scalars(
        select(DrawTarget)
        .join(Entity, Entity.id == DrawTarget.entity_id)
        .where(DrawTarget.draw_id == draw.id, Entity.uscc == uscc.strip().upper())
    ).first()
    if target is None:
        raise DrawRefused(f"{uscc} is not a target of draw {draw.id}")
    inspected_on = inspected_on or beijing_today()
    if inspected_on > beijing_today() or inspected_on < draw.created_at.astimezone(dt.UTC).date() - dt.timedelta(
        days=1
    ):
        raise DrawRefused("the inspection date must lie between the draw's creation and today")
    if len(notes) > 5000:
        raise DrawRefused("notes are limited to 5,000 characters")
    result = session.scalars(select(InspectionResult).where(InspectionResult.target_id == target.id)).first()
    previous = result.outcome.value if result else None
    if result is None:
        result = InspectionResult(target_id=target.id, entity_id=target.entity_id)
        session.add(result)
    result.outcome = outcome
    result.inspected_on = inspected_on
    result.notes = notes
    result.recorded_by_id = actor.user_id
    result.recorded_at = utcnow()
    if attachment is not None:
        name, content_type, data = attachment
        if content_type not in ATTACHMENT_TYPES:
            raise DrawRefused("attachments may be PDF, JPEG or PNG")
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise DrawRefused("an attachment may be at most 10 MB")
        result.attachment_name = name[-200:]
        result.attachment_type = content_type
        result.attachment = data
        result.attachment_sha256 = hashlib.sha256(data).hexdigest()
    session.flush()
    record_event(
        session,
        _tag(source, "result"),
        actor=actor,
        subjects=[("draw", draw.id), ("entity", uscc.strip().upper())],
        data={
            "outcome": outcome.value,
            "previous": previous,
            "inspected_on": inspected_on.isoformat(),
            "attachment_sha256": result.attachment_sha256,
        },
    )
    return result


# --- reads, the package, verification ----------------------------------------------------------


def get_draw(session: Session, draw_id: int, *, actor: Actor, source: str = "web") -> Draw | None:
    draw = session.scalars(
        select(Draw)
        .where(Draw.id == draw_id)
        .options(
            # What the ceremony page reads from rows; teams and entity names come from the stored
            # result (exports.draw_rows), so they are not loaded a second time here.
            selectinload(Draw.commitments).selectinload(DrawCommitment.agency),
            selectinload(Draw.targets).selectinload(DrawTarget.result),
        )
    ).first()
    if draw is not None and not can_read_draw(actor, draw):
        draw = None
    record_event(
        session, _tag(source, "read"), actor=actor, subjects=[("draw", draw_id)], data={"found": draw is not None}
    )
    return draw


def list_draws(session: Session, *, actor: Actor, source: str = "web") -> list[Draw]:
    # The list shows summaries: a large draw's manifest and result run to megabytes each.
    query = select(Draw).options(defer(Draw.manifest), defer(Draw.result)).order_by(Draw.id.desc()).limit(200)
    draws = list(session.scalars(query))
    record_event(session, _tag(source, "read"), actor=actor, data={"list": len(draws)})
    return draws


def draw_package(draw: Draw) -> dict[str, Any]:
    """Everything needed to re-derive the draw with the standalone script (no inspector names)."""
    return {
        "format": "signalhub-draw-package/1",
        "draw_id": draw.id,
        "name": draw.name,
        "manifest": json.loads(draw.manifest),
        "population_sha256": draw.population_sha256,
        "dice": draw.dice,
        "commitments": _commitments(draw),
        "reveals": _reveals(draw),
        "seed": draw.seed,
        "rounds": json.loads(draw.rounds),
        "result": json.loads(draw.result) if draw.result else None,
        "result_sha256": draw.result_sha256,
    }


def _audited_values(session: Session, draw: Draw) -> dict[str, list[Any]]:
    """Hashes and seeds the audit log recorded for this draw, by key, in order."""
    found: dict[str, list[Any]] = {"population_sha256": [], "seed": [], "result_sha256": []}
    events = session.scalars(
        select(AuditEvent)
        .join(AuditSubject, AuditSubject.seq == AuditEvent.seq)
        .where(AuditSubject.kind == "draw", AuditSubject.ref == str(draw.id), AuditEvent.tag.like("%:draw:%"))
        .order_by(AuditEvent.seq)
    )
    for event in events:
        data = json.loads(event.payload).get("data", {})
        for key in found:
            if data.get(key):
                found[key].append(data[key])
    return found


def verify_draw(session: Session, draw_id: int, *, actor: Actor, source: str = "cli") -> list[str]:
    """Recompute the draw from its frozen inputs and seed; every difference is a problem."""
    draw = session.get(Draw, draw_id)
    if draw is None or not can_read_draw(actor, draw):  # a draw the actor may not read is a missing one
        raise DrawRefused(f"no draw {draw_id}")
    package = draw_package(draw)
    problems: list[str] = []
    manifest = package["manifest"]
    if document_sha256(manifest) != draw.population_sha256:
        problems.append("manifest hash mismatch: the frozen population differs from its published hash")
    audited = _audited_values(session, draw)
    if audited["population_sha256"][:1] != [draw.population_sha256]:
        problems.append("manifest hash mismatch: the published hash differs from the one in the audit log")
    if draw.seed is not None and draw.seed not in audited["seed"]:
        problems.append("seed mismatch: the seed differs from the one recorded in the audit log")
    if draw.result is not None:
        from signalhub_platform.drawing import verify_package

        problems.extend(p for p in verify_package(package) if p not in problems)
        if audited["result_sha256"][-1:] != [draw.result_sha256]:
            problems.append("result hash mismatch: the result differs from the one in the audit log")
        problems.extend(_rows_problems(session, draw))
    record_event(
        session,
        _tag(source, "verify"),
        actor=actor,
        subjects=[("draw", draw.id)],
        data={"ok": not problems, "problems": problems[:20]},
    )
    return problems


def _rows_problems(session: Session, draw: Draw) -> list[str]:
    """The target and team rows must say what the stored result says."""
    expected = {
        (t["position"], t["uscc"], t["stratum"], t["ticket"], tuple(sorted(m["inspector"] for m in t["team"])))
        for t in json.loads(draw.result or "{}").get("targets", [])
    }
    rows = session.execute(
        select(DrawTarget.id, DrawTarget.position, Entity.uscc, DrawTarget.stratum, DrawTarget.ticket)
        .join(Entity, Entity.id == DrawTarget.entity_id)
        .where(DrawTarget.draw_id == draw.id)
    ).all()
    teams: dict[int, list[str]] = {}
    for target_id, certificate_no in session.execute(
        select(DrawTeamMember.target_id, Inspector.certificate_no)
        .join(Inspector, Inspector.id == DrawTeamMember.inspector_id)
        .join(DrawTarget, DrawTarget.id == DrawTeamMember.target_id)
        .where(DrawTarget.draw_id == draw.id)
    ):
        teams.setdefault(target_id, []).append(certificate_no)
    stored = {(p, u, s, t, tuple(sorted(teams.get(i, [])))) for i, p, u, s, t in rows}
    if stored != expected:
        return ["target rows mismatch: the stored targets or teams differ from the draw result"]
    return []
