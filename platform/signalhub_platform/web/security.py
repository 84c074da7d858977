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
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from signalhub_platform.accounts import sha256_hex
from signalhub_platform.models import Actor, ApiToken, Role, User
from signalhub_platform.models.types import utcnow
from signalhub_platform.web.context import client_ip, close_db, db

F = TypeVar("F", bound=Callable[..., Any])

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


TOKEN_TOUCH_INTERVAL = dt.timedelta(seconds=60)


def init_app(app: Flask) -> None:
    app.before_request(_load_actor)
    app.after_request(_security_headers)
    app.teardown_appcontext(close_db)


def _load_actor() -> None:
    g.actor = None
    g.user = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        _load_bearer(header.removeprefix("Bearer ").strip())
        return
    from signalhub_platform.web import sessions

    sessions.load_session_actor()


def _load_bearer(token: str) -> None:
    session = db()
    # One round trip: the user's roles (selectin by default, a second query) come joined with the
    # token, user and agency, since every API request turns them into an Actor. The hash is unique.
    row = (
        session.scalars(
            select(ApiToken)
            .where(ApiToken.token_sha256 == sha256_hex(token), ApiToken.revoked_at.is_(None))
            .options(joinedload(ApiToken.user).joinedload(User.role_rows))
        )
        .unique()
        .one_or_none()
    )
    if row is None or not row.user.is_active:
        g.auth_error = "invalid token"
        return
    now = utcnow()
    # Like web sessions: a write per request would turn every API read into two writes.
    if row.last_used_at is None or now - row.last_used_at >= TOKEN_TOUCH_INTERVAL:
        row.last_used_at = now
    g.user = row.user
    g.actor = Actor.for_user(row.user, client_ip())
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
