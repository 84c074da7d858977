"""TESTS.md C8-C13: resident ID numbers."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signalhub_platform.identifiers.normalise import CheckStatus
from signalhub_platform.identifiers.resident_id import Sex, normalise_id_number, validate_id_number

TODAY = dt.date(2026, 11, 27)  # fixed, so "future" does not drift with the calendar
FULL_WIDTH = str.maketrans({chr(code): chr(code + 0xFEE0) for code in range(0x21, 0x7F)})


def _check_digit(first17: str) -> str:
    """Test-side ISO 7064 MOD 11-2, written out from GB 11643 rather than imported."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


# C8
@pytest.mark.parametrize(
    ("number", "birth_date", "sex"),
    [
        ("11010519491231002X", dt.date(1949, 12, 31), Sex.FEMALE),
        ("440524188001010014", dt.date(1880, 1, 1), Sex.MALE),
    ],
)
def test_valid_numbers_give_birth_date_and_sex(number: str, birth_date: dt.date, sex: Sex) -> None:
    result = validate_id_number(number, today=TODAY)
    assert result.status is CheckStatus.VALID
    assert (result.value, result.reason, result.birth_date, result.sex) == (number, None, birth_date, sex)
    assert result.sex in ("F", "M")


# C9
@pytest.mark.parametrize("number", ["11010519491231001X", "440524188001010024"])
def test_wrong_check_digit_is_invalid_checksum(number: str) -> None:
    result = validate_id_number(number, today=TODAY)
    assert (result.status, result.reason) == (CheckStatus.INVALID, "invalid checksum")
    assert (result.value, result.birth_date, result.sex) == (None, None, None)


# C10
@pytest.mark.parametrize(
    "number",
    [
        "11010519491231002x",
        "11010519491231002X".translate(FULL_WIDTH),
        "１１０１０５１９４９１２３１００２ｘ",
        " 11010519491231002x\n",
    ],
)
def test_lower_x_and_full_width_are_normalised(number: str) -> None:
    result = validate_id_number(number, today=TODAY)
    assert (result.status, result.value) == (CheckStatus.VALID, "11010519491231002X")


# C11
@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("110105194902300020", "invalid birth date"),  # 1949-02-30; check digit 0 is right
        ("110105209912310029", "future birth date"),  # 2099-12-31; check digit 9 is right
        ("110105194913010010", "invalid birth date"),  # month 13
        ("110105187912310016", "birth date before 1880-01-01"),
    ],
)
def test_impossible_birth_dates_are_invalid(number: str, reason: str) -> None:
    assert _check_digit(number[:17]) == number[17]  # the date, not the checksum, must be what fails
    result = validate_id_number(number, today=TODAY)
    assert (result.status, result.reason, result.value) == (CheckStatus.INVALID, reason, None)


def test_future_is_judged_against_today() -> None:
    body = "110105" + TODAY.strftime("%Y%m%d") + "001"
    number = body + _check_digit(body)
    assert validate_id_number(number, today=TODAY).status is CheckStatus.VALID
    assert validate_id_number(number, today=TODAY - dt.timedelta(days=1)).reason == "future birth date"


def test_today_defaults_to_the_current_date() -> None:
    assert validate_id_number("110105209912310029").reason == "future birth date"
    assert validate_id_number("11010519491231002X").status is CheckStatus.VALID


# C12
def test_fifteen_digit_numbers_are_converted() -> None:
    result = validate_id_number("110105491231002", today=TODAY)
    assert result.status is CheckStatus.VALID
    assert result.value == "11010519491231002X"
    assert (result.birth_date, result.sex) == (dt.date(1949, 12, 31), Sex.FEMALE)


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("110105490230002", "invalid birth date"),
        ("11010549123100X", "InvalidFormat"),
        ("１１０１０５４９１２３１００２", None),  # full-width 15 digits are fine
    ],
)
def test_fifteen_digit_edge_cases(number: str, reason: str | None) -> None:
    assert validate_id_number(number, today=TODAY).reason == reason


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("", "InvalidLength"),
        ("1101051949123100", "InvalidLength"),
        ("11010519491231002X0", "InvalidLength"),
        ("1101051949123100XX", "InvalidFormat"),
        ("11010519491231002A", "InvalidFormat"),
        ("X10105194912310021", "InvalidFormat"),
        ("11010519491231002١", "InvalidFormat"),  # Arabic-Indic one: str.isdigit but not an ID digit
    ],
)
def test_wrong_shape_is_invalid(number: str, reason: str) -> None:
    result = validate_id_number(number, today=TODAY)
    assert (result.status, result.reason, result.value) == (CheckStatus.INVALID, reason, None)


def test_normalise_does_not_convert_fifteen_digits() -> None:
    # Conversion needs the date check too, so it belongs to validate_id_number alone.
    assert normalise_id_number(" １１０１０５４９１２３１００２ ") == "110105491231002"


birth_dates = st.dates(min_value=dt.date(1880, 1, 1), max_value=TODAY)
bodies = st.builds(
    lambda region, birth, serial: region + birth.strftime("%Y%m%d") + serial,
    st.text("0123456789", min_size=6, max_size=6),
    birth_dates,
    st.text("0123456789", min_size=3, max_size=3),
)


# C13
@settings(deadline=None)
@given(body=bodies, index=st.integers(0, 17), data=st.data())
def test_computed_check_is_valid_and_any_single_change_is_caught(body: str, index: int, data: st.DataObject) -> None:
    number = body + _check_digit(body)
    result = validate_id_number(number, today=TODAY)
    assert (result.status, result.value) == (CheckStatus.VALID, number)
    assert result.sex is (Sex.MALE if int(number[16]) % 2 else Sex.FEMALE)

    alphabet = "0123456789X" if index == 17 else "0123456789"
    char = data.draw(st.sampled_from([c for c in alphabet if c != number[index]]))
    changed = number[:index] + char + number[index + 1 :]
    assert validate_id_number(changed, today=TODAY).status is CheckStatus.INVALID
