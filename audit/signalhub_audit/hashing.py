"""The documented, pinned format of the audit hash chain.

    payload   = canonical JSON of the event (keys sorted, no spaces, UTF-8, no ASCII escaping)
    hash[seq] = hex(SHA-256( UTF-8( f"{seq}\\n{prev_hash}\\n" ) || UTF-8(payload) ))
    prev_hash of seq 1 = "0" * 64 (GENESIS)

A test recomputes these with its own copy of the formula, so a change here is a format break.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def chain_hash(seq: int, prev_hash: str, payload: str) -> str:
    digest = hashlib.sha256(f"{seq}\n{prev_hash}\n".encode())
    digest.update(payload.encode("utf-8"))
    return digest.hexdigest()
