"""``signalhub keys``: (placeholder, filled in by its area)."""

from __future__ import annotations

from signalhub_platform.cli import main  # noqa: F401
