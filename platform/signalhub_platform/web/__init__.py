"""Blueprints, request context and security for the web UI and the JSON API."""

from __future__ import annotations

from flask import Flask


def register_web(app: Flask) -> None:
    from signalhub_platform.web import (
        admin,
        api,
        api_warnings,
        audit_viewer,
        auth,
        batches,
        draws,
        errors,
        inspectors,  # noqa: F401 (adds its routes to draws.bp, so imported before that is registered)
        labels,
        main,
        messages,
        observability,
        openapi,
        public,
        reporting,
        reports,
        security,
        statistics,
        warnings_queue,
    )

    observability.init_app(app)  # first: every request gets its id and its log line
    security.init_app(app)
    errors.init_app(app)
    labels.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(main.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(reporting.bp)
    app.register_blueprint(batches.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(warnings_queue.bp)
    app.register_blueprint(api_warnings.bp)
    app.register_blueprint(messages.bp)
    app.register_blueprint(messages.api_bp)
    app.register_blueprint(draws.bp)
    app.register_blueprint(public.bp)
    app.register_blueprint(public.api_bp)
    app.register_blueprint(audit_viewer.bp)
    app.register_blueprint(statistics.bp)
    app.register_blueprint(statistics.api_bp)
