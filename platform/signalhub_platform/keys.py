"""Generate the instance's key files (``signalhub init``); keys never go into the database."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from signalhub_config import Settings
from signalhub_config.settings import DATA_KEYS_FILE, INDEX_KEY_FILE, SECRET_KEY_FILE, SIGNING_KEY_FILE


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def new_data_key_line(key_id: str) -> str:
    return f"{key_id}:{_b64(os.urandom(32))}"


def generate_missing_keys(settings: Settings) -> list[Path]:
    """Write each missing key file (mode 0600) and return the paths written."""
    makers = {
        SECRET_KEY_FILE: lambda: secrets.token_urlsafe(48),
        DATA_KEYS_FILE: lambda: new_data_key_line("k1"),
        INDEX_KEY_FILE: lambda: _b64(os.urandom(32)),
        SIGNING_KEY_FILE: lambda: _b64(
            Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        ),
    }
    written = []
    settings.key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name in settings.missing_keys():
        path = settings.key_dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(makers[name]() + "\n")
        written.append(path)
    return written
