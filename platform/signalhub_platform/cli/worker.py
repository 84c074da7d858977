"""``signalhub worker``: the production process that runs queued jobs (batch validation and commits,
incremental warning evaluations).

Run one or more beside the web workers; they share the queue safely (PostgreSQL's SKIP LOCKED).
SIGTERM lets the running job finish, then the process exits: a commit is one transaction, and
stopping half-way would only make recovery undo it.
"""

from __future__ import annotations

import logging
import signal
from types import FrameType

import click

from signalhub_platform.cli import CliContext, main, pass_context

log = logging.getLogger(__name__)


@main.command()
@click.option("--poll", default=1.0, show_default=True, type=float, help="Seconds to wait when the queue is empty.")
@click.option("--until-empty", is_flag=True, help="Run the queued jobs, then exit (cron, scripts, tests).")
@pass_context
def worker(ctx: CliContext, poll: float, until_empty: bool) -> None:
    """Run queued background jobs until SIGTERM (or Ctrl-C)."""
    from signalhub_config import MissingKeysError
    from signalhub_platform.crypto import PersonalDataCipher
    from signalhub_platform.web.observability import configure_logging
    from signalhub_platform.worker import WorkerThread, queue_handlers, run_until_empty

    try:
        cipher = PersonalDataCipher(ctx.settings.load_keys())
    except MissingKeysError as exc:
        raise click.ClickException(str(exc)) from exc
    handlers = queue_handlers(ctx.settings, cipher)
    factory = ctx.session_factory
    if until_empty:
        click.echo(f"ran {run_until_empty(factory, handlers)} jobs")
        return

    configure_logging(ctx.settings.log_level)  # JSON lines, like the web and scheduler processes
    # The embedded mode's polling loop, run here in the main thread, where the signals arrive.
    loop = WorkerThread(factory, handlers, poll_seconds=poll)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping after the current job", signum)
        loop.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo("signalhub worker: waiting for jobs (SIGTERM to stop)")
    loop.run()
    click.echo("signalhub worker: stopped")
