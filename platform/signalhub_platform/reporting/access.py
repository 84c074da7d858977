"""Who may read and build the periodic reports, and how refusals are reported and audited.

- The platform office's admins (and the CLI and jobs) read every agency's lines and build.
- A member agency's users read their own agency's lines only: another agency's figures include
  counts of its private records, which must not reach them, not even as a district total.
- Anyone else (the public, an auditor, with an agency or without) reads nothing here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from signalhub_audit.services import Subject, record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform.models import Actor, Role


class ReportingError(Exception):
    """A refused request. ``code`` names the reason for the UI; ``params`` fill its message."""

    status_code = 400

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


class ReportingForbidden(ReportingError):
    status_code = 403

    def __init__(self, message: str) -> None:
        super().__init__("forbidden", message)


class ReportingNotFound(ReportingError):
    status_code = 404

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(code, message, **params)


def sees_every_agency(actor: Actor) -> bool:
    return actor.is_system or (actor.is_platform_office and actor.has_role(Role.PLATFORM_ADMIN))


def can_read_reports(actor: Actor) -> bool:
    # An auditor sees no record content beyond the audit log (SPEC), in an agency or not.
    return sees_every_agency(actor) or (actor.is_member_agency_user and bool(actor.roles - {Role.AUDITOR}))


def can_build_reports(actor: Actor) -> bool:
    return sees_every_agency(actor)


def visible_agency_ids(actor: Actor, agency_ids: Sequence[int]) -> list[int]:
    """The agencies whose lines ``actor`` may read, of ``agency_ids``."""
    if sees_every_agency(actor):
        return list(agency_ids)
    return [agency_id for agency_id in agency_ids if agency_id == actor.agency_id]


@contextmanager
def refusals_audited(
    session: Session, actor: Actor, tag: AuditTag, *, subjects: Sequence[Subject] = (), data: dict[str, Any]
) -> Iterator[None]:
    """A refused attempt leaves an audit event with its reason (the caller commits it)."""
    try:
        yield
    except ReportingError as exc:
        record_event(session, tag, actor=actor, subjects=subjects, data={**data, "refused": exc.code})
        raise


def require_reader(actor: Actor) -> None:
    if not can_read_reports(actor):
        raise ReportingForbidden("the reports are for the platform office's admins and member agency users")


def require_builder(actor: Actor) -> None:
    if not can_build_reports(actor):
        raise ReportingForbidden("only the platform office's admins build the quarterly collection report")
