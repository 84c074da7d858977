"""The life of a batch: upload, validation (staging), commit, recovery.

    upload ──▶ uploaded ──validate──▶ validated ──commit──▶ committing ──▶ committed
                              └──────▶ invalid ──commit (accept the valid rows)──┘
                              └──────▶ failed (unreadable file or bad header: nothing to commit)

- Upload stores the bytes under the instance folder; identical bytes from the same agency are
  the earlier batch (nothing new is created, the attempt is audited).
- Validation streams the file once, in bounded memory: every issue of every row is collected,
  the valid rows are normalised, ID numbers sealed, and staged in ``batch_rows`` chunk by chunk,
  each chunk in its own short transaction that also advances the progress counters.
- Commit is a compare-and-set (``validated``/``invalid`` → ``committing``) in its own
  transaction, so a double submit commits once; then one transaction, under a per-agency lock,
  merges the staged rows set-based (``merge.py``): readers see all of a batch or none of it.
  A failure rolls the merge back and returns the batch to its validated state; a crash leaves
  it ``committing``, which ``recover_stuck_batches`` undoes.

Functions that run several transactions take a session factory; the others take a session and
flush, never commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_ingest.errors import ConflictError, ForbiddenError, IngestError, NotFoundError
from signalhub_ingest.merge import MergeCounts, merge_staged_rows
from signalhub_ingest.readers import ReaderError, open_upload, sniff_upload
from signalhub_ingest.rules import HeaderError, RowIssue
from signalhub_ingest.staging import TEMPORARY, StagedRow, content_sha256, temporary_staging, write_staged_rows
from signalhub_ingest.validator import CleanRow, RowValidator
from signalhub_platform.crypto import PersonalDataCipher, mask_id_number, redact_id_numbers
from signalhub_platform.db import bulk_page_cache, is_postgresql, transaction
from signalhub_platform.models import (
    Actor,
    Agency,
    Batch,
    BatchRow,
    BatchState,
    Department,
    Job,
    Record,
    RecordSource,
    Role,
)
from signalhub_platform.models.types import utcnow

UPLOAD_DIR = "uploads"
STAGING_CHUNK_ROWS = 20_000
# Issues kept on the batch row for the page and the API; the error workbook has them all.
STORED_ISSUES = 1000
# A batch left "committing" this long without a live committer is considered stuck.
STUCK_COMMIT_GRACE = dt.timedelta(minutes=5)
# Namespace of the per-agency transaction lock that serialises merges on PostgreSQL.
_AGENCY_LOCK_BASE = 0x5167_4900_0000
_PERIOD = re.compile(r"^(\d{4})Q([1-4])$")
# States from which validation may (re)start.
RESTARTABLE = (BatchState.UPLOADED, BatchState.VALIDATING, BatchState.FAILED)
# The job kind of signalhub_warnings.jobs.evaluate_affected (a test keeps the two equal).
EVALUATE_WARNINGS_JOB = "evaluate_warnings"

Progress = Callable[[str, int], None]  # (phase, rows so far): phases "read", "validated", "committed"


class BatchNotFound(NotFoundError):
    pass


class BatchForbidden(ForbiddenError):
    pass


class BatchConflict(ConflictError):
    """Already committed, being committed, or not yet validated: nothing was done."""


class BatchNeedsDecision(BatchConflict):
    """The batch has invalid rows: commit only with an explicit "accept the valid rows"."""


class BatchNeedsConfirmation(BatchConflict):
    """Nonstandard USCC check characters must be confirmed by the uploader before commit."""


@dataclass(frozen=True)
class UploadOutcome:
    batch: Batch
    is_duplicate: bool  # identical bytes: ``batch`` is the earlier batch, nothing new was created


def quarter_of(day: dt.date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def can_upload_for(actor: Actor, agency: Agency) -> bool:
    """The agency's liaisons and admins, the platform office on its behalf, or the CLI operator."""
    if actor.is_system:
        return True
    if actor.agency_id == agency.id:
        return actor.has_role(Role.LIAISON, Role.AGENCY_ADMIN)
    return actor.is_platform_office and actor.has_role(Role.PLATFORM_ADMIN)


def _tag(channel: str, action: str) -> AuditTag:
    return AuditTag(f"{channel}:batch:{action}")


# --- upload --------------------------------------------------------------------------------------


def store_upload(
    session: Session,
    actor: Actor,
    *,
    agency: Agency,
    period: str,
    filename: str,
    stream: BinaryIO,
    instance_dir: Path,
    channel: str,
) -> UploadOutcome:
    """Keep the uploaded bytes and open a batch for them (or point at the identical earlier one)."""
    if not can_upload_for(actor, agency):
        raise BatchForbidden("you may not upload for this agency")
    if not _PERIOD.match(period):
        raise IngestError(f"period must look like 2026Q3, not {period[:20]!r}")
    # The name is shown on batch pages and audited: an ID number in it (张三110105….csv) is masked,
    # or the audit guard would refuse the event and the upload would fail.
    shown_name = redact_id_numbers(Path(filename).name)[:255]
    directory = instance_dir / UPLOAD_DIR / agency.code
    directory.mkdir(parents=True, exist_ok=True)
    digest, size, temp_path = _copy_to_temp(stream, directory)
    try:
        kind = sniff_upload(temp_path, filename)  # raises UnsupportedFile (a ReaderError)
        earlier = session.scalars(
            select(Batch).where(Batch.agency_id == agency.id, Batch.file_sha256 == digest)
        ).first()
        if earlier is not None:
            record_event(
                session,
                _tag(channel, "duplicate"),
                actor=actor,
                subjects=[("batch", earlier.id)],
                data={"file_sha256": digest, "filename": shown_name, "earlier_batch": earlier.id},
            )
            return UploadOutcome(batch=earlier, is_duplicate=True)
        final_path = directory / f"{digest}.{kind}"
        os.replace(temp_path, final_path)
    finally:
        if temp_path.exists():
            temp_path.unlink()
    batch = Batch(
        agency_id=agency.id,
        uploaded_by_id=actor.user_id,
        is_on_behalf=actor.agency_id != agency.id and not actor.is_system,
        source=RecordSource.BATCH,
        period=period,
        filename=shown_name,
        file_sha256=digest,
        file_size=size,
        file_path=str(final_path.relative_to(instance_dir)),
        state=BatchState.UPLOADED,
    )
    session.add(batch)
    session.flush()
    record_event(
        session,
        _tag(channel, "upload"),
        actor=actor,
        subjects=[("batch", batch.id), ("agency", agency.code)],
        data={
            "file_sha256": digest,
            "size": size,
            "filename": batch.filename,
            "period": period,
            "on_behalf": batch.is_on_behalf,
        },
    )
    return UploadOutcome(batch=batch, is_duplicate=False)


def _copy_to_temp(stream: BinaryIO, directory: Path) -> tuple[str, int, Path]:
    """Stream the upload to a temporary file beside its destination, hashing as it goes."""
    digest = hashlib.sha256()
    size = 0
    fd, name = tempfile.mkstemp(dir=directory, prefix=".upload-")
    with os.fdopen(fd, "wb") as out:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return digest.hexdigest(), size, Path(name)


# --- validation ---------------------------------------------------------------------------------


def department_lookup(session: Session, agency_id: int) -> dict[str, int]:
    """Department codes and names of one agency (either may appear in a file)."""
    lookup: dict[str, int] = {}
    for department in session.scalars(
        select(Department).where(Department.agency_id == agency_id, Department.is_active)
    ):
        lookup[department.code] = department.id
        lookup[department.name] = department.id
    return lookup


class _Stager:
    """Seals ID numbers, hashes content and buffers staged rows for one batch."""

    def __init__(self, batch_id: int, cipher: PersonalDataCipher) -> None:
        self.batch_id = batch_id
        self.cipher = cipher
        self.sealed_persons: set[str] = set()
        self.content = hashlib.sha256()
        self.buffer: list[StagedRow] = []

    def add(self, row: CleanRow) -> None:
        bidx = ciphertext = key_id = masked = None
        number = row.person_id_number
        if number:
            bidx = self.cipher.blind_index(number)
            masked = mask_id_number(number)
            if bidx not in self.sealed_persons:  # one ciphertext per person and batch
                self.sealed_persons.add(bidx)
                ciphertext, key_id = self.cipher.encrypt(number, bidx)
        digest = content_sha256(
            row.department_id, row.kind, row.risk_level, row.openness, row.uscc, bidx, row.category,
            row.description, row.occurred_on.isoformat(),
        )  # fmt: skip
        self.content.update(f"{row.source_ref}\x1e{digest}\n".encode())
        self.buffer.append(
            (
                self.batch_id, row.row_number, row.department_id, row.kind, row.risk_level, row.openness, row.uscc,
                row.uscc_status, row.entity_name, row.person_name, bidx, ciphertext, key_id, masked, row.category,
                row.description, row.occurred_on, row.source_ref, digest,
            )
        )  # fmt: skip

    def take(self) -> list[StagedRow]:
        rows, self.buffer = self.buffer, []
        return rows


def _issue_dict(issue: RowIssue) -> dict[str, object]:
    return {
        "row": issue.row,
        "column": issue.column,
        "value": issue.value,
        "code": issue.code,
        "message_zh": issue.message_zh,
        "message_en": issue.message_en,
    }


def validate_batch(
    factory: sessionmaker[Session],
    batch_id: int,
    *,
    cipher: PersonalDataCipher,
    instance_dir: Path,
    today: dt.date,
    actor: Actor,
    progress: Progress | None = None,
    chunk_rows: int = STAGING_CHUNK_ROWS,
) -> Batch:
    """Validate the stored file in one streaming pass and stage its valid rows."""
    with transaction(factory) as session:
        # VALIDATING too: a validation whose process died is simply run again (its job was re-queued
        # by the worker's stale-heartbeat rule), starting from an empty staging area.
        session.execute(delete(BatchRow).where(BatchRow.batch_id == batch_id))
        claimed = session.execute(
            update(Batch)
            .where(Batch.id == batch_id, Batch.state.in_(RESTARTABLE))
            .values(state=BatchState.VALIDATING, progress_read=0, progress_validated=0)
        ).rowcount
        batch = session.get(Batch, batch_id)
        if batch is None:
            raise BatchNotFound("batch not found")
        if not claimed:
            raise BatchConflict(f"batch {batch_id} is {batch.state}, not waiting for validation")
        departments = department_lookup(session, batch.agency_id)
        path, filename = instance_dir / batch.file_path, batch.filename

    stager = _Stager(batch_id, cipher)
    run = _ValidationRun(RowValidator(departments, today=today))

    def flush_chunk() -> None:
        rows = stager.take()
        with transaction(factory) as session:
            write_staged_rows(session, rows)
            session.execute(
                update(Batch).where(Batch.id == batch_id).values(progress_read=run.rows, progress_validated=run.rows)
            )
        if progress:
            progress("validated", run.rows)

    try:
        run.consume(path, filename, stager, flush_chunk, chunk_rows)
    except (ReaderError, HeaderError) as exc:
        return _fail_validation(factory, batch_id, actor=actor, problem=exc)
    except BaseException:
        # Unexpected: drop what was staged so a retry starts clean, then let the job report it.
        _reset_validation(factory, batch_id)
        raise
    if run.rows == 0:
        return _fail_validation(factory, batch_id, actor=actor, problem=ReaderError("the file has no data rows"))
    with transaction(factory) as session:
        batch = _record_validation(session, batch_id, run, stager, actor=actor, now=utcnow())
    return batch


class _ValidationRun:
    """One streaming pass over a file: every issue of every row counted, the first ones kept."""

    def __init__(self, validator: RowValidator) -> None:
        self.validator = validator
        self.rows = self.valid = self.error_count = self.warning_count = 0
        self.errors: list[dict[str, object]] = []
        self.warnings: list[dict[str, object]] = []
        self.rejected = RowRanges()

    def consume(self, path: Path, filename: str, stager: _Stager, flush: Callable[[], None], chunk_rows: int) -> None:
        validate, add = self.validator.validate, stager.add
        # The hostile-file reader: type sniffed from the bytes, XLSX containers checked before parsing.
        with open_upload(path, filename) as table:
            self.validator.map_header(table.header)
            for row_number, cells in table.rows:
                self.rows += 1
                clean, issues = validate(row_number, cells)
                if issues and self._note(row_number, issues):
                    continue
                if clean is not None:
                    self.valid += 1
                    add(clean)
                    if len(stager.buffer) >= chunk_rows:
                        flush()
        if stager.buffer:
            flush()

    def _note(self, row_number: int, issues: list[RowIssue]) -> bool:
        """Record the issues; True when the row has an error (and so is not staged)."""
        has_error = False
        for issue in issues:
            if issue.is_warning:
                self.warning_count += 1
                if len(self.warnings) < STORED_ISSUES:
                    self.warnings.append(_issue_dict(issue))
            else:
                has_error = True
                self.error_count += 1
                if len(self.errors) < STORED_ISSUES:
                    self.errors.append(_issue_dict(issue))
        if has_error:
            self.rejected.add(row_number)
        return has_error


class RowRanges:
    """Row numbers in ascending order, kept as ranges: "11,101,501" or "3-9,12" — every rejected row
    of a million-row file fits in the audit log without listing a million numbers."""

    def __init__(self) -> None:
        self.ranges: list[list[int]] = []

    def add(self, row: int) -> None:
        if self.ranges and self.ranges[-1][1] == row - 1:
            self.ranges[-1][1] = row
        elif not self.ranges or self.ranges[-1][1] < row:
            self.ranges.append([row, row])

    def __str__(self) -> str:
        return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in self.ranges)


def _record_validation(
    session: Session, batch_id: int, run: _ValidationRun, stager: _Stager, *, actor: Actor, now: dt.datetime
) -> Batch:
    batch = session.get(Batch, batch_id)
    assert batch is not None
    content = stager.content.hexdigest()
    same = session.scalars(
        select(Batch.id)
        .where(
            Batch.agency_id == batch.agency_id,
            Batch.content_sha256 == content,
            Batch.id != batch.id,
            Batch.state == BatchState.COMMITTED,
        )
        .order_by(Batch.id.desc())
    ).first()
    batch.state = BatchState.INVALID if run.error_count else BatchState.VALIDATED
    batch.row_count = run.rows
    batch.valid_count = run.valid
    batch.error_count = run.error_count
    batch.warning_count = run.warning_count
    batch.errors = run.errors
    batch.warnings = run.warnings
    batch.rejected_rows = str(run.rejected)
    batch.progress_read = batch.progress_validated = run.rows
    batch.content_sha256 = content
    batch.same_content_as_id = same
    batch.validated_at = now
    session.flush()
    record_event(
        session,
        AuditTag.JOB_BATCH_VALIDATE,
        actor=actor,
        subjects=[("batch", batch.id)],
        data={
            "state": batch.state.value,
            "rows": run.rows,
            "valid": run.valid,
            "errors": run.error_count,
            "rejected_rows": batch.rejected_rows,
            "warnings": run.warning_count,
            "same_content_as": same,
        },
    )
    return batch


def _fail_validation(factory: sessionmaker[Session], batch_id: int, *, actor: Actor, problem: Exception) -> Batch:
    _reset_validation(factory, batch_id)
    problems = problem.problems if isinstance(problem, HeaderError) else [problem]
    with transaction(factory) as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None
        batch.state = BatchState.FAILED
        batch.errors = [_problem_dict(p) for p in problems][:STORED_ISSUES]
        # From the (already masked) messages, never a repr that could quote a cell of the file.
        batch.failure = redact_id_numbers("; ".join(str(e["message_en"]) for e in batch.errors))[:500]
        batch.error_count = len(problems)
        record_event(
            session,
            AuditTag.JOB_BATCH_VALIDATE,
            actor=actor,
            subjects=[("batch", batch_id)],
            data={"state": "failed", "failure": batch.failure},
        )
    return batch


def _problem_dict(problem: object) -> dict[str, object]:
    if isinstance(problem, RowIssue):
        return _issue_dict(problem)
    zh = getattr(problem, "message_zh", None) or str(problem)
    en = getattr(problem, "message_en", None) or str(problem)
    code = str(getattr(problem, "code", "") or "file")
    return {"row": None, "column": getattr(problem, "column", ""), "value": "", "code": code,
            "message_zh": redact_id_numbers(zh), "message_en": redact_id_numbers(en)}  # fmt: skip


def _reset_validation(factory: sessionmaker[Session], batch_id: int) -> None:
    with transaction(factory) as session:
        session.execute(delete(BatchRow).where(BatchRow.batch_id == batch_id))
        session.execute(
            update(Batch)
            .where(Batch.id == batch_id)
            .values(state=BatchState.UPLOADED, progress_read=0, progress_validated=0)
        )


# --- validate and commit at once (the CLI) --------------------------------------------------------


def ingest_at_once(
    factory: sessionmaker[Session],
    batch_id: int,
    *,
    actor: Actor,
    cipher: PersonalDataCipher,
    instance_dir: Path,
    today: dt.date,
    channel: str,
    accept_valid: bool = False,
    confirm_nonstandard: bool = False,
    progress: Progress | None = None,
    bulk_cache_mb: int = 0,
) -> Batch:
    """Validate an uploaded file and commit it in ONE transaction, staging in a temporary table.

    For the command line, where nobody reviews the batch between the two steps: the rows are
    written once to disk instead of twice (the persistent staging table costs as much as the
    records themselves on a million rows). The merge, the checks and the audit are the same as
    ``validate_batch`` + ``commit_batch``. A file that may not be committed (errors without
    ``accept_valid``, unconfirmed nonstandard codes) rolls back and stays ``uploaded``, with its
    errors recorded for the batch page; running it again re-validates.
    """
    with transaction(factory) as session:
        batch = session.get(Batch, batch_id, with_for_update=is_postgresql(session) or None)
        if batch is None:
            raise BatchNotFound("batch not found")
        agency = session.get(Agency, batch.agency_id)
        assert agency is not None
        if not can_upload_for(actor, agency):
            raise BatchNotFound("batch not found")
        if batch.state not in (BatchState.UPLOADED, BatchState.FAILED):
            raise BatchConflict(f"batch {batch_id} is {batch.state.value}: use commit_batch")
        _lock_agency(session, agency.id)
        with bulk_page_cache(session, bulk_cache_mb):
            return _ingest_in_transaction(
                factory, session, batch, agency, actor=actor, cipher=cipher, instance_dir=instance_dir, today=today,
                channel=channel, accept_valid=accept_valid, confirm_nonstandard=confirm_nonstandard, progress=progress,
            )  # fmt: skip


def _ingest_in_transaction(
    factory: sessionmaker[Session],
    session: Session,
    batch: Batch,
    agency: Agency,
    *,
    actor: Actor,
    cipher: PersonalDataCipher,
    instance_dir: Path,
    today: dt.date,
    channel: str,
    accept_valid: bool,
    confirm_nonstandard: bool,
    progress: Progress | None,
) -> Batch:
    batch_id = batch.id
    staging = temporary_staging(session)
    stager = _Stager(batch_id, cipher)
    run = _ValidationRun(RowValidator(department_lookup(session, agency.id), today=today))

    def flush_chunk() -> None:
        write_staged_rows(session, stager.take(), TEMPORARY)
        if progress:
            progress("validated", run.rows)

    try:
        run.consume(instance_dir / batch.file_path, batch.filename, stager, flush_chunk, STAGING_CHUNK_ROWS)
    except (ReaderError, HeaderError) as exc:
        session.rollback()
        return _fail_validation(factory, batch_id, actor=actor, problem=exc)
    if is_postgresql(session):
        # Temporary tables get no autovacuum statistics; without them the merge's joins plan badly.
        session.execute(text(f"ANALYZE {TEMPORARY}"))
    refusal = _refusal(batch_id, run, accept_valid=accept_valid, confirm_nonstandard=confirm_nonstandard)
    if refusal is None and run.rows == 0:
        session.rollback()
        return _fail_validation(factory, batch_id, actor=actor, problem=ReaderError("the file has no data rows"))
    if refusal is not None:
        session.rollback()
        with transaction(factory) as outcome:
            _record_validation(outcome, batch_id, run, stager, actor=actor, now=utcnow())
            outcome.execute(update(Batch).where(Batch.id == batch_id).values(state=BatchState.UPLOADED))
        raise refusal
    now = utcnow()
    batch = _record_validation(session, batch_id, run, stager, actor=actor, now=now)
    counts = merge_staged_rows(
        session, batch_id=batch_id, agency_id=agency.id, source=batch.source, created_by_id=actor.user_id,
        now=now, staging=staging,
    )  # fmt: skip
    _record_commit(session, batch, counts, actor=actor, channel=channel, accept_valid=accept_valid,
                   confirm_nonstandard=confirm_nonstandard, now=now)  # fmt: skip
    return batch


def _refusal(
    batch_id: int, run: _ValidationRun, *, accept_valid: bool, confirm_nonstandard: bool
) -> IngestError | None:
    if run.error_count and not accept_valid:
        return BatchNeedsDecision(
            f"batch {batch_id} has {run.error_count} errors: fix the file, or accept the valid rows only"
        )
    if run.warning_count and not confirm_nonstandard:
        return BatchNeedsConfirmation(
            f"batch {batch_id} has {run.warning_count} nonstandard credit codes that must be confirmed"
        )
    return None


# --- commit -------------------------------------------------------------------------------------


def commit_batch(
    factory: sessionmaker[Session],
    batch_id: int,
    *,
    actor: Actor,
    channel: str,
    accept_valid: bool = False,
    confirm_nonstandard: bool = False,
    now: dt.datetime | None = None,
    bulk_cache_mb: int = 0,
) -> Batch:
    """Commit a validated batch exactly once, all of it in one transaction."""
    with transaction(factory) as session:
        batch = _claim_for_commit(session, actor, batch_id, accept_valid, confirm_nonstandard, now or utcnow())
        agency_id, previous = batch.agency_id, batch.state
    try:
        with transaction(factory) as session:
            _lock_agency(session, agency_id)
            batch = session.get(Batch, batch_id, populate_existing=True)
            # Taken once the transaction holds its locks (SQLite begins on the first statement, just
            # above): commit order and commit timestamps agree.
            now = now or utcnow()
            if batch is None or batch.state != BatchState.COMMITTING:
                # Reset by recovery between the claim and now: someone else owns it.
                raise BatchConflict(f"batch {batch_id} is no longer being committed by this request")
            with bulk_page_cache(session, bulk_cache_mb):
                counts = merge_staged_rows(
                    session,
                    batch_id=batch_id,
                    agency_id=agency_id,
                    source=batch.source,
                    created_by_id=actor.user_id,
                    now=now,
                )
            if counts.staged != batch.valid_count:
                # The staged rows are not the ones validated (e.g. validated in a transaction that
                # staged nothing): refuse rather than commit a partial batch.
                raise BatchConflict(f"batch {batch_id} has {counts.staged} staged rows, not {batch.valid_count}")
            _record_commit(session, batch, counts, actor=actor, channel=channel, accept_valid=accept_valid,
                           confirm_nonstandard=confirm_nonstandard, now=now)  # fmt: skip
    except BaseException as exc:
        _release_failed_commit(factory, batch_id, actor=actor, channel=channel, previous=previous, error=exc)
        raise
    with transaction(factory) as session:
        # Staged rows have done their work; dropping them is housekeeping outside the commit.
        session.execute(delete(BatchRow).where(BatchRow.batch_id == batch_id))
    return batch


def _claim_for_commit(
    session: Session, actor: Actor, batch_id: int, accept_valid: bool, confirm_nonstandard: bool, now: dt.datetime
) -> Batch:
    batch = check_commit(session, actor, batch_id, accept_valid=accept_valid, confirm_nonstandard=confirm_nonstandard)
    # Compare-and-set: of two simultaneous commits only one sees the expected state.
    claimed = session.execute(
        update(Batch)
        .where(Batch.id == batch_id, Batch.state == batch.state)
        .values(state=BatchState.COMMITTING, committing_since=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise BatchConflict(f"batch {batch_id} is being committed by someone else")
    return batch


def check_commit(
    session: Session,
    actor: Actor,
    batch_id: int,
    *,
    accept_valid: bool,
    confirm_nonstandard: bool,
    lock: bool = False,
) -> Batch:
    """Raise what a commit would refuse with, now; the web and the API answer before queueing the commit.

    ``lock`` takes the batch row's lock (PostgreSQL) so that two requests checking and queueing
    the same batch serialise; SQLite's BEGIN IMMEDIATE already does.
    """
    batch = session.get(Batch, batch_id, with_for_update=lock or None)
    if batch is None:
        raise BatchNotFound("batch not found")
    agency = session.get(Agency, batch.agency_id)
    assert agency is not None
    if not can_upload_for(actor, agency):
        raise BatchNotFound("batch not found")  # another agency's batch answers like a missing one
    if batch.state in (BatchState.COMMITTED, BatchState.COMMITTING):
        raise BatchConflict(f"batch {batch_id} is already {batch.state.value}")
    if batch.state == BatchState.INVALID and not accept_valid:
        raise BatchNeedsDecision(
            f"batch {batch_id} has {batch.error_count} errors: fix the file, or accept the valid rows only"
        )
    if batch.state not in (BatchState.VALIDATED, BatchState.INVALID):
        raise BatchConflict(f"batch {batch_id} is {batch.state.value}: nothing to commit")
    if batch.warning_count and not confirm_nonstandard:
        raise BatchNeedsConfirmation(
            f"batch {batch_id} has {batch.warning_count} nonstandard credit codes that must be confirmed"
        )
    return batch


def _lock_agency(session: Session, agency_id: int) -> None:
    """Serialise merges per agency. SQLite's BEGIN IMMEDIATE already serialises every writer."""
    if is_postgresql(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _AGENCY_LOCK_BASE + agency_id})


def _mark_committed(
    session: Session, batch: Batch, counts: MergeCounts, *, actor: Actor, accept_valid: bool, now: dt.datetime
) -> None:
    batch.state = BatchState.COMMITTED
    batch.inserted_count = counts.inserted
    batch.versioned_count = counts.versioned
    batch.unchanged_count = counts.unchanged
    batch.progress_committed = counts.staged
    batch.is_valid_only_accepted = accept_valid and batch.error_count > 0
    batch.committed_by_id = actor.user_id
    if batch.warning_count:
        batch.nonstandard_confirmed_by_id = actor.user_id
    batch.committing_since = None
    batch.committed_at = now
    session.flush()
    if counts.inserted or counts.versioned:  # an all-unchanged batch changes no subject's hits
        enqueue_evaluation(session, {"batch_id": batch.id})


def enqueue_evaluation(session: Session, payload: dict[str, object]) -> Job:
    """Ask the worker to re-evaluate the warnings of the subjects a commit touched.

    Written in the committing transaction, so the job exists exactly when the records do. Ingest
    may not import the warnings package: the job kind is its queue handler's name there."""
    job = Job(kind=EVALUATE_WARNINGS_JOB, payload=payload, run_after=utcnow())
    session.add(job)
    session.flush()
    return job


def _record_commit(
    session: Session, batch: Batch, counts: MergeCounts, *, actor: Actor, channel: str, accept_valid: bool,
    confirm_nonstandard: bool, now: dt.datetime,
) -> None:  # fmt: skip
    """The batch is committed: its counts, state and the one audit event that says so."""
    _mark_committed(session, batch, counts, actor=actor, accept_valid=accept_valid, now=now)
    record_event(
        session,
        _tag(channel, "commit"),
        actor=actor,
        subjects=[("batch", batch.id)],
        data=_commit_audit_data(batch, counts, accept_valid=accept_valid,
                                confirmed=confirm_nonstandard and batch.warning_count > 0),
    )  # fmt: skip


def _commit_audit_data(batch: Batch, counts: MergeCounts, *, accept_valid: bool, confirmed: bool) -> dict[str, object]:
    data: dict[str, object] = {
        "rows": batch.row_count,
        "inserted": counts.inserted,
        "versioned": counts.versioned,
        "unchanged": counts.unchanged,
        "entities_created": counts.entities_created,
        "persons_created": counts.persons_created,
        "on_behalf": batch.is_on_behalf,
    }
    if accept_valid and batch.error_count:
        data["accepted_valid_only"] = True
        data["rejected_rows"] = batch.rejected_rows  # every rejected row, as ranges
    if confirmed:
        data["confirmed_nonstandard_rows"] = sorted({int(w["row"]) for w in batch.warnings or [] if w.get("row")})  # type: ignore[call-overload]
    return data


def _release_failed_commit(
    factory: sessionmaker[Session],
    batch_id: int,
    *,
    actor: Actor,
    channel: str,
    previous: BatchState,
    error: BaseException,
) -> None:
    with transaction(factory) as session:
        session.execute(
            update(Batch)
            .where(Batch.id == batch_id, Batch.state == BatchState.COMMITTING)
            .values(state=previous, committing_since=None)
        )
        record_event(
            session,
            _tag(channel, "commit_failed"),
            actor=actor,
            subjects=[("batch", batch_id)],
            data={"error": type(error).__name__, "state": previous.value},
        )


def recover_stuck_batches(
    session: Session, *, actor: Actor, now: dt.datetime, grace: dt.timedelta = STUCK_COMMIT_GRACE
) -> list[int]:
    """Return batches left ``committing`` by a dead committer to their validated state.

    The merge runs in one transaction, so a crash has already rolled back its writes; only the
    claim survives. On PostgreSQL a batch whose agency lock can be taken has no live committer.
    """
    stuck = list(
        session.scalars(
            select(Batch).where(Batch.state == BatchState.COMMITTING, Batch.committing_since <= now - grace)
        )
    )
    recovered = []
    for batch in stuck:
        if (
            is_postgresql(session)
            and not session.execute(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _AGENCY_LOCK_BASE + batch.agency_id}
            ).scalar_one()
        ):
            continue  # a committer is alive and merging
        batch.state = BatchState.INVALID if batch.error_count else BatchState.VALIDATED
        batch.committing_since = None
        recovered.append(batch.id)
    if recovered:
        session.flush()
        record_event(session, AuditTag.JOB_BATCH_RECOVER, actor=actor, subjects=[("batch", b) for b in recovered],
                     data={"recovered": recovered})  # fmt: skip
    return recovered


def staged_row_count(session: Session, batch_id: int) -> int:
    return int(session.scalar(select(func.count()).select_from(BatchRow).where(BatchRow.batch_id == batch_id)) or 0)


# --- single records (form and API) --------------------------------------------------------------


def create_record(
    session: Session,
    actor: Actor,
    row: CleanRow,
    *,
    agency: Agency,
    cipher: PersonalDataCipher,
    channel: str,
    today: dt.date,
    confirm_nonstandard: bool = False,
    now: dt.datetime | None = None,
) -> int:
    """One record from the form or the API, through the same staging and merge as a batch.

    It travels in a one-row batch envelope (source ``form``/``api``), so a form entry with an
    existing ``source_ref`` becomes a new version exactly as a re-uploaded row would. Returns the
    id of the record's current version. Runs in the caller's transaction. A nonstandard USCC
    needs the caller's confirmation, as in a batch, and the confirmation is audited.
    """
    if not can_upload_for(actor, agency):
        raise BatchForbidden("you may not add records for this agency")
    is_nonstandard = row.uscc_status == "nonstandard"
    if is_nonstandard and not confirm_nonstandard:
        raise BatchNeedsConfirmation(f"the credit code {row.uscc} has a nonstandard check character: confirm it")
    now = now or utcnow()
    source = RecordSource.API if channel == "api" else RecordSource.FORM
    batch = Batch(
        agency_id=agency.id,
        uploaded_by_id=actor.user_id,
        is_on_behalf=actor.agency_id != agency.id and not actor.is_system,
        source=source,
        period=quarter_of(today),
        state=BatchState.COMMITTING,
        row_count=1,
        valid_count=1,
        warning_count=int(is_nonstandard),
        committing_since=now,
    )
    session.add(batch)
    session.flush()
    stager = _Stager(batch.id, cipher)
    stager.add(row)
    _lock_agency(session, agency.id)
    write_staged_rows(session, stager.take())
    counts = merge_staged_rows(
        session, batch_id=batch.id, agency_id=agency.id, source=source, created_by_id=actor.user_id, now=now
    )
    batch.content_sha256 = stager.content.hexdigest()
    _mark_committed(session, batch, counts, actor=actor, accept_valid=False, now=now)
    session.execute(delete(BatchRow).where(BatchRow.batch_id == batch.id))
    record_id = session.scalar(
        select(Record.id).where(Record.agency_id == agency.id, Record.source_ref == row.source_ref, Record.is_current)
    )
    assert record_id is not None
    record_event(
        session,
        AuditTag(f"{channel}:record:create"),
        actor=actor,
        subjects=[("record", record_id), ("batch", batch.id)],
        data={"inserted": counts.inserted, "versioned": counts.versioned, "unchanged": counts.unchanged,
              "on_behalf": batch.is_on_behalf, "confirmed_nonstandard": is_nonstandard},
    )  # fmt: skip
    return int(record_id)
