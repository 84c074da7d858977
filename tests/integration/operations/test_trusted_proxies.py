"""Client addresses behind a reverse proxy: X-Forwarded-For is believed only for the hops our own
proxies appended (``SIGNALHUB_TRUSTED_PROXIES``), so the audit log names the real client and a
client cannot choose the address it is logged under."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from signalhub_audit.tags import AuditTag
from signalhub_config import Settings
from signalhub_platform.app import create_app
from signalhub_platform.models import AuditEvent

BASE = "https://localhost"


def app_with(settings: Settings, factory: sessionmaker[Session], proxies: int) -> Flask:
    return create_app(settings.replace(trusted_proxies=proxies), session_factory=factory, test_config={"TESTING": True})


def logged_ip(session: Session) -> str:
    session.expire_all()
    query = select(AuditEvent.client_ip).where(AuditEvent.tag == AuditTag.PUBLIC_DRAW_READ)
    return session.scalars(query.order_by(AuditEvent.seq.desc())).first() or ""


def public_read(app: Flask, forwarded_for: str | None) -> None:
    headers = {"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": "https"} if forwarded_for else {}
    response = app.test_client().get(f"{BASE}/public/draws", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert response.status_code == 200


def test_without_trusted_proxies_the_header_is_ignored(
    settings: Settings, session_factory: sessionmaker[Session], db_session: Session
) -> None:
    public_read(app_with(settings, session_factory, 0), "203.0.113.9")
    assert logged_ip(db_session) == "10.0.0.5"  # the socket's peer (here: the proxy)


def test_one_trusted_proxy_gives_the_address_it_saw(
    settings: Settings, session_factory: sessionmaker[Session], db_session: Session
) -> None:
    app = app_with(settings, session_factory, 1)
    public_read(app, "203.0.113.9")
    assert logged_ip(db_session) == "203.0.113.9"
    # A client that sends its own header cannot hide behind it: nginx appends the real address last.
    public_read(app, "198.51.100.1, 203.0.113.77")
    assert logged_ip(db_session) == "203.0.113.77"
    # No header (a request that bypassed the proxy): the peer's address.
    public_read(app, None)
    assert logged_ip(db_session) == "10.0.0.5"


def test_a_negative_count_is_refused(settings: Settings, session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(ValueError, match="SIGNALHUB_TRUSTED_PROXIES"):
        app_with(settings, session_factory, -1)
