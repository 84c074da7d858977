"""``/healthz`` (no login, no personal data) and the structured request log (W18)."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub_audit.hashing import GENESIS
from signalhub_config import Settings
from signalhub_platform.app import create_app
from signalhub_platform.db import make_engine, make_session_factory
from signalhub_platform.models import AuditEvent, Role
from signalhub_platform.models.types import utcnow
from signalhub_platform.scheduler import acquire_lease
from signalhub_platform.web.observability import JsonFormatter, configure_logging, dump_log_line
from tests.factories import make_agency, make_token, make_user
from tests.integration.audit.conftest import record_reads

HEALTH_KEYS = {"status", "database", "scheduler", "audit"}
# A fake line that fits the 64 characters of a user name.
FORGED = '{"level":"INFO","path":"/admin","user":"office"}'


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = configure_logging("DEBUG", stream=stream)
    root = logging.getLogger()
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(logging.WARNING)


def log_lines(stream: io.StringIO, logger: str = "signalhub.request") -> list[dict[str, object]]:
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [entry for entry in entries if entry["logger"] == logger]


# --- /healthz ---------------------------------------------------------------------------------


def test_healthz_needs_no_login_and_says_degraded_without_a_scheduler(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    body = response.get_json()
    assert body == {
        "status": "degraded",
        "database": "ok",
        "scheduler": {"heartbeat_at": None, "fresh": False},
        "audit": {"head_seq": 0, "head_hash": GENESIS},
    }


def test_healthz_ok_with_a_live_scheduler_and_the_audit_head(client: FlaskClient, db_session: Session) -> None:
    now = utcnow()
    acquire_lease(db_session, holder="host-a:42:abc", now=now, ttl=dt.timedelta(seconds=60))
    record_reads(db_session, 3)
    db_session.commit()
    head = db_session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc())).first()
    assert head is not None

    response = client.get("/healthz")
    body = response.get_json()
    assert response.status_code == 200 and set(body) == HEALTH_KEYS
    assert body["status"] == "ok"
    assert body["scheduler"] == {"heartbeat_at": now.isoformat(), "fresh": True}
    assert body["audit"] == {"head_seq": head.seq, "head_hash": head.hash}
    # Nothing personal or revealing: no holder host name, no actor, no payload.
    assert "host-a" not in response.text and "alice" not in response.text


def test_healthz_degraded_when_the_heartbeat_is_stale(client: FlaskClient, db_session: Session) -> None:
    long_ago = utcnow() - dt.timedelta(minutes=5)
    acquire_lease(db_session, holder="host-a:42:abc", now=long_ago, ttl=dt.timedelta(seconds=60))
    db_session.commit()
    body = client.get("/healthz").get_json()
    assert body["status"] == "degraded"
    assert body["scheduler"] == {"heartbeat_at": long_ago.isoformat(), "fresh": False}


def test_healthz_down_with_503_when_the_database_is_unreachable(settings: Settings) -> None:
    unreachable = make_engine("sqlite:////nonexistent-signalhub-dir/none.sqlite3")
    app = create_app(settings, session_factory=make_session_factory(unreachable), test_config={"TESTING": True})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {
        "status": "down",
        "database": "unreachable",
        "scheduler": {"heartbeat_at": None, "fresh": False},
        "audit": {"head_seq": None, "head_hash": None},
    }


# --- request ids ------------------------------------------------------------------------------


def test_a_request_id_is_generated_or_a_safe_incoming_one_kept(client: FlaskClient) -> None:
    generated = client.get("/login").headers["X-Request-Id"]
    assert len(generated) == 32 and int(generated, 16) >= 0
    assert client.get("/login").headers["X-Request-Id"] != generated

    kept = client.get("/login", headers={"X-Request-Id": "lb-7f3a.9_X"})
    assert kept.headers["X-Request-Id"] == "lb-7f3a.9_X"
    for unsafe in ("a" * 65, "<script>", "id with spaces", "-leading-dash", "ü-umlaut"):
        replaced = client.get("/login", headers={"X-Request-Id": unsafe}).headers["X-Request-Id"]
        assert replaced != unsafe and len(replaced) == 32


# --- request logs -----------------------------------------------------------------------------


def test_each_request_logs_one_json_line_without_the_query_string(client: FlaskClient, log_output: io.StringIO) -> None:
    response = client.get("/login?next=/entities%3Fq%3Dsecret-search-term", headers={"X-Request-Id": "req-1234"})

    (entry,) = log_lines(log_output)
    assert entry["request_id"] == response.headers["X-Request-Id"] == "req-1234"
    assert (entry["method"], entry["path"], entry["status"], entry["user"]) == ("GET", "/login", 200, "")
    assert isinstance(entry["duration_ms"], float) and entry["duration_ms"] >= 0
    assert entry["level"] == "INFO" and entry["message"] == "GET /login 200"
    assert "secret-search-term" not in log_output.getvalue()


def test_the_signed_in_user_is_logged(app: Flask, db_session: Session, log_output: io.StringIO) -> None:
    user = make_user(db_session, make_agency(db_session), Role.SUPERVISOR, username="zhang.wei")
    token = make_token(db_session, user)
    db_session.commit()
    app.test_client().get("/api/v1/no-such-endpoint", headers={"Authorization": f"Bearer {token}"})
    (entry,) = log_lines(log_output)
    assert (entry["user"], entry["status"], entry["path"]) == ("zhang.wei", 404, "/api/v1/no-such-endpoint")


@pytest.mark.parametrize(
    "username",
    [
        f"mallory\n{FORGED}",  # W18: a newline and a fake log line
        f"mallory\r\n{FORGED}",
        f"mallory\u2028{FORGED}",  # line separators some viewers break lines on
        f"mallory\x85{FORGED}",
        "mallory\x1b[2K\x1b[1G",  # a terminal escape that would erase the line on screen
        "mallory\u202egnp.exe",  # a right-to-left override that would disguise the text
    ],
)
def test_w18_a_user_name_cannot_forge_or_hide_a_log_line(
    app: Flask, db_session: Session, log_output: io.StringIO, username: str
) -> None:
    user = make_user(db_session, make_agency(db_session), Role.SUPERVISOR, username=username)
    token = make_token(db_session, user)
    db_session.commit()
    app.test_client().get("/api/v1/no-such-endpoint", headers={"Authorization": f"Bearer {token}"})

    text = log_output.getvalue()
    assert text.count("\n") == len(text.splitlines()) == len(log_lines(log_output))  # no line but our own
    assert text.isprintable() or set(text) - set(filter(str.isprintable, text)) == {"\n"}
    (entry,) = log_lines(log_output)
    assert entry["user"] == username  # escaped, not lost: JSON gives the exact name back


def test_log_lines_keep_chinese_readable_and_escape_only_the_unprintable() -> None:
    line = dump_log_line({"user": "张伟\n", "note": "😀\u2029"})
    assert line == '{"user":"张伟\\n","note":"😀\\u2029"}'
    assert json.loads(dump_log_line({"x": "\U000e0001"})) == {"x": "\U000e0001"}  # a format char outside the BMP


def test_every_log_record_in_a_request_carries_its_id_and_no_id_numbers(app: Flask) -> None:
    formatter = JsonFormatter()
    with app.test_request_context("/"):
        app.preprocess_request()
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "lookup of %s failed", ("11010519491231002X",), None
        )
        entry = json.loads(formatter.format(record))
    assert len(entry["request_id"]) == 32
    assert entry["message"] == "lookup of 110105********002X failed"


def test_health_checks_log_at_debug_only(client: FlaskClient, log_output: io.StringIO) -> None:
    logging.getLogger().setLevel(logging.INFO)
    client.get("/healthz")
    assert log_lines(log_output) == []
