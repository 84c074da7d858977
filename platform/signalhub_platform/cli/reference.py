"""``signalhub agencies import FILE`` and ``signalhub registry import FILE``: reference data from CSV/XLSX.

Each command reads the whole file, validates every row, and commits once: a file with any
invalid row is rejected as a whole (exit 1, every error listed by row number) and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import click

from signalhub_audit.tags import AuditTag
from signalhub_platform.cli import CliContext, main, pass_context

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from signalhub_ingest.reference import Rows
    from signalhub_platform.models import Actor


class ImportReport(Protocol):
    """What ``run_import`` needs of an import's report: its one-line summary."""

    def summary(self) -> str: ...


FILE_ARGUMENT = click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))


@main.group(name="agencies")
def agencies_group() -> None:
    """Member agencies (成员单位) and their departments."""


@agencies_group.command(name="import")
@FILE_ARGUMENT
@pass_context
def import_agencies_command(ctx: CliContext, file: Path) -> None:
    """Import agencies from FILE (.csv or .xlsx), one row per department.

    Columns: agency_code, agency_name, department_code, department_name.
    """
    from signalhub_ingest.reference import AGENCY_COLUMNS, import_agencies

    run_import(
        ctx,
        file,
        "agencies",
        AGENCY_COLUMNS,
        AuditTag.CLI_AGENCIES_IMPORT,
        lambda session, rows, sha: import_agencies(session, rows, actor=cli_actor(), file_sha256=sha),
    )


@main.group(name="registry")
def registry_group() -> None:
    """The business registry (工商登记注册信息): entities and their legal representatives."""


@registry_group.command(name="import")
@FILE_ARGUMENT
@pass_context
def import_registry_command(ctx: CliContext, file: Path) -> None:
    """Import the business registry from FILE (.csv or .xlsx).

    Columns: uscc, name, type, region, industry, address, status, registered_on, legal_rep_name,
    legal_rep_id_number, legal_rep_since. Several rows with one uscc list successive legal
    representatives. type: enterprise | individual_business | farmer_cooperative (企业, 个体工商户,
    农民专业合作社); status: active | revoked | cancelled (存续, 吊销, 注销); dates YYYY-MM-DD.
    """
    from signalhub_config import MissingKeysError
    from signalhub_ingest.reference import REGISTRY_COLUMNS, import_registry
    from signalhub_platform.crypto import PersonalDataCipher

    try:
        cipher = PersonalDataCipher(ctx.settings.load_keys())
    except MissingKeysError as exc:
        raise click.ClickException(str(exc)) from exc
    from signalhub_platform.models.types import beijing_today

    today = beijing_today()
    run_import(
        ctx,
        file,
        "registry",
        REGISTRY_COLUMNS,
        AuditTag.CLI_REGISTRY_IMPORT,
        lambda session, rows, sha: import_registry(
            session, rows, actor=cli_actor(), cipher=cipher, today=today, file_sha256=sha
        ),
    )


def cli_actor() -> Actor:
    """The CLI's actor, imported late so ``signalhub --help`` does not load the models."""
    from signalhub_platform.models import Actor

    return Actor.cli()


def run_import(
    ctx: CliContext,
    file: Path,
    subject: str,
    columns: Sequence[str],
    tag: AuditTag,
    service: Callable[[Session, Rows, str], ImportReport],
) -> None:
    """Read, validate and write in one transaction, then print the report's summary.

    Every file import command (here and in ``cli/inspections``) runs through this one function:
    ``service(session, rows, file_sha256)`` is the import itself. On a rejected file it prints
    every row error and exits 1; such a file writes nothing but the audit event ``tag`` saying it
    was rejected (in its own transaction).
    """
    from signalhub_audit.services import record_event
    from signalhub_ingest.readers import ReaderError, file_sha256, open_table
    from signalhub_ingest.reference import ImportRejected, missing_columns
    from signalhub_platform.db import transaction

    try:
        sha256 = file_sha256(file)
        with open_table(file) as table:
            missing = missing_columns(table.header, columns)
            if missing:
                raise click.ClickException(f"{file.name}: missing columns: {', '.join(missing)}")
            with transaction(ctx.session_factory) as session:
                report = service(session, table.rows, sha256)
    except ReaderError as exc:
        raise click.ClickException(f"{file.name}: {exc}") from exc
    except ImportRejected as exc:
        with transaction(ctx.session_factory) as session:
            record_event(
                session,
                tag,
                actor=cli_actor(),
                data={
                    "rejected": True,
                    "errors": len(exc.errors),
                    "rows": sorted({e.row for e in exc.errors})[:1000],
                    "file_sha256": sha256,
                },
            )
        for error in exc.errors:
            click.echo(str(error), err=True)
        raise click.ClickException(f"{file.name}: {exc}") from exc
    click.echo(f"{subject} imported from {file.name}: {report.summary()}")
