"""Text reports (文字报告): declaring special campaigns, submitting report files, due and overdue reports.

The rules come from the seed's Article 14: a special assessment report (专项研判报告) is uploaded
within ten working days after a special campaign ends, and the annual risk assessment report
(年度风险评估报告) for year Y by 31 January of Y+1. The agency declares a campaign with its end
date, which creates the obligation; an annual obligation exists without any row, and the row is
created when the file arrives.

Working days are those of the official calendar, adjusted working weekends (调休) included, from
the ``chinesecalendar`` package. It knows each year only once the State Council publishes it
(usually in November of the year before): for any other year we raise
``CalendarUnavailableError`` instead of guessing from weekdays, because a guessed due date would
be wrong around every public holiday.

Files are checked by their bytes, never by their name alone: a PDF starts with ``%PDF-``; a DOCX
or XLSX is a zip holding ``[Content_Types].xml`` and ``word/`` or ``xl/`` parts. Nothing is
inflated, so a zip bomb costs nothing. Files are stored content-addressed under
``<instance>/reports/<agency code>/<sha256><ext>``; a transaction that rolls back after the file
was written leaves an unreferenced file behind, which is harmless.

Only the agency's own liaisons and admins declare and submit; the platform office's admins may
submit on an agency's behalf, which the report (``submitted_by``) and the audit event show. Anyone
in the agency and the platform office may list and download; to any other agency's user another
agency's reports do not exist. Every read and write is audited; services flush, never commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from signalhub_audit.services import Subject, record_event
from signalhub_audit.tags import AuditTag
from signalhub_ingest.readers import file_sha256
from signalhub_platform.models import Actor, Agency, ReportKind, Role, TextReport
from signalhub_platform.models.types import beijing_today, utcnow
from signalhub_platform.workdays import (
    CalendarUnavailableError,
    working_days_after,
    working_days_between,
)

# Article 14: "于十个工作日内上传至本平台".
SPECIAL_REPORT_WORKING_DAYS = 10
# Missing annual reports are chased for at most this many past years.
ANNUAL_OVERDUE_YEARS = 3
# A report is a document, not a data dump; the request limit (max_content_length) applies first.
MAX_REPORT_BYTES = 50 * 1024 * 1024
CAMPAIGN_NAME_MAX_CHARS = 200
FILENAME_MAX_CHARS = 255

PDF = ".pdf"
DOCX = ".docx"
XLSX = ".xlsx"
CONTENT_TYPES = {
    PDF: "application/pdf",
    DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FORMAT_NAMES = {PDF: "PDF", DOCX: "DOCX", XLSX: "XLSX"}
ZIP_MAGIC = b"PK\x03\x04"
PDF_MAGIC = b"%PDF-"
# A directory name made from an agency code must not be able to leave the reports folder.
_SAFE_DIR_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")

SUBMITTED = "submitted"
DUE = "due"
OVERDUE = "overdue"


# --- errors ----------------------------------------------------------------------------------


class ReportError(Exception):
    """A refused operation. ``code`` names the reason for the UI; ``params`` fill its message."""

    status_code = 400

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


class ReportNotFound(ReportError):
    status_code = 404

    def __init__(self) -> None:
        super().__init__("not_found", "report or agency not found")


class ReportForbidden(ReportError):
    status_code = 403

    def __init__(self, message: str) -> None:
        super().__init__("forbidden", message)


class ReportConflict(ReportError):
    status_code = 409


class ReportFileError(ReportError):
    """The uploaded file is refused; the message is safe to show."""


class ReportFileUnavailable(ReportError):
    """The stored file is missing or no longer has the hash recorded at upload: a server-side fault."""

    status_code = 500

    def __init__(self) -> None:
        super().__init__("file_unavailable", "the stored file is missing or does not match its recorded hash")


# --- the calendar (pure) ---------------------------------------------------------------------


def special_due_on(end_on: dt.date) -> dt.date:
    return working_days_after(end_on, SPECIAL_REPORT_WORKING_DAYS)


def annual_due_on(year: int) -> dt.date:
    """Article 14: "于下一年度 1 月 31 日前" — a fixed date, weekend or not."""
    return dt.date(year + 1, 1, 31)


def _latest_past_due_year(today: dt.date) -> int:
    return today.year - 1 if today > annual_due_on(today.year - 1) else today.year - 2


def owed_annual_years(today: dt.date, since: dt.date) -> list[int]:
    """Years whose annual report is past due on ``today``: the last few, none before ``since``'s year."""
    latest = _latest_past_due_year(today)
    first = max(latest - ANNUAL_OVERDUE_YEARS + 1, since.year)
    return list(range(first, latest + 1))


def submittable_annual_years(today: dt.date) -> range:
    """Years an annual report may be uploaded for: every year that can be chased, up to the current one."""
    return range(_latest_past_due_year(today) - ANNUAL_OVERDUE_YEARS + 1, today.year + 1)


# --- permissions (pure) ----------------------------------------------------------------------


def can_list_reports(actor: Actor, agency: Agency) -> bool:
    if actor.is_public:
        return False
    return actor.agency_id == agency.id or actor.is_platform_office or actor.is_system


def can_declare_campaign(actor: Actor, agency: Agency) -> bool:
    return not actor.is_public and actor.agency_id == agency.id and actor.has_role(Role.LIAISON, Role.AGENCY_ADMIN)


def can_submit_report(actor: Actor, agency: Agency) -> bool:
    """The agency's liaisons and admins, or the platform office's admins on its behalf."""
    on_behalf = actor.is_platform_office and actor.has_role(Role.PLATFORM_ADMIN) and actor.user_id is not None
    return can_declare_campaign(actor, agency) or on_behalf


# --- file checks (pure) ----------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFileType:
    extension: str  # ".pdf", ".docx" or ".xlsx"
    content_type: str


def clean_filename(filename: str) -> str:
    """The name to show and to offer on download: no folders (browsers send C:\\fakepath\\...), no controls."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = " ".join(_CONTROL_CHARS.sub(" ", name).split())
    if len(name) > FILENAME_MAX_CHARS:
        stem, dot, suffix = name.rpartition(".")
        name = (stem[: FILENAME_MAX_CHARS - len(suffix) - 1] + dot + suffix) if dot and len(suffix) <= 10 else name
    return name[:FILENAME_MAX_CHARS]


def inspect_report_file(filename: str, data: bytes) -> ReportFileType:
    """The file's real type, from its bytes; ``ReportFileError`` unless it is a PDF, DOCX or XLSX named so."""
    extension = PurePosixPath(clean_filename(filename).lower()).suffix
    if not data:
        raise ReportFileError("empty_file", "the file is empty")
    if len(data) > MAX_REPORT_BYTES:
        raise ReportFileError(
            "too_large", f"the file is larger than {MAX_REPORT_BYTES // 2**20} MB", megabytes=MAX_REPORT_BYTES // 2**20
        )
    if extension not in CONTENT_TYPES:
        raise ReportFileError("bad_extension", "only PDF, DOCX and XLSX files are accepted")
    detected = _detect_type(data)
    if detected != extension:
        raise ReportFileError(
            "type_mismatch",
            f"the file is named {extension} but its content is {FORMAT_NAMES[detected]}",
            extension=extension,
            detected=FORMAT_NAMES[detected],
        )
    return ReportFileType(extension, CONTENT_TYPES[extension])


def _detect_type(data: bytes) -> str:
    if data.startswith(PDF_MAGIC):
        return PDF
    if not data.startswith(ZIP_MAGIC):
        raise ReportFileError("unknown_type", "the content is not a PDF, DOCX or XLSX document, whatever its name")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [info.filename for info in archive.infolist()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise ReportFileError("unknown_type", "the file looks like a zip archive but cannot be read") from exc
    if any(_is_unsafe_entry(name) for name in names):
        raise ReportFileError("unsafe_zip", "the archive holds entries with absolute or '..' paths")
    is_word = any(name.startswith("word/") for name in names)
    is_excel = any(name.startswith("xl/") for name in names)
    if "[Content_Types].xml" not in names or is_word == is_excel:
        raise ReportFileError("not_office", "the zip archive is not a Word (DOCX) or Excel (XLSX) document")
    if any(name.lower().endswith("vbaproject.bin") for name in names):
        # Macro-enabled documents (.docm/.xlsm) renamed to .docx/.xlsx would carry code to every reader.
        raise ReportFileError("macro", "documents with macros are not accepted")
    return DOCX if is_word else XLSX


def _is_unsafe_entry(name: str) -> bool:
    normalised = name.replace("\\", "/")
    return (
        normalised.startswith("/") or bool(_WINDOWS_DRIVE.match(normalised)) or ".." in PurePosixPath(normalised).parts
    )


def reports_dir(instance_dir: Path) -> Path:
    """Where report files live: ``<instance>/reports``."""
    return instance_dir / "reports"


def _agency_dir_name(agency: Agency) -> str:
    return agency.code if _SAFE_DIR_NAME.fullmatch(agency.code) else f"agency-{agency.id}"


def _store_file(storage_dir: Path, agency: Agency, sha256: str, extension: str, data: bytes) -> str:
    """Write the bytes once (content-addressed, atomically) and return the path relative to ``storage_dir``."""
    relative = f"{_agency_dir_name(agency)}/{sha256}{extension}"
    target = storage_dir / relative
    if target.exists():
        return relative
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return relative


# --- views of reports ------------------------------------------------------------------------


@dataclass
class ReportStatus:
    """One report an agency owes or has submitted, with its status as of a day."""

    kind: ReportKind
    year: int
    due_on: dt.date
    status: str  # SUBMITTED, DUE or OVERDUE
    report: TextReport | None = None  # None: an annual report nothing has been uploaded for yet
    campaign_name: str = ""
    campaign_end_on: dt.date | None = None
    # Working days after today up to the due date (DUE), or after the due date up to today (OVERDUE).
    # None when the official calendar of a year in between is not available: shown as unknown.
    working_days_left: int | None = None
    working_days_overdue: int | None = None
    calendar_missing_year: int | None = None
    is_late: bool = False  # submitted after the due date
    is_on_behalf: bool = False  # submitted by the platform office

    @property
    def is_submitted(self) -> bool:
        return self.status == SUBMITTED


@dataclass
class AgencyReports:
    agency: Agency
    today: dt.date
    items: list[ReportStatus]
    can_declare: bool
    can_submit: bool


@dataclass
class AgencyOverdue:
    agency: Agency
    items: list[ReportStatus] = field(default_factory=list)


def _status(
    kind: ReportKind,
    year: int,
    due_on: dt.date,
    report: TextReport | None,
    today: dt.date,
) -> ReportStatus:
    item = ReportStatus(kind=kind, year=year, due_on=due_on, status=DUE, report=report)
    if report is not None:
        item.campaign_name = report.campaign_name
        item.campaign_end_on = report.campaign_end_on
    if report is not None and report.submitted_at is not None:
        item.status = SUBMITTED
        item.is_late = beijing_today(report.submitted_at) > due_on
        item.is_on_behalf = report.submitted_by is not None and report.submitted_by.agency_id != report.agency_id
        return item
    try:
        if today > due_on:
            item.status = OVERDUE
            item.working_days_overdue = working_days_between(due_on, today)
        else:
            item.working_days_left = working_days_between(today, due_on)
    except CalendarUnavailableError as exc:
        item.calendar_missing_year = exc.year
    return item


def _agency_since(agency: Agency) -> dt.date:
    return beijing_today(agency.created_at)


@contextmanager
def _refusals_audited(
    session: Session, actor: Actor, tag: AuditTag, action: str, subjects: list[Subject]
) -> Iterator[None]:
    """Every refused attempt leaves an audit event naming the reason (the caller commits it)."""
    try:
        yield
    except ReportError as exc:
        record_event(session, tag, actor=actor, subjects=subjects, data={"action": action, "refused": exc.code})
        raise


def _load_agency(session: Session, actor: Actor, agency_code: str) -> Agency:
    """The agency if the actor may see its reports; otherwise it does not exist for them."""
    agency = session.scalars(select(Agency).where(Agency.code == agency_code)).first()
    if agency is None or not can_list_reports(actor, agency):
        raise ReportNotFound()
    return agency


def _reports_of(session: Session, agency_ids: Iterable[int]) -> list[TextReport]:
    query = select(TextReport).where(TextReport.agency_id.in_(list(agency_ids)))
    return list(session.scalars(query.order_by(TextReport.due_on, TextReport.id)))


# --- operations ------------------------------------------------------------------------------


def declare_campaign(
    session: Session, actor: Actor, *, agency_code: str, name: str, end_on: dt.date, tag: AuditTag
) -> TextReport:
    """Record a special campaign: its report falls due ten working days after ``end_on``."""
    with _refusals_audited(session, actor, tag, "declare", [("agency", agency_code[:32])]):
        agency = _load_agency(session, actor, agency_code)
        if not can_declare_campaign(actor, agency):
            raise ReportForbidden("only the agency's liaisons and admins declare campaigns")
        name = " ".join(_CONTROL_CHARS.sub(" ", name).split())
        if not name:
            raise ReportError("name_required", "the campaign needs a name")
        if len(name) > CAMPAIGN_NAME_MAX_CHARS:
            raise ReportError(
                "name_too_long",
                f"the campaign name is longer than {CAMPAIGN_NAME_MAX_CHARS} characters",
                limit=CAMPAIGN_NAME_MAX_CHARS,
            )
        try:
            due_on = special_due_on(end_on)
        except CalendarUnavailableError as exc:
            raise ReportError("calendar_unavailable", str(exc), year=exc.year) from exc
        duplicate = ReportConflict(
            "duplicate_campaign",
            f"a campaign of this name ending in {end_on.year} is already declared",
            year=end_on.year,
        )
        if _find(session, agency, ReportKind.SPECIAL_ASSESSMENT, end_on.year, name) is not None:
            raise duplicate
        report = TextReport(
            agency_id=agency.id,
            kind=ReportKind.SPECIAL_ASSESSMENT,
            year=end_on.year,
            campaign_name=name,
            campaign_end_on=end_on,
            due_on=due_on,
            created_by_id=actor.user_id,
        )
        try:
            with session.begin_nested():  # a concurrent identical declaration hits the unique constraint
                session.add(report)
        except IntegrityError:
            raise duplicate from None
    record_event(
        session,
        tag,
        actor=actor,
        subjects=[("report", report.id), ("agency", agency.code)],
        data={"action": "declare", "campaign_end_on": end_on.isoformat(), "due_on": due_on.isoformat()},
    )
    return report


def submit_report(
    session: Session,
    actor: Actor,
    *,
    agency_code: str,
    report_id: int | None = None,
    annual_year: int | None = None,
    filename: str,
    data: bytes,
    storage_dir: Path,
    tag: AuditTag,
    now: dt.datetime | None = None,
) -> TextReport:
    """Attach the file of a declared special report (``report_id``) or of an annual report (``annual_year``).

    A report is submitted once: replacing its file later would rewrite when it arrived.
    """
    if (report_id is None) == (annual_year is None):
        raise ValueError("give exactly one of report_id and annual_year")
    now = now or utcnow()
    subjects: list[Subject] = [("agency", agency_code[:32])]
    if report_id is not None:
        subjects.append(("report", report_id))
    with _refusals_audited(session, actor, tag, "submit", subjects):
        agency = _load_agency(session, actor, agency_code)
        if not can_submit_report(actor, agency):
            raise ReportForbidden("only the agency's liaisons and admins, or the platform office, submit reports")
        report = _report_to_submit(session, agency, report_id, annual_year, today=beijing_today(now))
        file_type = inspect_report_file(filename, data)
        sha256 = hashlib.sha256(data).hexdigest()
        relative_path = _store_file(storage_dir, agency, sha256, file_type.extension, data)
        if report is None:
            assert annual_year is not None
            report = TextReport(
                agency_id=agency.id,
                kind=ReportKind.ANNUAL_RISK,
                year=annual_year,
                campaign_name="",
                due_on=annual_due_on(annual_year),
                created_by_id=actor.user_id,
            )
            try:
                with session.begin_nested():  # a concurrent first upload of the same year hits the unique constraint
                    session.add(report)
            except IntegrityError:
                raise ReportConflict("already_submitted", "this report has already been submitted") from None
    report.filename = clean_filename(filename) or f"report{file_type.extension}"
    report.file_path = relative_path
    report.file_sha256 = sha256
    report.file_size = len(data)
    report.content_type = file_type.content_type
    report.submitted_at = now
    report.submitted_by_id = actor.user_id
    session.flush()
    record_event(
        session,
        tag,
        actor=actor,
        subjects=[("report", report.id), ("agency", agency.code)],
        data={
            "action": "submit",
            "kind": report.kind.value,
            "year": report.year,
            "sha256": sha256,
            "size": len(data),
            "content_type": file_type.content_type,
            "on_behalf": actor.agency_id != agency.id,
            "is_late": beijing_today(now) > report.due_on,
        },
    )
    return report


def _report_to_submit(
    session: Session, agency: Agency, report_id: int | None, annual_year: int | None, *, today: dt.date
) -> TextReport | None:
    """The unsubmitted report the file is for; None for an annual report not started yet."""
    report: TextReport | None
    if report_id is not None:
        # Locked until commit (PostgreSQL; SQLite writers are serialised already): two uploads, one submission.
        report = session.get(TextReport, report_id, with_for_update=True, populate_existing=True)
        if report is None or report.agency_id != agency.id or report.kind != ReportKind.SPECIAL_ASSESSMENT:
            raise ReportNotFound()
    else:
        assert annual_year is not None
        allowed = submittable_annual_years(today)
        if annual_year not in allowed:
            raise ReportError(
                "bad_year",
                f"annual reports are accepted for {allowed.start}-{allowed.stop - 1}",
                first=allowed.start,
                last=allowed.stop - 1,
            )
        report = _find(session, agency, ReportKind.ANNUAL_RISK, annual_year, "", for_update=True)
    if report is not None and report.submitted_at is not None:
        raise ReportConflict("already_submitted", "this report has already been submitted")
    return report


def list_reports(session: Session, actor: Actor, *, agency_code: str, today: dt.date, tag: AuditTag) -> AgencyReports:
    """The agency's declared special reports and the annual reports it owes or has submitted."""
    with _refusals_audited(session, actor, tag, "list", [("agency", agency_code[:32])]):
        agency = _load_agency(session, actor, agency_code)
    rows = _reports_of(session, [agency.id])
    items = [_status(row.kind, row.year, row.due_on, row, today) for row in rows]
    since = _agency_since(agency)
    started = {row.year for row in rows if row.kind == ReportKind.ANNUAL_RISK}
    # The annual reports owed, and the ones coming due (the current year's), before any upload.
    expected = set(owed_annual_years(today, since))
    expected.update(
        year for year in (today.year - 1, today.year) if annual_due_on(year) >= today and year >= since.year
    )
    items += [
        _status(ReportKind.ANNUAL_RISK, year, annual_due_on(year), None, today) for year in sorted(expected - started)
    ]
    # Outstanding first, the most urgent on top; then submitted ones, the most recent on top.
    items.sort(
        key=lambda item: (item.is_submitted, -item.due_on.toordinal() if item.is_submitted else item.due_on.toordinal())
    )
    record_event(
        session,
        tag,
        actor=actor,
        subjects=[("agency", agency.code)],
        data={"action": "list", "as_of": today.isoformat(), "reports": len(items)},
    )
    return AgencyReports(
        agency=agency,
        today=today,
        items=items,
        can_declare=can_declare_campaign(actor, agency),
        can_submit=can_submit_report(actor, agency),
    )


def get_report_file(
    session: Session, actor: Actor, *, report_id: int, storage_dir: Path, tag: AuditTag
) -> tuple[TextReport, Path]:
    """A submitted report and its file, after checking the file still has the hash recorded at upload."""
    with _refusals_audited(session, actor, tag, "download", [("report", report_id)]):
        report = session.get(TextReport, report_id)
        if report is None or report.submitted_at is None or not can_list_reports(actor, report.agency):
            raise ReportNotFound()
        root = storage_dir.resolve()
        path = (root / report.file_path).resolve()
        if not path.is_relative_to(root) or not path.is_file() or file_sha256(path) != report.file_sha256:
            # Refuse rather than hand out something other than what was submitted.
            raise ReportFileUnavailable()
    record_event(
        session,
        tag,
        actor=actor,
        subjects=[("report", report.id), ("agency", report.agency.code)],
        data={"action": "download", "sha256": report.file_sha256},
    )
    return report, path


def overdue_reports(session: Session, *, today: dt.date) -> list[AgencyOverdue]:
    """Every active agency with the reports it owes past their due date on ``today`` (unaudited query).

    Declared special reports past due without a file, and annual reports of the last few years
    whose 31 January has passed with no file (not for years before the agency was created).
    """
    agencies = list(session.scalars(select(Agency).where(Agency.is_active).order_by(Agency.code)))
    by_agency = {agency.id: AgencyOverdue(agency) for agency in agencies}
    rows = _reports_of(session, by_agency)
    started_annual = {(row.agency_id, row.year) for row in rows if row.kind == ReportKind.ANNUAL_RISK}
    for row in rows:
        if row.submitted_at is None and row.due_on < today:
            by_agency[row.agency_id].items.append(_status(row.kind, row.year, row.due_on, row, today))
    for entry in by_agency.values():
        missing = [
            year
            for year in owed_annual_years(today, _agency_since(entry.agency))
            if (entry.agency.id, year) not in started_annual
        ]
        entry.items += [_status(ReportKind.ANNUAL_RISK, year, annual_due_on(year), None, today) for year in missing]
        entry.items.sort(key=lambda item: item.due_on)
    return list(by_agency.values())


def list_overdue_reports(session: Session, actor: Actor, *, today: dt.date, tag: AuditTag) -> list[AgencyOverdue]:
    """``overdue_reports`` for the platform office (and the CLI), audited."""
    with _refusals_audited(session, actor, tag, "overdue", []):
        if not (actor.is_platform_office or actor.is_system):
            raise ReportForbidden("the overdue list is for the platform office")
    listing = overdue_reports(session, today=today)
    late = [entry for entry in listing if entry.items]
    record_event(
        session,
        tag,
        actor=actor,
        subjects=[("agency", entry.agency.code) for entry in late],
        data={"action": "overdue", "as_of": today.isoformat(), "reports": sum(len(entry.items) for entry in late)},
    )
    return listing


def _find(
    session: Session, agency: Agency, kind: ReportKind, year: int, campaign_name: str, *, for_update: bool = False
) -> TextReport | None:
    query = select(TextReport).where(
        TextReport.agency_id == agency.id,
        TextReport.kind == kind,
        TextReport.year == year,
        TextReport.campaign_name == campaign_name,
    )
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).first()
