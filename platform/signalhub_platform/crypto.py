"""Personal data protection: AES-256-GCM for ID numbers and a keyed HMAC blind index.

- Each encryption draws a fresh random 96-bit nonce inside this wrapper; callers cannot pass
  one, so a nonce is never reused under a key.
- The associated data binds a ciphertext to its row identity (the blind index), so a
  ciphertext copied into another row fails to decrypt (InvalidTag) instead of leaking.
- The stored form is ``nonce || ciphertext || tag`` with the key id in its own column, so the
  key ring can rotate: the first key encrypts, every key in the ring decrypts.
- The blind index is HMAC-SHA256 under a key derived per scope: ``platform`` for the persons
  table (joins across agencies), an agency code for values an agency's users typed (audit
  payloads), so one agency's audit trail cannot be joined with another's.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from signalhub_config import KeyMaterial

NONCE_BYTES = 12
PLATFORM_SCOPE = "platform"

__all__ = ["InvalidTag", "PersonalDataCipher", "mask_id_number", "redact_id_numbers"]


class PersonalDataCipher:
    def __init__(self, keys: KeyMaterial) -> None:
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.data_keys}
        self.primary_key_id = keys.primary_data_key_id
        self._index_key = keys.index_key
        self._scope_keys: dict[str, bytes] = {}

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._ciphers)

    def encrypt(self, plaintext: str, row_identity: str) -> tuple[bytes, str]:
        """Return ``(nonce || ciphertext || tag, key_id)`` under the primary key."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.primary_key_id].encrypt(nonce, plaintext.encode("utf-8"), row_identity.encode())
        return nonce + sealed, self.primary_key_id

    def decrypt(self, blob: bytes, key_id: str, row_identity: str) -> str:
        """Raises ``InvalidTag`` when the blob was altered or belongs to another row."""
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise InvalidTag(f"unknown key id {key_id!r}")
        plaintext = cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], row_identity.encode())
        return plaintext.decode("utf-8")

    def blind_index(self, normalised_value: str, scope: str = PLATFORM_SCOPE) -> str:
        """Keyed, deterministic index of an already normalised value (see ``identifiers``)."""
        key = self._scope_keys.get(scope)
        if key is None:
            key = hmac.new(self._index_key, b"signalhub-blind-index:" + scope.encode(), hashlib.sha256).digest()
            self._scope_keys[scope] = key
        return hmac.new(key, normalised_value.encode("utf-8"), hashlib.sha256).hexdigest()


# Anything shaped like a resident ID number (15 to 18 characters) inside free text.
_ID_SHAPED = re.compile(r"\d{14}[\dXx]{1,4}")


def redact_id_numbers(text: str) -> str:
    """Mask every ID-shaped run in free text bound for a message, a log or the audit log."""
    return _ID_SHAPED.sub(lambda match: mask_id_number(match.group()), text) if len(text) >= 15 else text


def mask_id_number(normalised: str) -> str:
    """``110105194912310021`` -> ``110105********0021``: region and last four only."""
    if len(normalised) <= 10:
        return "*" * len(normalised)
    return normalised[:6] + "*" * (len(normalised) - 10) + normalised[-4:]
