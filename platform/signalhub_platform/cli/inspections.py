"""``signalhub items import FILE`` and ``signalhub inspectors import FILE``: the two directories (两库).

Like the reference imports: the whole file is validated, a file with any invalid row is rejected
as a whole (exit 1, every error listed by row number), and a valid one is committed once.
"""

from __future__ import annotations

from pathlib import Path

import click

from signalhub_audit.tags import AuditTag
from signalhub_platform.cli import CliContext, main, pass_context
from signalhub_platform.cli.reference import FILE_ARGUMENT, cli_actor, run_import


@main.group(name="items")
def items_group() -> None:
    """The inspection item list (抽查事项清单) of each agency."""


@items_group.command(name="import")
@FILE_ARGUMENT
@pass_context
def import_items_command(ctx: CliContext, file: Path) -> None:
    """Import inspection items from FILE (.csv or .xlsx).

    Columns: agency_code, item_code, name, legal_basis, market_supervision (true/false, 是/否, 1/0).
    """
    from signalhub_ingest.inspection_directories import ITEM_COLUMNS, import_items

    run_import(
        ctx,
        file,
        "items",
        ITEM_COLUMNS,
        AuditTag.CLI_ITEMS_IMPORT,
        lambda session, rows, sha: import_items(session, rows, actor=cli_actor(), file_sha256=sha),
    )


@main.group(name="inspectors")
def inspectors_group() -> None:
    """The inspector directory (执法检查人员名录)."""


@inspectors_group.command(name="import")
@FILE_ARGUMENT
@pass_context
def import_inspectors_command(ctx: CliContext, file: Path) -> None:
    """Import inspectors from FILE (.csv or .xlsx); an inspector's qualifications become the file's list.

    Columns: agency_code, name, certificate_no, items (item codes of the agency separated by ';'),
    active (true/false, 是/否, 1/0; blank means true).
    """
    from signalhub_ingest.inspection_directories import INSPECTOR_COLUMNS, import_inspectors

    run_import(
        ctx,
        file,
        "inspectors",
        INSPECTOR_COLUMNS,
        AuditTag.CLI_INSPECTORS_IMPORT,
        lambda session, rows, sha: import_inspectors(session, rows, actor=cli_actor(), file_sha256=sha),
    )


@inspectors_group.command(name="conflict")
@click.option("--certificate", "certificate_no", required=True, help="The inspector's certificate number.")
@click.option("--uscc", required=True, help="The entity the inspector must not inspect.")
@click.option("--reason", required=True, help="Why (e.g. 近亲属任职).")
@pass_context
def declare_conflict_command(ctx: CliContext, certificate_no: str, uscc: str, reason: str) -> None:
    """Declare a conflict of interest (回避): the inspector is never drawn for that entity."""
    from signalhub_platform.db import transaction
    from signalhub_platform.inspections.conflicts import ConflictRefused, declare_conflict

    try:
        with transaction(ctx.session_factory) as session:
            declare_conflict(session, certificate_no, uscc, reason, actor=cli_actor(), source="cli")
    except ConflictRefused as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"conflict recorded: {certificate_no} will not be drawn for {uscc.strip().upper()}")
