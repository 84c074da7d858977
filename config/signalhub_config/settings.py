"""Every option signalhub reads, declared once with its type, default and reason.

Each option comes from the environment variable ``SIGNALHUB_<NAME>``; ``create_app`` and the
CLI may pass overrides (tests do). Keys are never stored in the database: they come from the
environment or from files in ``<instance>/keys/`` that ``signalhub init`` generates.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, get_type_hints

KEY_DIR_NAME = "keys"
SECRET_KEY_FILE = "secret_key"
DATA_KEYS_FILE = "data_keys"  # one "key_id:base64" per line, the primary first
INDEX_KEY_FILE = "index_key"
SIGNING_KEY_FILE = "audit_signing_key"  # Ed25519 private key, raw 32 bytes base64


class MissingKeysError(RuntimeError):
    """Raised when the platform would run without its secret, encryption, index or signing key."""


@dataclass(frozen=True)
class KeyMaterial:
    """Decoded key material. Never logged, never written to the database."""

    secret_key: bytes
    data_keys: tuple[tuple[str, bytes], ...]  # (key_id, 32-byte AES key); the first encrypts
    index_key: bytes  # HMAC key of the blind index on ID numbers
    signing_key: bytes  # raw Ed25519 private key for audit checkpoints

    @property
    def primary_data_key_id(self) -> str:
        return self.data_keys[0][0]


def _parse_data_keys(text: str) -> tuple[tuple[str, bytes], ...]:
    ring = []
    for line in text.replace(",", "\n").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key_id, _, encoded = line.partition(":")
        key = base64.b64decode(encoded)
        if not key_id or len(key) != 32:
            raise MissingKeysError("each data key must be 'key_id:base64 of 32 bytes'")
        ring.append((key_id.strip(), key))
    if not ring:
        raise MissingKeysError("the data key ring is empty")
    return tuple(ring)


@dataclass(frozen=True)
class Settings:
    # Where the database lives; empty means a SQLite file in the instance folder.
    database_url: str = ""
    # Folder for the SQLite database, generated key files and uploads.
    instance_path: str = "instance"
    # Flask secret (signs nothing user-visible; sessions are server-side). Overrides keys/secret_key.
    secret_key: str = ""
    # AES-256-GCM key ring for ID numbers, "id:base64[,id:base64...]", primary first. Overrides keys/data_keys.
    data_keys: str = ""
    # HMAC key (base64) of the blind index on ID numbers. Overrides keys/index_key.
    index_key: str = ""
    # Ed25519 private key (base64 of 32 raw bytes) that signs audit checkpoints. Overrides the key file.
    signing_key: str = ""
    # Extra trusted checkpoint public keys (base64 raw Ed25519), comma-separated, e.g. a retired key.
    trusted_checkpoint_keys: str = ""

    # Warnings: how many days back from the evaluation date a record counts as a hit (inclusive).
    warning_window_days: int = 365
    # Yellow: one agency's hits on a subject come from at least this many of its departments.
    yellow_min_departments: int = 2
    # Yellow: one agency graded at least this many risk records on the subject high.
    yellow_min_high_risk: int = 2
    # Orange: one agency's hits come from at least this many of its departments.
    orange_min_departments: int = 3
    # Red: hits from at least this many agencies, counting shared and public records only.
    red_min_agencies: int = 2

    # Warnings: working days to acknowledge a warning, per level, "red=2,orange=3,yellow=5".
    warning_ack_working_days: str = "red=2,orange=3,yellow=5"

    # Double random draws: minimum decimal digits of a public seed.
    sampler_min_seed_digits: int = 20

    # Sessions end after this many minutes without a request.
    session_idle_minutes: int = 30
    # Sessions end this many hours after login, however active.
    session_max_hours: int = 12
    # Cookies carry Secure and the __Host- prefix; turn off only for the plain-http embedded demo.
    secure_cookies: bool = True
    # Failed logins on one account before it is locked; each further failure doubles the lock.
    lockout_threshold: int = 5
    # First lock duration in seconds; doubles per further failure up to lockout_max_seconds.
    lockout_base_seconds: int = 60
    # Longest lock in seconds.
    lockout_max_seconds: int = 3600
    # Login attempts allowed per client address per minute, across all accounts.
    login_rate_per_minute: int = 30
    # SQLite page cache (MB) for one bulk import's transaction; 0 keeps SQLite's default (2 MB).
    sqlite_bulk_cache_mb: int = 64
    # Largest accepted request body in bytes (uploads included); larger gets 413 before parsing.
    # A quarter's million-row CSV is ~270 MB; uploads stream to disk, never into memory.
    max_content_length: int = 512 * 1024 * 1024
    # Default UI language: zh (Chinese) or en.
    default_locale: str = "zh"

    # `signalhub serve` runs the periodic jobs in-process; turn off when `signalhub scheduler` runs them.
    embedded_scheduler: bool = True
    # Seconds a scheduler's lease lasts without a heartbeat (sent every quarter of it) before a standby takes over.
    scheduler_lease_seconds: int = 60
    # Folder of pg_dump/pg_restore (the server's major version or newer); empty: PATH, then /usr/lib/postgresql.
    pg_bin_dir: str = ""
    # Level of the JSON log lines on stderr: DEBUG, INFO, WARNING or ERROR.
    log_level: str = "INFO"
    # Reverse proxies in front that append to X-Forwarded-For/-Proto/-Host (one nginx: 1); 0 believes no such header.
    trusted_proxies: int = 0
    # Worker processes of `signalhub serve --production`; 0: two per CPU core plus one.
    web_workers: int = 0
    # Threads per production worker. 1: a thread waiting for the GIL between chaining its audit events
    # and committing holds the chain's lock meanwhile (bench/load.py measured the convoy); add workers instead.
    web_threads: int = 1
    # Days the scheduler's job runs and finished work-queue jobs are kept before the nightly prune.
    job_history_days: int = 180
    # Days login attempts are kept (the per-address limit needs one minute; the audit log keeps every login).
    login_attempt_days: int = 30
    # ID numbers re-encrypted per batch (one audit event each) by a requested key rotation.
    key_rotation_batch_size: int = 1000
    # Most ID numbers one scheduled rotation run re-encrypts; it runs every five minutes until none is left.
    key_rotation_rows_per_run: int = 50000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every option from ``SIGNALHUB_<NAME>``; keyword overrides win."""
        environ = os.environ if environ is None else environ
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f"SIGNALHUB_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _coerce(raw, hints[f.name], f.name)
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        values.update(overrides)
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def instance_dir(self) -> Path:
        return Path(self.instance_path).resolve()

    @property
    def key_dir(self) -> Path:
        return self.instance_dir / KEY_DIR_NAME

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.instance_dir / 'signalhub.sqlite3'}"

    @property
    def acknowledge_days(self) -> dict[str, int]:
        pairs = (item.split("=", 1) for item in self.warning_ack_working_days.split(",") if item.strip())
        return {name.strip(): int(value) for name, value in pairs}

    def missing_keys(self) -> list[str]:
        """Names of keys that are neither configured nor present as files."""
        checks = {
            SECRET_KEY_FILE: self.secret_key,
            DATA_KEYS_FILE: self.data_keys,
            INDEX_KEY_FILE: self.index_key,
            SIGNING_KEY_FILE: self.signing_key,
        }
        return [name for name, value in checks.items() if not value and not (self.key_dir / name).is_file()]

    def load_keys(self) -> KeyMaterial:
        """Decode the keys or raise MissingKeysError: there is no plaintext fallback."""
        missing = self.missing_keys()
        if missing:
            raise MissingKeysError(
                f"missing keys: {', '.join(missing)}; run 'signalhub init' or set SIGNALHUB_* key variables"
            )

        def read(value: str, name: str) -> str:
            return value or (self.key_dir / name).read_text(encoding="ascii").strip()

        try:
            return KeyMaterial(
                secret_key=read(self.secret_key, SECRET_KEY_FILE).encode("ascii"),
                data_keys=_parse_data_keys(read(self.data_keys, DATA_KEYS_FILE)),
                index_key=base64.b64decode(read(self.index_key, INDEX_KEY_FILE)),
                signing_key=base64.b64decode(read(self.signing_key, SIGNING_KEY_FILE)),
            )
        except (ValueError, UnicodeError) as exc:
            raise MissingKeysError(f"unreadable key material: {exc}") from exc


def _coerce(raw: str, kind: Any, name: str) -> Any:
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off", ""}:
            return False
        raise ValueError(f"SIGNALHUB_{name.upper()} must be true or false, not {raw!r}")
    if kind is int:
        return int(raw)
    return raw
