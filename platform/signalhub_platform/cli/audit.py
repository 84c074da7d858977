"""``signalhub audit checkpoint`` and ``signalhub audit verify``: the operator's view of tamper evidence."""

from __future__ import annotations

import json
from pathlib import Path

import click

from signalhub_platform.cli import CliContext, main, pass_context

TRUNCATION_WARNING = (
    "warning: without an external checkpoint (--checkpoint FILE), truncation cannot be detected: events "
    "removed from the end of the log after the last stored checkpoint, together with the stored checkpoints"
)


@main.group(name="audit")
def audit_group() -> None:
    """The tamper-evident audit log: signed checkpoints and verification."""


@audit_group.command()
@click.option(
    "--export",
    "export_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write the signed checkpoint note to FILE; keep it off this server.",
)
@pass_context
def checkpoint(ctx: CliContext, export_path: Path | None) -> None:
    """Sign the current head of the audit log and store the checkpoint."""
    from signalhub_audit.integrity import create_checkpoint
    from signalhub_audit.tags import AuditTag
    from signalhub_config import MissingKeysError
    from signalhub_platform.db import transaction
    from signalhub_platform.models import Actor
    from signalhub_platform.models.types import utcnow

    try:
        signing_key = ctx.settings.load_keys().signing_key
    except MissingKeysError as exc:
        raise click.ClickException(str(exc)) from exc
    with transaction(ctx.session_factory) as session:
        stored = create_checkpoint(
            session, signing_key, actor=Actor.cli(), tag=AuditTag.CLI_AUDIT_CHECKPOINT, now=utcnow()
        )
        if export_path is not None:
            # Inside the transaction: a failed export stores nothing, so the operator simply retries.
            export_path.write_text(stored.note, encoding="utf-8", newline="")
    click.echo(f"checkpoint #{stored.id}: size {stored.size}, head {stored.head_hash}")
    if export_path is not None:
        click.echo(f"exported to {export_path}")


@audit_group.command()
@click.option(
    "--checkpoint",
    "checkpoint_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An exported checkpoint note kept outside the database (repeatable); detects a truncated tail.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_context
def verify(ctx: CliContext, checkpoint_files: tuple[Path, ...], as_json: bool) -> None:
    """Check the whole hash chain and every checkpoint; exit 1 on any problem."""
    from signalhub_audit.integrity import checkpoint_keys_from_settings, verify_log
    from signalhub_audit.services import record_event
    from signalhub_audit.tags import AuditTag
    from signalhub_platform.db import transaction
    from signalhub_platform.models import Actor

    try:
        keys = checkpoint_keys_from_settings(ctx.settings)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if not keys:
        click.echo("warning: no checkpoint key is known; every checkpoint will be rejected", err=True)
    if not checkpoint_files:
        click.echo(TRUNCATION_WARNING, err=True)
    notes = [(f"checkpoint file {path}", path.read_text(encoding="utf-8")) for path in checkpoint_files]

    with transaction(ctx.session_factory) as session:
        result = verify_log(session, keys, external_notes=notes)
        # Recorded after the walk, as the newest event, so it never changes what was verified.
        record_event(
            session,
            AuditTag.CLI_AUDIT_VERIFY,
            actor=Actor.cli(),
            data={
                "ok": result.ok,
                "events": result.events,
                "first_bad": result.first_bad,
                "problems": len(result.problems),
                "checkpoints": result.checkpoints,
                "external_checkpoints": len(notes),
            },
        )

    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False))
    elif result.ok:
        click.echo(f"ok: {_events(result.events)}, {result.checkpoints} checkpoint(s) checked")
    else:
        first = result.first_bad if result.first_bad is not None else "none (checkpoint problems only)"
        click.echo(f"FAILED: {len(result.problems)} problem(s) in {_events(result.events)}; first bad seq {first}")
        for problem in result.problems:
            click.echo(f"  seq {problem['seq'] if problem['seq'] is not None else '-'}: {problem['message']}")
    if not result.ok:
        raise SystemExit(1)


def _events(count: int) -> str:
    return f"{count} event" if count == 1 else f"{count} events"
