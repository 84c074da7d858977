"""``signalhub sample``: the public verification tool (TESTS.md S4 through the command line)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from signalhub_config import Settings
from signalhub_platform.cli import main


@pytest.fixture(autouse=True)
def _no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # The tool must run with no configuration, database or keys at all.
    def refuse() -> Settings:
        raise AssertionError("signalhub sample must not load settings")

    monkeypatch.setattr(Settings, "from_env", staticmethod(refuse))


def _run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["sample", *args], input=stdin)


def test_s4_without_replacement() -> None:
    result = _run("--seed", "314159", "--take", "4", "A-1", "A-2", "A-3", "B-1", "B-2", "B-3")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split(" ")[1:] for line in lines] == [["B-2", "1"], ["B-3", "1"], ["A-3", "1"], ["A-2", "1"]]
    assert lines == ["0.410310858 B-2 1", "0.470960291 B-3 1", "0.471438751 A-3 1", "0.567089805 A-2 1"]


def test_s4_with_replacement() -> None:
    result = _run("--seed", "19283746", "--take", "3", "--with-replacement", "a1", "b2", "c3", "d4", "e5", "f6")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["0.303241347 e5 1", "0.432145156 b2 1", "0.487135586 c3 1"]


def test_ids_file_digits_and_drop(tmp_path: Path) -> None:
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\ufeffa1\r\nb2\n\n  c3  \nd4\ne5\nf6\n", encoding="utf-8")
    result = _run(
        "--seed",
        "19283746",
        "--with-replacement",
        "--take",
        "2",
        "--drop",
        "1",
        "--digits",
        "4",
        "--ids-file",
        str(ids_file),
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["0.4321 b2 1", "0.4871 c3 1"]


def test_ids_from_standard_input_and_whole_permutation_by_default() -> None:
    result = _run("--seed", "314159", "--ids-file", "-", stdin="A-1\nA-2\nA-3\nB-1\nB-2\nB-3\n")
    assert result.exit_code == 0, result.output
    assert [line.split(" ")[1] for line in result.stdout.splitlines()][:4] == ["B-2", "B-3", "A-3", "A-2"]
    assert len(result.stdout.splitlines()) == 6


def test_any_seed_string_is_accepted() -> None:
    spaced = _run("--seed", " 0", "--take", "3", "x", "y", "z", "w")
    plain = _run("--seed", "0", "--take", "3", "x", "y", "z", "w")
    assert spaced.exit_code == plain.exit_code == 0
    assert spaced.stdout != plain.stdout


def test_duplicate_id_is_an_error_naming_it() -> None:
    result = _run("--seed", "1", "a", "b", "a")
    assert result.exit_code == 1
    assert "duplicate id in the population: a" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "1"], "no ids"),
        (["--seed", "1", "--with-replacement", "a"], "--take"),
        (["--seed", "1", "--digits", "0", "a"], "--digits"),
        (["--seed", "1", "--ids-file", "-", "a"], "not both"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    result = _run(*args, stdin="b\n")
    assert result.exit_code == 2
    assert message in result.output
