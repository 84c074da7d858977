"""No ID number at rest or in logs: dump every table and every log line after real imports (TESTS K7)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from signalhub_config import Settings
from signalhub_platform.cli import CliContext, main
from signalhub_platform.db import make_session_factory
from tests.factories import make_id_number, make_uscc
from tests.integration.reference.files import RegistryFixture, registry_row, write_csv, write_xlsx


def _dump(engine: Engine) -> str:
    """Every column of every row of every table, as text; binary both as hex and as raw characters."""
    parts: list[str] = []
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        raw = bytes(value)
                        parts += [raw.hex(), raw.decode("latin-1")]
                    else:
                        parts.append(str(value))
    return "\n".join(parts)


FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def _forbidden(number: str) -> list[str]:
    """The number as stored, as typed in full width, and its unkeyed SHA-256 (a dictionary attack's key)."""
    return [number, number.translate(FULL_WIDTH), hashlib.sha256(number.encode()).hexdigest()]


def test_k7_no_id_number_or_its_plain_hash_in_any_table_audit_payload_or_log(
    scratch_database: Engine, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Every SQL statement with its parameters; then DEBUG everywhere (the last call sets the handler's level).
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    caplog.set_level(logging.DEBUG)
    factory = make_session_factory(scratch_database)
    obj = CliContext(settings=settings, factory=factory)
    fx = RegistryFixture(7)
    full_width = make_id_number(serial=707)
    numbers = [*fx.id_numbers, full_width]
    rows = [
        *fx.rows,
        registry_row(make_uscc(77_001), full_width.translate(FULL_WIDTH), "2020-01-01"),
    ]
    bad_number = numbers[0][:-1] + ("1" if numbers[0][-1] != "1" else "2")
    outputs = []
    for args in (
        ["registry", "import", str(write_csv(tmp_path / "registry.csv", rows, encoding="gbk"))],
        ["registry", "import", str(write_xlsx(tmp_path / "registry.xlsx", rows))],  # the unchanged re-import
        [
            "registry",
            "import",
            str(write_csv(tmp_path / "bad.csv", [registry_row(make_uscc(77_002), bad_number, "x")])),
        ],
        ["keys", "rotate"],
    ):
        result = CliRunner().invoke(main, args, obj=obj)
        outputs.append(result.output)
    assert "entities: 3 created" in outputs[0] and "0 created, 0 updated, 3 unchanged" in outputs[1], outputs
    assert "row 2: legal_rep_id_number" in outputs[2]

    dump = _dump(scratch_database)
    assert "cli:registry:import" in dump and "110102" in dump  # the dump did see payloads and masks
    haystack = "\n".join([dump, caplog.text, *outputs]).lower()
    assert "insert into persons" in haystack  # the SQL log was captured
    for number in [*numbers, bad_number]:
        for needle in _forbidden(number):
            assert needle.lower() not in haystack
