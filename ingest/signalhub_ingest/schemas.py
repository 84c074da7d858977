"""Marshmallow schemas for records coming in through the form and the API.

A new record is judged by ``validator.RowValidator`` (the batch path's rules, declared once in
``rules``) rather than by field validators of its own: the form, the API and a batch file must
accept and refuse the same rows with the same messages. Marshmallow is kept for what it is good
at here: the request shape, unknown keys, and the OpenAPI description of the fields.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from signalhub_ingest.rules import COLUMNS_BY_KEY, IssueCode, RowIssue, make_issue, normalise_prose
from signalhub_ingest.validator import CleanRow, RowValidator, has_id_number
from signalhub_platform.models import Openness, RecordKind, RiskLevel
from signalhub_platform.models.types import beijing_today


def _without_id_number(column: str, label_zh: str) -> Callable[[str], None]:
    """Free text a correction writes into a shared record: the batch rule against ID numbers in it.

    (A new record's fields go through ``RowValidator``, which applies the same rule.)
    """

    def check(value: str) -> None:
        if has_id_number(normalise_prose(value)):
            issue = make_issue(0, column, value, IssueCode.ID_NUMBER_IN_TEXT, col_zh=label_zh)
            raise ValidationError(f"{issue.message_zh} / {issue.message_en}")

    return check


class RecordCorrectionSchema(Schema):
    """A correction: any subset of the correctable fields, and a reason."""

    reason = fields.String(
        required=True, validate=[validate.Length(min=1, max=500), _without_id_number("reason", "更正原因")]
    )
    kind = fields.Enum(RecordKind, by_value=True)
    risk_level = fields.Enum(RiskLevel, by_value=True, allow_none=True)
    openness = fields.Enum(Openness, by_value=True)
    category = fields.String(
        validate=[
            validate.Length(min=1, max=COLUMNS_BY_KEY["category"].max_length),
            _without_id_number("category", COLUMNS_BY_KEY["category"].label_zh),
        ]
    )
    description = fields.String(
        validate=[
            validate.Length(max=COLUMNS_BY_KEY["description"].max_length),
            _without_id_number("description", COLUMNS_BY_KEY["description"].label_zh),
        ]
    )
    occurred_on = fields.Date()


class RecordWithdrawalSchema(Schema):
    reason = fields.String(
        required=True, validate=[validate.Length(min=1, max=500), _without_id_number("reason", "撤回原因")]
    )


class _RuleCell(fields.Field):
    """A template column's raw value: text, a number or a date; the row rules judge it.

    The field does no validation of its own (that would be a second declaration of the rules,
    free to drift); ``None`` and absent keys mean an empty cell, as in a file.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int | float | dt.date):
            column = attr or ""
            issue = make_issue(0, column, "", IssueCode.INVALID_TYPE)
            raise ValidationError([_message(issue)])
        return value


def _message(issue: RowIssue) -> dict[str, str]:
    """One issue as it appears in ``ValidationError.messages``: the batch report's fields, minus the row."""
    return {
        "code": str(issue.code),
        "value": issue.value,
        "message_zh": issue.message_zh,
        "message_en": issue.message_en,
    }


def _cell(column: str) -> _RuleCell:
    spec = COLUMNS_BY_KEY[column]
    return _RuleCell(
        load_default=None,
        allow_none=True,
        metadata={"description": f"{spec.label_zh}: {spec.note_en}", "example": spec.example},
    )


class RecordInputSchema(Schema):
    """One record from the form or the API, judged by the batch validator's own rules.

    ``load`` returns a ``CleanRow`` (row number 1) or raises ``ValidationError`` whose messages map
    each column ("" for the row as a whole) to a list of ``{code, value, message_zh, message_en}``
    — the same codes and texts a batch report gives for the same values. Warnings (a nonstandard
    USCC) do not fail the load: ``validator.row_warnings(row)`` lists them for confirmation.

    The agency's departments and the day to judge dates against are constructor arguments
    (marshmallow 4 has no ``context``); build one schema per request.
    """

    department = _cell("department")
    kind = _cell("kind")
    risk_level = _cell("risk_level")
    openness = _cell("openness")
    uscc = _cell("uscc")
    entity_name = _cell("entity_name")
    person_name = _cell("person_name")
    person_id_number = _cell("person_id_number")
    category = _cell("category")
    description = _cell("description")
    occurred_on = _cell("occurred_on")
    source_ref = _cell("source_ref")

    def __init__(self, departments: Mapping[str, int], *, today: dt.date | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.departments = departments
        self.today = today or beijing_today()
        self.row_validator = RowValidator(departments, today=self.today, track_duplicates=False)

    @validates_schema
    def _apply_rules(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        # Runs in validate() as well as load(), so a form can be checked without loading it.
        _, issues = self.row_validator.validate_mapping(1, data)
        errors: dict[str, list[dict[str, str]]] = {}
        for issue in issues:
            if not issue.is_warning:
                errors.setdefault(issue.column, []).append(_message(issue))
        if errors:
            raise ValidationError(errors)  # type: ignore[arg-type]

    @post_load
    def _to_clean_row(self, data: Mapping[str, Any], **kwargs: Any) -> CleanRow:
        row, _ = self.row_validator.validate_mapping(1, data)
        assert row is not None  # _apply_rules raised otherwise
        return row
