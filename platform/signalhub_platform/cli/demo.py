"""``signalhub demo``: load the demo district into an empty database and print the demo logins.

Run twice, it refuses politely and exits 0, so that ``make demo`` can be run again and simply
serves the data already there.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from signalhub_platform.cli import CliContext, main, pass_context
from signalhub_platform.demo.loader import DEFAULT_ENTITIES, DEFAULT_SEED, MIN_ENTITIES


@main.command()
@click.option(
    "--entities",
    type=click.IntRange(min=MIN_ENTITIES),
    default=DEFAULT_ENTITIES,
    show_default=True,
    help="How many market entities to generate.",
)
@click.option(
    "--seed",
    type=int,
    default=DEFAULT_SEED,
    show_default=True,
    help="Random seed: the same seed gives the same district (dates are relative to today).",
)
@pass_context
def demo(ctx: CliContext, entities: int, seed: int) -> None:
    """Load the demo district (Beijing Xicheng) into an empty database and print the demo logins."""
    from signalhub_config import MissingKeysError
    from signalhub_platform.crypto import PersonalDataCipher
    from signalhub_platform.db import transaction
    from signalhub_platform.demo.loader import DEMO_PASSWORD, DEMO_URL, DatabaseNotEmpty, has_demo_logins, load_demo
    from signalhub_platform.models import Actor
    from signalhub_platform.models.types import beijing_today

    try:
        cipher = PersonalDataCipher(ctx.settings.load_keys())
    except MissingKeysError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        with transaction(ctx.session_factory) as session:
            report = load_demo(
                session, cipher=cipher, actor=Actor.cli(), today=beijing_today(), seed=seed, entity_count=entities
            )
    except DatabaseNotEmpty as exc:
        click.echo(f"demo not loaded: {exc}")
        with ctx.session_factory() as session:
            if has_demo_logins(session):
                click.echo(f"the demo logins still apply (e.g. office, tax.supervisor; password {DEMO_PASSWORD})")
        return

    counts = report.counts
    click.echo(
        f"demo district loaded (seed {seed}): {counts['agencies']} agencies with {counts['departments']} departments, "
        f"{counts['entities']} entities, {counts['persons']} persons, {counts['users']} users, "
        f"{counts['records']} records ({counts['corrections']} corrected) in {counts['batches']} batches; "
        f"{counts['inspectors']} inspectors, {counts['inspection_items']} inspection items, {counts['draws']} draws"
    )
    click.echo("")
    click.echo("demo logins (the confidentiality pledge is asked at first login):")
    rows = [
        (login.username, login.password, login.agency_code, login.role, login.agency_name) for login in report.logins
    ]
    click.echo(_table(("username", "password", "agency", "role", ""), rows))
    click.echo("")
    click.echo(f"open {DEMO_URL}")
    if ctx.settings.secure_cookies:
        click.echo(
            "note: SIGNALHUB_SECURE_COOKIES is on; browsers drop Secure cookies over plain http, so set "
            "SIGNALHUB_SECURE_COOKIES=false for the local demo (make demo does)"
        )


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain aligned columns; the last column is left unpadded (it holds Chinese names of any width)."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)
