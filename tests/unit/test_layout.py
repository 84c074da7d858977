"""The source roots named ``platform`` and ``warnings`` must never shadow the standard library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> str:
    result = subprocess.run(  # noqa: S603 - our own interpreter with a fixed snippet
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.strip()


def test_stdlib_platform_and_warnings_win_from_the_repo_root() -> None:
    out = _run("import platform, warnings; print(platform.system(), warnings.__file__)")
    system, warnings_file = out.split(" ", 1)
    assert system
    assert not warnings_file.startswith(str(ROOT))


def test_every_package_imports_from_the_repo_root() -> None:
    packages = ["signalhub_config", "signalhub_platform", "signalhub_ingest", "signalhub_warnings", "signalhub_audit"]
    out = _run(f"import importlib; print(','.join(importlib.import_module(p).__name__ for p in {packages!r}))")
    assert out.split(",") == packages
