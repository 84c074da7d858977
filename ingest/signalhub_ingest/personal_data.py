"""Personal data at rest: sealing ID numbers, the rare reveal, and key rotation.

A person's ID number is stored only as AES-GCM ciphertext under a key id, a platform-scope
blind index (the row identity, bound into the ciphertext as associated data) and a mask. The
plaintext never leaves these functions except as ``reveal_id_number``'s return value, and never
appears in an error, a log line or an audit payload.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform.crypto import InvalidTag, PersonalDataCipher, mask_id_number
from signalhub_platform.db import transaction
from signalhub_platform.models import Actor, BatchRow, Person

logger = logging.getLogger(__name__)

DEFAULT_ROTATION_BATCH = 1000


class SealedIdNumber(TypedDict):
    """The ``Person`` columns that together stand for one ID number."""

    id_ciphertext: bytes
    id_key_id: str
    id_blind_index: str
    id_masked: str


class PersonalDataIntegrityError(RuntimeError):
    """A stored ID number failed authentication: altered, copied from another row, or its key is gone.

    The message names the person row and key id only, so it is safe to log and to show.
    """

    def __init__(self, person_id: int, key_id: str) -> None:
        super().__init__(f"person {person_id}: the stored ID number failed its integrity check (key {key_id!r})")
        self.person_id = person_id
        self.key_id = key_id


def seal_id_number(cipher: PersonalDataCipher, normalised: str) -> SealedIdNumber:
    """Encrypt a validated, normalised ID number bound to its blind index (the person's row identity)."""
    blind_index = cipher.blind_index(normalised)
    blob, key_id = cipher.encrypt(normalised, blind_index)
    return SealedIdNumber(
        id_ciphertext=blob, id_key_id=key_id, id_blind_index=blind_index, id_masked=mask_id_number(normalised)
    )


def reveal_id_number(
    session: Session,
    cipher: PersonalDataCipher,
    person: Person,
    *,
    actor: Actor,
    session_factory: sessionmaker[Session],
) -> str:
    """Decrypt one person's ID number; the caller audits the read itself (with its purpose).

    On ``InvalidTag`` a ``SECURITY_DECRYPT_FAILED`` event is committed through ``session_factory``
    in a transaction of its own, so it survives the failed request, and ``PersonalDataIntegrityError``
    is raised. The caller's transaction is rolled back first: it is doomed anyway (the error ends
    the request), and while open it holds the write lock (SQLite ``BEGIN IMMEDIATE``) or the audit
    chain's advisory lock (PostgreSQL) that the security event's transaction needs, so keeping it
    open would block that transaction until a lock timeout.
    """
    person_id, key_id = person.id, person.id_key_id
    try:
        return cipher.decrypt(person.id_ciphertext, key_id, person.id_blind_index)
    except InvalidTag:
        pass
    session.rollback()
    logger.warning("person %s: stored ID number failed authentication under key %r", person_id, key_id)
    try:
        with transaction(session_factory) as security_session:
            record_event(
                security_session,
                AuditTag.SECURITY_DECRYPT_FAILED,
                actor=actor,
                subjects=[("person", person_id)],
                data={"person_id": person_id, "key_id": key_id},
            )
    except Exception:
        # The integrity error below matters more than the lost event; the log keeps a trace.
        logger.exception("person %s: could not record the decrypt-failure security event", person_id)
    raise PersonalDataIntegrityError(person_id, key_id)


def rotate_personal_data(
    session: Session,
    cipher: PersonalDataCipher,
    *,
    actor: Actor,
    batch_size: int = DEFAULT_ROTATION_BATCH,
    tag: AuditTag = AuditTag.JOB_KEYS_ROTATE,
    max_rows: int | None = None,
) -> int:
    """Re-encrypt every person not yet under the primary key (at most ``max_rows`` of them);
    return how many were re-encrypted.

    Batches are walked by primary key (keyset, no OFFSET) and written with one executemany each.
    One audit event per batch, recorded together at the end because the audit chain's lock is held
    until commit. Flushes, never commits: the caller commits once. Idempotent and resumable, since
    only rows whose key id differs from the primary are selected.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if max_rows is not None and max_rows < 1:
        raise ValueError("max_rows must be at least 1")
    session.flush()
    batches: list[dict[str, Any]] = []
    total = 0
    for rows in _rows_to_rotate(session, cipher.primary_key_id, batch_size, max_rows):
        updates = []
        for row in rows:
            try:
                plaintext = cipher.decrypt(row.id_ciphertext, row.id_key_id, row.id_blind_index)
            except InvalidTag:
                raise PersonalDataIntegrityError(row.id, row.id_key_id) from None
            blob, key_id = cipher.encrypt(plaintext, row.id_blind_index)
            updates.append({"id": row.id, "id_ciphertext": blob, "id_key_id": key_id})
        session.execute(update(Person), updates)
        total += len(rows)
        batches.append(
            {
                "batch": len(batches) + 1,
                "count": len(rows),
                "first_person_id": rows[0].id,
                "last_person_id": rows[-1].id,
                "from_key_ids": sorted({row.id_key_id for row in rows}),
                "to_key_id": cipher.primary_key_id,
            }
        )
    for batch in batches:
        record_event(session, tag, actor=actor, data=batch)
    _expire_persons(session)
    return total


def _rows_to_rotate(
    session: Session, primary_key_id: str, batch_size: int, max_rows: int | None = None
) -> Iterator[Sequence[Any]]:
    last_id = 0
    left = max_rows
    while left is None or left > 0:
        rows = session.execute(
            select(Person.id, Person.id_ciphertext, Person.id_key_id, Person.id_blind_index)
            .where(Person.id_key_id != primary_key_id, Person.id > last_id)
            .order_by(Person.id)
            .limit(batch_size if left is None else min(batch_size, left))
        ).all()
        if not rows:
            return
        yield rows
        last_id = rows[-1].id
        if left is not None:
            left -= len(rows)


def rotate_staged_id_numbers(
    session: Session,
    cipher: PersonalDataCipher,
    *,
    actor: Actor,
    batch_size: int = DEFAULT_ROTATION_BATCH,
    max_rows: int | None = None,
    tag: AuditTag = AuditTag.JOB_KEYS_ROTATE,
) -> int:
    """Re-encrypt the ID numbers of validated batches still waiting for their commit.

    A commit copies a staged ciphertext into ``persons`` as it is: a batch validated before a
    rotation would bring the old key back after it has been retired. Same rules as
    ``rotate_personal_data`` (one audit event per batch, flushes only); at most ``max_rows`` rows.
    """
    if batch_size < 1 or (max_rows is not None and max_rows < 1):
        raise ValueError("batch_size and max_rows must be at least 1")
    primary = cipher.primary_key_id
    batches: list[dict[str, Any]] = []
    total = 0
    while max_rows is None or total < max_rows:
        # Rewritten rows leave the WHERE, so each query returns the next ones (no OFFSET, no keyset needed).
        rows = session.execute(
            select(
                BatchRow.batch_id,
                BatchRow.row_number,
                BatchRow.person_ciphertext,
                BatchRow.person_key_id,
                BatchRow.person_blind_index,
            )
            .where(BatchRow.person_ciphertext.is_not(None), BatchRow.person_key_id != primary)
            .order_by(BatchRow.batch_id, BatchRow.row_number)
            .limit(batch_size if max_rows is None else min(batch_size, max_rows - total))
        ).all()
        if not rows:
            break
        updates = []
        for row in rows:
            try:
                plaintext = cipher.decrypt(row.person_ciphertext, row.person_key_id, row.person_blind_index)
            except InvalidTag:
                raise StagedIdNumberIntegrityError(row.batch_id, row.row_number, row.person_key_id) from None
            blob, key_id = cipher.encrypt(plaintext, row.person_blind_index)
            updates.append(
                {"batch_id": row.batch_id, "row_number": row.row_number, "person_ciphertext": blob,
                 "person_key_id": key_id}
            )  # fmt: skip
        session.execute(update(BatchRow), updates)
        total += len(rows)
        batches.append(
            {
                "batch": len(batches) + 1,
                "count": len(rows),
                "staged_batch_ids": sorted({row.batch_id for row in rows}),
                "from_key_ids": sorted({row.person_key_id for row in rows}),
                "to_key_id": primary,
            }
        )
    for batch in batches:
        record_event(session, tag, actor=actor, data=batch)
    return total


class StagedIdNumberIntegrityError(RuntimeError):
    """A staged ID number failed authentication (names the batch row and key id only)."""

    def __init__(self, batch_id: int, row_number: int, key_id: str) -> None:
        super().__init__(
            f"batch {batch_id} row {row_number}: the staged ID number failed its integrity check (key {key_id!r})"
        )


@dataclass(frozen=True)
class KeyUsage:
    """How many ID numbers each data key encrypts: in ``persons`` and in staged batch rows."""

    persons: dict[str, int]
    staged: dict[str, int]

    def pending(self, primary_key_id: str) -> int:
        """ID numbers not yet under ``primary_key_id``."""
        return sum(n for key, n in self.persons.items() if key != primary_key_id) + sum(
            n for key, n in self.staged.items() if key != primary_key_id
        )

    def key_ids(self) -> list[str]:
        return sorted(set(self.persons) | set(self.staged))


def key_usage(session: Session) -> KeyUsage:
    """Counts per key id (no ID number is read). A key with no count may be retired."""
    persons = session.execute(select(Person.id_key_id, func.count()).group_by(Person.id_key_id)).all()
    staged = session.execute(
        select(BatchRow.person_key_id, func.count())
        .where(BatchRow.person_ciphertext.is_not(None))
        .group_by(BatchRow.person_key_id)
    ).all()
    return KeyUsage(persons={str(k): int(n) for k, n in persons}, staged={str(k): int(n) for k, n in staged})


def _expire_persons(session: Session) -> None:
    """Bulk updates bypass the identity map; make loaded ``Person`` objects reload their columns."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Person):
            session.expire(obj)


def check_key_samples(session: Session, cipher: PersonalDataCipher, key_ids: Iterable[str]) -> dict[str, bool]:
    """For each key id in the ring: does one person's ID number under it decrypt? (Nothing is returned
    or logged but the answer.) Key ids the ring lacks are left out: they cannot decrypt anything."""
    results: dict[str, bool] = {}
    for key_id in key_ids:
        if key_id not in cipher.key_ids:
            continue
        row = session.execute(
            select(Person.id_ciphertext, Person.id_blind_index).where(Person.id_key_id == key_id).limit(1)
        ).first()
        if row is None:
            continue
        try:
            cipher.decrypt(row.id_ciphertext, key_id, row.id_blind_index)
        except InvalidTag:
            results[key_id] = False
        else:
            results[key_id] = True
    return results
