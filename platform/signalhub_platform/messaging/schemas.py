"""Marshmallow schemas of a message to send (the compose form and ``POST /api/v1/messages``) and of the
API's answer; the OpenAPI document is generated from them."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates, validates_schema

from signalhub_platform.messaging.services import ABOUT_TYPES, BODY_MAX_LENGTH, TITLE_MAX_LENGTH, contains_id_number

NO_ID_NUMBERS = "Resident ID numbers may not be sent in messages."


class MessageRequestSchema(Schema):
    """A message to one member agency (each of its active users) or to one user, about one object."""

    class Meta:
        unknown = EXCLUDE  # the form also posts its CSRF token

    recipient_agency = fields.String(
        load_default="", validate=validate.Length(max=32), metadata={"description": "a member agency's code"}
    )
    recipient_user = fields.String(
        load_default="", validate=validate.Length(max=64), metadata={"description": "or one user's user name"}
    )
    title = fields.String(required=True, validate=validate.Length(min=1, max=TITLE_MAX_LENGTH))
    body = fields.String(load_default="", validate=validate.Length(max=BODY_MAX_LENGTH))
    about_type = fields.String(required=True, validate=validate.OneOf(ABOUT_TYPES))
    about_ref = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "the entity's USCC, the record version's id or the warning's id"},
    )

    @validates("title", "body")
    def _no_id_numbers(self, value: str, data_key: str) -> None:
        if contains_id_number(value):
            raise ValidationError(NO_ID_NUMBERS)

    @validates_schema
    def _one_recipient(self, data: dict[str, Any], **_: Any) -> None:
        if bool(data.get("recipient_agency", "").strip()) == bool(data.get("recipient_user", "").strip()):
            raise ValidationError("Give exactly one of recipient_agency and recipient_user.", "recipient_agency")


class MessageSentSchema(Schema):
    sent = fields.Integer(required=True, metadata={"description": "how many message rows: one per recipient user"})
    message_ids = fields.List(fields.Integer(), required=True)
    about_type = fields.String(required=True)
    about_ref = fields.String(required=True)
    recipient_agency = fields.String(allow_none=True, required=True)
    recipient_users = fields.List(fields.String(), required=True, metadata={"description": "their user names"})
