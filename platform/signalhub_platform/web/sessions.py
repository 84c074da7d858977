"""Server-side web sessions, CSRF protection and the gates in front of every page.

The cookie carries 256 random bits and nothing else; the database keeps only their SHA-256, so a
database reader cannot take over a session, and logout or disabling a user ends it at once. A
session ends after ``session_idle_minutes`` without a request and ``session_max_hours`` after
login, whatever the activity.

Every state-changing request authenticated by the cookie must carry the session's CSRF token
(form field ``csrf_token`` or header ``X-CSRF-Token``); any unsafe request whose ``Origin`` names
another site is refused as well. Bearer-token API requests carry no cookie and need neither.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, g, redirect, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_config import Settings
from signalhub_platform.accounts import is_pledge_current, sha256_hex
from signalhub_platform.models import Actor, User, WebSession
from signalhub_platform.models.types import utcnow
from signalhub_platform.web.context import client_ip, current_actor, db, state

F = TypeVar("F", bound=Callable[..., Any])

SECURE_COOKIE_NAME = "__Host-signalhub"  # __Host-: Secure, Path=/, no Domain, enforced by browsers
PLAIN_COOKIE_NAME = "signalhub_session"  # the plain-http embedded demo only
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Writing last_seen_at on every request would turn every page view into a write; once a minute
# is precise enough for a 30-minute idle timeout.
TOUCH_INTERVAL = dt.timedelta(seconds=60)
# Endpoints a signed-in user reaches before changing a one-time password / accepting the pledge.
_GATE_EXEMPT = frozenset({"static", "auth.logout", "auth.locale", "auth.login"})
_PASSWORD_GATE_EXEMPT = _GATE_EXEMPT | {"auth.password"}
_PLEDGE_GATE_EXEMPT = _GATE_EXEMPT | {"auth.pledge"}


def init_app(app: Flask) -> None:
    """Register the gates, the cookie cleanup and the ``csrf_token()`` template global."""
    app.before_request(_gates)
    app.after_request(_forget_dead_cookie)
    app.add_template_global(csrf_token)
    app.add_template_global(has_endpoint)


def cookie_name(settings: Settings) -> str:
    return SECURE_COOKIE_NAME if settings.secure_cookies else PLAIN_COOKIE_NAME


# --- session rows (service functions: flush, never commit) ---------------------------------


def start_session(session: Session, user: User, *, client_ip: str, now: dt.datetime) -> tuple[WebSession, str]:
    """A new session row and the cookie value (returned once, stored only as its hash)."""
    token = secrets.token_urlsafe(32)
    web_session = WebSession(
        token_sha256=sha256_hex(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        client_ip=client_ip,
    )
    session.add(web_session)
    session.flush()
    return web_session, token


def find_session(session: Session, token: str, *, now: dt.datetime, settings: Settings) -> WebSession | None:
    """The live session for a cookie value, or None (ended, idle, too old, user disabled).

    A session found expired is ended here, so that it can never come back to life. Changes are
    left unflushed: the caller sees them in ``session.dirty`` and commits them on their own.
    """
    if not token or len(token) > 128:
        return None
    web_session = session.scalars(
        select(WebSession).where(WebSession.token_sha256 == sha256_hex(token), WebSession.ended_at.is_(None))
    ).first()
    if web_session is None:
        return None
    is_idle = now - web_session.last_seen_at > dt.timedelta(minutes=settings.session_idle_minutes)
    is_too_old = now - web_session.created_at > dt.timedelta(hours=settings.session_max_hours)
    if is_idle or is_too_old or not web_session.user.is_active:
        web_session.ended_at = now
        return None
    if now - web_session.last_seen_at >= TOUCH_INTERVAL:
        web_session.last_seen_at = now
    return web_session


def end_session(session: Session, web_session: WebSession, *, actor: Actor, now: dt.datetime) -> None:
    web_session.ended_at = now
    session.flush()
    record_event(session, AuditTag.WEB_AUTH_LOGOUT, actor=actor, subjects=[("user", web_session.user_id)])


# --- per request -----------------------------------------------------------------------------


def load_session_actor() -> None:
    """Called by ``security._load_actor`` when there is no bearer token; sets g.actor from the cookie."""
    g.web_session = None
    settings = state().settings
    token = request.cookies.get(cookie_name(settings), "")
    if token:
        session = db()
        web_session = find_session(session, token, now=utcnow(), settings=settings)
        if session.dirty:
            # Session bookkeeping (touch or expiry) is its own unit of work: GET views never commit.
            session.commit()
        if web_session is None:
            g.dead_session_cookie = True
        else:
            g.web_session = web_session
            g.user = web_session.user
            g.actor = Actor.for_user(web_session.user, client_ip())
            g.auth_method = "session"
    if request.method not in SAFE_METHODS:
        _check_csrf()


def _check_csrf() -> None:
    """403, an audit event and no change unless the request comes from one of our own pages."""
    origin = request.headers.get("Origin")
    reason = ""
    if origin is not None and not _is_same_origin(origin):
        reason = "foreign_origin"
    elif g.web_session is not None:
        sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
        if not sent or not hmac.compare_digest(sent.encode(), g.web_session.csrf_token.encode()):
            reason = "missing_token" if not sent else "bad_token"
    if not reason:
        return
    session = db()
    session.rollback()
    record_event(
        session,
        AuditTag.WEB_AUTH_CSRF_REJECTED,
        actor=current_actor(),
        data={"reason": reason, "method": request.method, "path": request.path[:200], "origin": (origin or "")[:200]},
    )
    session.commit()
    abort(403)


def _is_same_origin(origin: str) -> bool:
    parts = urlsplit(origin)
    return parts.scheme == request.scheme and parts.netloc.lower() == request.host.lower()


def _gates() -> Response | None:
    """A one-time password must be changed, then the current pledge accepted, before anything else."""
    user: User | None = g.get("user")
    if user is None or g.get("auth_method") != "session":
        return None
    endpoint = request.endpoint or ""
    if user.must_change_password and endpoint not in _PASSWORD_GATE_EXEMPT:
        return _gate_redirect("auth.password")
    if not user.must_change_password and not is_pledge_current(user) and endpoint not in _PLEDGE_GATE_EXEMPT:
        return _gate_redirect("auth.pledge")
    return None


def _gate_redirect(endpoint: str) -> Response:
    if request.path.startswith("/api/"):
        abort(403)
    target = request.full_path if request.method == "GET" else None
    return redirect(url_for(endpoint, next=safe_next(target)))


def _forget_dead_cookie(response: Response) -> Response:
    if g.get("dead_session_cookie") and not g.get("session_cookie_set"):
        clear_session_cookie(response)
    return response


def set_session_cookie(response: Response, token: str) -> None:
    """No Max-Age: the cookie dies with the browser; the server enforces idle and absolute limits."""
    settings = state().settings
    response.set_cookie(
        cookie_name(settings),
        token,
        secure=settings.secure_cookies,
        httponly=True,
        samesite="Lax",
        path="/",
    )
    g.session_cookie_set = True


def clear_session_cookie(response: Response) -> None:
    settings = state().settings
    response.delete_cookie(
        cookie_name(settings), path="/", secure=settings.secure_cookies, httponly=True, samesite="Lax"
    )


def csrf_token() -> str:
    """The current session's CSRF token, for hidden form fields (empty when not signed in)."""
    web_session: WebSession | None = g.get("web_session")
    return web_session.csrf_token if web_session is not None else ""


def has_endpoint(endpoint: str) -> bool:
    """For navigation links to pages other blueprints may or may not provide yet."""
    return endpoint in current_app.view_functions


def current_web_session() -> WebSession | None:
    return g.get("web_session")  # type: ignore[no-any-return]


def safe_next(target: str | None) -> str | None:
    """A local path to return to after login, never another site (no open redirect)."""
    if not target:
        return None
    target = target.rstrip("?")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def login_required(view: F) -> F:
    """HTML pages: without a live session, redirect to the login page and come back afterwards."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.get("actor") is None:
            if request.path.startswith("/api/"):
                abort(401)
            target = request.full_path if request.method == "GET" else None
            return redirect(url_for("auth.login", next=safe_next(target)))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]
