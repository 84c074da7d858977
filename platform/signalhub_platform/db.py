"""Engines and sessions, identical in behaviour on SQLite and PostgreSQL.

SQLite: WAL so readers never block the writer, a busy timeout instead of instant
"database is locked", foreign keys on, and SQLAlchemy's documented pysqlite recipe so that
SQLAlchemy (not the driver) emits BEGIN. Every signalhub transaction writes at least an audit
event, so we begin with BEGIN IMMEDIATE: the write lock is taken up front and two writers
queue on the busy timeout instead of failing on lock upgrade.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import MetaData, create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

# Stable constraint names so Alembic migrations are reproducible on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        _install_sqlite_recipe(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _install_sqlite_recipe(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy (pysqlite's own BEGIN handling is broken for SAVEPOINT).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work for the CLI and jobs: commit once at the end, roll back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def is_postgresql(session_or_engine: Session | Engine) -> bool:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    return bind.dialect.name == "postgresql"


def analyze(session: Session, table_name: str) -> None:
    """Fresh planner statistics for one table. Temporary tables get none otherwise (PostgreSQL's
    autovacuum skips them; SQLite never gathers any unasked), and without them both planners
    guess a work table is huge and start a join from the wrong side."""
    session.execute(text(f'ANALYZE "{table_name}"'))


@contextmanager
def bulk_page_cache(session: Session, megabytes: int) -> Iterator[None]:
    """A larger SQLite page cache for one bulk write (PERF.md: index maintenance on a million rows
    runs ~1.5x faster with 256 MB than with the default 2 MB), given back afterwards because pooled
    connections would otherwise each keep it. PostgreSQL sizes its buffers server-side: no-op."""
    if session.get_bind().dialect.name != "sqlite" or megabytes <= 0:
        yield
        return
    driver = session.connection().connection.driver_connection
    previous = driver.execute("PRAGMA cache_size").fetchone()[0]  # type: ignore[union-attr]
    driver.execute(f"PRAGMA cache_size = {-int(megabytes) * 1024}")  # type: ignore[union-attr]
    try:
        yield
    finally:
        driver.execute(f"PRAGMA cache_size = {int(previous)}")  # type: ignore[union-attr]
