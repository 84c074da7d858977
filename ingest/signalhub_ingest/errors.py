"""Refusals of ingest operations, each carrying the HTTP status the web and the API answer with."""

from __future__ import annotations


class IngestError(Exception):
    """A refusal the caller shows to the user; ``status_code`` maps it onto HTTP."""

    status_code = 400


class NotFoundError(IngestError):
    """Missing, or not visible to the actor: the two answer alike."""

    status_code = 404


class ForbiddenError(IngestError):
    status_code = 403


class ConflictError(IngestError):
    status_code = 409
