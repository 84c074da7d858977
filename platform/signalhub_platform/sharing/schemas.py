"""Marshmallow schemas of the JSON API's entity and record documents, shared by the API and the CLI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from marshmallow import Schema, fields

if TYPE_CHECKING:
    from signalhub_platform.sharing.services import EntityProfile, RecordView

Document = dict[str, Any]


class PersonRefSchema(Schema):
    name = fields.String()
    id_number_masked = fields.String(attribute="id_masked")


class RoleSchema(Schema):
    role = fields.String()
    since = fields.Date()
    until = fields.Date(allow_none=True)
    person = fields.Nested(PersonRefSchema)


class EntitySummarySchema(Schema):
    uscc = fields.String()
    name = fields.String()
    type = fields.String()
    region = fields.String()
    industry = fields.String()
    status = fields.String()
    is_in_registry = fields.Boolean()


class EntitySchema(EntitySummarySchema):
    uscc_status = fields.String()
    address = fields.String()
    registered_on = fields.Date(allow_none=True)


class RecordSchema(Schema):
    id = fields.Integer()
    agency = fields.Function(lambda r: r.agency.code)
    agency_name = fields.Function(lambda r: r.agency.name)
    department = fields.Function(lambda r: r.department.name)
    kind = fields.String()
    risk_level = fields.String(allow_none=True)
    openness = fields.String()
    uscc = fields.Function(lambda r: r.entity.uscc if r.entity else None)
    person = fields.Function(
        lambda r: {"name": r.person.name, "id_number_masked": r.person.id_masked} if r.person else None
    )
    category = fields.String()
    description = fields.String()
    occurred_on = fields.Date()
    source_ref = fields.String()
    version = fields.Integer()
    supersedes_id = fields.Integer(allow_none=True)
    is_current = fields.Boolean()
    status = fields.String()
    change_reason = fields.String()
    source = fields.String()
    created_at = fields.DateTime()


# Schemas are stateless once built; building one per request costs more than dumping a record.
_RECORD_SCHEMAS = {
    (is_public, many): RecordSchema(many=many, exclude=("person",) if is_public else ())
    for is_public in (False, True)
    for many in (False, True)
}
_ENTITY_SCHEMA = EntitySchema()
_ROLES_SCHEMA = RoleSchema(many=True)


def record_schema(*, is_public: bool, many: bool = False) -> RecordSchema:
    """The public never sees a person, not even masked; agencies see the name and the mask."""
    return _RECORD_SCHEMAS[(is_public, many)]


def entity_document(profile: EntityProfile, *, is_public: bool) -> Document:
    """``GET /api/v1/entities/<uscc>`` (and ``signalhub entities show --json``)."""
    schema = record_schema(is_public=is_public, many=True)
    return {
        "entity": _ENTITY_SCHEMA.dump(profile.entity),
        "responsible_persons": _ROLES_SCHEMA.dump(profile.roles),
        "records_by_agency": {agency: schema.dump(rows) for agency, rows in profile.records_by_agency.items()},
        "record_count": profile.record_count,
    }


def record_document(view: RecordView, *, is_public: bool) -> Document:
    """``GET /api/v1/records/<id>`` (and ``signalhub records show --json``)."""
    return {
        "record": record_schema(is_public=is_public).dump(view.record),
        "history": record_schema(is_public=is_public, many=True).dump(view.history),
    }
