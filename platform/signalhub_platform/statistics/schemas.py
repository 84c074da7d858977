"""Marshmallow schemas of the statistics: the query (page, exports and API alike) and the JSON answer."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from signalhub_platform.models import RecordKind, RiskLevel
from signalhub_platform.models.quarters import QUARTER_PATTERN, quarter_bounds
from signalhub_platform.statistics.services import DEFAULT_LIMIT, MAX_LIMIT, SMALL_CELL, Dimension, StatisticsQuery

DIMENSIONS = [dimension.value for dimension in Dimension]
QUARTER_HELP = "a quarter such as 2026Q3"


class StatisticsQuerySchema(Schema):
    """The filters, from a query string; a blank value counts as absent (``load_query``)."""

    class Meta:
        unknown = RAISE  # a misspelt filter is an error, not silently ignored

    dimension = fields.String(
        validate=validate.OneOf(DIMENSIONS), load_default=Dimension.REGION.value, metadata={"description": "rows by"}
    )
    date_from = fields.Date(
        load_default=None, metadata={"description": "first day (records: occurred; warnings: raised)"}
    )
    date_to = fields.Date(load_default=None, metadata={"description": "last day, inclusive"})
    quarter_from = fields.String(
        validate=validate.Regexp(QUARTER_PATTERN, error="Enter a quarter such as 2026Q3."),
        load_default=None,
        metadata={"description": f"first quarter ({QUARTER_HELP}); instead of date_from"},
    )
    quarter_to = fields.String(
        validate=validate.Regexp(QUARTER_PATTERN, error="Enter a quarter such as 2026Q3."),
        load_default=None,
        metadata={"description": f"last quarter ({QUARTER_HELP}); instead of date_to"},
    )
    agency = fields.String(validate=validate.Length(max=32), load_default="", metadata={"description": "agency code"})
    region = fields.String(validate=validate.Length(max=64), load_default="", metadata={"description": "street"})
    industry = fields.String(
        validate=validate.Length(max=8), load_default="", metadata={"description": "GB/T 4754 code or prefix"}
    )
    kind = fields.String(validate=validate.OneOf([k.value for k in RecordKind]), load_default=None)
    risk_level = fields.String(validate=validate.OneOf([r.value for r in RiskLevel]), load_default=None)
    limit = fields.Integer(
        validate=validate.Range(min=1, max=MAX_LIMIT),
        load_default=DEFAULT_LIMIT,
        metadata={"description": "groups at most (the total covers every group)"},
    )

    # Errors across fields are keyed by what is wrong (period, date_order, quarter_order, kind_level),
    # so that the page can say it in the user's language.
    @validates_schema
    def _consistent(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if (data["date_from"] or data["date_to"]) and (data["quarter_from"] or data["quarter_to"]):
            raise ValidationError("Give a date range or a quarter range, not both.", "period")
        if data["date_from"] and data["date_to"] and data["date_from"] > data["date_to"]:
            raise ValidationError("The first day is after the last day.", "date_order")
        if data["quarter_from"] and data["quarter_to"] and data["quarter_from"] > data["quarter_to"]:
            raise ValidationError("The first quarter is after the last quarter.", "quarter_order")
        if data["risk_level"] and data["kind"] == RecordKind.PENALTY.value:
            raise ValidationError("Penalty records carry no risk level.", "kind_level")

    @post_load
    def _query(self, data: dict[str, Any], **_kwargs: Any) -> StatisticsQuery:
        date_from, date_to = data["date_from"], data["date_to"]
        if data["quarter_from"]:
            date_from = quarter_bounds(data["quarter_from"])[0]
        if data["quarter_to"]:
            date_to = quarter_bounds(data["quarter_to"])[1]
        return StatisticsQuery(
            dimension=Dimension(data["dimension"]),
            date_from=date_from,
            date_to=date_to,
            agency=data["agency"].strip(),
            region=data["region"].strip(),
            industry=data["industry"].strip(),
            kind=RecordKind(data["kind"]) if data["kind"] else None,
            risk_level=RiskLevel(data["risk_level"]) if data["risk_level"] else None,
            limit=data["limit"],
        )


_QUERY_SCHEMA = StatisticsQuerySchema()


def load_query(args: Any) -> StatisticsQuery:
    """The query from a query string (blank values count as absent); raises ``ValidationError``."""
    loaded: StatisticsQuery = _QUERY_SCHEMA.load({key: value for key, value in args.items() if value != ""})
    return loaded


class StatisticsRowSchema(Schema):
    key = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "street, industry code, USCC, person id, category, agency code or quarter; "
            "null: not recorded (no entity or street, warnings on persons, red warnings by agency, ...)"
        },
    )
    label = fields.String(required=True, metadata={"description": "the group's name"})
    code = fields.String(required=True, metadata={"description": "USCC, masked ID number or agency code, or empty"})
    records = fields.Integer(required=True)
    entities_with_warnings = fields.Integer(
        required=True, allow_none=True, metadata={"description": "null: category, or withheld (is_suppressed)"}
    )
    red = fields.Integer(required=True, allow_none=True)
    orange = fields.Integer(required=True, allow_none=True, metadata={"description": "null: see is_suppressed"})
    yellow = fields.Integer(required=True, allow_none=True, metadata={"description": "null: see is_suppressed"})
    warnings = fields.Integer(
        required=True, allow_none=True, metadata={"description": "red + orange + yellow; null if one is null"}
    )
    is_suppressed = fields.Boolean(
        required=True,
        metadata={
            "description": f"small-cell suppression, for the platform office's counts of every agency's warnings: "
            f"an orange or yellow figure that fewer than {SMALL_CELL} distinct entities or persons (none included) "
            "account for is null (shown as <3), and so are warnings and entities_with_warnings, which would "
            "give it away; a group with no record and no red warning whose orange and yellow are both withheld is "
            "not listed"
        },
    )


class StatisticsDocumentSchema(Schema):
    dimension = fields.String(required=True, metadata={"enum": DIMENSIONS})
    filters = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={"description": "the filters applied; quarters as their first and last day"},
    )
    rows = fields.List(fields.Nested(StatisticsRowSchema), required=True)
    total = fields.Nested(StatisticsRowSchema, required=True, metadata={"description": "every group, key null"})
    is_truncated = fields.Boolean(required=True, metadata={"description": "more groups than limit exist"})
    has_warning_groups = fields.Boolean(
        required=True, metadata={"description": "false for category: warnings have none (total only)"}
    )
    counts_every_agency = fields.Boolean(
        required=True,
        metadata={"description": "yellow and orange warnings of every agency are counted (the platform office)"},
    )


def statistics_document(table: Any) -> dict[str, Any]:
    """``GET /api/v1/statistics``."""
    document: dict[str, Any] = StatisticsDocumentSchema().dump(
        {
            "dimension": table.dimension.value,
            "filters": table.query.filters(),
            "rows": table.rows,
            "total": table.total,
            "is_truncated": table.is_truncated,
            "has_warning_groups": table.has_warning_groups,
            "counts_every_agency": table.counts_every_agency,
        }
    )
    return document
