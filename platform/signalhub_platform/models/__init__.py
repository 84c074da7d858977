"""Typed SQLAlchemy 2 models; importing this package registers every table on ``Base.metadata``."""

from signalhub_platform.models.accounts import ApiToken, LoginAttempt, Role, User, UserRole, WebSession
from signalhub_platform.models.actors import Actor
from signalhub_platform.models.agencies import PLATFORM_OFFICE_CODE, Agency, Department
from signalhub_platform.models.audit import AuditCheckpoint, AuditEvent, AuditSubject
from signalhub_platform.models.jobs import Job, JobState
from signalhub_platform.models.records import (
    Batch,
    BatchRow,
    BatchState,
    Openness,
    Record,
    RecordKind,
    RecordSource,
    RecordStatus,
    RiskLevel,
)
from signalhub_platform.models.registry import (
    CodeStatus,
    Entity,
    EntityPersonRole,
    EntityStatus,
    EntityType,
    Person,
    RoleKind,
)
from signalhub_platform.models.reports import ReportKind, TextReport

__all__ = [
    "PLATFORM_OFFICE_CODE",
    "Actor",
    "Agency",
    "ApiToken",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditSubject",
    "Batch",
    "BatchRow",
    "BatchState",
    "CodeStatus",
    "Department",
    "Entity",
    "EntityPersonRole",
    "EntityStatus",
    "EntityType",
    "Job",
    "JobState",
    "LoginAttempt",
    "Openness",
    "Person",
    "Record",
    "RecordKind",
    "RecordSource",
    "RecordStatus",
    "ReportKind",
    "RiskLevel",
    "Role",
    "RoleKind",
    "TextReport",
    "User",
    "UserRole",
    "WebSession",
]
