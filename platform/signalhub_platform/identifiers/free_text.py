"""Resident ID numbers inside free text: the one test of whether typed text holds one, spaces or
hyphens typed inside the number included ("110105 19491231 002X", "110105-19491231-002X").

Messages refuse such text, the public search refuses such a query, and the audit log masks such a
value; all three ask here. Masking itself is ``signalhub_platform.crypto.redact_id_numbers`` (not
imported here: the layers contract keeps ``identifiers`` and ``crypto`` independent siblings), which
finds unbroken runs only: ``join_separated_id_numbers`` closes the gaps first.
"""

from __future__ import annotations

import re
import unicodedata

from signalhub_platform.identifiers.normalise import CheckStatus
from signalhub_platform.identifiers.resident_id import id_check_char, validate_id_number

__all__ = ["contains_id_number", "join_separated_id_numbers"]

# A run of 15 or 18 ID characters not glued to other ASCII letters or digits (Chinese text runs
# straight into a number, so only ASCII bounds it).
_ID_CANDIDATE = re.compile(r"(?<![0-9A-Za-z])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9A-Za-z])")
# "110105 19491231 002X" or "110105-1949...": spaces or hyphens typed inside one number.
_SEPARATOR_IN_NUMBER = re.compile(r"(?<=[0-9])[ \t\-]+(?=[0-9Xx])")


def _is_id_shaped(candidate: str) -> bool:
    """A valid resident ID number, or an 18-character one that is valid but for its check character
    (a mistyped ID number is still somebody's personal data)."""
    if validate_id_number(candidate).status is CheckStatus.VALID:
        return True
    if len(candidate) != 18:
        return False
    corrected = candidate[:17] + id_check_char(candidate[:17])
    return validate_id_number(corrected).status is CheckStatus.VALID


def contains_id_number(text: str) -> bool:
    """Does ``text`` hold something that looks like a resident ID number (full-width digits, spaces
    or hyphens inside the number too)?"""
    if sum(char.isdigit() for char in text) < 15:
        return False
    normalised = unicodedata.normalize("NFKC", text)
    for variant in (normalised, _SEPARATOR_IN_NUMBER.sub("", normalised)):
        if any(_is_id_shaped(match.group()) for match in _ID_CANDIDATE.finditer(variant)):
            return True
    return False


def join_separated_id_numbers(text: str) -> str:
    """``text`` with full-width characters folded and the gaps inside its numbers closed when it
    holds an ID number (so that ``redact_id_numbers`` then masks it); any other text unchanged."""
    if not contains_id_number(text):
        return text
    return _SEPARATOR_IN_NUMBER.sub("", unicodedata.normalize("NFKC", text))
