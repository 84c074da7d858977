from __future__ import annotations

import pytest

from signalhub_platform.identifiers.normalise import CheckStatus, normalise


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("91350100m000100y43", "91350100M000100Y43"),
        ("  91350100M000100Y43\n", "91350100M000100Y43"),
        ("９１３５０１００Ｍ０００１００Ｙ４３", "91350100M000100Y43"),  # full-width digits and letters
        ("\u300011010519491231002ｘ\u3000", "11010519491231002X"),  # ideographic spaces, full-width lower x
        ("", ""),
    ],
)
def test_normalise_folds_width_and_case_and_strips(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_status_values_are_the_stored_strings() -> None:
    assert [status.value for status in CheckStatus] == ["valid", "nonstandard", "invalid"]
