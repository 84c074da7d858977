"""Per-request access to the database session, the platform state and the acting user.

Flask globals stay in this package: services receive the session and the Actor as parameters.
"""

from __future__ import annotations

from flask import current_app, g, request
from sqlalchemy.orm import Session

from signalhub_platform.app import PlatformState
from signalhub_platform.models import Actor


def state() -> PlatformState:
    return current_app.extensions["signalhub"]  # type: ignore[no-any-return]


def db() -> Session:
    """The request's session; the view commits once, teardown closes (rolling back leftovers)."""
    if "db" not in g:
        g.db = state().session_factory()
    return g.db  # type: ignore[no-any-return]


def close_db(_exc: BaseException | None = None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()


def client_ip() -> str:
    # The socket's peer, or with SIGNALHUB_TRUSTED_PROXIES the address our own proxies saw (ProxyFix in create_app).
    return (request.remote_addr or "")[:64]


def current_actor() -> Actor:
    actor = g.get("actor")
    return actor if actor is not None else Actor.public(client_ip())
