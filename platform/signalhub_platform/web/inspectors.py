"""The inspector directory (执法检查人员名录库) of double random inspections, on the draws blueprint.

Every signed-in agency user reads the directory; a coordinator or agency admin adds or updates an
inspector of their own agency and declares conflicts of interest (回避) for them. The form goes
through ``import_inspectors`` with a single row, so it is validated exactly as a file import is; the
conflict goes through ``declare_conflict``. Both services audit; the view commits once and redirects.
"""

from __future__ import annotations

import re
from typing import Any

from flask import abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from werkzeug.datastructures import MultiDict

from signalhub_audit.tags import AuditTag
from signalhub_ingest.inspection_directories import import_inspectors
from signalhub_ingest.reference import ImportRejected
from signalhub_platform.inspections.conflicts import ConflictRefused, declare_conflict
from signalhub_platform.models import (
    Actor,
    Agency,
    InspectionItem,
    Inspector,
    InspectorConflict,
    InspectorQualification,
    Role,
)
from signalhub_platform.web.context import current_actor, db
from signalhub_platform.web.draws import NOT_PERMITTED, bp
from signalhub_platform.web.sessions import login_required

DONE = {
    "saved": _l("The inspector was saved."),
    "conflict": _l("The conflict of interest was declared."),
}
CONFLICT_REFUSALS: tuple[tuple[re.Pattern[str], Any], ...] = (
    (re.compile(r"^no inspector "), _l("No inspector has this certificate number.")),
    (re.compile(r"^no entity "), _l("No entity has this unified social credit code.")),
    (re.compile(r"reason"), _l("Give a reason of at most 500 characters.")),
)


def can_edit_inspectors(actor: Actor) -> bool:
    """A coordinator or agency admin of a member agency; they edit their own agency's inspectors only."""
    return actor.agency_id is not None and bool({Role.COORDINATOR, Role.AGENCY_ADMIN} & actor.roles)


def _directory(session: Session, actor: Actor) -> dict[str, Any]:
    inspectors = list(
        session.scalars(
            select(Inspector)
            .join(Agency, Agency.id == Inspector.agency_id)
            .options(
                selectinload(Inspector.agency),
                selectinload(Inspector.qualifications).selectinload(InspectorQualification.item),
            )
            .order_by(Agency.code, Inspector.certificate_no)
        )
    )
    conflicts = dict(
        session.execute(
            select(InspectorConflict.inspector_id, func.count()).group_by(InspectorConflict.inspector_id)
        ).all()
    )
    items: list[InspectionItem] = []
    if can_edit_inspectors(actor):
        items = list(
            session.scalars(
                select(InspectionItem)
                .where(InspectionItem.agency_id == actor.agency_id, InspectionItem.is_active)
                .order_by(InspectionItem.item_code)
            )
        )
    return {
        "inspectors": [
            {
                "agency": inspector.agency,
                "name": inspector.name,
                "certificate_no": inspector.certificate_no,
                "active": inspector.is_active,
                "items": sorted(q.item.item_code for q in inspector.qualifications),
                "conflicts": conflicts.get(inspector.id, 0),
            }
            for inspector in inspectors
        ],
        "items": items,
        "can_edit": can_edit_inspectors(actor),
    }


def _render(
    *,
    done: str = "",
    error: str = "",
    row_errors: list[str] | None = None,
    form: Any = None,
    status: int = 200,
) -> ResponseReturnValue:
    session = db()
    actor = current_actor()
    page = _directory(session, actor)
    session.commit()
    return render_template(
        "draws/inspectors.html",
        done=str(DONE[done]) if done in DONE else "",
        error=error,
        row_errors=row_errors or [],
        form=form if form is not None else MultiDict({"active": "true"}),
        **page,
    ), status


@bp.get("/inspectors")
@login_required
def inspectors() -> ResponseReturnValue:
    return _render(done=request.args.get("done", ""))


@bp.post("/inspectors")
@login_required
def save_inspector() -> ResponseReturnValue:
    actor = current_actor()
    if not can_edit_inspectors(actor):
        abort(403)
    session = db()
    certificate_no = request.form.get("certificate_no", "").strip()
    existing = session.scalars(select(Inspector).where(Inspector.certificate_no == certificate_no)).first()
    if existing is not None and existing.agency_id != actor.agency_id:
        session.rollback()
        abort(403)  # another agency's inspector: its own agency keeps its directory
    row = {
        "agency_code": actor.agency_code,
        "name": request.form.get("name", ""),
        "certificate_no": certificate_no,
        "items": ";".join(request.form.getlist("items")),
        "active": "true" if request.form.get("active") else "false",
    }
    try:
        import_inspectors(session, [(1, row)], actor=actor, tag=AuditTag.WEB_INSPECTORS_SAVE)
    except ImportRejected as error:
        session.rollback()
        problems = [f"{e.column}: {e.message}" for e in error.errors]
        return _render(row_errors=problems, form=request.form, status=400)
    session.commit()
    return redirect(url_for("draws.inspectors", done="saved"))


@bp.post("/inspectors/conflicts")
@login_required
def declare_inspector_conflict() -> ResponseReturnValue:
    actor = current_actor()
    if not (actor.is_system or can_edit_inspectors(actor)):
        abort(403)
    session = db()
    form = request.form
    try:
        declare_conflict(
            session, form.get("certificate_no", ""), form.get("uscc", ""), form.get("reason", ""), actor=actor
        )
    except ConflictRefused as error:
        session.rollback()
        text = str(error)
        if text.startswith("only "):
            abort(403)
        message = next((str(m) for pattern, m in CONFLICT_REFUSALS if pattern.search(text)), str(NOT_PERMITTED))
        return _render(error=message, status=409)
    session.commit()
    return redirect(url_for("draws.inspectors", done="conflict"))
