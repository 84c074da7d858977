"""``signalhub validate``: JSON lines, masking, exit codes."""

from __future__ import annotations

import json

from click.testing import CliRunner, Result

from signalhub_platform.cli import main


def _run(*args: str) -> tuple[Result, list[dict[str, object]]]:
    result = CliRunner().invoke(main, ["validate", *args])
    return result, [json.loads(line) for line in result.stdout.splitlines()]


def test_uscc_valid_and_nonstandard_exit_zero() -> None:
    result, rows = _run("uscc", "91350100m000100y43", "91350211M0000XUF46")
    assert result.exit_code == 0, result.output
    assert rows[0] == {"value": "91350100M000100Y43", "status": "valid", "reason": None}
    assert rows[1]["status"] == "nonstandard"
    assert rows[1]["computed_check"] == "R"
    assert rows[1]["value"] == "91350211M0000XUF46"
    assert str(rows[1]["reason"]).startswith("check character mismatch: expected R")


def test_uscc_any_invalid_exits_one_and_reports_every_code() -> None:
    result, rows = _run("uscc", "91350100M000100Y43", "91350100M000100Y44", "12345", "统一代码")
    assert result.exit_code == 1
    assert [row["status"] for row in rows] == ["valid", "invalid", "invalid", "invalid"]
    assert rows[1] == {
        "value": "91350100M000100Y44",
        "status": "invalid",
        "reason": "check character mismatch: expected 3",
        "computed_check": "3",
    }
    assert rows[2]["reason"] == "InvalidLength"
    assert "统一代码" in result.stdout  # ensure_ascii=False: no \u escapes


def test_id_numbers_are_masked_and_never_printed_whole() -> None:
    numbers = ["11010519491231002x", "440524188001010014", "110105491231002"]
    result, rows = _run("id", *numbers)
    assert result.exit_code == 0, result.output
    assert rows == [
        {"value": "110105********002X", "status": "valid", "reason": None},
        {"value": "440524********0014", "status": "valid", "reason": None},
        {"value": "110105********002X", "status": "valid", "reason": None},  # converted to 18 digits
    ]
    for number in [*numbers, "11010519491231002X", "19491231"]:
        assert number.upper() not in result.output


def test_invalid_id_numbers_are_masked_too_and_exit_one() -> None:
    numbers = ["11010519491231001X", "110105194902300020", "110105209912310029", "12345"]
    result, rows = _run("id", "11010519491231002X", *numbers)
    assert result.exit_code == 1
    assert [row["status"] for row in rows] == ["valid", "invalid", "invalid", "invalid", "invalid"]
    assert [row["reason"] for row in rows[1:]] == [
        "invalid checksum",
        "invalid birth date",
        "future birth date",
        "InvalidLength",
    ]
    assert rows[1]["value"] == "110105********001X"
    assert rows[4]["value"] == "*****"
    assert "computed_check" not in rows[1]
    for number in numbers:
        assert number not in result.output


def test_id_input_is_normalised_before_masking() -> None:
    result, rows = _run("id", " １１０１０５１９４９１２３１００２ｘ ")
    assert result.exit_code == 0
    assert rows == [{"value": "110105********002X", "status": "valid", "reason": None}]


def test_arguments_are_required() -> None:
    result = CliRunner().invoke(main, ["validate", "id"])
    assert result.exit_code == 2
