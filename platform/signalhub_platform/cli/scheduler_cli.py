"""``signalhub scheduler``: the one process that runs the periodic jobs.

Start it on one machine (or two: the second stands by and takes over within
``scheduler_lease_seconds`` when the first stops). SIGTERM lets a running job finish, then gives
the lease up at once so a standby need not wait for it to expire.
"""

from __future__ import annotations

import logging
import signal
from types import FrameType

import click

from signalhub_platform.cli import CliContext, main, pass_context

log = logging.getLogger(__name__)


@main.command()
@click.option("--list", "list_jobs", is_flag=True, help="Print the job list and its schedule, then exit.")
@click.option("--run", "run_name", metavar="JOB", help="Run one job now (recorded like a scheduled run), then exit.")
@pass_context
def scheduler(ctx: CliContext, list_jobs: bool, run_name: str | None) -> None:
    """Run the periodic jobs (Asia/Shanghai times) while holding the scheduler lease."""
    from signalhub_config import MissingKeysError
    from signalhub_platform.models import Actor, JobRunOutcome
    from signalhub_platform.models.types import utcnow
    from signalhub_platform.scheduler import SchedulerHost, periodic_jobs, run_recorded, scheduler_holder
    from signalhub_platform.web.observability import configure_logging

    settings = ctx.settings
    try:
        jobs = periodic_jobs(settings.load_keys(), settings)
    except MissingKeysError as exc:
        raise click.ClickException(str(exc)) from exc
    if list_jobs:
        for job in jobs:
            cron = " ".join(f"{field}={value}" for field, value in job.cron.items())
            click.echo(f"{job.name}\t{cron}")
        return
    if run_name is not None:
        by_name = {job.name: job for job in jobs}
        if run_name not in by_name:
            raise click.ClickException(f"no job {run_name!r}; the jobs are: {', '.join(by_name)}")
        # Outside the lease: an operator's deliberate run, recorded under their name.
        run = run_recorded(ctx.session_factory, by_name[run_name], holder=Actor.cli().name, now=utcnow())
        click.echo(f"{run.job_name}: {run.outcome}")
        if run.outcome != JobRunOutcome.OK:
            click.echo(run.error, err=True)
            raise SystemExit(1)
        return

    configure_logging(settings.log_level)
    host = SchedulerHost(
        ctx.session_factory, jobs, holder=scheduler_holder(), lease_seconds=settings.scheduler_lease_seconds
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping after the running job, then releasing the lease", signum)
        host.shutdown()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"signalhub scheduler {host.holder}: {len(jobs)} jobs; SIGTERM to stop", err=True)
    host.run_forever()
    click.echo("signalhub scheduler: stopped", err=True)
