"""``signalhub sample``: the public verification tool for random draws.

Anyone holding a published population (the ids) and seed can rerun a draw and compare, line by
line: ``ticket id generation``. It needs no database, settings or keys, and accepts any seed string
(the platform's own seed rules apply when a draw is created, not here).
"""

from __future__ import annotations

from typing import TextIO

import click

from signalhub_platform.cli import main
from signalhub_platform.sampling import SamplingError, sample, trim


def _read_ids(handle: TextIO) -> list[str]:
    # One id per line; surrounding whitespace (including Windows line ends) and blank lines are ignored.
    return [line.strip() for line in handle if line.strip()]


@main.command("sample")
@click.option("--seed", required=True, help="The draw's seed, used exactly as given (any string).")
@click.option("--take", type=click.IntRange(min=0), default=None, help="How many picks to print (default: all).")
@click.option("--drop", type=click.IntRange(min=0), default=0, show_default=True, help="Skip this many picks first.")
@click.option("--with-replacement", is_flag=True, help="A drawn id goes back in with a new, larger ticket.")
@click.option(
    "--digits",
    type=click.IntRange(min=1),
    default=9,
    show_default=True,
    help="Ticket digits shown after any leading 9s (truncated, not rounded).",
)
@click.option(
    "--ids-file",
    type=click.File("r", encoding="utf-8-sig"),
    default=None,
    help="Read the ids from this UTF-8 file, one per line ('-' for standard input).",
)
@click.argument("ids", nargs=-1)
def sample_command(
    seed: str,
    take: int | None,
    drop: int,
    with_replacement: bool,
    digits: int,
    ids_file: TextIO | None,
    ids: tuple[str, ...],
) -> None:
    """Draw from IDS with Rivest's consistent sampler; print `ticket id generation` per pick.

    The algorithm is described in docs/sampling.md.
    """
    if ids and ids_file is not None:
        raise click.UsageError("give the ids either as arguments or with --ids-file, not both")
    if not ids and ids_file is None:
        raise click.UsageError("no ids: give them as arguments or with --ids-file")
    population = list(ids) if ids_file is None else _read_ids(ids_file)
    if with_replacement and take is None:
        raise click.UsageError("--with-replacement needs --take (the draw would never end)")
    try:
        picks = sample(population, seed, take, drop=drop, with_replacement=with_replacement)
    except SamplingError as exc:
        raise click.ClickException(str(exc)) from exc
    for pick in picks:
        click.echo(f"{trim(pick.ticket, digits)} {pick.id} {pick.generation}")
