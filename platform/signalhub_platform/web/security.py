"""Who is asking, and the response headers every page carries.

Identity comes from exactly one of: a ``Authorization: Bearer`` API token, or the server-side
web session cookie (see ``sessions``). Nothing else sets ``g.actor``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, abort, g, request
from flask.ctx import _AppCtxGlobals
from sqlalchemy import bindparam, select, update

from signalhub_platform.accounts import sha256_hex
from signalhub_platform.models import Actor, Agency, ApiToken, Role, User, UserRole
from signalhub_platform.models.types import utcnow
from signalhub_platform.web.context import client_ip, close_db, db

F = TypeVar("F", bound=Callable[..., Any])

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


TOKEN_TOUCH_INTERVAL = dt.timedelta(seconds=60)

_TOKENS = ApiToken.__table__
# Every API request: the token with its user, agency and roles as plain rows (one per role), in one
# round trip. Core, built once: loading ORM objects cost more than the rest of a small API read.
_BEARER_QUERY = (
    select(
        _TOKENS.c.id,
        _TOKENS.c.last_used_at,
        User.__table__.c.id.label("user_id"),
        User.__table__.c.username,
        User.__table__.c.agency_id,
        User.__table__.c.is_active,
        Agency.__table__.c.code.label("agency_code"),
        UserRole.__table__.c.role,
    )
    .join(User.__table__, User.__table__.c.id == _TOKENS.c.user_id)
    .outerjoin(Agency.__table__, Agency.__table__.c.id == User.__table__.c.agency_id)
    .outerjoin(UserRole.__table__, UserRole.__table__.c.user_id == User.__table__.c.id)
    .where(_TOKENS.c.token_sha256 == bindparam("token_sha256"), _TOKENS.c.revoked_at.is_(None))
)


class RequestGlobals(_AppCtxGlobals):
    """Flask's ``g``, where a bearer-token request's ``g.user`` (the ORM ``User``) is loaded on first
    use: API reads need only the Actor, while a page opened with a token still finds its user."""

    def __getattr__(self, name: str) -> Any:
        if name == "user" and self.__dict__.get("user_id") is not None:
            self.user = db().get(User, self.__dict__["user_id"])
            return self.user
        return super().__getattr__(name)


def init_app(app: Flask) -> None:
    app.app_ctx_globals_class = RequestGlobals
    app.before_request(_load_actor)
    app.after_request(_security_headers)
    app.teardown_appcontext(close_db)


def _load_actor() -> None:
    g.actor = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        _load_bearer(header.removeprefix("Bearer ").strip())
        return
    g.user = None
    from signalhub_platform.web import sessions

    sessions.load_session_actor()


def _load_bearer(token: str) -> None:
    session = db()
    rows = session.execute(_BEARER_QUERY, {"token_sha256": sha256_hex(token)}).all()
    if not rows or not rows[0].is_active:
        g.user = None
        g.auth_error = "invalid token"
        return
    found = rows[0]
    now = utcnow()
    # Like web sessions: a write per request would turn every API read into two writes.
    if found.last_used_at is None or now - found.last_used_at >= TOKEN_TOUCH_INTERVAL:
        session.execute(update(_TOKENS).where(_TOKENS.c.id == found.id).values(last_used_at=now))
    g.user_id = found.user_id  # g.user is loaded from it on first use (RequestGlobals)
    g.actor = Actor.for_account(
        username=found.username,
        user_id=found.user_id,
        agency_id=found.agency_id,
        agency_code=found.agency_code,
        roles=frozenset(Role(row.role) for row in rows if row.role is not None),
        client_ip=client_ip(),
    )
    g.auth_method = "token"


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if g.get("actor") is not None:
        # Pages for signed-in users hold data under access control: never cache them.
        headers["Cache-Control"] = "no-store"
    return response


def api_auth_required(view: F) -> F:
    """JSON API: a valid bearer token (or a web session) is required; 401 otherwise."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.get("actor") is None:
            abort(401)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def roles_required(*roles: Role) -> Callable[[F], F]:
    """403 unless the actor holds one of ``roles`` (checked after authentication)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            actor = g.get("actor")
            if actor is None:
                abort(401)
            if not actor.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate
