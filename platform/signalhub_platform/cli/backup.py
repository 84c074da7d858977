"""``signalhub backup FILE`` and ``signalhub restore FILE``.

SQLite is copied with its online backup API (a consistent copy while the platform runs; WAL
readers and writers go on). PostgreSQL is dumped with ``pg_dump --format=custom`` and restored
with ``pg_restore --clean --single-transaction``, so a failed restore changes nothing. A restore
refuses to overwrite a database holding any row unless ``--force``, and afterwards verifies the
whole audit chain (with the instance's checkpoint keys): a restored log that does not verify is a
loud failure, never a quiet success. Keys are not in a backup: back up ``instance/keys`` apart.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import click
from sqlalchemy import inspect, literal, select, table
from sqlalchemy.engine import Engine, make_url

from signalhub_config import Settings
from signalhub_platform.cli import CliContext, main, pass_context

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
PG_LIB_DIR = Path("/usr/lib/postgresql")


class BackupError(click.ClickException):
    """A backup or restore that did not happen (nothing was changed) or must not be trusted."""


# --- where the database is --------------------------------------------------------------------


def database_url(ctx: CliContext) -> str:
    """The URL of the database the command works on (tests hand in a session factory)."""
    if ctx.factory is not None:
        bind = ctx.factory.kw["bind"]  # an Engine or a Connection; both name their engine
        return str(bind.engine.url.render_as_string(hide_password=False))
    return ctx.settings.resolved_database_url


def _sqlite_path(url: str) -> Path:
    name = make_url(url).database
    if not name or name == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(name)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI for pg_dump/pg_restore, the password in the environment (not in ps)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    uri = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return uri, env


def find_pg_tool(name: str, pg_bin_dir: str = "") -> str:
    """``pg_bin_dir`` if set, else PATH, else the newest /usr/lib/postgresql/<major>/bin."""
    if pg_bin_dir:
        candidate = Path(pg_bin_dir) / name
        if not candidate.is_file():
            raise BackupError(f"{name} not found in SIGNALHUB_PG_BIN_DIR={pg_bin_dir}")
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(
        (p for p in PG_LIB_DIR.glob(f"*/bin/{name}") if p.parent.parent.name.isdigit()),
        key=lambda p: int(p.parent.parent.name),
    )
    if not versions:
        raise BackupError(f"{name} not found: install the PostgreSQL client or set SIGNALHUB_PG_BIN_DIR")
    return str(versions[-1])


def _run(command: list[str], env: dict[str, str]) -> None:
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603 (our argv, no shell)
    if completed.returncode != 0:
        message = completed.stderr.strip()[-2000:]
        raise BackupError(f"{Path(command[0]).name} failed ({completed.returncode}): {message}")


def is_database_empty(engine: Engine) -> bool:
    """True when no table but Alembic's holds a row (a database just migrated counts as empty)."""
    with engine.connect() as connection:
        for name in inspect(connection).get_table_names():
            if name == "alembic_version":
                continue
            if connection.execute(select(literal(1)).select_from(table(name)).limit(1)).first() is not None:
                return False
    return True


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()  # streams; the backup may be large


def _magic(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(len(SQLITE_MAGIC))


# --- backup -----------------------------------------------------------------------------------


def backup_database(url: str, target: Path, *, pg_bin_dir: str = "") -> None:
    """Write a consistent copy of the database to ``target`` (via a temporary file, then a rename)."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        if url.startswith("sqlite"):
            _backup_sqlite(_sqlite_path(url), partial)
        elif url.startswith("postgresql"):
            uri, env = _libpq(url)
            _run([find_pg_tool("pg_dump", pg_bin_dir), "--format=custom", f"--file={partial}", f"--dbname={uri}"], env)
        else:
            raise BackupError(f"no backup method for {make_url(url).get_backend_name()}")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _backup_sqlite(source: Path, partial: Path) -> None:
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(sqlite3.connect(partial)) as dst:
        src.backup(dst)
        # One self-contained file: no -wal/-shm beside the copy.
        dst.execute("PRAGMA journal_mode = DELETE")
        if dst.execute("PRAGMA quick_check").fetchone() != ("ok",):
            raise BackupError("the copy failed SQLite's quick_check")


# --- restore ----------------------------------------------------------------------------------


def restore_database(url: str, source: Path, *, force: bool, pg_bin_dir: str = "") -> None:
    """Replace the database's content with the backup. Refuses a non-empty database unless ``force``."""
    from signalhub_platform.db import make_engine

    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    magic = _magic(source)
    if url.startswith("sqlite"):
        if magic != SQLITE_MAGIC:
            raise BackupError(f"{source} is not a SQLite backup (a PostgreSQL dump restores into PostgreSQL)")
        path = _sqlite_path(url)
    elif url.startswith("postgresql"):
        if not magic.startswith(PG_DUMP_MAGIC):
            raise BackupError(f"{source} is not a pg_dump custom-format backup")
    else:
        raise BackupError(f"no restore method for {make_url(url).get_backend_name()}")

    if not url.startswith("sqlite") or path.is_file():
        engine = make_engine(url)
        try:
            is_empty = is_database_empty(engine)
        finally:
            engine.dispose()
        if not is_empty and not force:
            raise BackupError(
                "the database is not empty: restoring would replace its content. Stop the platform, "
                "take a backup of it first, then run restore again with --force"
            )

    if url.startswith("sqlite"):
        _restore_sqlite(source, path)
    else:
        uri, env = _libpq(url)
        tool = find_pg_tool("pg_restore", pg_bin_dir)
        # --clean drops what the dump recreates; one transaction: a failed restore leaves the database as it was.
        _run(
            [tool, "--clean", "--if-exists", "--single-transaction", "--exit-on-error", f"--dbname={uri}", str(source)],
            env,
        )


def _restore_sqlite(source: Path, path: Path) -> None:
    with contextlib.closing(sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)) as src:
        if src.execute("PRAGMA quick_check").fetchone() != ("ok",):
            raise BackupError(f"{source} failed SQLite's quick_check: not restored")
        with contextlib.closing(sqlite3.connect(path)) as dst:
            src.backup(dst)


def verify_restored(url: str, settings: Settings, *, source_sha256: str) -> tuple[bool, list[str], int]:
    """Verify the restored audit chain; when it verifies, audit the restore as its newest event."""
    from signalhub_audit.integrity import checkpoint_keys_from_settings, verify_log
    from signalhub_audit.services import record_event
    from signalhub_audit.tags import AuditTag
    from signalhub_platform.db import make_engine, make_session_factory, transaction
    from signalhub_platform.models import Actor

    engine = make_engine(url)
    try:
        with transaction(make_session_factory(engine)) as session:
            result = verify_log(session, checkpoint_keys_from_settings(settings))
            if result.ok:
                record_event(
                    session,
                    AuditTag.CLI_DATABASE_RESTORE,
                    actor=Actor.cli(),
                    data={"sha256": source_sha256, "events": result.events, "checkpoints": result.checkpoints},
                )
    finally:
        engine.dispose()
    problems = [f"seq {p['seq'] if p['seq'] is not None else '-'}: {p['message']}" for p in result.problems]
    return result.ok, problems, result.events


def _schema_note(url: str) -> str:
    from sqlalchemy import text

    from signalhub_platform.db import make_engine
    from signalhub_platform.schema import heads

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
    if revision in heads():
        return f"schema at {revision} (current)"
    return f"schema at {revision}: run 'signalhub init' to upgrade it to {heads()[0]}"


# --- commands ---------------------------------------------------------------------------------


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@pass_context
def backup(ctx: CliContext, file: Path, force: bool) -> None:
    """Write a consistent backup of the database to FILE (the platform may keep running)."""
    from signalhub_audit.services import record_event
    from signalhub_audit.tags import AuditTag
    from signalhub_platform.db import transaction
    from signalhub_platform.models import Actor

    if file.exists() and not force:
        raise BackupError(f"{file} exists; choose another name or pass --force")
    url = database_url(ctx)
    backup_database(url, file, pg_bin_dir=ctx.settings.pg_bin_dir)
    digest = file_sha256(file)
    # Audited in the live database after the copy: the event says which file holds what.
    with transaction(ctx.session_factory) as session:
        record_event(
            session,
            AuditTag.CLI_DATABASE_BACKUP,
            actor=Actor.cli(),
            data={"file": file.name, "sha256": digest, "bytes": file.stat().st_size},
        )
    click.echo(f"backup written to {file} ({file.stat().st_size} bytes, sha256 {digest})")
    click.echo("keys are not in the backup: keep a copy of the instance's keys folder apart from it")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace the content of a database that is not empty.")
@pass_context
def restore(ctx: CliContext, file: Path, force: bool) -> None:
    """Restore the database from FILE, then verify the audit chain (exit 1 if it does not verify).

    Stop the web, worker and scheduler processes first.
    """
    url = database_url(ctx)
    digest = file_sha256(file)
    restore_database(url, file, force=force, pg_bin_dir=ctx.settings.pg_bin_dir)
    click.echo(f"restored from {file} (sha256 {digest})")
    is_ok, problems, events = verify_restored(url, ctx.settings, source_sha256=digest)
    if not is_ok:
        for problem in problems[:50]:
            click.echo(f"  {problem}", err=True)
        raise BackupError(
            f"AUDIT CHAIN DOES NOT VERIFY after the restore: {len(problems)} problem(s) in {events} events. "
            "Do not put this database into service; investigate the backup (signalhub audit verify)"
        )
    click.echo(f"audit chain verified: {events} events")
    click.echo(_schema_note(url))
