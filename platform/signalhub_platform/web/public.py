"""The public site (信息公示), with no login: the search over fully-open records and published
inspection results, and the published draws (一公开) with what anyone needs to re-derive a draw
(the package and verify_draw.py).

The actor is always the anonymous public, whoever is signed in, with the client's address.

The search (``/public/search`` and ``GET /api/v1/public/search``) matches an entity's name (a
substring) or its unified social credit code (exact, full-width input normalised) against

- records the public may see (``record_visible_to`` of the public: fully-open only), current and not
  withdrawn, that concern an entity; a hit carries the entity, the holding agency, kind, level,
  category and date, never a person, an ID number, the free-text description or a record id;
- targets of published draws (the condition ``inspections.public`` reads them by), with the outcome
  and the inspection date, never notes, attachments, strata or inspectors.

Each search is audited (``public:record:search`` for the page, ``public:record:api_search`` for the
JSON) and results come a page at a time. The audit log doubles as the rate limiter's counter: it
already holds one event per search, with the client's address, and is shared by every gunicorn
worker, so the limit holds across workers without a table of its own. The count is read before
the search runs and written with it, so simultaneous requests from one address in different
workers can each pass the last free slot: the limit can be exceeded by at most the number of
requests in flight at once (on SQLite, where a transaction holds the write lock, never). A refusal
is audited as ``public:search:rate_limited`` at most once per address per window.

The draws pages read through ``inspections.public``, which knows only published draws and
returns no stratum, inspector, note or attachment; a draw that is not published is a 404, exactly
like a missing one. Every draw read is audited as ``public:draw:read``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, fields
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from signalhub_audit.queries import recent_activity
from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform.crypto import redact_id_numbers
from signalhub_platform.identifiers.free_text import contains_id_number
from signalhub_platform.identifiers.normalise import CheckStatus
from signalhub_platform.identifiers.resident_id import validate_id_number
from signalhub_platform.identifiers.uscc import normalise_uscc, validate_uscc
from signalhub_platform.inspections import public
from signalhub_platform.models import (
    Actor,
    Agency,
    Draw,
    DrawStatus,
    DrawTarget,
    Entity,
    InspectionOutcome,
    InspectionResult,
    Record,
    RecordStatus,
)
from signalhub_platform.models.types import utcnow
from signalhub_platform.models.visibility import record_visible_to
from signalhub_platform.web.batch_schemas import error_document
from signalhub_platform.web.context import client_ip, db
from signalhub_platform.web.draws import OUTCOME_LABELS, grouped_hash, script_response

bp = Blueprint("public", __name__, url_prefix="/public")
api_bp = Blueprint("public_api", __name__, url_prefix="/api/v1/public")

# Searches one client address may make per window, the page and the JSON API together.
SEARCH_RATE_LIMIT = 30
SEARCH_RATE_WINDOW = dt.timedelta(seconds=60)
SEARCH_TAGS = (AuditTag.PUBLIC_RECORD_SEARCH, AuditTag.API_PUBLIC_SEARCH)
PAGE_SIZE = 20
# Deeper pages are refused: past a thousand hits a narrower query serves better than paging, and
# OFFSET costs grow with depth.
MAX_PAGE = 50
MIN_QUERY_CHARS = 2
MAX_QUERY_CHARS = 100

REFUSALS = {
    "too_short": _l("Enter at least 2 characters of an entity name, or a unified social credit code."),
    "id_number": _l("ID numbers cannot be searched on the public site. Search by entity name or credit code."),
    "bad_page": _l("The page must be a number from 1 to 50."),
}
# The JSON API answers in English, like the rest of /api/v1.
REFUSALS_EN = {
    "too_short": "enter at least 2 characters of an entity name, or a unified social credit code",
    "id_number": "ID numbers cannot be searched on the public site; search by entity name or credit code",
    "bad_page": "page must be a number from 1 to 50",
}


def _actor() -> Actor:
    return Actor.public(client_ip())


# --- the search -----------------------------------------------------------------------------------


class SearchRefused(ValueError):
    """The query cannot be run as given; ``reason`` is a key of ``REFUSALS``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PublicRecordHit:
    uscc: str
    entity_name: str
    agency: str
    kind: str
    risk_level: str | None
    category: str
    occurred_on: dt.date


@dataclass(frozen=True)
class PublicInspectionHit:
    draw_id: int
    draw_name: str
    published_at: dt.datetime | None
    uscc: str
    entity_name: str
    outcome: InspectionOutcome | None
    inspected_on: dt.date | None


@dataclass(frozen=True)
class PublicSearchResult:
    query: str
    page: int
    records: list[PublicRecordHit]
    has_more_records: bool
    inspections: list[PublicInspectionHit]
    has_more_inspections: bool

    @property
    def has_more(self) -> bool:
        return self.has_more_records or self.has_more_inspections


def parse_search(raw_query: str, raw_page: str | None) -> tuple[str, int]:
    """The query and the page, or ``SearchRefused``. Nothing is looked up for a refused query."""
    query = raw_query.strip()[:MAX_QUERY_CHARS]
    if len(query) < MIN_QUERY_CHARS:
        raise SearchRefused("too_short")
    # A resident ID number is never searched, echoed or logged here, typed with spaces or hyphens
    # inside either; an all-digit credit code is the one 18-digit input that is not refused.
    is_id_shaped = (
        redact_id_numbers(query) != query
        or validate_id_number(query).status == CheckStatus.VALID
        or contains_id_number(query)
    )
    if is_id_shaped and validate_uscc(query).status != CheckStatus.VALID:
        raise SearchRefused("id_number")
    page_text = (raw_page or "1").strip()
    if not page_text.isascii() or not page_text.isdigit() or not 1 <= int(page_text) <= MAX_PAGE:
        raise SearchRefused("bad_page")
    return query, int(page_text)


def search_public(session: Session, query: str, *, page: int, actor: Actor, tag: AuditTag) -> PublicSearchResult:
    """One page of fully-open records and published inspection results matching ``query``; audited.

    ``actor`` must be the public: the records come through the public's visibility rule.
    """
    if not actor.is_public:
        raise ValueError("the public search runs as the public")
    code = normalise_uscc(query)
    like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    matches = or_(Entity.uscc == code, Entity.name.like(like, escape="\\"))
    offset = (page - 1) * PAGE_SIZE

    record_rows = session.execute(
        select(
            Entity.uscc,
            Entity.name,
            Agency.name,
            Record.kind,
            Record.risk_level,
            Record.category,
            Record.occurred_on,
        )
        .select_from(Record)
        .join(Entity, Entity.id == Record.entity_id)
        .join(Agency, Agency.id == Record.agency_id)
        .where(record_visible_to(actor), Record.is_current, Record.status == RecordStatus.ACTIVE, matches)
        .order_by(Record.occurred_on.desc(), Record.id.desc())
        .offset(offset)
        .limit(PAGE_SIZE + 1)
    ).all()
    records = [
        PublicRecordHit(uscc, name, agency, str(kind), str(level) if level else None, category, occurred_on)
        for uscc, name, agency, kind, level, category, occurred_on in record_rows[:PAGE_SIZE]
    ]

    # Published draws only, as ``inspections.public`` reads them; the columns are the public page's.
    inspection_rows = session.execute(
        select(
            Draw.id,
            Draw.name,
            Draw.published_at,
            Entity.uscc,
            Entity.name,
            InspectionResult.outcome,
            InspectionResult.inspected_on,
        )
        .select_from(DrawTarget)
        .join(Draw, Draw.id == DrawTarget.draw_id)
        .join(Entity, Entity.id == DrawTarget.entity_id)
        .outerjoin(InspectionResult, InspectionResult.target_id == DrawTarget.id)
        .where(Draw.status == DrawStatus.PUBLISHED, matches)
        .order_by(Draw.published_at.desc(), Draw.id.desc(), DrawTarget.position)
        .offset(offset)
        .limit(PAGE_SIZE + 1)
    ).all()
    inspections = [PublicInspectionHit(*row) for row in inspection_rows[:PAGE_SIZE]]

    found = sorted({hit.uscc for hit in records} | {hit.uscc for hit in inspections})
    record_event(
        session,
        tag,
        actor=actor,
        subjects=[("entity", uscc) for uscc in found],
        data={
            "query": redact_id_numbers(query),
            "page": page,
            "records": len(records),
            "inspections": len(inspections),
        },
    )
    return PublicSearchResult(
        query=query,
        page=page,
        records=records,
        has_more_records=len(record_rows) > PAGE_SIZE,
        inspections=inspections,
        has_more_inspections=len(inspection_rows) > PAGE_SIZE,
    )


def rate_limit_wait(session: Session, actor: Actor, *, now: dt.datetime) -> int | None:
    """Seconds the address must wait before searching again, or None while it is under the limit.

    The first refusal in a window is audited; later ones in the same window are not, so a flood
    cannot flood the log.
    """
    since = now - SEARCH_RATE_WINDOW
    activity = recent_activity(session, SEARCH_TAGS, client_ip=actor.client_ip, since=since)
    if activity.count < SEARCH_RATE_LIMIT or activity.oldest_at is None:
        return None
    limited = [AuditTag.PUBLIC_SEARCH_RATE_LIMITED]
    if recent_activity(session, limited, client_ip=actor.client_ip, since=since).count == 0:
        record_event(
            session,
            AuditTag.PUBLIC_SEARCH_RATE_LIMITED,
            actor=actor,
            data={"searches": activity.count, "window_seconds": int(SEARCH_RATE_WINDOW.total_seconds())},
            at=now,
        )
    # The oldest search in the window leaves it first, and frees a slot.
    return max(1, math.ceil((activity.oldest_at + SEARCH_RATE_WINDOW - now).total_seconds()))


def _run_search(raw_query: str, raw_page: str | None, tag: AuditTag) -> PublicSearchResult | SearchRefused | int:
    """The search, a refusal, or the seconds to wait (rate limited); commits what it audited."""
    try:
        query, page = parse_search(raw_query, raw_page)
    except SearchRefused as refused:
        return refused
    session = db()
    actor = _actor()
    wait = rate_limit_wait(session, actor, now=utcnow())
    if wait is not None:
        session.commit()  # the refusal's audit event, when this is the first in the window
        return wait
    result = search_public(session, query, page=page, actor=actor, tag=tag)
    session.commit()
    return result


def _page(query: str, status: int = 200, **context: Any) -> tuple[str, int]:
    values: dict[str, Any] = {"result": None, "refusal": None, "wait": None, "outcome_labels": OUTCOME_LABELS}
    values["max_page"] = MAX_PAGE
    return render_template("public/search.html", query=query, **(values | context)), status


@bp.get("/search")
def search() -> ResponseReturnValue:
    raw_query = request.args.get("q", "")
    typed = raw_query.strip()[:MAX_QUERY_CHARS]
    if not typed and "page" not in request.args:
        return _page("")
    outcome = _run_search(raw_query, request.args.get("page"), AuditTag.PUBLIC_RECORD_SEARCH)
    if isinstance(outcome, SearchRefused):
        # An ID number is not echoed back into the page either.
        return _page("" if outcome.reason == "id_number" else typed, 400, refusal=REFUSALS[outcome.reason])
    if isinstance(outcome, int):
        html, status = _page(typed, 429, wait=outcome)
        return html, status, {"Retry-After": str(outcome)}
    return _page(outcome.query, result=outcome)


# --- the search as JSON ---------------------------------------------------------------------------


class PublicRecordHitSchema(Schema):
    uscc = fields.String(required=True, metadata={"description": "unified social credit code"})
    entity_name = fields.String(required=True)
    agency = fields.String(required=True, metadata={"description": "the member agency that holds the record"})
    kind = fields.String(required=True, metadata={"enum": ["risk", "penalty"]})
    risk_level = fields.String(
        required=True, allow_none=True, metadata={"description": "low, medium or high; null for a penalty"}
    )
    category = fields.String(required=True)
    occurred_on = fields.Date(required=True)


class PublicInspectionHitSchema(Schema):
    draw_id = fields.Integer(required=True)
    draw_name = fields.String(required=True, metadata={"description": "the inspection plan"})
    published_at = fields.DateTime(required=True, allow_none=True)
    uscc = fields.String(required=True)
    entity_name = fields.String(required=True)
    outcome = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "null: not yet inspected; else " + ", ".join(o.value for o in InspectionOutcome)},
    )
    inspected_on = fields.Date(required=True, allow_none=True)
    url = fields.Function(
        lambda hit: url_for("public.draw", draw_id=hit.draw_id), required=True, metadata={"description": "its page"}
    )


class PublicSearchResultSchema(Schema):
    query = fields.String(required=True)
    page = fields.Integer(required=True)
    page_size = fields.Function(lambda _result: PAGE_SIZE, required=True)
    records = fields.List(fields.Nested(PublicRecordHitSchema), required=True)
    has_more_records = fields.Boolean(required=True)
    inspections = fields.List(fields.Nested(PublicInspectionHitSchema), required=True)
    has_more_inspections = fields.Boolean(required=True)


_RESULT_SCHEMA = PublicSearchResultSchema()


@api_bp.get("/search")
def api_search() -> ResponseReturnValue:
    outcome = _run_search(request.args.get("q", ""), request.args.get("page"), AuditTag.API_PUBLIC_SEARCH)
    if isinstance(outcome, SearchRefused):
        return error_document(400, REFUSALS_EN[outcome.reason], {"reason": outcome.reason}), 400
    if isinstance(outcome, int):
        message = f"too many searches from your address; try again in {outcome} seconds"
        body: dict[str, Any] = error_document(429, message, {"retry_after": outcome})
        return body, 429, {"Retry-After": str(outcome)}
    return _RESULT_SCHEMA.dump(outcome)  # type: ignore[no-any-return]


# --- the published draws --------------------------------------------------------------------------


@bp.get("/draws")
def draws() -> ResponseReturnValue:
    session = db()
    published = public.list_published_draws(session, actor=_actor())
    session.commit()
    return render_template("public/draws.html", draws=published)


@bp.get("/draws/<int:draw_id>")
def draw(draw_id: int) -> ResponseReturnValue:
    session = db()
    found = public.get_published_draw(session, draw_id, actor=_actor())
    session.commit()  # a lookup of an unpublished or missing draw is audited too
    if found is None:
        abort(404)
    summary, targets = found
    return render_template(
        "public/draw.html",
        d=summary,
        targets=targets,
        population_hash=grouped_hash(summary.population_sha256),
        outcome_labels=OUTCOME_LABELS,
    )


@bp.get("/draws/<int:draw_id>/package.json")
def package(draw_id: int) -> ResponseReturnValue:
    session = db()
    document = public.published_package(session, draw_id, actor=_actor())
    session.commit()
    if document is None:
        abort(404)
    return Response(
        json.dumps(document, ensure_ascii=False, indent=1),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="draw-{draw_id}.json"'},
    )


@bp.get("/verify_draw.py")
def verify_script() -> ResponseReturnValue:
    return script_response()
