"""What every identifier check shares: input normalisation, the status vocabulary and the shape reasons.

Agencies' spreadsheets carry codes typed on Chinese IMEs (full-width letters and digits, ideographic
spaces) and in lower case; normalising first means the blind index, the uniqueness constraint and
the check characters all see one spelling of each code.
"""

from __future__ import annotations

import enum
import unicodedata

__all__ = ["INVALID_FORMAT", "INVALID_LENGTH", "CheckStatus", "normalise"]

# Reason codes for input of the wrong shape, before any check character is computed.
INVALID_LENGTH = "InvalidLength"
INVALID_FORMAT = "InvalidFormat"


class CheckStatus(enum.StrEnum):
    """Outcome of an identifier check; the values are stored and printed, so they never change."""

    VALID = "valid"
    NONSTANDARD = "nonstandard"  # legal pilot-region USCC that fails a check character
    INVALID = "invalid"


def normalise(value: str) -> str:
    """NFKC (full-width → ASCII), upper case, surrounding whitespace removed.

    NFKC is skipped for ASCII input: it cannot change it, and bulk imports call this about a
    million times.
    """
    if not value.isascii():
        value = unicodedata.normalize("NFKC", value)
    return value.strip().upper()
