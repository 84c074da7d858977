"""Periodic audit jobs (placeholder until checkpoints land)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session


def make_audit_checkpoint(session: Session, *, now: dt.datetime) -> None:
    raise NotImplementedError
