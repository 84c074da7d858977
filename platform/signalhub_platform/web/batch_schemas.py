"""Marshmallow schemas of the batch endpoints: what uploads and commits accept, what a batch looks like.

They serve twice: the views load requests and dump responses with them, and ``openapi`` turns the
same classes into the document's component schemas, so the published contract cannot drift from
the code. The record schemas live with the services that own them (``sharing.schemas``,
``signalhub_ingest.schemas``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, fields, validate

from signalhub_ingest.rules import without_value
from signalhub_platform.models import Batch, BatchState, RecordSource

PERIOD_PATTERN = r"^\d{4}Q[1-4]$"


@dataclass(frozen=True)
class BatchStatus:
    """A batch as the page and the API show it, with what the batch row alone cannot tell.

    ``shows_values`` is false for a viewer who may follow the batch but not read the agency's file
    (the platform office, unless it uploaded the batch): its issues then come without the values
    and without what their messages quote from the file.
    """

    batch: Batch
    is_commit_pending: bool = False  # a commit job is queued or running for it
    is_duplicate: bool = False  # the answer to an upload of identical bytes: this is the earlier batch
    shows_values: bool = True

    @property
    def errors(self) -> list[dict[str, Any]] | None:
        return self._issues(self.batch.errors)

    @property
    def warnings(self) -> list[dict[str, Any]] | None:
        return self._issues(self.batch.warnings)

    @property
    def failure(self) -> str:
        """Why validation failed; rebuilt from the withheld messages when the values are not shown."""
        if self.shows_values or not self.batch.failure:
            return self.batch.failure
        return "; ".join(str(issue.get("message_en", "")) for issue in self.errors or [])[:500]

    def _issues(self, issues: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        if issues is None or self.shows_values:
            return issues
        return [without_value(issue) for issue in issues]

    @property
    def counts(self) -> dict[str, int]:
        batch = self.batch
        return {
            "rows": batch.row_count,
            "valid": batch.valid_count,
            "errors": batch.error_count,
            "warnings": batch.warning_count,
            "rejected_rows": batch.row_count - batch.valid_count if batch.state != BatchState.FAILED else 0,
            "inserted": batch.inserted_count,
            "versioned": batch.versioned_count,
            "unchanged": batch.unchanged_count,
        }

    @property
    def progress(self) -> dict[str, int | None]:
        """The total is known once validation has read the whole file (it streams: no row count up front)."""
        batch = self.batch
        known = batch.state not in (BatchState.UPLOADED, BatchState.VALIDATING)
        return {
            "read": batch.progress_read,
            "validated": batch.progress_validated,
            "committed": batch.progress_committed,
            "total": batch.row_count if known else None,
        }

    @property
    def is_working(self) -> bool:
        """Something is still happening to the batch: the page keeps refreshing."""
        return self.is_commit_pending or self.batch.state in (
            BatchState.UPLOADED,
            BatchState.VALIDATING,
            BatchState.COMMITTING,
        )


class BatchIssueSchema(Schema):
    """One problem in the file (``row`` is null for a problem with the file or its header)."""

    row = fields.Integer(allow_none=True, metadata={"description": "row number as the spreadsheet shows it"})
    column = fields.String(metadata={"description": "the column's English key, empty for the row as a whole"})
    value = fields.String(
        metadata={
            "description": "the value as typed, shortened; ID numbers masked. Only for users of the batch's agency "
            "and the platform-office user who uploaded it: others get neither this field nor the values quoted "
            "in the messages"
        }
    )
    code = fields.String()
    message_zh = fields.String()
    message_en = fields.String()


class BatchCountsSchema(Schema):
    rows = fields.Integer()
    valid = fields.Integer()
    errors = fields.Integer(metadata={"description": "number of errors (a row may have several)"})
    warnings = fields.Integer()
    rejected_rows = fields.Integer(metadata={"description": "rows left out by 'accept the valid rows only'"})
    inserted = fields.Integer()
    versioned = fields.Integer()
    unchanged = fields.Integer()


class BatchProgressSchema(Schema):
    read = fields.Integer()
    validated = fields.Integer()
    committed = fields.Integer()
    total = fields.Integer(allow_none=True, metadata={"description": "null until validation has read the file"})


class BatchSchema(Schema):
    """``GET /api/v1/batches/<id>``: the batch, its counts, progress and first issues."""

    id = fields.Integer(attribute="batch.id", required=True)
    agency = fields.String(attribute="batch.agency.code")
    agency_name = fields.String(attribute="batch.agency.name")
    period = fields.String(attribute="batch.period")
    filename = fields.String(attribute="batch.filename")
    file_sha256 = fields.String(attribute="batch.file_sha256", allow_none=True)
    file_size = fields.Integer(attribute="batch.file_size")
    source = fields.Enum(RecordSource, by_value=True, attribute="batch.source")
    state = fields.Enum(BatchState, by_value=True, attribute="batch.state", required=True)
    is_on_behalf = fields.Boolean(
        attribute="batch.is_on_behalf", metadata={"description": "uploaded by the platform office for the agency"}
    )
    uploaded_by = fields.String(attribute="batch.uploaded_by.username", allow_none=True)
    created_at = fields.DateTime(attribute="batch.created_at")
    validated_at = fields.DateTime(attribute="batch.validated_at", allow_none=True)
    committed_at = fields.DateTime(attribute="batch.committed_at", allow_none=True)
    counts = fields.Nested(BatchCountsSchema)
    progress = fields.Nested(BatchProgressSchema)
    errors = fields.List(
        fields.Nested(BatchIssueSchema),
        allow_none=True,
        metadata={"description": "the first 1,000 errors; the error workbook lists them all"},
    )
    warnings = fields.List(fields.Nested(BatchIssueSchema), allow_none=True)
    failure = fields.String(metadata={"description": "why an unreadable file failed"})
    same_content_as = fields.Integer(
        attribute="batch.same_content_as_id",
        allow_none=True,
        metadata={"description": "an earlier committed batch with the same rows in other bytes"},
    )
    is_valid_only_accepted = fields.Boolean(attribute="batch.is_valid_only_accepted")
    commit_pending = fields.Boolean(attribute="is_commit_pending")


class BatchUploadResultSchema(BatchSchema):
    """``POST /api/v1/batches``: the new batch (202), or the earlier one for identical bytes (200)."""

    duplicate = fields.Boolean(attribute="is_duplicate", required=True)


class BatchUploadSchema(Schema):
    """The multipart upload, from the web form and the API alike."""

    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})
    period = fields.String(
        load_default=None,
        validate=validate.Regexp(PERIOD_PATTERN),
        metadata={"description": "quarter such as 2026Q3; the current quarter when omitted"},
    )
    agency = fields.String(
        load_default=None,
        validate=validate.Length(max=32),
        metadata={"description": "agency code: only the platform office uploading on an agency's behalf"},
    )


class BatchCommitSchema(Schema):
    accept_valid = fields.Boolean(
        load_default=False, metadata={"description": "commit the valid rows of an invalid batch, reject the rest"}
    )
    confirm_nonstandard = fields.Boolean(
        load_default=False, metadata={"description": "confirm the USCCs with a nonstandard check character"}
    )


class BatchCommitResultSchema(BatchSchema):
    """``POST /api/v1/batches/<id>/commit``: queued (202) or, with ``?wait=1``, done (200)."""

    queued = fields.Boolean(required=True)


class ErrorBodySchema(Schema):
    code = fields.Integer(required=True, metadata={"description": "the HTTP status"})
    message = fields.String(required=True)
    details = fields.Raw(metadata={"description": "field problems, when the input was refused"})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


def error_document(code: int, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}
