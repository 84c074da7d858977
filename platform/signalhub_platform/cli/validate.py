"""``signalhub validate``: check codes from the command line (placeholder)."""

from __future__ import annotations

from signalhub_platform.cli import main


@main.group()
def validate() -> None:
    """Validate unified social credit codes and resident ID numbers."""
