"""``/healthz``, request ids and structured logs.

Logs are JSON lines on stderr, one object per line. Every value goes through ``json.dumps`` and
then every character that is not printable (control, format, line and paragraph separators) is
written as a ``\\uXXXX`` escape, so nothing a user types (a user name, a path) can end a line or
forge another one (TESTS.md W18), while Chinese text stays readable. Request lines carry the path
without its query string: queries hold search terms. ID-shaped text is masked in every message.

``/healthz`` needs no login and shows no personal data or record content: whether the database
answers, whether the scheduler's lease is live, and the head of the audit chain.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import secrets
import sys
import time
from typing import IO, Any

from flask import Blueprint, Flask, Response, g, has_request_context, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from signalhub_audit.services import chain_head
from signalhub_platform.crypto import redact_id_numbers
from signalhub_platform.models.types import utcnow
from signalhub_platform.scheduler import lease_status
from signalhub_platform.web.context import db

log = logging.getLogger(__name__)
request_log = logging.getLogger("signalhub.request")

bp = Blueprint("health", __name__)

REQUEST_ID_HEADER = "X-Request-Id"
# An incoming id is kept only if it is a short token that cannot carry anything into a log line.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_MAX_PATH = 300
# Load balancers poll this every few seconds; at INFO it would drown the real requests.
_QUIET_ENDPOINTS = frozenset({"health.healthz"})
_HANDLER_MARK = "_signalhub_json_handler"


def init_app(app: Flask) -> None:
    """Registered before the other request hooks, so a request id exists whatever fails after."""
    app.before_request(_start_request)
    app.after_request(_finish_request)
    app.register_blueprint(bp)


# --- logs -------------------------------------------------------------------------------------


def _escape_char(char: str) -> str:
    code = ord(char)
    if code > 0xFFFF:  # JSON spells characters outside the BMP as a surrogate pair
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def dump_log_line(entry: dict[str, Any]) -> str:
    """One JSON object on one line, whatever the values hold."""
    line = json.dumps(entry, ensure_ascii=False, default=str, separators=(",", ":"))
    if line.isprintable():
        return line
    # Outside strings JSON has only printable ASCII, so this touches string contents only.
    return "".join(char if char.isprintable() else _escape_char(char) for char in line)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_id_numbers(record.getMessage()),
        }
        if has_request_context() and "request_id" in g:
            entry["request_id"] = g.request_id
        fields = getattr(record, "http", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = redact_id_numbers(self.formatException(record.exc_info))
        return dump_log_line(entry)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (test runners and daemons swap it)."""

    @property  # type: ignore[override]
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, _value: IO[str]) -> None:
        pass


def configure_logging(level: str = "INFO", stream: IO[str] | None = None) -> logging.Handler:
    """JSON lines on stderr for the whole process (serve, scheduler, a WSGI server's app module).

    Idempotent: a second call replaces the handler the first one installed.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
    handler: logging.Handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.setFormatter(JsonFormatter())
    setattr(handler, _HANDLER_MARK, True)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # The development server logs every request line itself, query string included: ours replaces it.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return handler


def _start_request() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _SAFE_REQUEST_ID.fullmatch(incoming) else secrets.token_hex(16)
    g.request_started = time.perf_counter()


def _finish_request(response: Response) -> Response:
    request_id = g.get("request_id") or secrets.token_hex(16)
    response.headers[REQUEST_ID_HEADER] = request_id
    started = g.get("request_started")
    duration_ms = round((time.perf_counter() - started) * 1000, 1) if started is not None else None
    actor = g.get("actor")
    path = request.path[:_MAX_PATH]
    level = logging.DEBUG if request.endpoint in _QUIET_ENDPOINTS else logging.INFO
    request_log.log(
        level,
        "%s %s %s",
        request.method,
        path,
        response.status_code,
        extra={
            "http": {
                "method": request.method,
                "path": path,
                "status": response.status_code,
                "duration_ms": duration_ms,
                "user": actor.name if actor is not None else "",
            }
        },
    )
    return response


# --- health -----------------------------------------------------------------------------------


def health_report(session: Session, *, now: dt.datetime) -> tuple[dict[str, Any], int]:
    """The body and status of ``/healthz``: 200 while the database answers, 503 otherwise."""
    report: dict[str, Any] = {
        "status": "down",
        "database": "unreachable",
        "scheduler": {"heartbeat_at": None, "fresh": False},
        "audit": {"head_seq": None, "head_hash": None},
    }
    try:
        session.execute(text("SELECT 1"))
        lease = lease_status(session, now=now)
        head_seq, head_hash = chain_head(session)
        session.rollback()
    except SQLAlchemyError as exc:
        # The class only: a driver's message may name hosts and users.
        log.warning("health check: database unreachable (%s)", type(exc).__name__)
        session.rollback()
        return report, 503
    report["database"] = "ok"
    if lease is not None:
        report["scheduler"] = {"heartbeat_at": lease.heartbeat_at.isoformat(), "fresh": lease.is_fresh}
    report["audit"] = {"head_seq": head_seq, "head_hash": head_hash}
    report["status"] = "ok" if report["scheduler"]["fresh"] else "degraded"
    return report, 200


@bp.get("/healthz")
def healthz() -> Response:
    report, status = health_report(db(), now=utcnow())
    response = jsonify(report)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response
