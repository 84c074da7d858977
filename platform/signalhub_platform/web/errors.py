"""Error pages: JSON under /api/, HTML elsewhere, never any data in the body."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _http_error(exc: HTTPException) -> tuple[object, int]:
    code = exc.code or 500
    if _wants_json():
        return {"error": {"code": code, "message": exc.name}}, code
    return render_template("errors/error.html", code=code, name=exc.name), code


def _unexpected_error(exc: Exception) -> tuple[object, int]:
    # Logged with its traceback; the client gets a generic 500 and no data (e.g. a read whose
    # audit event could not be written).
    log.exception("unhandled error on %s %r", request.method, request.path)
    return _http_error(InternalServerError())
