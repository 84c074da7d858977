"""Commits with real processes and threads: TESTS.md I7 (SIGKILL mid-commit), I9 (two batches of one
agency at once) and I14 (a reader during a long commit sees all or nothing)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from signalhub_config import Settings
from signalhub_ingest import services
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.db import make_session_factory, transaction
from signalhub_platform.models import Actor, Batch, BatchState, Record
from tests.factories import make_agency
from tests.integration.ingest.conftest import TODAY, record_rows, write_csv

pytestmark = pytest.mark.concurrency
ROOT = Path(__file__).resolve().parents[3]

# A committer that pauses inside its merge transaction, after writing every row, before COMMIT.
PAUSING_COMMITTER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from signalhub_ingest import merge, services
    from signalhub_platform.db import make_engine, make_session_factory
    from signalhub_platform.models import Actor

    url, batch_id, marker = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    real = merge.merge_staged_rows

    def pausing(session, **kwargs):
        counts = real(session, **kwargs)
        session.flush()
        marker.write_text("written")
        time.sleep(float(sys.argv[4]))
        return counts

    services.merge_staged_rows = pausing
    services.commit_batch(make_session_factory(make_engine(url)), batch_id, actor=Actor.cli(), channel="cli")
    """
)


def _prepare(
    engine: Engine, settings: Settings, tmp_path: Path, rows: int, name: str = "q4.csv", **row_options: Any
) -> tuple[Any, int]:
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        agency = session.scalars(select(services.Agency).where(services.Agency.code == "TAX")).first()
        if agency is None:
            agency = make_agency(session, "TAX", departments=2)
        path = write_csv(tmp_path / name, record_rows(rows, **row_options))
        with path.open("rb") as stream:
            batch_id = services.store_upload(
                session, Actor.cli(), agency=agency, period="2026Q4", filename=name, stream=stream,
                instance_dir=settings.instance_dir, channel="cli",
            ).batch.id  # fmt: skip
    services.validate_batch(
        factory, batch_id, cipher=PersonalDataCipher(settings.load_keys()), instance_dir=settings.instance_dir,
        today=TODAY, actor=Actor.cli(),
    )  # fmt: skip
    return factory, batch_id


def _live(factory: sessionmaker[Session]) -> int:
    with transaction(factory) as session:
        return int(session.scalar(select(func.count()).select_from(Record).where(Record.is_current)) or 0)


def _state(factory: sessionmaker[Session], batch_id: int) -> BatchState:
    with transaction(factory) as session:
        found = session.get(Batch, batch_id)
        assert found is not None
        return found.state


def _peek_live(engine: Engine) -> int:
    """A plain reader. On SQLite it must not be one of ours (they all BEGIN IMMEDIATE and would wait
    for the writer); a deferred read shows what WAL snapshot isolation gives a reader mid-commit."""
    query = "SELECT count(*) FROM records WHERE is_current"
    if engine.dialect.name == "sqlite":
        connection = sqlite3.connect(engine.url.database or "")
        try:
            return int(connection.execute(query).fetchone()[0])
        finally:
            connection.close()
    with engine.connect() as connection:
        return int(connection.exec_driver_sql(query).scalar_one())


def _start_committer(engine: Engine, batch_id: int, marker: Path, pause: float) -> subprocess.Popen[bytes]:
    url = engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(ROOT / r) for r in ("config", "platform", "ingest",
                                                                              "warnings", "audit"))}  # fmt: skip
    process = subprocess.Popen(  # noqa: S603 - our interpreter running our own script
        [sys.executable, "-c", PAUSING_COMMITTER, url, str(batch_id), str(marker), str(pause)], env=env, cwd=ROOT
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the committer did not reach its pause (exit {process.returncode})")
        time.sleep(0.05)
    return process


def test_i7_sigkill_mid_commit_leaves_live_data_unchanged_and_the_batch_recoverable(
    scratch_database: Engine, settings: Settings, tmp_path: Path
) -> None:
    factory, batch_id = _prepare(scratch_database, settings, tmp_path, 300)
    process = _start_committer(scratch_database, batch_id, tmp_path / "paused", pause=120)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)

    assert _live(factory) == 0
    assert _state(factory, batch_id) == BatchState.COMMITTING  # the claim survived the crash
    with transaction(factory) as session:
        recovered = services.recover_stuck_batches(session, actor=Actor.job("test"), now=services.utcnow(),
                                                   grace=services.dt.timedelta(0))  # fmt: skip
    assert recovered == [batch_id]
    assert _state(factory, batch_id) == BatchState.VALIDATED
    services.commit_batch(factory, batch_id, actor=Actor.cli(), channel="cli")
    assert _live(factory) == 300
    with pytest.raises(services.BatchConflict):
        services.commit_batch(factory, batch_id, actor=Actor.cli(), channel="cli")


def test_i14_readers_see_all_of_a_batch_or_none(scratch_database: Engine, settings: Settings, tmp_path: Path) -> None:
    factory, batch_id = _prepare(scratch_database, settings, tmp_path, 500)
    process = _start_committer(scratch_database, batch_id, tmp_path / "paused", pause=2)
    during = _peek_live(scratch_database)  # the committer has written every row but not committed
    assert process.wait(timeout=60) == 0
    assert (during, _live(factory)) == (0, 500)


def test_i9_two_batches_of_one_agency_commit_one_after_the_other(
    scratch_database: Engine, settings: Settings, tmp_path: Path
) -> None:
    # R-201..R-400 are in both files with different content: whichever commits second versions them.
    factory, first = _prepare(scratch_database, settings, tmp_path, 400, name="a.csv", description="甲")
    _, second = _prepare(scratch_database, settings, tmp_path, 400, name="b.csv", start=201, description="乙")
    errors: list[BaseException] = []

    def commit(batch_id: int) -> None:
        try:
            services.commit_batch(factory, batch_id, actor=Actor.cli(), channel="cli")
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=commit, args=(b,)) for b in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _live(factory) == 600
    with transaction(factory) as session:
        batches = {b.id: b for b in session.scalars(select(Batch))}
        assert {b.state for b in batches.values()} == {BatchState.COMMITTED}
        later, earlier = sorted((first, second), key=lambda b: batches[b].committed_at, reverse=True)
        # As if committed one after the other: the later batch versioned the 200 shared rows.
        assert (batches[earlier].inserted_count, batches[earlier].versioned_count) == (400, 0)
        assert (batches[later].inserted_count, batches[later].versioned_count) == (200, 200)
        shared = list(session.scalars(select(Record).where(Record.source_ref.between("R-0000201", "R-0000400"))))
        assert len(shared) == 400
        current = [r for r in shared if r.is_current]
        assert len(current) == 200 and {r.version for r in current} == {2}
        assert {r.batch_id for r in current} == {later}
