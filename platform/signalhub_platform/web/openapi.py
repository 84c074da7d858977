"""The OpenAPI 3.1 document of ``/api/v1``, served at ``/api/v1/openapi.json`` without authentication.

Component schemas are generated from the marshmallow schemas the views load and dump with
(apispec's MarshmallowPlugin), so a field added to a schema shows up here by itself. The paths
are declared once, in ``OPERATIONS``; a test compares them with the application's URL map, so an
endpoint added without documentation fails the suite.
"""

from __future__ import annotations

import functools
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint
from marshmallow import Schema, fields

from signalhub_ingest.schemas import RecordCorrectionSchema, RecordInputSchema, RecordWithdrawalSchema
from signalhub_platform.messaging.schemas import MessageRequestSchema, MessageSentSchema
from signalhub_platform.models.types import beijing_today
from signalhub_platform.sharing.schemas import EntitySchema, EntitySummarySchema, RecordSchema, RoleSchema
from signalhub_platform.statistics.schemas import StatisticsDocumentSchema, StatisticsQuerySchema
from signalhub_platform.web.api import EntityWarningSchema, LinkedEntitySchema
from signalhub_platform.web.api_warnings import (
    ActionResultSchema,
    AssignSchema,
    CloseSchema,
    DisposeSchema,
    FeedbackSchema,
    InboxSchema,
    NoteSchema,
    QueuePageSchema,
    QueueQuerySchema,
    SnoozeRequestSchema,
    WarningDocumentSchema,
    WatchListSchema,
    WatchRequestSchema,
    WatchResultSchema,
)
from signalhub_platform.web.batch_schemas import (
    BatchCommitResultSchema,
    BatchCommitSchema,
    BatchSchema,
    BatchUploadResultSchema,
    BatchUploadSchema,
    ErrorSchema,
)
from signalhub_platform.web.public import PublicSearchResultSchema

bp = Blueprint("openapi", __name__)

API_VERSION = "1"
JSON = "application/json"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- documents the API returns that have no schema of their own in the code ----------------------


class EntitySearchResultSchema(Schema):
    results = fields.List(fields.Nested(EntitySummarySchema), required=True)


class EntityDocumentSchema(Schema):
    entity = fields.Nested(EntitySchema, required=True)
    responsible_persons = fields.List(fields.Nested(RoleSchema), required=True)
    records_by_agency = fields.Dict(
        keys=fields.String(), values=fields.List(fields.Nested(RecordSchema)), required=True
    )
    record_count = fields.Integer(required=True)
    warnings = fields.List(
        fields.Nested(EntityWarningSchema), required=True, metadata={"description": "the entity's own, visible"}
    )
    linked_entities = fields.List(fields.Nested(LinkedEntitySchema), required=True)
    linked_entities_truncated = fields.Boolean(required=True)


class RecordDocumentSchema(Schema):
    record = fields.Nested(RecordSchema, required=True)
    history = fields.List(fields.Nested(RecordSchema), required=True, metadata={"description": "every visible version"})


class RecordChangeResultSchema(Schema):
    record = fields.Nested(RecordSchema, required=True, metadata={"description": "the new version"})


# --- the operations ------------------------------------------------------------------------------


def _json(schema: Any, description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(ErrorSchema, description)


def _path_id(name: str, description: str, kind: str = "integer") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": kind}}


PURPOSE = [
    {
        "name": "X-Signalhub-Purpose",
        "in": "header",
        "required": False,
        "description": "why the caller reads (kept in the audit log)",
        "schema": {"type": "string", "maxLength": 100},
    },
    {"name": "purpose", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 100}},
]
UNAUTHORISED = _error("no valid bearer token")
NOT_FOUND = _error("missing, or not visible to the caller (the two answer alike)")
RECORD_ID = _path_id("record_id", "a record version's id")
BATCH_ID = _path_id("batch_id", "the batch's id")
ON_BEHALF = {
    "name": "agency",
    "in": "query",
    "required": False,
    "description": "agency code: the platform office acting for an agency",
    "schema": {"type": "string"},
}
_CHANGE_RESPONSES = {
    "200": _json(RecordChangeResultSchema, "the new version"),
    "400": _error("invalid input"),
    "401": UNAUTHORISED,
    "403": _error("not the owning agency"),
    "404": NOT_FOUND,
    "409": _error("the record changed in the meantime"),
}
_BATCH_IDENTIFIED = {"Location": {"description": "the batch's URL", "schema": {"type": "string"}}}

# (path, method) → operation; the one place endpoints are documented.
OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("/api/v1/openapi.json", "get"): {
        "summary": "This document",
        "operationId": "getOpenApi",
        "security": [],
        "responses": {"200": {"description": "OpenAPI 3.1", "content": {JSON: {"schema": {"type": "object"}}}}},
    },
    ("/api/v1/entities", "get"): {
        "summary": "Search entities by name or credit code",
        "operationId": "searchEntities",
        "parameters": [{"name": "q", "in": "query", "required": False, "schema": {"type": "string"}}],
        "responses": {"200": _json(EntitySearchResultSchema, "matching entities"), "401": UNAUTHORISED},
    },
    ("/api/v1/entities/{uscc}", "get"): {
        "summary": "An entity's profile, the records and warnings the caller may see, and its linked entities",
        "operationId": "getEntity",
        "parameters": [_path_id("uscc", "unified social credit code", "string"), *PURPOSE],
        "responses": {"200": _json(EntityDocumentSchema, "the profile"), "401": UNAUTHORISED, "404": NOT_FOUND},
    },
    ("/api/v1/records", "post"): {
        "summary": "Create one record (an existing source_ref makes a new version)",
        "operationId": "createRecord",
        "parameters": [
            ON_BEHALF,
            {
                "name": "confirm_nonstandard",
                "in": "query",
                "required": False,
                "description": "1: the caller has checked a credit code with a nonstandard check character",
                "schema": {"type": "string", "enum": ["0", "1", "true", "false"]},
            },
        ],
        "requestBody": {"required": True, "content": {JSON: {"schema": RecordInputSchema}}},
        "responses": {
            "201": {
                **_json(RecordDocumentSchema, "the record's current version and its history"),
                "headers": {"Location": {"description": "the record's URL", "schema": {"type": "string"}}},
            },
            "400": _error("invalid record; details list each problem in Chinese and English"),
            "401": UNAUTHORISED,
            "403": _error("the caller may not add records for this agency"),
            "409": _error("a nonstandard credit code needs confirm_nonstandard=1; details list the warnings"),
        },
    },
    ("/api/v1/records/{record_id}", "get"): {
        "summary": "A record version and its visible history",
        "operationId": "getRecord",
        "parameters": [RECORD_ID, *PURPOSE],
        "responses": {"200": _json(RecordDocumentSchema, "the record"), "401": UNAUTHORISED, "404": NOT_FOUND},
    },
    ("/api/v1/records/{record_id}", "put"): {
        "summary": "Correct a record: a new version with a reason",
        "operationId": "correctRecord",
        "parameters": [RECORD_ID],
        "requestBody": {"required": True, "content": {JSON: {"schema": RecordCorrectionSchema}}},
        "responses": _CHANGE_RESPONSES,
    },
    ("/api/v1/records/{record_id}", "delete"): {
        "summary": "Withdraw a record: a new version with status withdrawn",
        "operationId": "withdrawRecord",
        "parameters": [RECORD_ID],
        "requestBody": {"required": True, "content": {JSON: {"schema": RecordWithdrawalSchema}}},
        "responses": _CHANGE_RESPONSES,
    },
    ("/api/v1/records/{record_id}/export", "get"): {
        "summary": "A record's visible versions as CSV",
        "operationId": "exportRecord",
        "parameters": [RECORD_ID, *PURPOSE],
        "responses": {
            "200": {
                "description": "CSV, one line per version",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            },
            "401": UNAUTHORISED,
            "404": NOT_FOUND,
        },
    },
    ("/api/v1/batches", "post"): {
        "summary": "Upload a quarterly batch file (CSV or XLSX); validation runs in the background",
        "operationId": "uploadBatch",
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": BatchUploadSchema}}},
        "responses": {
            "202": {**_json(BatchUploadResultSchema, "stored; validation queued"), "headers": _BATCH_IDENTIFIED},
            "200": {
                **_json(BatchUploadResultSchema, "identical bytes were uploaded before: the earlier batch"),
                "headers": _BATCH_IDENTIFIED,
            },
            "400": _error("missing file, bad period, unknown agency, or an unsupported or unsafe file"),
            "401": UNAUTHORISED,
            "403": _error("the caller may not upload for this agency"),
            "413": _error("the upload is larger than the configured limit"),
        },
    },
    ("/api/v1/batches/{batch_id}", "get"): {
        "summary": "A batch's state, counts, progress and first errors and warnings",
        "operationId": "getBatch",
        "parameters": [BATCH_ID],
        "responses": {"200": _json(BatchSchema, "the batch"), "401": UNAUTHORISED, "404": NOT_FOUND},
    },
    ("/api/v1/batches/{batch_id}/commit", "post"): {
        "summary": "Commit a validated batch, all of it or (explicitly) its valid rows only",
        "operationId": "commitBatch",
        "parameters": [
            BATCH_ID,
            {
                "name": "wait",
                "in": "query",
                "required": False,
                "description": "1: commit within the request and answer 200 with the outcome",
                "schema": {"type": "string", "enum": ["0", "1", "true", "false"]},
            },
        ],
        "requestBody": {"required": False, "content": {JSON: {"schema": BatchCommitSchema}}},
        "responses": {
            "202": _json(BatchCommitResultSchema, "the commit is queued"),
            "200": _json(BatchCommitResultSchema, "committed (with wait=1)"),
            "400": _error("invalid input"),
            "401": UNAUTHORISED,
            "404": NOT_FOUND,
            "409": _error(
                "already committed or queued, not validated yet, has errors (accept_valid needed) or "
                "nonstandard credit codes (confirm_nonstandard needed); details.reason says which"
            ),
        },
    },
    ("/api/v1/batches/{batch_id}/errors.xlsx", "get"): {
        "summary": "The error workbook: every row with a problem, with its errors and warnings",
        "operationId": "getBatchErrorWorkbook",
        "parameters": [BATCH_ID],
        "responses": {
            "200": {"description": "XLSX", "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}},
            "401": UNAUTHORISED,
            "404": NOT_FOUND,
        },
    },
}


# The warning queue, watch lists and the inbox (``api_warnings``).
WARNING_ID = _path_id("warning_id", "the warning's id")
_WARNING_ACTION_RESPONSES = {
    "200": _json(ActionResultSchema, "done: the warning as it is now"),
    "400": _error("invalid input; details.reason (or the field messages) say what"),
    "401": UNAUTHORISED,
    "403": _error("not a supervisor who may work this warning"),
    "404": NOT_FOUND,
    "409": _error("not possible in the warning's current status (details.reason says why)"),
}
_WATCH_SUBJECT = {"required": False, "content": {JSON: {"schema": WatchRequestSchema}}}


def _warning_action(summary: str, operation_id: str, body: Any) -> dict[str, Any]:
    return {
        "summary": summary,
        "operationId": operation_id,
        "parameters": [WARNING_ID],
        "requestBody": {"required": True, "content": {JSON: {"schema": body}}},
        "responses": _WARNING_ACTION_RESPONSES,
    }


OPERATIONS.update(
    {
        ("/api/v1/warnings", "get"): {
            "summary": "The warning queue: the warnings you may see, filtered, by level then age",
            "operationId": "listWarnings",
            "parameters": [{"in": "query", "schema": QueueQuerySchema}],
            "responses": {
                "200": _json(QueuePageSchema, "one page, with the counts per level"),
                "400": _error("invalid filters"),
                "401": UNAUTHORISED,
            },
        },
        ("/api/v1/warnings/{warning_id}", "get"): {
            "summary": "A warning explained: rules, agencies, the records you may see, history, receipts",
            "operationId": "getWarning",
            "parameters": [WARNING_ID],
            "responses": {"200": _json(WarningDocumentSchema, "the warning"), "401": UNAUTHORISED, "404": NOT_FOUND},
        },
        ("/api/v1/warnings/{warning_id}/assign", "post"): _warning_action(
            "Assign to yourself, a colleague, or the least-loaded supervisor", "assignWarning", AssignSchema
        ),
        ("/api/v1/warnings/{warning_id}/acknowledge", "post"): _warning_action(
            "Acknowledge (open → acknowledged)", "acknowledgeWarning", NoteSchema
        ),
        ("/api/v1/warnings/{warning_id}/dispose", "post"): _warning_action(
            "Record a measure (→ in_disposal)", "disposeWarning", DisposeSchema
        ),
        ("/api/v1/warnings/{warning_id}/close", "post"): _warning_action(
            "Close with a note (in_disposal → closed)", "closeWarning", CloseSchema
        ),
        ("/api/v1/warnings/{warning_id}/snooze", "post"): _warning_action(
            "Snooze one of its rules for the subject until a day (a false positive), with a reason",
            "snoozeWarning",
            SnoozeRequestSchema,
        ),
        ("/api/v1/warnings/{warning_id}/feedback", "post"): _warning_action(
            "Send feedback to the source agencies", "sendWarningFeedback", FeedbackSchema
        ),
        ("/api/v1/warnings/{warning_id}/receipt", "post"): _warning_action(
            "Red only: your agency acknowledges; the answer lists who has not yet", "recordWarningReceipt", NoteSchema
        ),
        ("/api/v1/watches", "get"): {
            "summary": "Your watch list, with the warnings you may see on each subject",
            "operationId": "listWatches",
            "responses": {"200": _json(WatchListSchema, "the watch list"), "401": UNAUTHORISED},
        },
        ("/api/v1/watches", "post"): {
            "summary": "Watch an entity or a person: warning changes reach your inbox",
            "operationId": "addWatch",
            "requestBody": {"required": True, "content": {JSON: {"schema": WatchRequestSchema}}},
            "responses": {
                "201": _json(WatchResultSchema, "watching"),
                "400": _error("invalid subject"),
                "401": UNAUTHORISED,
                "404": NOT_FOUND,
            },
        },
        ("/api/v1/watches", "delete"): {
            "summary": "Stop watching a subject (in the body, or as query parameters)",
            "operationId": "removeWatch",
            "parameters": [{"in": "query", "schema": WatchRequestSchema}],
            "requestBody": _WATCH_SUBJECT,
            "responses": {
                "200": _json(WatchResultSchema, "removed: false when you were not watching it"),
                "400": _error("invalid subject"),
                "401": UNAUTHORISED,
                "404": NOT_FOUND,
            },
        },
        ("/api/v1/inbox", "get"): {
            "summary": "Your messages and your agency's, newest first, with the unread count",
            "operationId": "getInbox",
            "parameters": [
                {
                    "name": "unread",
                    "in": "query",
                    "required": False,
                    "description": "1: unread messages only",
                    "schema": {"type": "string", "enum": ["0", "1", "true", "false"]},
                }
            ],
            "responses": {"200": _json(InboxSchema, "the inbox"), "401": UNAUTHORISED},
        },
    }
)


# Internal push messages (``messages``).
OPERATIONS[("/api/v1/messages", "post")] = {
    "summary": "Send a message about an entity, a record or a warning you may see, to a member agency "
    "(each of its active users) or to one user; it carries a link, never the object's content",
    "operationId": "sendMessage",
    "requestBody": {"required": True, "content": {JSON: {"schema": MessageRequestSchema}}},
    "responses": {
        "201": _json(MessageSentSchema, "sent: one message per recipient user"),
        "400": _error("invalid input (a resident ID number in the text, no or two recipients, a disabled user...)"),
        "401": UNAUTHORISED,
        "404": _error("the entity, record or warning is missing or not visible to you (the two answer alike)"),
    },
}


# The public search (``public``): no authentication, rate-limited per client address.
OPERATIONS[("/api/v1/public/search", "get")] = {
    "summary": "Search fully-open records and published inspection results by entity name or credit code "
    "(no login; no personal data)",
    "operationId": "searchPublic",
    "security": [],
    "parameters": [
        {
            "name": "q",
            "in": "query",
            "required": True,
            "description": "part of an entity name, or a unified social credit code (at least 2 characters)",
            "schema": {"type": "string", "minLength": 2, "maxLength": 100},
        },
        {"name": "page", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 50}},
    ],
    "responses": {
        "200": _json(PublicSearchResultSchema, "one page of each kind of result; has_more_* says whether more follow"),
        "400": _error("query under 2 characters, an ID number, or a page out of range; details.reason says which"),
        "429": {
            **_error("too many searches from this address; details.retry_after is in seconds"),
            "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
        },
    },
}


# Classified statistics (``statistics``): the same query as the page and its exports.
OPERATIONS[("/api/v1/statistics", "get")] = {
    "summary": "Records, entities with warnings and warnings by level, broken down by one dimension, with "
    "filters; only records the caller may see, and warnings as the warning rule allows",
    "operationId": "getStatistics",
    "parameters": [{"in": "query", "schema": StatisticsQuerySchema}],
    "responses": {
        "200": _json(StatisticsDocumentSchema, "one row per group, largest first (quarters in time order)"),
        "400": _error("invalid filters (details name each field) or an unknown agency (details.reason)"),
        "401": UNAUTHORISED,
        "403": _error("the caller may not read statistics (auditors)"),
    },
}


@functools.cache
def openapi_document() -> dict[str, Any]:
    spec = APISpec(
        title="signalhub API",
        version=API_VERSION,
        openapi_version="3.1.0",
        plugins=[MarshmallowPlugin()],
        info={
            "description": "Enterprise supervision signal sharing: entities, records and quarterly batch uploads. "
            "Every read is audited. Authenticate with a bearer token issued by your agency admin."
        },
        security=[{"bearerToken": []}],
    )
    spec.components.security_scheme("bearerToken", {"type": "http", "scheme": "bearer"})
    # RecordInputSchema needs an agency's departments to validate; documenting it needs none.
    spec.components.schema("RecordInput", schema=RecordInputSchema(departments={}, today=beijing_today()))
    paths: dict[str, dict[str, Any]] = {}
    for (path, method), operation in OPERATIONS.items():
        paths.setdefault(path, {})[method] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=_resolve(operations))
    return spec.to_dict()


def _resolve(operations: dict[str, Any]) -> dict[str, Any]:
    """The instance registered above stands for RecordInputSchema wherever an operation names the class."""
    registered = {RecordInputSchema: "RecordInput"}

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, type) and value in registered:
            return registered[value]
        return value

    return walk(operations)  # type: ignore[no-any-return]


@bp.get("/api/v1/openapi.json")
def document() -> dict[str, Any]:
    return openapi_document()
