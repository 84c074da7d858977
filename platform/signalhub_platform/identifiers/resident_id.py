"""Resident ID number (居民身份证号码, GB 11643-1999).

Layout: 1-6 region, 7-14 birth date YYYYMMDD, 15-17 serial (odd 17th digit = male, even =
female), 18 check character (ISO 7064 MOD 11-2, ``X`` for 10). First-generation cards carry
15 digits (YYMMDD, always 19xx, no check digit); they are converted to the 18-digit form so that
one person has one stored spelling and one blind index.

ID numbers are personal data: results hold the number only when it is valid; anything shown to
people goes through ``signalhub_platform.crypto.mask_id_number`` (not imported here: the layers
contract keeps ``identifiers`` and ``crypto`` independent siblings).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from signalhub_platform.identifiers.normalise import INVALID_FORMAT, INVALID_LENGTH, CheckStatus, normalise

__all__ = [
    "EARLIEST_BIRTH_DATE",
    "IdCheck",
    "Sex",
    "id_check_char",
    "normalise_id_number",
    "validate_id_number",
]

WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))  # 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, ...
CHECK_CHARS = "10X98765432"  # indexed by the weighted sum mod 11
# Older birth dates are data-entry errors, not people; 1880-01-01 itself stays valid (TESTS C8).
EARLIEST_BIRTH_DATE = dt.date(1880, 1, 1)

_DIGITS = frozenset("0123456789")  # str.isdigit would also accept non-ASCII digits
_LAST_CHARS = frozenset("0123456789X")
_DIGIT_VALUES = {char: int(char) for char in "0123456789"}

REASON_CHECKSUM = "invalid checksum"
REASON_BIRTH_DATE = "invalid birth date"
REASON_TOO_OLD = "birth date before 1880-01-01"
REASON_FUTURE = "future birth date"


class Sex(enum.StrEnum):
    MALE = "M"
    FEMALE = "F"


@dataclass(frozen=True, slots=True)
class IdCheck:
    """Outcome of :func:`validate_id_number`.

    ``value`` (the normalised 18-character number), ``birth_date`` and ``sex`` are None unless
    the status is valid, so an invalid number is never carried further by accident.
    """

    value: str | None
    status: CheckStatus
    reason: str | None = None
    birth_date: dt.date | None = None
    sex: Sex | None = None


def id_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 17 digits."""
    return CHECK_CHARS[sum(_DIGIT_VALUES[char] * weight for char, weight in zip(first17, WEIGHTS, strict=True)) % 11]


def normalise_id_number(number: str) -> str:
    """NFKC (full-width digits and ``Ｘ``), upper case (``x`` → ``X``), stripped; no 15→18 conversion."""
    return normalise(number)


def _invalid(reason: str) -> IdCheck:
    return IdCheck(None, CheckStatus.INVALID, reason)


def validate_id_number(number: str, *, today: dt.date | None = None) -> IdCheck:
    """Normalise ``number``, convert a 15-digit one, and check format, check digit and birth date.

    ``today`` is a parameter so that "not in the future" is testable and a bulk import judges
    every row against the same day.
    """
    value = normalise(number)
    if len(value) == 15:
        if not _DIGITS.issuperset(value):
            return _invalid(INVALID_FORMAT)
        body = value[:6] + "19" + value[6:]  # first-generation cards were only issued to people born in 19xx
        value = body + id_check_char(body)
    elif len(value) == 18:
        if not (_DIGITS.issuperset(value[:17]) and value[17] in _LAST_CHARS):
            return _invalid(INVALID_FORMAT)
        if id_check_char(value[:17]) != value[17]:
            return _invalid(REASON_CHECKSUM)
    else:
        return _invalid(INVALID_LENGTH)

    try:
        birth_date = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return _invalid(REASON_BIRTH_DATE)
    if birth_date < EARLIEST_BIRTH_DATE:
        return _invalid(REASON_TOO_OLD)
    if birth_date > (dt.date.today() if today is None else today):
        return _invalid(REASON_FUTURE)
    sex = Sex.MALE if _DIGIT_VALUES[value[16]] % 2 else Sex.FEMALE
    return IdCheck(value, CheckStatus.VALID, None, birth_date, sex)
