"""ID numbers inside typed text: found unbroken, full width, or with spaces or hyphens inside, and
masked once the gaps are closed (the public search, messages and the audit log ask the same test)."""

from __future__ import annotations

import pytest

from signalhub_platform.crypto import redact_id_numbers
from signalhub_platform.identifiers.free_text import contains_id_number, join_separated_id_numbers

ID_18 = "11010519491231002X"  # GB 11643's example (TESTS C8)
FULL_WIDTH = str.maketrans({c: chr(ord(c) + 0xFEE0) for c in "0123456789X"})


@pytest.mark.parametrize(
    "typed",
    [
        ID_18,
        f"身份证{ID_18.lower()}",
        "110105 19491231 002X",
        "110105-19491231-002X",
        "110105 - 1949 1231 - 002X",
        "１１０１０５\u300019491231\u3000002X".translate(FULL_WIDTH),
        "110105491231002",  # first generation, 15 digits
        "11010519491231001X",  # a wrong check character is still somebody's number
    ],
)
def test_an_id_number_is_found_and_masked_however_it_is_typed(typed: str) -> None:
    assert contains_id_number(typed)
    masked = redact_id_numbers(join_separated_id_numbers(typed))
    digits = "".join(char for char in masked if char.isdigit())
    assert "19491231" not in digits and "491231" not in digits, masked
    assert "*" in masked


@pytest.mark.parametrize(
    "typed", ["金融街街道", "2026-01-01 2026-12-31", "91350100M000100Y43", "12345 67890 12345", "电话 010-6512 3456"]
)
def test_other_text_is_left_as_typed(typed: str) -> None:
    assert not contains_id_number(typed)
    assert join_separated_id_numbers(typed) == typed
