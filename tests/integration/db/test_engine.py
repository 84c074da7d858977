"""Engine behaviour the rest of the platform relies on."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from signalhub_platform.db import make_engine, make_session_factory, transaction
from signalhub_platform.schema import upgrade_database
from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite engine settings")


def test_sqlite_file_database_uses_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


@pytest.mark.concurrency
def test_concurrent_sqlite_writers_queue_instead_of_failing(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE: two read-then-write transactions never hit a lock-upgrade deadlock."""
    engine = make_engine(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    upgrade_database(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER)"))
        conn.execute(text("INSERT INTO counter VALUES (0)"))
    factory = make_session_factory(engine)
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            for _ in range(50):
                with transaction(factory) as session:
                    n = session.execute(text("SELECT n FROM counter")).scalar_one()
                    session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 100  # no lost update
