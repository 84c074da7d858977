"""Tamper evidence for the audit log: signed checkpoints and a streaming ``verify`` of the hash chain.

The chain (``hashing.py``) shows that no event was changed, removed or reordered *inside* the log,
but a log rewritten from some event onward, or cut short at the tail, is again a valid chain. Signed
checkpoints pin "the log had ``size`` events ending in ``head_hash``": a stored checkpoint catches a
rewrite, an external copy (``signalhub audit checkpoint --export``) also catches a truncated tail
together with deleted stored checkpoints. See docs/audit.md for the formats and the limits.

A checkpoint is a "signed note" in the style of C2SP/sigsum::

    signalhub-audit
    <size>
    <head_hash>
    <created_at, ISO 8601 UTC>

    — <key_id> <base64 Ed25519 signature over the four body lines, newline-terminated>

``key_id`` is the first 16 hex digits of SHA-256 of the raw 32-byte public key.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub_audit.hashing import GENESIS, canonical_json, chain_hash
from signalhub_audit.services import chain_head, lock_chain, record_event
from signalhub_audit.tags import AuditTag
from signalhub_config import MissingKeysError, Settings
from signalhub_platform.models import Actor, AuditCheckpoint, AuditEvent, AuditSubject

ORIGIN = "signalhub-audit"
SIGNATURE_PREFIX = "\u2014 "  # em dash and a space, as in C2SP signed notes
VERIFY_CHUNK_SIZE = 10_000

_SIZE_PATTERN = re.compile(r"0|[1-9][0-9]*")
_HASH_PATTERN = re.compile(r"[0-9a-f]{64}")
_KEY_ID_PATTERN = re.compile(r"[0-9a-f]{16}")


class CheckpointError(ValueError):
    """A checkpoint note that cannot be trusted: malformed, or not signed by a known key."""


@dataclass(frozen=True)
class Checkpoint:
    """The signed statement of a checkpoint note, once its signature has been checked."""

    size: int
    head_hash: str
    created_at: dt.datetime
    key_id: str


# --- keys ---------------------------------------------------------------------------------------


def public_key_bytes(signing_key: bytes) -> bytes:
    """The raw 32-byte Ed25519 public key of a raw private key."""
    public = Ed25519PrivateKey.from_private_bytes(signing_key).public_key()
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public_key: bytes) -> str:
    """Names a key in a signature line so verification need not try every known key."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def known_checkpoint_keys(signing_key: bytes | None, trusted: Iterable[bytes] = ()) -> dict[str, Ed25519PublicKey]:
    """The keys whose signatures verify accepts: the instance's own, plus e.g. retired ones."""
    raw_keys = [*([public_key_bytes(signing_key)] if signing_key else []), *trusted]
    return {key_id(raw): Ed25519PublicKey.from_public_bytes(raw) for raw in raw_keys}


def parse_trusted_keys(value: str) -> list[bytes]:
    """Decode ``Settings.trusted_checkpoint_keys``: comma-separated base64 raw public keys."""
    keys = []
    for item in value.replace("\n", ",").split(","):
        if not item.strip():
            continue
        try:
            raw = base64.b64decode(item.strip(), validate=True)
        except binascii.Error as exc:
            raise ValueError(f"trusted checkpoint key is not base64: {item.strip()!r}") from exc
        if len(raw) != 32:
            raise ValueError("a trusted checkpoint key must be a raw 32-byte Ed25519 public key")
        keys.append(raw)
    return keys


def checkpoint_keys_from_settings(settings: Settings) -> dict[str, Ed25519PublicKey]:
    """Known keys for verify; an auditor's copy without the private key still verifies with trusted keys."""
    try:
        signing_key: bytes | None = settings.load_keys().signing_key
    except MissingKeysError:
        signing_key = None
    return known_checkpoint_keys(signing_key, parse_trusted_keys(settings.trusted_checkpoint_keys))


# --- the signed note ----------------------------------------------------------------------------


def _format_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def checkpoint_body(size: int, head_hash: str, created_at: dt.datetime) -> str:
    return f"{ORIGIN}\n{size}\n{head_hash}\n{_format_time(created_at)}\n"


def sign_checkpoint(signing_key: bytes, *, size: int, head_hash: str, created_at: dt.datetime) -> str:
    """The complete note: body, a blank line, one signature line."""
    private = Ed25519PrivateKey.from_private_bytes(signing_key)
    body = checkpoint_body(size, head_hash, created_at)
    signature = base64.b64encode(private.sign(body.encode("utf-8"))).decode("ascii")
    return f"{body}\n{SIGNATURE_PREFIX}{key_id(public_key_bytes(signing_key))} {signature}\n"


def open_checkpoint(note: str, keys: Mapping[str, Ed25519PublicKey]) -> Checkpoint:
    """Check the signature first, then parse: nothing in an unsigned body is believed."""
    body, separator, signature_block = note.partition("\n\n")
    if not separator:
        raise CheckpointError("no valid known signature: no blank line before a signature block")
    body += "\n"
    signer = None
    for line in signature_block.splitlines():
        signer = signer or _valid_signer(line, body.encode("utf-8"), keys)
    if signer is None:
        raise CheckpointError("no valid known signature")

    lines = body.split("\n")[:-1]
    if len(lines) != 4 or lines[0] != ORIGIN:
        raise CheckpointError(f"signed note is not a {ORIGIN} checkpoint")
    _origin, size, head_hash, created_at = lines
    if not _SIZE_PATTERN.fullmatch(size) or not _HASH_PATTERN.fullmatch(head_hash):
        raise CheckpointError("malformed checkpoint size or head hash")
    try:
        when = dt.datetime.fromisoformat(created_at)
    except ValueError as exc:
        raise CheckpointError("malformed checkpoint time") from exc
    if when.tzinfo is None:
        raise CheckpointError("checkpoint time has no time zone")
    return Checkpoint(size=int(size), head_hash=head_hash, created_at=when, key_id=signer)


def _valid_signer(line: str, message: bytes, keys: Mapping[str, Ed25519PublicKey]) -> str | None:
    if not line.startswith(SIGNATURE_PREFIX):
        return None
    name, _, encoded = line.removeprefix(SIGNATURE_PREFIX).partition(" ")
    public = keys.get(name) if _KEY_ID_PATTERN.fullmatch(name) else None
    if public is None:
        return None
    try:
        public.verify(base64.b64decode(encoded, validate=True), message)
    except (binascii.Error, InvalidSignature):
        return None
    return name


# --- making checkpoints -------------------------------------------------------------------------


def create_checkpoint(
    session: Session, signing_key: bytes, *, actor: Actor, tag: AuditTag, now: dt.datetime
) -> AuditCheckpoint:
    """Sign the current head, store the note, then audit that: the event lands at ``size + 1``.

    The chain lock is taken before the head is read, so no writer slips in between and the
    checkpoint's own event is the one directly after its head. Flushes, never commits.
    """
    lock_chain(session)  # the lock record_event takes again below; advisory locks are re-entrant
    size, head_hash = chain_head(session)
    note = sign_checkpoint(signing_key, size=size, head_hash=head_hash, created_at=now)
    checkpoint = AuditCheckpoint(size=size, head_hash=head_hash, note=note, created_at=now)
    session.add(checkpoint)
    session.flush()
    record_event(
        session,
        tag,
        actor=actor,
        subjects=[("audit_checkpoint", checkpoint.id)],
        data={"size": size, "head_hash": head_hash, "key_id": key_id(public_key_bytes(signing_key))},
        at=now,
    )
    return checkpoint


# --- verification -------------------------------------------------------------------------------


@dataclass
class VerifyResult:
    """What verify found; ``problems`` are ``{"seq": int | None, "message": str}``, in discovery order."""

    events: int = 0
    last_seq: int = 0
    checkpoints: int = 0  # checkpoints whose signature was accepted and that were checked
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad(self) -> int | None:
        return min((p["seq"] for p in self.problems if p["seq"] is not None), default=None)

    def add(self, seq: int | None, message: str) -> None:
        self.problems.append({"seq": seq, "message": message})

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "first_bad": self.first_bad, "problems": self.problems}


def verify_log(
    session: Session,
    keys: Mapping[str, Ed25519PublicKey],
    *,
    external_notes: Sequence[tuple[str, str]] = (),
    chunk_size: int = VERIFY_CHUNK_SIZE,
) -> VerifyResult:
    """Walk the whole chain in ``seq`` order, ``chunk_size`` rows at a time, and report every problem.

    ``external_notes`` are ``(label, note)`` pairs, e.g. exported checkpoint files. Only the
    checkpoints (size and head hash of each accepted note) are held in memory, never the log.
    """
    result = VerifyResult()
    pins = _accepted_checkpoints(session, keys, external_notes, result)
    expected_seq, prev_hash = 1, GENESIS
    for rows, subjects in _event_chunks(session, chunk_size):
        for row in rows:
            result.events += 1
            after_gap = row.seq != expected_seq
            if row.seq > expected_seq:
                missing = f" (seq {expected_seq}..{row.seq - 1} missing)" if row.seq - expected_seq > 1 else ""
                result.add(expected_seq, f"gap at {expected_seq}{missing}")
            elif row.seq < expected_seq:
                result.add(row.seq, f"unexpected seq {row.seq}: the log starts at 1")
            _check_content(row, subjects.get(row.seq, []), result)
            # After a gap the missing predecessor's hash is unknown; the gap is already reported.
            if not after_gap and row.prev_hash != prev_hash:
                result.add(row.seq, f"prev_hash mismatch at {row.seq}: does not equal the hash of seq {row.seq - 1}")
            for label, head_hash in pins.pop(row.seq, []):
                if head_hash != row.hash:
                    result.add(row.seq, f"head hash mismatch at {row.seq}: {label} pins another head")
            expected_seq, prev_hash = row.seq + 1, row.hash
            result.last_seq = row.seq

    for size in sorted(pins):
        for label, head_hash in pins[size]:
            if size == 0:
                if head_hash != GENESIS:
                    result.add(None, f"head hash mismatch: {label} of the empty log does not pin the genesis hash")
            elif size > result.last_seq:
                result.add(result.last_seq + 1, f"truncation: checkpoint {size} > last {result.last_seq} ({label})")
            else:
                result.add(size, f"head hash mismatch at {size}: {label} pins seq {size}, which is missing")
    return result


def _accepted_checkpoints(
    session: Session,
    keys: Mapping[str, Ed25519PublicKey],
    external_notes: Sequence[tuple[str, str]],
    result: VerifyResult,
) -> dict[int, list[tuple[str, str]]]:
    """size -> [(label, head_hash)] of every checkpoint with a valid known signature."""
    pins: dict[int, list[tuple[str, str]]] = {}
    stored = session.execute(
        select(AuditCheckpoint.id, AuditCheckpoint.size, AuditCheckpoint.head_hash, AuditCheckpoint.note).order_by(
            AuditCheckpoint.id
        )
    )
    notes: list[tuple[str, str, tuple[int, str] | None]] = [
        (f"stored checkpoint #{row.id}", row.note, (row.size, row.head_hash)) for row in stored
    ]
    notes += [(label, note, None) for label, note in external_notes]
    for label, note, columns in notes:
        try:
            checkpoint = open_checkpoint(note, keys)
        except CheckpointError as exc:
            result.add(None, f"{label} rejected: {exc}")
            continue
        if columns is not None and columns != (checkpoint.size, checkpoint.head_hash):
            result.add(None, f"{label}: size/head_hash columns disagree with its signed note")
        pins.setdefault(checkpoint.size, []).append((label, checkpoint.head_hash))
        result.checkpoints += 1
    return pins


def _event_chunks(session: Session, chunk_size: int) -> Iterator[tuple[Sequence[Any], dict[int, list[list[str]]]]]:
    """Keyset pagination on ``seq``: each chunk is one indexed range scan, however long the log."""
    columns = (
        AuditEvent.seq,
        AuditEvent.occurred_at,
        AuditEvent.tag,
        AuditEvent.actor,
        AuditEvent.agency_code,
        AuditEvent.client_ip,
        AuditEvent.payload,
        AuditEvent.prev_hash,
        AuditEvent.hash,
    )
    after = None
    while True:
        query = select(*columns).order_by(AuditEvent.seq).limit(chunk_size)
        if after is not None:
            query = query.where(AuditEvent.seq > after)
        rows = session.execute(query).all()
        if not rows:
            return
        subjects: dict[int, list[list[str]]] = {}
        subject_rows = session.execute(
            select(AuditSubject.seq, AuditSubject.kind, AuditSubject.ref).where(
                AuditSubject.seq.between(rows[0].seq, rows[-1].seq)
            )
        )
        for seq, kind, ref in subject_rows:
            subjects.setdefault(seq, []).append([kind, ref])
        for pairs in subjects.values():
            pairs.sort()  # in Python: a database collation may order text differently
        yield rows, subjects
        after = rows[-1].seq


def _check_content(row: Any, subjects: list[list[str]], result: VerifyResult) -> None:
    """The hash covers seq, prev_hash and payload; the filter columns and subject rows must agree with it."""
    if chain_hash(row.seq, row.prev_hash, row.payload) != row.hash:
        result.add(row.seq, f"content hash mismatch at {row.seq}: stored hash does not match seq/prev_hash/payload")
        return
    try:
        payload = json.loads(row.payload)
        is_canonical = canonical_json(payload) == row.payload
        columns = {
            "tag": (row.tag, payload["tag"]),
            "actor": (row.actor, payload["actor"]),
            "agency_code": (row.agency_code, payload["agency"]),
            "client_ip": (row.client_ip, payload["ip"]),
            "occurred_at": (row.occurred_at, dt.datetime.fromisoformat(payload["at"])),
        }
        payload_subjects = sorted(payload["subjects"])
    except (ValueError, KeyError, TypeError):
        result.add(row.seq, f"content hash mismatch at {row.seq}: payload is not an audit event")
        return
    if not is_canonical:
        result.add(row.seq, f"content hash mismatch at {row.seq}: payload is not canonical JSON")
    differing = [name for name, (stored, signed) in columns.items() if stored != signed]
    if differing:
        result.add(row.seq, f"content hash mismatch at {row.seq}: column(s) {', '.join(differing)} differ from payload")
    if subjects != payload_subjects:
        result.add(row.seq, f"audit_subjects rows at {row.seq} differ from the payload's subjects")
