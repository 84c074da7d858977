"""``signalhub validate``: check codes from the command line, one JSON object per line.

JSON lines so that output pipes into ``jq`` or a spreadsheet import; exit status 1 when any
input is invalid so that shell scripts can stop on it (nonstandard codes are legal, so they pass).
"""

from __future__ import annotations

import json

import click

from signalhub_platform.cli import main
from signalhub_platform.crypto import mask_id_number
from signalhub_platform.identifiers.normalise import CheckStatus
from signalhub_platform.identifiers.resident_id import normalise_id_number, validate_id_number
from signalhub_platform.identifiers.uscc import normalise_uscc, validate_uscc


@main.group()
def validate() -> None:
    """Validate unified social credit codes and resident ID numbers."""


def _echo(row: dict[str, object]) -> None:
    click.echo(json.dumps(row, ensure_ascii=False))


@validate.command("uscc")
@click.argument("codes", nargs=-1, required=True)
@click.pass_context
def validate_uscc_command(ctx: click.Context, codes: tuple[str, ...]) -> None:
    """Check unified social credit codes (GB 32100, with the GB 11714 organisation-code check)."""
    has_invalid = False
    for code in codes:
        result = validate_uscc(code)
        # A USCC is public registration data, so the normalised input is echoed even when invalid.
        row: dict[str, object] = {
            "value": result.value if result.value is not None else normalise_uscc(code),
            "status": str(result.status),
            "reason": result.reason,
        }
        if result.status is not CheckStatus.VALID:
            row["computed_check"] = result.computed_check
        _echo(row)
        has_invalid = has_invalid or result.status is CheckStatus.INVALID
    if has_invalid:
        ctx.exit(1)


@validate.command("id")
@click.argument("numbers", nargs=-1, required=True)
@click.pass_context
def validate_id_command(ctx: click.Context, numbers: tuple[str, ...]) -> None:
    """Check resident ID numbers (GB 11643); numbers are printed masked, never whole."""
    has_invalid = False
    for number in numbers:
        result = validate_id_number(number)
        # Mask the converted 18-digit form when there is one, otherwise what was given.
        row: dict[str, object] = {
            "value": mask_id_number(result.value if result.value is not None else normalise_id_number(number)),
            "status": str(result.status),
            "reason": result.reason,
        }
        _echo(row)
        has_invalid = has_invalid or result.status is CheckStatus.INVALID
    if has_invalid:
        ctx.exit(1)
