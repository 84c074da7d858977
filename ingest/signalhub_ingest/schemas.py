"""Marshmallow schemas for records coming in through the form and the API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from signalhub_platform.models import Openness, RecordKind, RiskLevel


class RecordCorrectionSchema(Schema):
    """A correction: any subset of the correctable fields, and a reason."""

    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    kind = fields.Enum(RecordKind, by_value=True)
    risk_level = fields.Enum(RiskLevel, by_value=True, allow_none=True)
    openness = fields.Enum(Openness, by_value=True)
    category = fields.String(validate=validate.Length(min=1, max=64))
    description = fields.String(validate=validate.Length(max=4000))
    occurred_on = fields.Date()


class RecordWithdrawalSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
