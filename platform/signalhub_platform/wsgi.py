"""The production web server: gunicorn with several worker processes, each built by ``create_app``.

``signalhub serve --production`` runs it; the same factory serves a gunicorn started by hand::

    gunicorn --workers 5 --worker-class gthread --threads 4 'signalhub_platform.wsgi:create_wsgi_app()'

Each worker builds its own app after the fork (no ``preload_app``): a database connection pool
must never be shared between processes. No worker runs the scheduler or the work queue: those
are ``signalhub scheduler`` and ``signalhub worker``, one process each beside the web server.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger

from signalhub_config import Settings

# Longer than a large upload takes to stream in; a gthread worker keeps answering the arbiter
# while one of its threads is busy, so this only catches a worker that hangs as a whole.
WORKER_TIMEOUT_SECONDS = 120
# SIGTERM lets requests in flight finish for this long before the workers are killed.
GRACEFUL_TIMEOUT_SECONDS = 30


def default_workers() -> int:
    """Gunicorn's advice: two workers per core plus one."""
    return 2 * (os.cpu_count() or 1) + 1


def create_wsgi_app(settings: Settings | None = None) -> Flask:
    """The application of one production worker, with its own engine and the JSON log handler."""
    from signalhub_platform.app import create_app
    from signalhub_platform.web.observability import configure_logging

    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    return create_app(settings)


def gunicorn_options(settings: Settings, *, host: str, port: int, workers: int | None) -> dict[str, Any]:
    """The gunicorn configuration of ``serve --production``; raises ValueError on nonsense."""
    count = workers or settings.web_workers or default_workers()
    if count < 1:
        raise ValueError("the number of workers must be at least 1")
    if settings.web_threads < 1:
        raise ValueError("SIGNALHUB_WEB_THREADS must be at least 1")
    return {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": count,
        "worker_class": "gthread",
        "threads": settings.web_threads,
        "timeout": WORKER_TIMEOUT_SECONDS,
        "graceful_timeout": GRACEFUL_TIMEOUT_SECONDS,
        # Uploads and JSON documents go through Flask's own limit (max_content_length).
        "limit_request_line": 8190,
        # The access log would write query strings (search terms); our JSON request log does not.
        "accesslog": None,
        "errorlog": "-",
        "logger_class": f"{__name__}.JsonLinesLogger",
        "loglevel": settings.log_level.lower(),
        # X-Forwarded-* are believed in one place only: ProxyFix, as SIGNALHUB_TRUSTED_PROXIES says.
        "forwarded_allow_ips": "",
        "proc_name": "signalhub",
        # gunicorn >= 25 opens a control socket in $HOME by default; two servers on one host would share it.
        "control_socket_disable": True,
    }


class JsonLinesLogger(GunicornLogger):  # type: ignore[misc]
    """gunicorn's own lines (workers booting, exiting, timing out) as JSON lines like ours.

    Its handler is dropped and ``gunicorn.error`` propagates to the root logger, where
    ``configure_logging`` installed the JSON handler; the access log stays off.
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in list(self.error_log.handlers):
            self.error_log.removeHandler(handler)
        self.error_log.propagate = True


class ProductionServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    """gunicorn's arbiter in this process; ``load`` runs in each forked worker."""

    def __init__(self, settings: Settings, options: Mapping[str, Any]) -> None:
        self.settings = settings
        self.options = dict(options)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            # Settings newer than the installed gunicorn (setup.cfg allows >= 23) are left out.
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return create_wsgi_app(self.settings)
