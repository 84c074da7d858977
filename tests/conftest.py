"""Fixtures shared by the whole suite.

The backend is SQLite unless ``SIGNALHUB_TEST_BACKEND=postgresql`` (``make test`` sets it on the
second pass, with ``SIGNALHUB_TEST_DATABASE_URL``). The schema is built once per run by the real
Alembic migrations; each test then runs inside a transaction that is rolled back, with the
application's own commits turned into SAVEPOINT releases, so tests are fast and isolated.
Tests that need real commits (threads, subprocesses) use ``scratch_database``.
"""

from __future__ import annotations

import base64
import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import make_url
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from signalhub_config import Settings
from signalhub_platform.app import create_app
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.db import make_engine
from signalhub_platform.schema import upgrade_database

BACKEND = os.environ.get("SIGNALHUB_TEST_BACKEND", "sqlite")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def make_key_settings(instance_path: Path, **overrides: object) -> Settings:
    """Settings with freshly generated keys given inline (no key files needed)."""
    signing = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    values: dict[str, object] = {
        "instance_path": str(instance_path),
        "secret_key": secrets.token_urlsafe(32),
        "data_keys": f"k1:{_b64(os.urandom(32))}",
        "index_key": _b64(os.urandom(32)),
        "signing_key": _b64(signing),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def _create_postgres_database(base_url: str, name: str) -> str:
    url = make_url(base_url)
    admin = make_engine(
        url.set(database="postgres").render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _drop_postgres_database(base_url: str, name: str) -> None:
    url = make_url(base_url)
    admin = make_engine(
        url.set(database="postgres").render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def new_database_url(tmp_dir: Path, label: str) -> str:
    """A fresh, empty database of the backend under test."""
    if BACKEND == "postgresql":
        base = os.environ.get("SIGNALHUB_TEST_DATABASE_URL")
        if not base:
            raise RuntimeError("SIGNALHUB_TEST_BACKEND=postgresql needs SIGNALHUB_TEST_DATABASE_URL")
        return _create_postgres_database(base, f"{make_url(base).database}_{label}")
    return f"sqlite:///{tmp_dir / f'{label}.sqlite3'}"


def drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        _drop_postgres_database(url, make_url(url).database or "")


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    url = new_database_url(tmp_path_factory.mktemp("db"), f"run_{os.getpid()}")
    engine = make_engine(url)
    upgrade_database(engine)
    yield engine
    engine.dispose()
    drop_database(url)


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        if outer.is_active:
            outer.rollback()


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[Session]:
    # The app's commits release SAVEPOINTs inside the test's outer transaction.
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
def db_session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    session = session_factory()
    yield session
    session.close()


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_key_settings(tmp_path_factory.mktemp("instance"))


@pytest.fixture(scope="session")
def cipher(settings: Settings) -> PersonalDataCipher:
    return PersonalDataCipher(settings.load_keys())


@pytest.fixture
def app(settings: Settings, session_factory: sessionmaker[Session]) -> Flask:
    return create_app(settings, session_factory=session_factory, test_config={"TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def scratch_database(tmp_path: Path) -> Iterator[Engine]:
    """A migrated database of its own, with real commits, dropped afterwards."""
    url = new_database_url(tmp_path, f"scratch_{uuid.uuid4().hex[:8]}")
    engine = make_engine(url)
    upgrade_database(engine)
    yield engine
    engine.dispose()
    drop_database(url)
