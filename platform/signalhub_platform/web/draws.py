"""The double random draw pages (双随机抽查): the list, the new-draw form, the ceremony page of one
draw step by step, its downloads, and the outcome report across draws.

Thin adapters over ``inspections.services``: the view authorises (only coordinators see and post
the manage forms; a supervisor posting one gets 403), parses the form, calls one service, commits
once and redirects (PRG). A refusal from the service is shown on the page in the user's language
with status 409; a form that does not parse is shown with 400. Every draw read is audited by the
services.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage, MultiDict

from signalhub_platform.drawing import STRATA
from signalhub_platform.inspections import exports, outcomes, services
from signalhub_platform.inspections.directory import DrawSpec, TargetFilters
from signalhub_platform.inspections.package import standalone_script
from signalhub_platform.models import (
    Actor,
    Agency,
    Draw,
    DrawStatus,
    EntityStatus,
    EntityType,
    InspectionItem,
    InspectionOutcome,
    InspectionResult,
)
from signalhub_platform.models.types import beijing_today
from signalhub_platform.web.context import current_actor, db, state
from signalhub_platform.web.sessions import login_required

bp = Blueprint("draws", __name__, url_prefix="/draws")

STATUS_LABELS = {
    DrawStatus.FROZEN: _l("Population frozen"),  # 名录已锁定
    DrawStatus.SEEDED: _l("Seed fixed"),
    DrawStatus.DRAWN: _l("Drawn"),
    DrawStatus.PUBLISHED: _l("Published"),
}
OUTCOME_LABELS = {
    InspectionOutcome.NO_PROBLEM: _l("No problem found"),  # 未发现问题
    InspectionOutcome.PROBLEMS_FOUND: _l("Problems found"),  # 发现问题
    InspectionOutcome.ORDERED_TO_CORRECT: _l("Ordered to correct"),  # 责令整改
    InspectionOutcome.REFERRED_FOR_PENALTY: _l("Referred for penalty"),  # 移送立案处罚
    InspectionOutcome.NOT_REACHABLE: _l("Not reachable at the registered address"),  # 无法联系
}
STRATEGY_LABELS = {"uniform": _l("Uniform"), "stratified": _l("Stratified by warning level")}
# The outcome report names the uniform stratum for what it is; exports.STRATUM_LABELS calls it 全部.
REPORT_STRATUM_LABELS = {
    **exports.STRATUM_LABELS,
    "all": _l("Uniform draws"),
    outcomes.TOTAL: _l("Total"),
}
DONE = {
    "created": _l("The draw was created and its population frozen. Read the hash aloud before the seed is fixed."),
    "committed": _l("The agency's commitment was recorded."),
    "dice": _l("The dice digits were recorded."),
    "revealed": _l("The agency's secret was revealed and checked against its commitment."),
    "run": _l("The draw was run."),
    "extended": _l("More targets were drawn from the same stream."),
    "published": _l("The draw was published on the public site."),
    "result": _l("The result was recorded."),
}
FORM_ERRORS = {
    "name": _l("Enter the name of the inspection plan."),
    "agencies": _l("Choose at least one participating agency."),
    "items": _l("Choose inspection items of the participating agencies only."),
    "strategy": _l("Choose uniform or stratified."),
    "targets": _l("Enter a number of targets of at least 1, or a ratio."),
    "ratio": _l("A ratio is a decimal in (0, 1], e.g. 0.05."),
    "strata": _l("Give each stratum a whole number (a count) or a decimal in (0, 1] (a ratio)."),
    "types": _l("Choose entity types from the list."),
    "statuses": _l("Choose entity statuses from the list."),
    "warning_levels": _l("Choose warning levels from the list."),
    "not_inspected_days": _l("'Not inspected in the last N days' needs a whole number of at least 1."),
    "per_agency": _l("A team needs at least one inspector per agency."),
    "inspector_cap": _l("The per-inspector cap must be a whole number of at least 1."),
    "dice": _l("Enter only the digits 0-9, at least %(digits)s of them."),
    "commitment": _l("A commitment is the 64-character hexadecimal SHA-256 of the secret."),
    "secret": _l("A secret is 8 to 128 letters or digits."),
    "more": _l("Enter how many more targets to draw (at least 1)."),
    "outcome": _l("Choose an outcome."),
    "inspected_on": _l("Enter the date as YYYY-MM-DD."),
    "notes": _l("Notes are limited to 5,000 characters."),
    "attachment": _l("An attachment may be a PDF, JPEG or PNG file of at most 10 MB."),
    "agency": _l("Choose a participating agency."),
}
NOT_PERMITTED = _l("You are not allowed to do this.")
# The services word their refusals for the CLI and the log; the common ones are said again here.
REFUSALS: tuple[tuple[re.Pattern[str], Any], ...] = (
    (re.compile(r"^only "), NOT_PERMITTED),
    (re.compile(r"; this step needs it "), _l("This step is not possible in the draw's current status.")),
    (re.compile(r"^the seed has \d+ digits"), _l("The seed has too few digits.")),
    (re.compile(r"commitments are closed"), _l("The dice digits have been entered: commitments are closed.")),
    (re.compile(r"already committed"), _l("This agency has already committed its secret.")),
    (re.compile(r"already has its dice"), _l("The dice digits have already been entered.")),
    (re.compile(r"only after the dice"), _l("Secrets are revealed after the dice digits have been entered.")),
    (re.compile(r"committed no secret"), _l("This agency committed no secret.")),
    (re.compile(r"already revealed"), _l("This agency has already revealed its secret.")),
    (re.compile(r"does not match .* commitment"), _l("The secret does not match the agency's commitment.")),
    (re.compile(r"does not take part"), _l("This agency does not take part in the draw.")),
    (re.compile(r"is not a target of draw"), _l("This entity is not a target of the draw.")),
    (
        re.compile(r"inspection date must lie"),
        _l("The inspection date must lie between the draw's creation and today."),
    ),
    (re.compile(r"cannot be continued"), _l("A stratum drawn by ratio cannot be extended.")),
    (re.compile(r"has not been run yet"), _l("The draw has not been run yet.")),
    (re.compile(r"^(unknown or inactive agencies|item )"), FORM_ERRORS["items"]),
)
EXPORT_TYPES = {
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
_RATIO = re.compile(r"^(0\.[0-9]*[1-9][0-9]*|1)$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_SECRET = re.compile(r"^[0-9A-Za-z]{8,128}$")
_LIST_SEPARATORS = re.compile(r"[\s,，、;；]+")
# Attachments are typed by their first bytes, not by what the browser claims.
_MAGIC = ((b"%PDF-", "application/pdf"), (b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))


class FormError(ValueError):
    """A form field did not parse; ``code`` names the message in ``FORM_ERRORS``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@bp.app_template_filter("outcome_label")
def outcome_label(value: object) -> str:
    """An inspection outcome in the UI language (also on the entity page's inspection history)."""
    return str(OUTCOME_LABELS.get(InspectionOutcome(str(value)), value))


def refusal_message(error: services.DrawRefused) -> str:
    text = str(error)
    for pattern, message in REFUSALS:
        if pattern.search(text):
            return str(message)
    return gettext("The step was refused: %(reason)s", reason=text)


def form_error(code: str) -> str:
    if code == "dice":
        return str(FORM_ERRORS["dice"]) % {"digits": _min_seed_digits()}
    return str(FORM_ERRORS.get(code, NOT_PERMITTED))


def _min_seed_digits() -> int:
    return max(20, state().settings.sampler_min_seed_digits)


def _require(allowed: bool) -> None:
    if not allowed:
        abort(403)


# --- the list and the outcome report ----------------------------------------------------------------


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    session = db()
    actor = current_actor()
    draws = services.list_draws(session, actor=actor, source="web")
    session.commit()
    return render_template(
        "draws/index.html",
        draws=draws,
        can_manage=services.can_manage_draws(actor),
        status_labels=STATUS_LABELS,
        strategy_labels=STRATEGY_LABELS,
    )


@bp.get("/outcomes")
@login_required
def outcome_report() -> ResponseReturnValue:
    session = db()
    rows = outcomes.outcome_report(session, actor=current_actor(), source="web")
    session.commit()
    return render_template("draws/outcomes.html", report=rows, report_labels=REPORT_STRATUM_LABELS)


@bp.get("/verify_draw.py")
@login_required
def verify_script() -> ResponseReturnValue:
    return script_response()


def script_response() -> Response:
    """The standalone verifier, the same file for agency users and for the public."""
    return Response(
        standalone_script(),
        mimetype="text/x-python",
        headers={"Content-Disposition": 'attachment; filename="verify_draw.py"'},
    )


# --- a new draw ---------------------------------------------------------------------------------------


def _count_or_ratio(value: str) -> dict[str, Any]:
    """``"12"`` is a count, ``"0.05"`` a ratio (as on the command line)."""
    if value.isdigit():
        return {"count": int(value)}
    if _RATIO.match(value):
        return {"ratio": value}
    raise ValidationError("not a count or a ratio")


class DrawFormSchema(Schema):
    """The new-draw form (抽查计划): a field per DrawSpec attribute, lists from checkboxes and selects."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    agencies = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    items = fields.List(fields.String(validate=validate.Regexp(r"^[^:]+:.+$")), load_default=list)
    strategy = fields.String(load_default="uniform", validate=validate.OneOf(["uniform", "stratified"]))
    targets = fields.Integer(load_default=None, validate=validate.Range(min=1))
    ratio = fields.String(load_default=None, validate=validate.Regexp(_RATIO))
    regions = fields.String(load_default="")
    industries = fields.String(load_default="")
    types = fields.List(fields.String(validate=validate.OneOf([t.value for t in EntityType])), load_default=list)
    statuses = fields.List(fields.String(validate=validate.OneOf([s.value for s in EntityStatus])), load_default=list)
    warning_levels = fields.List(fields.String(validate=validate.OneOf(STRATA)), load_default=list)
    not_inspected_days = fields.Integer(load_default=None, validate=validate.Range(min=1, max=36500))
    per_agency = fields.Integer(load_default=1, validate=validate.Range(min=1, max=20))
    inspector_cap = fields.Integer(load_default=None, validate=validate.Range(min=1))


_LIST_FIELDS = ("agencies", "items", "types", "statuses", "warning_levels")


def spec_from_form(form: MultiDict[str, str]) -> DrawSpec:
    """The DrawSpec the form describes; FormError names the first field that does not parse."""
    raw: dict[str, Any] = {key: form.getlist(key) for key in _LIST_FIELDS if form.getlist(key)}
    for key in DrawFormSchema().fields:
        value = form.get(key, "").strip()
        if key not in _LIST_FIELDS and value:
            raw[key] = value
    if raw.get("strategy", "uniform") == "stratified":
        raw.pop("targets", None)
        raw.pop("ratio", None)
    try:
        data = DrawFormSchema().load(raw)
    except ValidationError as error:
        fields_in_error = error.messages if isinstance(error.messages, dict) else {}
        raise FormError(next((k for k in FORM_ERRORS if k in fields_in_error), "name")) from error
    strata: dict[str, dict[str, Any]] = {}
    if data["strategy"] == "stratified":
        for level in STRATA:
            value = form.get(f"stratum_{level}", "").strip()
            if value:
                try:
                    strata[level] = _count_or_ratio(value)
                except ValidationError as error:
                    raise FormError("strata") from error
        if not strata:
            raise FormError("strata")
    elif (data["targets"] is None) == (data["ratio"] is None):  # a count or a ratio, not both
        raise FormError("targets")
    return DrawSpec(
        name=data["name"].strip(),
        agencies=tuple(data["agencies"]),
        strategy=data["strategy"],
        targets=data["targets"] if data["strategy"] == "uniform" else None,
        ratio=data["ratio"] if data["strategy"] == "uniform" else None,
        strata=strata,
        items=tuple(data["items"]),
        filters=TargetFilters(
            regions=_split(data["regions"]),
            industries=_split(data["industries"]),
            types=tuple(data["types"]),
            statuses=tuple(data["statuses"]),
            warning_levels=tuple(data["warning_levels"]),
            not_inspected_days=data["not_inspected_days"],
        ),
        per_agency=data["per_agency"],
        inspector_cap=data["inspector_cap"],
    )


def _split(value: str) -> tuple[str, ...]:
    return tuple(part for part in _LIST_SEPARATORS.split(value) if part)


def _form_choices(session: Session) -> dict[str, Any]:
    agencies = list(session.scalars(select(Agency).where(Agency.is_active).order_by(Agency.code)))
    items = session.execute(
        select(Agency.code, InspectionItem.item_code, InspectionItem.name)
        .join(Agency, Agency.id == InspectionItem.agency_id)
        .where(InspectionItem.is_active, Agency.is_active)
        .order_by(Agency.code, InspectionItem.item_code)
    ).all()
    items_by_agency: dict[str, list[tuple[str, str]]] = {}
    for agency_code, item_code, name in items:
        items_by_agency.setdefault(agency_code, []).append((f"{agency_code}:{item_code}", f"{item_code} {name}"))
    return {
        "agencies": agencies,
        "items_by_agency": items_by_agency,
        "types": list(EntityType),
        "statuses": list(EntityStatus),
        "strata": STRATA,
        "stratum_labels": exports.STRATUM_LABELS,
    }


def _render_new(values: Mapping[str, Any] | None = None, *, error: str = "", status: int = 200) -> ResponseReturnValue:
    session = db()
    choices = _form_choices(session)
    session.commit()
    form = values if values is not None else MultiDict({"statuses": EntityStatus.ACTIVE.value, "per_agency": "1"})
    return render_template("draws/new.html", form=form, error=error, **choices), status


@bp.get("/new")
@login_required
def new() -> ResponseReturnValue:
    _require(services.can_manage_draws(current_actor()))
    return _render_new()


@bp.post("/")
@login_required
def create() -> ResponseReturnValue:
    actor = current_actor()
    _require(services.can_manage_draws(actor))
    try:
        spec = spec_from_form(request.form)
    except FormError as error:
        return _render_new(request.form, error=form_error(error.code), status=400)
    session = db()
    try:
        draw = services.create_draw(session, spec, actor=actor, source="web")
    except services.DrawRefused as error:
        session.rollback()
        return _render_new(request.form, error=refusal_message(error), status=409)
    session.commit()
    return redirect(url_for("draws.show", draw_id=draw.id, done="created"))


# --- one draw: the ceremony -------------------------------------------------------------------------


def grouped_hash(value: str | None, size: int = 4) -> str:
    """``53b4 86af 13ec ...``: a hash in groups someone can read aloud and others follow."""
    return " ".join((value or "")[i : i + size] for i in range(0, len(value or ""), size))


def _agency_names(session: Session, codes: list[str]) -> dict[str, str]:
    rows = session.execute(select(Agency.code, Agency.name).where(Agency.code.in_(codes)))
    return {code: name for code, name in rows}


def _draw_page(session: Session, actor: Actor, draw: Draw) -> dict[str, Any]:
    """Everything the ceremony page shows, computed before the request commits."""
    manifest = json.loads(draw.manifest)
    parameters = manifest["parameters"]
    agency_codes = list(parameters["agencies"])
    names = _agency_names(session, agency_codes)
    committed = {c.agency.code: c for c in draw.commitments}
    manages = services.can_manage_draws(actor)
    is_frozen = draw.status == DrawStatus.FROZEN
    agencies = [
        {
            "code": code,
            "name": names.get(code, code),
            "commitment": committed.get(code),
            "may_commit": is_frozen and draw.dice is None and services.can_commit_secret(actor, draw, code),
            "may_reveal": is_frozen
            and draw.dice is not None
            and code in committed
            and committed[code].secret is None
            and services.can_commit_secret(actor, draw, code),
        }
        for code in agency_codes
    ]
    # Keyed by position (unique in a draw): the rows already name the entities.
    results: dict[int, InspectionResult | None] = {t.position: t.result for t in draw.targets}
    rows = exports.draw_rows(session, draw)
    for row in rows:
        row["result"] = results.get(row["position"])
    is_drawn = draw.status in (DrawStatus.DRAWN, DrawStatus.PUBLISHED)
    return {
        "draw": draw,
        "status_label": STATUS_LABELS[draw.status],
        "strategy_label": STRATEGY_LABELS.get(draw.strategy, draw.strategy),
        "parameters": parameters,
        "strata_counts": json.loads(draw.strata_counts),
        "population_hash": grouped_hash(draw.population_sha256),
        "result_hash": grouped_hash(draw.result_sha256),
        "agencies": agencies,
        "pool_exclusions": [
            f"{names.get(e['agency'], e['agency'])} {e['inspector']}"
            f"（{exports.REASON_LABELS.get(e['reason'], e['reason'])}）"
            for e in (json.loads(draw.result)["pool_exclusions"] if draw.result else [])
        ],
        "rows": rows,
        "report": outcomes.outcome_report(session, [draw.id]) if is_drawn else [],
        "may_dice": manages and is_frozen and draw.dice is None,
        "may_run": manages and draw.status == DrawStatus.SEEDED,
        "may_publish": manages and draw.status == DrawStatus.DRAWN,
        "may_extend": manages and is_drawn,
        "may_record": is_drawn and services.can_record_result(actor, draw),
        "is_drawn": is_drawn,
        "min_seed_digits": _min_seed_digits(),
        "today": beijing_today(),
        "outcomes": list(InspectionOutcome),
        "outcome_labels": OUTCOME_LABELS,
        "stratum_labels": exports.STRATUM_LABELS,
        "report_labels": REPORT_STRATUM_LABELS,
        "strata": STRATA,
    }


def _render_draw(
    draw_id: int,
    *,
    done: str = "",
    error: str = "",
    problems: list[str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    session = db()
    actor = current_actor()
    draw = services.get_draw(session, draw_id, actor=actor, source="web")
    if draw is None:
        session.commit()  # a lookup of a missing draw is audited too
        abort(404)
    page = _draw_page(session, actor, draw)
    session.commit()
    return render_template(
        "draws/show.html",
        done=str(DONE[done]) if done in DONE else "",
        error=error,
        problems=problems,
        **page,
    ), status


@bp.get("/<int:draw_id>")
@login_required
def show(draw_id: int) -> ResponseReturnValue:
    return _render_draw(draw_id, done=request.args.get("done", ""))


def _step(draw_id: int, done: str, operation: Callable[[Session], object]) -> ResponseReturnValue:
    """Run one ceremony step; a refusal re-renders the page with its message (409), never a 500."""
    session = db()
    try:
        operation(session)
    except services.DrawRefused as error:
        session.rollback()
        if str(error).startswith("no draw "):
            abort(404)
        status = 403 if str(error).startswith("only ") else 409
        return _render_draw(draw_id, error=refusal_message(error), status=status)
    session.commit()
    return redirect(url_for("draws.show", draw_id=draw_id, done=done))


def _field(name: str) -> str:
    return request.form.get(name, "").strip()


def _bad_form(draw_id: int, code: str) -> ResponseReturnValue:
    return _render_draw(draw_id, error=form_error(code), status=400)


@bp.post("/<int:draw_id>/commitments")
@login_required
def commit(draw_id: int) -> ResponseReturnValue:
    agency, commitment = _field("agency"), _field("commitment").lower()
    if not agency:
        return _bad_form(draw_id, "agency")
    if not _HEX64.match(commitment):
        return _bad_form(draw_id, "commitment")
    return _step(
        draw_id,
        "committed",
        lambda s: services.commit_secret(s, draw_id, agency, commitment, actor=current_actor(), source="web"),
    )


@bp.post("/<int:draw_id>/dice")
@login_required
def dice(draw_id: int) -> ResponseReturnValue:
    _require(services.can_manage_draws(current_actor()))
    digits = _field("dice")
    if not (digits.isascii() and digits.isdigit() and len(digits) >= _min_seed_digits()):
        return _bad_form(draw_id, "dice")
    return _step(
        draw_id,
        "dice",
        lambda s: services.set_dice(
            s, draw_id, digits, actor=current_actor(), source="web", min_digits=_min_seed_digits()
        ),
    )


@bp.post("/<int:draw_id>/reveals")
@login_required
def reveal(draw_id: int) -> ResponseReturnValue:
    agency, secret = _field("agency"), _field("secret")
    if not agency:
        return _bad_form(draw_id, "agency")
    if not _SECRET.match(secret):
        return _bad_form(draw_id, "secret")
    return _step(
        draw_id,
        "revealed",
        lambda s: services.reveal_secret(s, draw_id, agency, secret, actor=current_actor(), source="web"),
    )


@bp.post("/<int:draw_id>/run")
@login_required
def run(draw_id: int) -> ResponseReturnValue:
    _require(services.can_manage_draws(current_actor()))
    return _step(draw_id, "run", lambda s: services.run_draw(s, draw_id, actor=current_actor(), source="web"))


@bp.post("/<int:draw_id>/extend")
@login_required
def extend(draw_id: int) -> ResponseReturnValue:
    _require(services.can_manage_draws(current_actor()))
    more: dict[str, int] = {}
    for key in ("all", *STRATA):
        value = _field(f"more_{key}")
        if not value:
            continue
        if not value.isdigit() or int(value) < 1:
            return _bad_form(draw_id, "more")
        more[key] = int(value)
    if not more:
        return _bad_form(draw_id, "more")
    return _step(
        draw_id, "extended", lambda s: services.extend_draw(s, draw_id, more, actor=current_actor(), source="web")
    )


@bp.post("/<int:draw_id>/publish")
@login_required
def publish(draw_id: int) -> ResponseReturnValue:
    _require(services.can_manage_draws(current_actor()))
    return _step(draw_id, "published", lambda s: services.publish_draw(s, draw_id, actor=current_actor(), source="web"))


def _attachment(upload: FileStorage | None) -> tuple[str, str, bytes] | None:
    if upload is None or not upload.filename:
        return None
    data = upload.stream.read(services.MAX_ATTACHMENT_BYTES + 1)
    content_type = next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)
    if content_type is None or len(data) > services.MAX_ATTACHMENT_BYTES:
        raise FormError("attachment")
    return upload.filename, content_type, data


@bp.post("/<int:draw_id>/results")
@login_required
def record_result(draw_id: int) -> ResponseReturnValue:
    uscc, outcome, notes = _field("uscc"), _field("outcome"), request.form.get("notes", "")
    if outcome not in {o.value for o in InspectionOutcome}:
        return _bad_form(draw_id, "outcome")
    try:
        inspected_on = dt.date.fromisoformat(_field("inspected_on")) if _field("inspected_on") else None
    except ValueError:
        return _bad_form(draw_id, "inspected_on")
    if len(notes) > 5000:
        return _bad_form(draw_id, "notes")
    try:
        attachment = _attachment(request.files.get("attachment"))
    except FormError as error:
        return _bad_form(draw_id, error.code)
    return _step(
        draw_id,
        "result",
        lambda s: services.record_result(
            s, draw_id, uscc, outcome, actor=current_actor(), inspected_on=inspected_on, notes=notes,
            attachment=attachment, source="web",
        ),
    )  # fmt: skip


@bp.post("/<int:draw_id>/verify")
@login_required
def verify(draw_id: int) -> ResponseReturnValue:
    session = db()
    try:
        problems = services.verify_draw(session, draw_id, actor=current_actor(), source="web")
    except services.DrawRefused:
        session.rollback()
        abort(404)
    session.commit()
    return _render_draw(draw_id, problems=problems)


@bp.get("/<int:draw_id>/export.<fmt>")
@login_required
def export(draw_id: int, fmt: str) -> ResponseReturnValue:
    if fmt not in EXPORT_TYPES:
        abort(404)
    session = db()
    try:
        data = exports.export_draw(session, draw_id, fmt, actor=current_actor(), source="web")
    except services.DrawRefused as error:
        session.rollback()
        if str(error).startswith("no draw "):
            abort(404)
        return _render_draw(draw_id, error=refusal_message(error), status=409)
    session.commit()
    name = f"draw-{draw_id}.json" if fmt == "json" else f"draw-{draw_id}.{fmt}"
    return Response(data, mimetype=EXPORT_TYPES[fmt], headers={"Content-Disposition": f'attachment; filename="{name}"'})
