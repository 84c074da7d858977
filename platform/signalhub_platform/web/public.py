"""The public site of the draws (一公开), with no login: published draws, their targets and results,
and what anyone needs to re-derive a draw (the package and verify_draw.py).

Everything here reads through ``inspections.public``, which knows only published draws and
returns no stratum, inspector, note or attachment; a draw that is not published is a 404, exactly
like a missing one. The actor is always the anonymous public, whoever is signed in, and every read
is audited as ``public:draw:read`` with the client's address.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, render_template
from flask.typing import ResponseReturnValue

from signalhub_platform.inspections import public
from signalhub_platform.models import Actor
from signalhub_platform.web.context import client_ip, db
from signalhub_platform.web.draws import OUTCOME_LABELS, grouped_hash, script_response

bp = Blueprint("public", __name__, url_prefix="/public")


def _actor() -> Actor:
    return Actor.public(client_ip())


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
