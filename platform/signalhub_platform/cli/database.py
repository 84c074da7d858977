"""``signalhub init`` and ``signalhub serve``."""

from __future__ import annotations

import click

from signalhub_platform.cli import CliContext, main, pass_context


@main.command()
@pass_context
def init(ctx: CliContext) -> None:
    """Create or migrate the database; generate missing key files in the instance folder."""
    from signalhub_audit.services import record_event
    from signalhub_audit.tags import AuditTag
    from signalhub_platform.db import make_engine, transaction
    from signalhub_platform.keys import generate_missing_keys
    from signalhub_platform.models import Actor
    from signalhub_platform.schema import heads, upgrade_database

    settings = ctx.settings
    settings.instance_dir.mkdir(parents=True, exist_ok=True)
    for path in generate_missing_keys(settings):
        click.echo(f"generated key file {path} (keep it secret, back it up, never commit it)")
    if not settings.database_url:
        click.echo(f"database: SQLite file {settings.instance_dir / 'signalhub.sqlite3'}")
    upgrade_database(make_engine(settings.resolved_database_url))
    with transaction(ctx.session_factory) as session:
        record_event(session, AuditTag.CLI_DATABASE_INIT, actor=Actor.cli(), data={"schema": heads()[0]})
    click.echo("database is at the latest schema")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@pass_context
def serve(ctx: CliContext, host: str, port: int) -> None:
    """Serve the web UI and API (embedded mode: one process; the job worker and the scheduler in threads)."""
    import datetime as dt

    from signalhub_config import MissingKeysError
    from signalhub_ingest.services import recover_stuck_batches
    from signalhub_platform.app import PlatformState, create_app
    from signalhub_platform.db import transaction
    from signalhub_platform.models import Actor
    from signalhub_platform.models.types import utcnow
    from signalhub_platform.scheduler import start_embedded_scheduler
    from signalhub_platform.web.observability import configure_logging
    from signalhub_platform.worker import WorkerThread, queue_handlers

    configure_logging(ctx.settings.log_level)
    try:
        app = create_app(ctx.settings, session_factory=ctx.factory)
    except MissingKeysError as exc:
        raise click.ClickException(str(exc)) from exc
    platform: PlatformState = app.extensions["signalhub"]
    # Nothing else runs in embedded mode, so a batch left "committing" lost its committer: no grace.
    with transaction(platform.session_factory) as session:
        recovered = recover_stuck_batches(
            session, actor=Actor.job("recover_batches"), now=utcnow(), grace=dt.timedelta(0)
        )
    if recovered:
        click.echo(f"recovered interrupted batch commits: {', '.join(map(str, recovered))}")
    worker = WorkerThread(
        platform.session_factory,
        queue_handlers(ctx.settings, platform.cipher),
    )
    worker.start()
    # Under the same lease as `signalhub scheduler`: if one runs elsewhere, this one stands by.
    scheduler = start_embedded_scheduler(platform.session_factory, platform.keys, ctx.settings)
    click.echo(f"signalhub on http://{host}:{port}/")
    try:
        app.run(host=host, port=port, debug=False, use_reloader=False)
    finally:
        worker.stop()
        if scheduler is not None:
            scheduler.shutdown()
