"""Ingest's background work: queue handlers for validation and commit, and the periodic recovery.

Periodic jobs are plain ``(session, *, now)`` functions; queue handlers take the session factory
(they run several transactions), the job's payload and a heartbeat to call between chunks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from signalhub_ingest import services
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.db import transaction
from signalhub_platform.models import Actor, User
from signalhub_platform.models.types import beijing_today

VALIDATE_BATCH = "validate_batch"
COMMIT_BATCH = "commit_batch"

QueueHandler = Callable[[sessionmaker[Session], Mapping[str, Any], Callable[[], None]], object]


def recover_batches(session: Session, *, now: dt.datetime) -> list[int]:
    """Periodic and at start-up: batches whose committer died go back to their validated state."""
    return services.recover_stuck_batches(session, actor=Actor.job("recover_batches"), now=now)


def queue_handlers(
    *,
    cipher: PersonalDataCipher,
    instance_dir: Path,
    today: Callable[[], dt.date] = beijing_today,
    bulk_cache_mb: int = 0,
) -> dict[str, QueueHandler]:
    def validate(factory: sessionmaker[Session], payload: Mapping[str, Any], heartbeat: Callable[[], None]) -> object:
        return services.validate_batch(
            factory,
            int(payload["batch_id"]),
            cipher=cipher,
            instance_dir=instance_dir,
            today=today(),
            actor=Actor.job(VALIDATE_BATCH),
            progress=lambda _phase, _rows: heartbeat(),
        )

    def commit(factory: sessionmaker[Session], payload: Mapping[str, Any], heartbeat: Callable[[], None]) -> object:
        actor = _requesting_actor(factory, payload)
        return services.commit_batch(
            factory,
            int(payload["batch_id"]),
            actor=actor,
            channel=str(payload.get("channel", "web")),
            accept_valid=bool(payload.get("accept_valid")),
            confirm_nonstandard=bool(payload.get("confirm_nonstandard")),
            bulk_cache_mb=bulk_cache_mb,
        )

    return {VALIDATE_BATCH: validate, COMMIT_BATCH: commit}


def _requesting_actor(factory: sessionmaker[Session], payload: Mapping[str, Any]) -> Actor:
    """The commit is the requesting user's act: the audit log names them, not the worker."""
    user_id = payload.get("user_id")
    if user_id is None:
        return Actor.job(COMMIT_BATCH)
    with transaction(factory) as session:
        user = session.get(User, int(user_id))
        if user is None or not user.is_active:
            raise services.BatchForbidden("the requesting user no longer exists or is disabled")
        return Actor.for_user(user, str(payload.get("client_ip", "")))
