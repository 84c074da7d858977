"""Checkpoint notes: what is signed, and that an edited or foreign note is never believed (A10)."""

from __future__ import annotations

import base64
import datetime as dt
from typing import cast

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from sqlalchemy.orm import Session

from signalhub_audit.integrity import (
    CheckpointError,
    checkpoint_body,
    key_id,
    known_checkpoint_keys,
    open_checkpoint,
    parse_trusted_keys,
    public_key_bytes,
    sign_checkpoint,
)
from signalhub_audit.services import AuditPayloadError, record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform.models import Actor
from tests.factories import make_id_number

HEAD = "ab" * 32
AT = dt.datetime(2026, 11, 27, 8, 30, tzinfo=dt.UTC)


def new_key() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def test_note_format_is_pinned() -> None:
    key = new_key()
    note = sign_checkpoint(key, size=42, head_hash=HEAD, created_at=AT)
    body, signature_line = note.split("\n\n")
    assert body + "\n" == f"signalhub-audit\n42\n{HEAD}\n2026-11-27T08:30:00.000000+00:00\n"
    name, encoded = signature_line.removeprefix("— ").removesuffix("\n").split(" ")
    assert signature_line.startswith("— ")
    assert name == key_id(public_key_bytes(key)) and len(name) == 16
    Ed25519PrivateKey.from_private_bytes(key).public_key().verify(base64.b64decode(encoded), (body + "\n").encode())


def test_round_trip() -> None:
    key = new_key()
    checkpoint = open_checkpoint(
        sign_checkpoint(key, size=7, head_hash=HEAD, created_at=AT), known_checkpoint_keys(key)
    )
    assert (checkpoint.size, checkpoint.head_hash, checkpoint.created_at) == (7, HEAD, AT)


def test_unknown_key_is_rejected() -> None:
    note = sign_checkpoint(new_key(), size=7, head_hash=HEAD, created_at=AT)
    with pytest.raises(CheckpointError, match="no valid known signature"):
        open_checkpoint(note, known_checkpoint_keys(new_key()))


def test_every_single_byte_edit_of_the_body_is_rejected() -> None:
    key = new_key()
    keys = known_checkpoint_keys(key)
    note = sign_checkpoint(key, size=1234, head_hash=HEAD, created_at=AT)
    body_length = len(checkpoint_body(1234, HEAD, AT))
    for index in range(body_length):
        replacement = "9" if note[index] == "8" else "8"
        edited = note[:index] + replacement + note[index + 1 :]
        with pytest.raises(CheckpointError, match="no valid known signature"):
            open_checkpoint(edited, keys)


def test_a_trusted_retired_key_still_verifies() -> None:
    retired = new_key()
    note = sign_checkpoint(retired, size=3, head_hash=HEAD, created_at=AT)
    trusted = parse_trusted_keys(base64.b64encode(public_key_bytes(retired)).decode())
    assert open_checkpoint(note, known_checkpoint_keys(new_key(), trusted)).size == 3


def test_one_known_signature_among_unknown_ones_suffices() -> None:
    known, stranger = new_key(), new_key()
    foreign_line = sign_checkpoint(stranger, size=3, head_hash=HEAD, created_at=AT).split("\n\n")[1]
    note = sign_checkpoint(known, size=3, head_hash=HEAD, created_at=AT) + foreign_line
    assert open_checkpoint(note, known_checkpoint_keys(known)).size == 3
    only_foreign = checkpoint_body(3, HEAD, AT) + "\n" + foreign_line
    with pytest.raises(CheckpointError, match="no valid known signature"):
        open_checkpoint(only_foreign, known_checkpoint_keys(known))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda note: note.replace("\n\n", "\n"),  # no signature block
        lambda note: note.rsplit(" ", 1)[0] + " not-base64!\n",  # broken signature encoding
        lambda note: note.replace("— ", "-- "),  # not a signature line
    ],
)
def test_malformed_notes_are_rejected(mangle: object) -> None:
    key = new_key()
    note = sign_checkpoint(key, size=3, head_hash=HEAD, created_at=AT)
    with pytest.raises(CheckpointError):
        open_checkpoint(mangle(note), known_checkpoint_keys(key))  # type: ignore[operator]


def test_a_validly_signed_note_of_another_kind_is_rejected() -> None:
    key = new_key()
    body = "another-log\n3\n" + HEAD + "\n"
    signature = base64.b64encode(Ed25519PrivateKey.from_private_bytes(key).sign(body.encode())).decode()
    note = f"{body}\n— {key_id(public_key_bytes(key))} {signature}\n"
    with pytest.raises(CheckpointError, match="not a signalhub-audit checkpoint"):
        open_checkpoint(note, known_checkpoint_keys(key))


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"short").decode()])
def test_bad_trusted_keys_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="trusted checkpoint key"):
        parse_trusted_keys(value)


def test_record_event_refuses_a_resident_id_number_before_touching_the_database() -> None:
    untouchable = cast(Session, object())  # any database access would raise AttributeError
    with pytest.raises(AuditPayloadError):
        record_event(
            untouchable,
            AuditTag.WEB_PERSON_SEARCH,
            actor=Actor(name="alice", agency_code="AG1"),
            data={"query": f"身份证 {make_id_number()}"},
        )
