"""Unified social credit code (统一社会信用代码, GB 32100-2015).

Layout: 1 registration authority, 2 organisation type, 3-8 region (GB/T 2260), 9-17 the
organisation code (GB 11714: eight characters plus its own check character at position 17),
18 the national check character (GB/T 17710 MOD 31-3 over the first 17 characters).

Both check characters are verified: the national one catches every single substitution and every
adjacent transposition (weights are successive powers of 3 modulo the prime 31); the
organisation-code one catches codes whose embedded organisation code was mistyped before the
national character was computed over it.

Fujian (Fuzhou, Xiamen) issued codes in a pilot before the national standard: positions 3-4
``35``, position 9 ``M``. Published ones (``91350211M0000XUF46``, ``91350100M0001TGQXM``,
``91350203M0001FUE2P``, ``91350203M0001QKT19``) are legal registrations whose 18th character is
not the national one but fits the same construction with the 36-character alphabet 0-9A-Z,
weights 2^i mod 37 and modulus 37 (reconstructed from those four codes, which all fit exactly;
see :func:`pilot_check_char`). Such codes are ``nonstandard``: rejecting them would drop real
enterprises from imports, accepting them silently would hide typos. Requiring the pilot character
to match keeps typos in pilot-shaped codes ``invalid``, except the ~1 in 37 that happen to fit the
pilot check: nothing in the string tells those from a real pilot code (``91350100M000100Y4F``,
the standard's example with its last character changed, is one).

Decision on the organisation-code check: a pilot-shaped code whose national character is right but
whose organisation-code character is wrong is ``nonstandard`` too (no single typo produces that,
so it is not a slip; the pilot assigned the ``M`` identifiers). The reason names every check that
failed; ``computed_check`` / ``computed_org_check`` carry the expected characters. Every other
failing code is ``invalid``.
"""

from __future__ import annotations

from dataclasses import dataclass

from signalhub_platform.identifiers.normalise import INVALID_FORMAT, INVALID_LENGTH, CheckStatus, normalise

__all__ = [
    "ALPHABET",
    "WEIGHTS",
    "UsccCheck",
    "is_pilot_shape",
    "normalise_uscc",
    "organisation_check_char",
    "pilot_check_char",
    "uscc_check_char",
    "validate_uscc",
]

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, 26, 16, 17, 20, ...
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
PILOT_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
PILOT_WEIGHTS = tuple(pow(2, i, 37) for i in range(17))  # 1, 2, 4, 8, 16, 32, 27, 17, ...

# Precomputed lookups: validation runs about a million times per bulk import.
_VALUES = {char: value for value, char in enumerate(ALPHABET)}
_ALLOWED = frozenset(ALPHABET)
# GB 11714 reads letters as 10..35 (int(char, 36)); lower case is kept for the public helper's old behaviour.
_ORG_VALUES = {char: int(char, 36) for char in PILOT_ALPHABET + PILOT_ALPHABET.lower()}
_PILOT_VALUES = {char: value for value, char in enumerate(PILOT_ALPHABET)}

REASON_ORG_MISMATCH = "organisation code check mismatch"
REASON_CHECK_MISMATCH = "check character mismatch"
REASON_PILOT = "pilot-era check character matches"


@dataclass(frozen=True, slots=True)
class UsccCheck:
    """Outcome of :func:`validate_uscc`.

    ``value`` is the normalised code unless the status is invalid (then None, so an invalid code
    cannot be stored by accident). ``computed_check`` / ``computed_org_check`` are the characters
    the checks expect; None only when the input had the wrong length or characters.
    """

    value: str | None
    status: CheckStatus
    reason: str | None = None
    computed_check: str | None = None
    computed_org_check: str | None = None


def uscc_check_char(first17: str) -> str:
    """GB 32100 check character (position 18) of a code's first 17 characters."""
    try:
        total = sum(_VALUES[char] * weight for char, weight in zip(first17, WEIGHTS, strict=True))
    except KeyError as exc:  # ValueError, as ALPHABET.index raised before
        raise ValueError(f"{exc.args[0]!r} is not a USCC character") from None
    return ALPHABET[-total % 31]


def organisation_check_char(first8: str) -> str:
    """GB 11714 check character of an organisation code's first eight characters."""
    try:
        total = sum(_ORG_VALUES[char] * weight for char, weight in zip(first8, ORG_WEIGHTS, strict=True))
    except KeyError as exc:  # ValueError, as int(char, 36) raised before
        raise ValueError(f"{exc.args[0]!r} is not an organisation code character") from None
    value = 11 - total % 11
    return {10: "X", 11: "0"}.get(value, str(value))


def pilot_check_char(first17: str) -> str:
    """Check character of Fujian's pre-standard pilot codes (``*`` when it is not a code character).

    Same construction as the national one (weights b^i from the left, check = -sum mod m) with
    b = 2, m = 37 over 0-9A-Z; reconstructed from published pilot codes, not from a standard text.
    """
    total = sum(_PILOT_VALUES[char] * weight for char, weight in zip(first17, PILOT_WEIGHTS, strict=True))
    return (PILOT_ALPHABET + "*")[-total % 37]


def normalise_uscc(code: str) -> str:
    """The one spelling stored and indexed: NFKC, upper case, stripped."""
    return normalise(code)


def is_pilot_shape(code: str) -> bool:
    """Whether a normalised 18-character code has the shape of Fujian's pre-standard pilot codes."""
    return code[2:4] == "35" and code[8] == "M"


def validate_uscc(code: str) -> UsccCheck:
    """Normalise ``code`` and check its shape and both check characters (pure; no lookups)."""
    value = normalise(code)
    if len(value) != 18:
        return UsccCheck(None, CheckStatus.INVALID, INVALID_LENGTH)
    if not _ALLOWED.issuperset(value):
        return UsccCheck(None, CheckStatus.INVALID, INVALID_FORMAT)
    computed = uscc_check_char(value[:17])
    computed_org = organisation_check_char(value[8:16])
    is_national_ok = value[17] == computed
    is_org_ok = value[16] == computed_org
    if is_national_ok and is_org_ok:
        return UsccCheck(value, CheckStatus.VALID, None, computed, computed_org)

    problems = []
    if not is_national_ok:
        problems.append(f"{REASON_CHECK_MISMATCH}: expected {computed}")
    if not is_org_ok:
        problems.append(f"{REASON_ORG_MISMATCH}: expected {computed_org}")
    if is_pilot_shape(value):
        if is_national_ok:
            return UsccCheck(value, CheckStatus.NONSTANDARD, "; ".join(problems), computed, computed_org)
        if value[17] == pilot_check_char(value[:17]):
            problems.append(REASON_PILOT)
            return UsccCheck(value, CheckStatus.NONSTANDARD, "; ".join(problems), computed, computed_org)
    return UsccCheck(None, CheckStatus.INVALID, "; ".join(problems), computed, computed_org)
