"""Without its keys the platform refuses to run: no silent plaintext fallback (TESTS K9)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from signalhub_config import MissingKeysError, Settings
from signalhub_platform.app import create_app
from signalhub_platform.cli import CliContext, main
from tests.conftest import make_key_settings

KEYS = ("secret_key", "data_keys", "index_key", "signing_key")


@pytest.mark.parametrize("missing", KEYS)
def test_create_app_refuses_to_start_without_a_key(
    tmp_path: Path, session_factory: sessionmaker[Session], missing: str
) -> None:
    settings = make_key_settings(tmp_path, **{missing: ""})
    with pytest.raises(MissingKeysError, match="missing keys"):
        create_app(settings, session_factory=session_factory)


def test_create_app_refuses_an_empty_or_malformed_data_key_ring(tmp_path: Path) -> None:
    for ring in ("# only a comment", "k1:c2hvcnQ="):
        with pytest.raises(MissingKeysError):
            create_app(make_key_settings(tmp_path, data_keys=ring))


@pytest.mark.parametrize(
    "args",
    [["serve"], ["registry", "import", "{file}"], ["keys", "rotate"]],
    ids=["serve", "registry-import", "keys-rotate"],
)
def test_commands_that_need_keys_refuse_without_them(
    tmp_path: Path, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    def never_run(*_: object, **__: object) -> None:
        raise AssertionError("the server started without its keys")

    monkeypatch.setattr(Flask, "run", never_run)
    registry_file = tmp_path / "registry.csv"
    registry_file.write_text("uscc\n", encoding="utf-8")
    settings = make_key_settings(tmp_path, data_keys="", index_key="")
    result = CliRunner().invoke(
        main,
        [arg.format(file=registry_file) for arg in args],
        obj=CliContext(settings=settings, factory=session_factory),
    )
    assert result.exit_code != 0
    assert "missing keys: data_keys, index_key" in result.output


def test_key_files_satisfy_the_check(tmp_path: Path, session_factory: sessionmaker[Session]) -> None:
    from signalhub_platform.keys import generate_missing_keys

    settings = Settings(instance_path=str(tmp_path / "instance"))
    generate_missing_keys(settings)
    assert isinstance(create_app(settings, session_factory=session_factory), Flask)
