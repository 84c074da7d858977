"""User administration: an agency admin's own users (the platform office's admins see everyone);
the platform office's view of the periodic job runs."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l

from signalhub_platform import accounts, scheduler
from signalhub_platform.models import Role, User
from signalhub_platform.models.types import utcnow
from signalhub_platform.web.context import current_actor, db
from signalhub_platform.web.security import roles_required
from signalhub_platform.web.sessions import login_required

bp = Blueprint("admin", __name__, url_prefix="/admin")

ADMIN_ROLES = (Role.AGENCY_ADMIN, Role.PLATFORM_ADMIN)
# The periodic jobs of ``scheduler.periodic_jobs`` by name; an unknown name shows as itself.
JOB_LABELS = {
    "audit_checkpoint": _l("Audit checkpoint"),
    "recover_batches": _l("Recover interrupted batch commits"),
    "evaluate_warnings": _l("Daily warning evaluation"),
}


@bp.get("/users")
@login_required
@roles_required(*ADMIN_ROLES)
def users() -> ResponseReturnValue:
    actor = current_actor()
    rows = accounts.list_manageable_users(db(), actor)
    db().commit()
    return render_template(
        "admin/users.html",
        users=rows,
        can_disable={user.id: user.is_active and accounts.can_disable_user(actor, user) for user in rows},
        done=request.args.get("done") == "disabled",
    )


@bp.post("/users/<int:user_id>/disable")
@login_required
@roles_required(*ADMIN_ROLES)
def disable_user(user_id: int) -> ResponseReturnValue:
    actor = current_actor()
    user = db().get(User, user_id)
    if user is None or not accounts.can_disable_user(actor, user):
        abort(404)  # someone else's user looks exactly like a missing one
    accounts.disable_user(db(), user, actor=actor, now=utcnow())
    db().commit()
    return redirect(url_for("admin.users", done="disabled"))


@bp.get("/jobs")
@login_required
@roles_required(Role.PLATFORM_ADMIN)
def job_runs() -> ResponseReturnValue:
    """The platform office's view of the periodic jobs: recent runs and the active scheduler."""
    runs, lease = scheduler.list_job_runs(db(), current_actor(), now=utcnow())
    db().commit()
    return render_template("admin/job_runs.html", runs=runs, lease=lease, job_labels=JOB_LABELS)
