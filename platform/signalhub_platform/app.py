"""``create_app``: one Flask application for the embedded demo and for production workers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, request
from flask_babel import Babel
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.middleware.proxy_fix import ProxyFix

from signalhub_config import KeyMaterial, Settings
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.db import make_engine, make_session_factory

SUPPORTED_LOCALES = ("zh", "en")


@dataclass(frozen=True)
class PlatformState:
    """What every request needs, built once per process."""

    settings: Settings
    keys: KeyMaterial
    cipher: PersonalDataCipher
    session_factory: sessionmaker[Session]


def create_app(
    settings: Settings | None = None,
    *,
    session_factory: sessionmaker[Session] | None = None,
    test_config: dict[str, Any] | None = None,
) -> Flask:
    """Build the app; refuses to start (MissingKeysError) when any key is missing."""
    settings = settings or Settings.from_env()
    keys = settings.load_keys()
    if session_factory is None:
        session_factory = make_session_factory(make_engine(settings.resolved_database_url))

    app = Flask(__name__, instance_path=str(settings.instance_dir), instance_relative_config=False)
    app.config.update(
        SECRET_KEY=keys.secret_key,
        MAX_CONTENT_LENGTH=settings.max_content_length,
        BABEL_DEFAULT_LOCALE=settings.default_locale,
        BABEL_DEFAULT_TIMEZONE="Asia/Shanghai",
        JSON_AS_ASCII=False,
        TEMPLATES_AUTO_RELOAD=False,
    )
    if test_config:
        app.config.update(test_config)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    if settings.trusted_proxies < 0:
        raise ValueError("SIGNALHUB_TRUSTED_PROXIES must be 0 or more")
    if settings.trusted_proxies:
        # Only the hops our own proxies appended are believed: a client can put anything in
        # X-Forwarded-For, but it cannot remove what nginx appends after it.
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.extensions["signalhub"] = PlatformState(settings, keys, PersonalDataCipher(keys), session_factory)

    Babel(app, locale_selector=_select_locale)

    from signalhub_platform.web import register_web

    register_web(app)
    return app


def _select_locale() -> str:
    """The user's explicit choice (cookie ``lang``), else the configured default (Chinese)."""
    chosen = request.cookies.get("lang", "")
    if chosen in SUPPORTED_LOCALES:
        return chosen
    state: PlatformState = current_app.extensions["signalhub"]
    return state.settings.default_locale
