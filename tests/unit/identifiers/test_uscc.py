"""TESTS.md C1-C7: unified social credit codes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signalhub_platform.identifiers.normalise import CheckStatus
from signalhub_platform.identifiers.uscc import (
    ALPHABET,
    WEIGHTS,
    organisation_check_char,
    pilot_check_char,
    uscc_check_char,
    validate_uscc,
)

EXAMPLE = "91350100M000100Y43"  # GB 32100-2015's own example

# Codes published by the registrants or on credit registers (creditchina.gov.cn, python-stdnum issue #207).
PUBLISHED = [
    EXAMPLE,
    "9144030071526726XG",  # 腾讯科技（深圳）有限公司
    "914403001922038216",  # 华为技术有限公司
    "91110108551385082Q",  # 小米科技有限责任公司
    "91110000802100433B",  # 北京百度网讯科技有限公司
    "91330100716105852F",  # 阿里巴巴（中国）网络技术有限公司
    "91110000710926094P",  # 中国石油化工股份有限公司
    "91310000631696382C",  # 宝山钢铁股份有限公司
    "91310115MA1K3BTP2B",
    "91350100MA32C0EA03",  # Fuzhou, 'M' at position 9, yet a national-standard code: valid, not nonstandard
    "12440600MB2C07549J",  # a public institution (登记管理部门 1)
]

# Legal codes from Fujian's pre-standard pilot, with the national check character they fail.
PILOT_CODES = [
    ("91350211M0000XUF46", "R"),  # 厦门云上晴空航空科技有限公司 (TESTS C2)
    ("91350100M0001TGQXM", "1"),  # 福建恒跃柳工机械销售有限公司
    ("91350203M0001FUE2P", "J"),  # 厦门黑脉网络科技有限公司
    ("91350203M0001QKT19", "F"),
]

FULL_WIDTH = str.maketrans({chr(code): chr(code + 0xFEE0) for code in range(0x21, 0x7F)})


def _pilot_check_independent(first17: str) -> str:
    """Test-side copy of the pilot scheme, so the property tests do not trust the code under test."""
    chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"
    return chars[-sum(chars.index(c) * pow(2, i, 37) for i, c in enumerate(first17)) % 37]


def _expected_failure_status(code: str) -> CheckStatus:
    # Every single error breaks the national check; only a pilot-shaped code that happens to fit the
    # pilot check may then be nonstandard.
    is_pilot = code[2:4] == "35" and code[8] == "M" and code[17] == _pilot_check_independent(code[:17])
    return CheckStatus.NONSTANDARD if is_pilot else CheckStatus.INVALID


def _make_code(prefix10: str) -> str:
    """A code with both check characters right, from authority, type, region and 2 org characters."""
    org8 = prefix10[8:] + "000001"
    body17 = prefix10 + "000001" + organisation_check_char(org8)
    return body17 + uscc_check_char(body17)


def test_weights_are_the_published_ones() -> None:
    assert WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


# C1
@pytest.mark.parametrize("code", PUBLISHED)
def test_published_codes_are_valid(code: str) -> None:
    result = validate_uscc(code)
    assert result.status is CheckStatus.VALID
    assert result.value == code
    assert result.reason is None
    assert result.computed_check == code[17]
    assert result.computed_org_check == code[16]


# C2
def test_fujian_pilot_code_is_nonstandard_with_the_computed_character() -> None:
    result = validate_uscc("91350211M0000XUF46")
    assert result.status is CheckStatus.NONSTANDARD
    assert result.status == "nonstandard"
    assert result.computed_check == "R"
    assert result.value == "91350211M0000XUF46"  # kept: it is a legal code
    assert result.reason is not None
    assert result.reason.startswith("check character mismatch: expected R")


@pytest.mark.parametrize(("code", "computed"), PILOT_CODES)
def test_published_pilot_codes_are_nonstandard(code: str, computed: str) -> None:
    result = validate_uscc(code)
    assert (result.status, result.computed_check) == (CheckStatus.NONSTANDARD, computed)
    assert pilot_check_char(code[:17]) == code[17]


def test_pilot_code_failing_only_the_organisation_check_is_nonstandard() -> None:
    body17 = "91350100M000100Y5"  # org check should be 4
    result = validate_uscc(body17 + uscc_check_char(body17))
    assert result.status is CheckStatus.NONSTANDARD
    assert result.reason == "organisation code check mismatch: expected 4"
    assert result.computed_org_check == "4"


def test_other_code_failing_only_the_organisation_check_is_invalid() -> None:
    body17 = "9144030019220382" + "2"  # Huawei with the org check character changed (should be 1)
    result = validate_uscc(body17 + uscc_check_char(body17))
    assert result.status is CheckStatus.INVALID
    assert result.value is None
    assert result.reason == "organisation code check mismatch: expected 1"


def test_pilot_code_failing_both_checks_names_both() -> None:
    body17 = "91350100M000100Y6"
    code = body17 + pilot_check_char(body17)  # fits the pilot scheme only ("Y"; the national one is "9")
    result = validate_uscc(code)
    assert result.status is CheckStatus.NONSTANDARD
    assert result.reason is not None
    assert "check character mismatch: expected 9" in result.reason
    assert "organisation code check mismatch: expected 4" in result.reason


def test_non_pilot_code_failing_the_national_check_is_invalid() -> None:
    result = validate_uscc("914403001922038217")
    assert (result.status, result.value, result.computed_check) == (CheckStatus.INVALID, None, "6")
    assert result.reason == "check character mismatch: expected 6"


# C3: 30 cases. One of them, ...Y4F, fits the pilot check, so by design it is nonstandard, not invalid.
@pytest.mark.parametrize("char", [c for c in ALPHABET if c != EXAMPLE[17]])
def test_example_with_any_other_last_character_fails(char: str) -> None:
    result = validate_uscc(EXAMPLE[:17] + char)
    expected = CheckStatus.NONSTANDARD if char == "F" else CheckStatus.INVALID
    assert result.status is expected
    assert result.computed_check == "3"
    assert result.reason is not None
    assert result.reason.startswith("check character mismatch: expected 3")


valid_codes = st.builds(
    lambda head, region, org8: (lambda body17: body17 + uscc_check_char(body17))(
        head + region + org8 + organisation_check_char(org8)
    ),
    st.text(ALPHABET, min_size=2, max_size=2),
    st.text("0123456789", min_size=6, max_size=6),
    st.text(ALPHABET, min_size=8, max_size=8),
)


# C4
@settings(deadline=None)
@given(code=valid_codes, data=st.data())
def test_one_substitution_or_adjacent_transposition_is_caught(code: str, data: st.DataObject) -> None:
    assert validate_uscc(code).status is CheckStatus.VALID
    if data.draw(st.booleans(), label="substitute"):
        index = data.draw(st.integers(0, 17), label="index")
        char = data.draw(st.sampled_from([c for c in ALPHABET if c != code[index]]), label="char")
        mutated = code[:index] + char + code[index + 1 :]
    else:
        candidates = [i for i in range(17) if code[i] != code[i + 1]]
        if not candidates:
            return
        index = data.draw(st.sampled_from(candidates), label="index")
        mutated = code[:index] + code[index + 1] + code[index] + code[index + 2 :]
    result = validate_uscc(mutated)
    assert result.status is _expected_failure_status(mutated)
    assert result.computed_check != mutated[17]


@settings(deadline=None)
@given(org_tail=st.text(ALPHABET, min_size=7, max_size=7), index=st.integers(0, 17), data=st.data())
def test_pilot_shaped_typos_are_invalid_unless_they_fit_the_pilot_check(
    org_tail: str, index: int, data: st.DataObject
) -> None:
    org8 = "M" + org_tail
    body17 = "91350100" + org8 + organisation_check_char(org8)
    code = body17 + uscc_check_char(body17)
    char = data.draw(st.sampled_from([c for c in ALPHABET if c != code[index]]))
    mutated = code[:index] + char + code[index + 1 :]
    assert validate_uscc(mutated).status is _expected_failure_status(mutated)


# C5
@pytest.mark.parametrize("char", ["I", "O", "S", "V", "Z", "i", "o", "s", "v", "z"])
def test_excluded_letters_anywhere_are_invalid_format(char: str) -> None:
    for index in range(18):
        result = validate_uscc(EXAMPLE[:index] + char + EXAMPLE[index + 1 :])
        assert (result.status, result.reason, result.value) == (CheckStatus.INVALID, "InvalidFormat", None), index


@pytest.mark.parametrize(
    "code", ["91350100M000100Y4-", "91350100M000 00Y43", "91350100M000100Y4é", "9135010０M000100Y4*"]
)
def test_other_characters_are_invalid_format(code: str) -> None:
    assert validate_uscc(code).reason == "InvalidFormat"


# C6
@pytest.mark.parametrize("prefix10", ["N1110102AB", "Y1110102CD", "91350100MA"])
def test_lower_case_and_full_width_input_is_normalised_then_validated(prefix10: str) -> None:
    code = _make_code(prefix10)
    for spelling in (code.lower(), code.translate(FULL_WIDTH), f"\u3000{code.lower().translate(FULL_WIDTH)} "):
        result = validate_uscc(spelling)
        assert (result.status, result.value) == (CheckStatus.VALID, code), spelling


def test_normalised_input_still_has_its_check_verified() -> None:
    assert validate_uscc(EXAMPLE.lower()[:17] + "4").status is CheckStatus.INVALID


# C7
@pytest.mark.parametrize("code", ["12345", EXAMPLE[:17], EXAMPLE + "0", "", "   "])
def test_wrong_length_is_invalid_length(code: str) -> None:
    result = validate_uscc(code)
    assert (result.status, result.reason, result.value, result.computed_check) == (
        CheckStatus.INVALID,
        "InvalidLength",
        None,
        None,
    )


def test_check_character_helpers_keep_their_contract() -> None:
    assert uscc_check_char(EXAMPLE[:17]) == "3"
    assert organisation_check_char("M000100Y") == "4"
    assert organisation_check_char("71526726") == "X"  # 10 -> X (Tencent)
    assert organisation_check_char("10000004") == "0"  # 11 -> 0: 1*3 + 4*2 = 11
    assert organisation_check_char("m000100y") == "4"  # lower case was accepted before (int(char, 36))
    with pytest.raises(ValueError, match="not a USCC character"):
        uscc_check_char("91350100I000100Y4")
    with pytest.raises(ValueError, match="zip"):
        uscc_check_char(EXAMPLE[:16])
