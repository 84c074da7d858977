"""Login, logout, the confidentiality pledge (安全保密承诺书), password change and the language switch.

Registering this blueprint also installs the session machinery (gates, cookie cleanup,
``csrf_token()``), so that ``register_web`` stays the one list of what the web layer contains.
"""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue

from signalhub_platform import accounts
from signalhub_platform.models.types import utcnow
from signalhub_platform.web import sessions
from signalhub_platform.web.context import client_ip, current_actor, db, state
from signalhub_platform.web.sessions import login_required, safe_next

bp = Blueprint("auth", __name__)

LANG_COOKIE = "lang"  # read by app._select_locale
# The same pair as app.SUPPORTED_LOCALES, repeated because the layers contract keeps web from importing app.
SUPPORTED_LOCALES = ("zh", "en")
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600


@bp.record_once
def _install_sessions(setup: BlueprintSetupState) -> None:
    sessions.init_app(setup.app)


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("auth/login.html", next_url=next_url, error=None)
    session = db()
    now = utcnow()
    try:
        user = accounts.authenticate(
            session,
            request.form.get("username", ""),
            request.form.get("password", ""),
            client_ip=client_ip(),
            now=now,
            settings=state().settings,
        )
    except accounts.LoginRateLimitedError:
        session.commit()  # the attempt counts towards the limit
        return render_template("auth/login.html", next_url=next_url, error="rate_limited"), 429
    except accounts.AuthenticationError:
        session.commit()  # failure counters, lock and audit event
        return render_template("auth/login.html", next_url=next_url, error="invalid"), 401
    previous = sessions.current_web_session()
    if previous is not None:
        previous.ended_at = now  # a login never continues an earlier session (fixation)
    _, token = sessions.start_session(session, user, client_ip=client_ip(), now=now)
    session.commit()
    response = redirect(next_url or url_for("main.index"))
    sessions.set_session_cookie(response, token)
    return response


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    web_session = sessions.current_web_session()
    if web_session is not None:
        sessions.end_session(db(), web_session, actor=current_actor(), now=utcnow())
        db().commit()
    response = redirect(url_for("auth.login"))
    sessions.clear_session_cookie(response)
    return response


@bp.route("/pledge", methods=["GET", "POST"])
@login_required
def pledge() -> ResponseReturnValue:
    next_url = safe_next(request.values.get("next"))
    if request.method == "POST":
        if request.form.get("accept") != "yes":
            return _render_pledge(next_url, error=True), 400
        accounts.accept_pledge(db(), g.user, actor=current_actor(), now=utcnow())
        db().commit()
        return redirect(next_url or url_for("main.index"))
    return _render_pledge(next_url, error=False)


def _render_pledge(next_url: str | None, *, error: bool) -> str:
    return render_template(
        "auth/pledge.html",
        next_url=next_url,
        error=error,
        version=accounts.PLEDGE_VERSION,
        is_accepted=accounts.is_pledge_current(g.user),
    )


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password() -> ResponseReturnValue:
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        return _render_password(next_url, error=None)
    new_password = request.form.get("new_password", "")
    if new_password != request.form.get("confirm_password", ""):
        return _render_password(next_url, error="mismatch"), 400
    web_session = sessions.current_web_session()
    try:
        accounts.change_password(
            db(),
            g.user,
            request.form.get("current_password", ""),
            new_password,
            actor=current_actor(),
            now=utcnow(),
            keep_session_id=web_session.id if web_session else None,
        )
    except accounts.PasswordChangeError as exc:
        return _render_password(next_url, error=exc.reason), 400
    db().commit()
    return redirect(next_url or url_for("main.index"))


def _render_password(next_url: str | None, *, error: str | None) -> str:
    return render_template(
        "auth/password.html",
        next_url=next_url,
        error=error,
        min_length=accounts.MIN_PASSWORD_LENGTH,
        is_required=g.user.must_change_password,
    )


@bp.post("/locale")
def locale() -> ResponseReturnValue:
    """Switch the UI language (a cookie, so it also works before login)."""
    lang = request.form.get("lang", "")
    if lang not in SUPPORTED_LOCALES:
        lang = state().settings.default_locale
    # The cookie alone decides (app._select_locale); nothing reads a copy in the session row.
    response = redirect(safe_next(request.form.get("next")) or url_for("main.index"))
    response.set_cookie(
        LANG_COOKIE,
        lang,
        max_age=LANG_COOKIE_MAX_AGE,
        secure=state().settings.secure_cookies,
        httponly=True,
        samesite="Lax",
        path="/",
    )
    return response
