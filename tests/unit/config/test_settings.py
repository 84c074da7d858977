from __future__ import annotations

from pathlib import Path

import pytest

from signalhub_config import MissingKeysError, Settings


def test_options_come_from_signalhub_environment_variables(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "SIGNALHUB_WARNING_WINDOW_DAYS": "90",
            "SIGNALHUB_SECURE_COOKIES": "off",
            "SIGNALHUB_INSTANCE_PATH": str(tmp_path),
        }
    )
    assert settings.warning_window_days == 90
    assert settings.secure_cookies is False
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'signalhub.sqlite3'}"


def test_overrides_win_over_environment() -> None:
    settings = Settings.from_env({"SIGNALHUB_RED_MIN_AGENCIES": "3"}, red_min_agencies=4)
    assert settings.red_min_agencies == 4


def test_unknown_override_is_refused() -> None:
    with pytest.raises(TypeError):
        Settings.from_env({}, no_such_option=1)


def test_bad_boolean_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="SIGNALHUB_SECURE_COOKIES"):
        Settings.from_env({"SIGNALHUB_SECURE_COOKIES": "maybe"})


def test_missing_keys_refuse_to_load(tmp_path: Path) -> None:
    settings = Settings.from_env({}, instance_path=str(tmp_path))
    assert set(settings.missing_keys()) == {"secret_key", "data_keys", "index_key", "audit_signing_key"}
    with pytest.raises(MissingKeysError, match="signalhub init"):
        settings.load_keys()
