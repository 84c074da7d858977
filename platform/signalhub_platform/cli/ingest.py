"""``signalhub ingest FILE --agency CODE``: upload, validate and commit a quarterly batch file.

Exit codes: 0 committed (or validated with ``--dry-run``) or duplicate; 1 rejected (errors
without ``--accept-valid``, nonstandard codes without ``--confirm-nonstandard``, an unreadable
file); 2 usage error. ``--json`` prints one object describing the outcome.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from signalhub_platform.cli import CliContext, main, pass_context

EXIT_REJECTED = 1


@main.command(name="ingest")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--agency", "agency_code", required=True, help="Code of the agency the records belong to.")
@click.option("--period", default=None, help="Quarter, e.g. 2026Q3 (default: the current quarter).")
@click.option("--dry-run", is_flag=True, help="Validate and report; commit nothing.")
@click.option("--accept-valid", is_flag=True, help="Commit the valid rows even if some rows are invalid.")
@click.option("--confirm-nonstandard", is_flag=True, help="Confirm nonstandard credit-code check characters.")
@click.option(
    "--defer-evaluation",
    is_flag=True,
    help="Leave the warning evaluation the commit queues to `signalhub worker` instead of running it here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_context
def ingest_command(
    ctx: CliContext,
    file: Path,
    agency_code: str,
    period: str | None,
    dry_run: bool,
    accept_valid: bool,
    confirm_nonstandard: bool,
    defer_evaluation: bool,
    as_json: bool,
) -> None:
    """Import a batch file (.csv or .xlsx) of risk and penalty records for one agency."""
    from sqlalchemy import select

    from signalhub_config import MissingKeysError
    from signalhub_ingest import services
    from signalhub_ingest.readers import ReaderError
    from signalhub_platform.crypto import PersonalDataCipher
    from signalhub_platform.db import transaction
    from signalhub_platform.models import Actor, Agency, BatchState

    try:
        cipher = PersonalDataCipher(ctx.settings.load_keys())
    except MissingKeysError as exc:
        raise click.ClickException(str(exc)) from exc
    actor = Actor.cli()
    from signalhub_platform.models.types import beijing_today

    today = beijing_today()
    instance_dir = ctx.settings.instance_dir
    factory = ctx.session_factory

    with transaction(factory) as session:
        agency = session.scalars(select(Agency).where(Agency.code == agency_code)).first()
        if agency is None:
            raise click.UsageError(f"no agency with code {agency_code!r}")
        try:
            with file.open("rb") as stream:
                outcome = services.store_upload(
                    session,
                    actor,
                    agency=agency,
                    period=period or services.quarter_of(today),
                    filename=file.name,
                    stream=stream,
                    instance_dir=instance_dir,
                    channel="cli",
                )
        except ReaderError as exc:
            unreadable = {"row": None, "column": "", "message": str(exc)}
            _finish({"batch_id": None, "status": "rejected", "errors": [unreadable]}, as_json, EXIT_REJECTED)
            return
        except services.IngestError as exc:
            raise click.UsageError(str(exc)) from exc
        batch_id, state = outcome.batch.id, outcome.batch.state

    if outcome.is_duplicate and state == BatchState.COMMITTED:
        _finish(_summary(factory, batch_id, "duplicate"), as_json, 0)
        return
    show = _progress_printer() if sys.stderr.isatty() and not as_json else None
    refusals = (services.BatchNeedsDecision, services.BatchNeedsConfirmation)
    try:
        if dry_run:
            if state in (BatchState.UPLOADED, BatchState.FAILED):
                services.validate_batch(factory, batch_id, cipher=cipher, instance_dir=instance_dir, today=today,
                                        actor=actor, progress=show)  # fmt: skip
        elif state in (BatchState.UPLOADED, BatchState.FAILED):
            # Nobody reviews the batch between validation and commit here: one transaction does both.
            services.ingest_at_once(
                factory, batch_id, actor=actor, cipher=cipher, instance_dir=instance_dir, today=today,
                channel="cli", accept_valid=accept_valid, confirm_nonstandard=confirm_nonstandard, progress=show,
                bulk_cache_mb=ctx.settings.sqlite_bulk_cache_mb,
            )  # fmt: skip
        else:  # validated earlier (a dry run, or the web): commit the rows it staged
            services.commit_batch(factory, batch_id, actor=actor, channel="cli", accept_valid=accept_valid,
                                  confirm_nonstandard=confirm_nonstandard,
                                  bulk_cache_mb=ctx.settings.sqlite_bulk_cache_mb)  # fmt: skip
    except refusals as exc:
        _finish(_summary(factory, batch_id, "rejected") | {"reason": str(exc)}, as_json, EXIT_REJECTED)
        return
    summary = _summary(factory, batch_id, "")
    if summary["state"] == BatchState.FAILED.value:
        _finish(summary | {"status": "rejected"}, as_json, EXIT_REJECTED)
    elif dry_run:
        rejected = summary["state"] == BatchState.INVALID.value
        _finish(
            summary | {"status": "rejected" if rejected else "validated"}, as_json, EXIT_REJECTED if rejected else 0
        )
    else:
        if not defer_evaluation:
            _evaluate_queued(ctx)
        _finish(summary | {"status": "committed"}, as_json, 0)


def _evaluate_queued(ctx: CliContext) -> None:
    """No worker runs beside this command: evaluate the warnings the commit queued, here and now."""
    from signalhub_platform.worker import run_until_empty
    from signalhub_warnings.jobs import queue_handlers
    from signalhub_warnings.rules import Thresholds

    handlers = queue_handlers(
        thresholds=Thresholds.from_settings(ctx.settings), acknowledge_days=ctx.settings.acknowledge_days
    )
    run_until_empty(ctx.session_factory, handlers)


def _summary(factory: Any, batch_id: int, status: str) -> dict[str, Any]:
    from signalhub_platform.db import transaction
    from signalhub_platform.models import Batch

    with transaction(factory) as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None
        return {
            "batch_id": batch.id,
            "status": status,
            "state": batch.state.value,
            "rows": batch.row_count,
            "valid": batch.valid_count,
            "inserted": batch.inserted_count,
            "versioned": batch.versioned_count,
            "unchanged": batch.unchanged_count,
            "same_content_as": batch.same_content_as_id,
            "error_count": batch.error_count,
            "errors": [_short(issue) for issue in batch.errors or []],
            "errors_truncated": batch.error_count > len(batch.errors or []),
            "warnings": [_short(issue) for issue in batch.warnings or []],
        }


def _short(issue: dict[str, Any]) -> dict[str, Any]:
    return {"row": issue.get("row"), "column": issue.get("column"), "message": issue.get("message_en")}


def _progress_printer() -> Any:
    def show(phase: str, rows: int) -> None:
        click.echo(f"\r{phase}: {rows:,} rows", nl=False, err=True)

    return show


def _finish(summary: dict[str, Any], as_json: bool, code: int) -> None:
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))
    else:
        if sys.stderr.isatty():
            click.echo("", err=True)
        click.echo(
            f"batch {summary.get('batch_id')}: {summary['status']} — rows {summary.get('rows', 0)}, "
            f"inserted {summary.get('inserted', 0)}, versioned {summary.get('versioned', 0)}, "
            f"unchanged {summary.get('unchanged', 0)}"
        )
        if summary.get("same_content_as"):
            click.echo(f"same content as batch {summary['same_content_as']}")
        for issue in summary.get("errors", []):
            click.echo(f"  row {issue['row']}: {issue['column']}: {issue['message']}", err=True)
        for issue in summary.get("warnings", []):
            click.echo(f"  warning row {issue['row']}: {issue['column']}: {issue['message']}", err=True)
        if summary.get("reason"):
            click.echo(summary["reason"], err=True)
    if code:
        sys.exit(code)
