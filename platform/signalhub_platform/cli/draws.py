"""``signalhub draw ...``: the double-random draw ceremony from the shell.

create (freeze the population, print its hash) → [commit / reveal agency secrets] → seed (the dice
digits) → run → [extend] → publish → result; ``verify`` recomputes everything from the frozen
inputs, ``export`` writes the package (JSON), the XLSX or the PDF, ``script`` the standalone
verifier. The operator is a system actor (``cli:<os user>``); every command is audited.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import click

from signalhub_platform.cli import CliContext, main, pass_context


def _actor() -> Any:
    from signalhub_platform.models import Actor

    return Actor.cli()


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def parse_strata(value: str | None) -> dict[str, dict[str, Any]]:
    """``red=5,orange=0.2,none=10``: a whole number is a count, a decimal in (0, 1] a ratio."""
    strata: dict[str, dict[str, Any]] = {}
    for part in _split(value):
        level, _, size = part.partition("=")
        level, size = level.strip(), size.strip()
        if not size:
            raise click.BadParameter(f"{part!r}: write LEVEL=COUNT or LEVEL=RATIO", param_hint="--strata")
        if size.isdigit():
            strata[level] = {"count": int(size)}
        else:
            strata[level] = {"ratio": size}
    return strata


def _refused(error: Exception) -> click.ClickException:
    return click.ClickException(str(error))


def _run(ctx: CliContext, step: Any) -> Any:
    from signalhub_platform.db import transaction
    from signalhub_platform.inspections.services import DrawRefused

    try:
        with transaction(ctx.session_factory) as session:
            return step(session)
    except DrawRefused as error:
        raise _refused(error) from error


@main.group(name="draw")
def draw_group() -> None:
    """Double random draws (双随机抽查): create, seed, run, publish, verify, export."""


@draw_group.command(name="create")
@click.option("--name", required=True, help="The draw's name, e.g. '2026年第四季度联合抽查'.")
@click.option("--agencies", required=True, help="Participating agency codes, comma-separated.")
@click.option("--targets", type=click.IntRange(min=1), default=None, help="Number of targets (uniform).")
@click.option("--ratio", default=None, help="Instead of --targets: draw every ticket below this ratio, e.g. 0.05.")
@click.option("--strategy", type=click.Choice(["uniform", "stratified"]), default="uniform", show_default=True)
@click.option("--strata", default=None, help="Stratified sizes: red=N,orange=N,yellow=N,none=N (or a ratio).")
@click.option("--items", default=None, help="Inspection items AGENCY:ITEM_CODE, comma-separated.")
@click.option("--region", default=None, help="Streets (街道), comma-separated.")
@click.option("--industry", default=None, help="GB/T 4754 code prefixes, comma-separated.")
@click.option("--type", "types", default=None, help="Entity types, comma-separated.")
@click.option("--status", "statuses", default="active", show_default=True, help="Entity statuses, comma-separated.")
@click.option("--warning-level", default=None, help="Only these strata: red,orange,yellow,none.")
@click.option(
    "--not-inspected-days", type=click.IntRange(min=1), default=None, help="Skip entities inspected recently."
)
@click.option("--per-agency", type=click.IntRange(min=1), default=1, show_default=True, help="Inspectors per agency.")
@click.option("--cap", type=click.IntRange(min=1), default=None, help="At most this many targets per inspector.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def create_command(ctx: CliContext, **options: Any) -> None:
    """Create a draw: freeze its population and print the id and the population hash."""
    from signalhub_platform.inspections.directory import DrawSpec, TargetFilters
    from signalhub_platform.inspections.services import create_draw

    if options["strategy"] == "uniform" and options["strata"]:
        raise click.BadParameter("--strata needs --strategy stratified", param_hint="--strata")
    spec = DrawSpec(
        name=options["name"],
        agencies=_split(options["agencies"]),
        strategy=options["strategy"],
        targets=options["targets"],
        ratio=options["ratio"],
        strata=parse_strata(options["strata"]),
        items=_split(options["items"]),
        filters=TargetFilters(
            regions=_split(options["region"]),
            industries=_split(options["industry"]),
            types=_split(options["types"]),
            statuses=_split(options["statuses"]),
            warning_levels=_split(options["warning_level"]),
            not_inspected_days=options["not_inspected_days"],
        ),
        per_agency=options["per_agency"],
        inspector_cap=options["cap"],
    )

    def step(session: Any) -> dict[str, Any]:
        draw = create_draw(session, spec, actor=_actor(), source="cli")
        return {
            "draw_id": draw.id,
            "population_sha256": draw.population_sha256,
            "population": draw.population_count,
            "strata": json.loads(draw.strata_counts),
        }

    summary = _run(ctx, step)
    if options["as_json"]:
        click.echo(json.dumps(summary, ensure_ascii=False))
    else:
        click.echo(f"draw {summary['draw_id']}: population {summary['population']} frozen")
        click.echo(f"population sha256 {summary['population_sha256']}")
        click.echo("strata " + " ".join(f"{k}={v}" for k, v in summary["strata"].items()))


@draw_group.command(name="commit")
@click.argument("draw_id", type=int)
@click.option("--agency", required=True)
@click.option("--sha256", "commitment", required=True, help="SHA-256 (hex) of the agency's secret.")
@pass_context
def commit_command(ctx: CliContext, draw_id: int, agency: str, commitment: str) -> None:
    """Record an agency's commitment (the hash of its secret) before the dice are rolled."""
    from signalhub_platform.inspections.services import commit_secret

    _run(ctx, lambda s: commit_secret(s, draw_id, agency, commitment, actor=_actor(), source="cli"))
    click.echo(f"draw {draw_id}: commitment of {agency} recorded")


@draw_group.command(name="seed")
@click.argument("draw_id", type=int)
@click.option("--seed", "dice", required=True, help="At least 20 decimal digits, e.g. rolled with ten-sided dice.")
@pass_context
def seed_command(ctx: CliContext, draw_id: int, dice: str) -> None:
    """Enter the dice digits; with no agency secrets pending this fixes the seed."""
    from signalhub_platform.inspections.services import set_dice

    status = _run(
        ctx,
        lambda s: (
            set_dice(
                s, draw_id, dice, actor=_actor(), source="cli", min_digits=ctx.settings.sampler_min_seed_digits
            ).status.value
        ),
    )
    click.echo(f"draw {draw_id}: dice recorded; status {status}")


@draw_group.command(name="reveal")
@click.argument("draw_id", type=int)
@click.option("--agency", required=True)
@click.option("--secret", required=True)
@pass_context
def reveal_command(ctx: CliContext, draw_id: int, agency: str, secret: str) -> None:
    """Reveal an agency's secret after the dice; the last reveal fixes the seed."""
    from signalhub_platform.inspections.services import reveal_secret

    status = _run(ctx, lambda s: reveal_secret(s, draw_id, agency, secret, actor=_actor(), source="cli").status.value)
    click.echo(f"draw {draw_id}: secret of {agency} revealed; status {status}")


def result_document(draw: Any) -> dict[str, Any]:
    result = json.loads(draw.result)
    return {
        "draw_id": draw.id,
        "population_sha256": draw.population_sha256,
        "seed": draw.seed,
        "result_sha256": draw.result_sha256,
        "targets": [
            {
                "position": t["position"],
                "round": t["round"],
                "uscc": t["uscc"],
                "ticket": t["ticket"],
                "stratum": t["stratum"],
                "team": t["team"],
                "exclusions": t["exclusions"],
                "unfilled": t["unfilled"],
            }
            for t in result["targets"]
        ],
        "pool_exclusions": result["pool_exclusions"],
    }


def _echo_targets(document: dict[str, Any]) -> None:
    from signalhub_platform.sampling import trim

    click.echo(f"draw {document['draw_id']}: {len(document['targets'])} targets")
    click.echo(f"population sha256 {document['population_sha256']}")
    click.echo(f"seed {document['seed']}")
    for t in document["targets"]:
        team = " ".join(f"{m['agency']}:{m['inspector']}" for m in t["team"]) or "-"
        click.echo(f"{t['position']:>5} {trim(t['ticket'])} {t['uscc']} {t['stratum']:<6} {team}")


@draw_group.command(name="run")
@click.argument("draw_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_context
def run_command(ctx: CliContext, draw_id: int, as_json: bool) -> None:
    """Draw the targets and teams (once)."""
    from signalhub_platform.inspections.services import run_draw

    document = _run(ctx, lambda s: result_document(run_draw(s, draw_id, actor=_actor(), source="cli")))
    if as_json:
        click.echo(json.dumps(document, ensure_ascii=False))
    else:
        _echo_targets(document)


@draw_group.command(name="extend")
@click.argument("draw_id", type=int)
@click.option("--more", type=click.IntRange(min=1), default=None, help="More targets (uniform draws).")
@click.option("--strata", default=None, help="More targets per stratum: red=N,none=N (stratified draws).")
@click.option("--json", "as_json", is_flag=True)
@pass_context
def extend_command(ctx: CliContext, draw_id: int, more: int | None, strata: str | None, as_json: bool) -> None:
    """Continue the same stream: more targets, never a redraw."""
    from signalhub_platform.inspections.services import extend_draw

    sizes: dict[str, int] = {"all": more} if more else {}
    for level, size in parse_strata(strata).items():
        if "count" not in size:
            raise click.BadParameter("extensions take counts, not ratios", param_hint="--strata")
        sizes[level] = size["count"]
    document = _run(ctx, lambda s: result_document(extend_draw(s, draw_id, sizes, actor=_actor(), source="cli")))
    if as_json:
        click.echo(json.dumps(document, ensure_ascii=False))
    else:
        _echo_targets(document)


@draw_group.command(name="publish")
@click.argument("draw_id", type=int)
@pass_context
def publish_command(ctx: CliContext, draw_id: int) -> None:
    """Publish the draw and its results on the public site (一公开)."""
    from signalhub_platform.inspections.services import publish_draw

    _run(ctx, lambda s: publish_draw(s, draw_id, actor=_actor(), source="cli"))
    click.echo(f"draw {draw_id}: published")


@draw_group.command(name="result")
@click.argument("draw_id", type=int)
@click.option("--uscc", required=True)
@click.option(
    "--outcome",
    required=True,
    type=click.Choice(["no_problem", "problems_found", "ordered_to_correct", "referred_for_penalty", "not_reachable"]),
)
@click.option("--date", "inspected_on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None)
@click.option("--notes", default="")
@pass_context
def result_command(
    ctx: CliContext, draw_id: int, uscc: str, outcome: str, inspected_on: dt.datetime | None, notes: str
) -> None:
    """Record a team's result for one target."""
    from signalhub_platform.inspections.services import record_result

    _run(
        ctx,
        lambda s: record_result(
            s,
            draw_id,
            uscc,
            outcome,
            actor=_actor(),
            inspected_on=inspected_on.date() if inspected_on else None,
            notes=notes,
            source="cli",
        ),
    )
    click.echo(f"draw {draw_id}: result for {uscc.upper()} recorded: {outcome}")


@draw_group.command(name="verify")
@click.argument("draw_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_context
def verify_command(ctx: CliContext, draw_id: int, as_json: bool) -> None:
    """Recompute the draw from its frozen inputs and seed; exit 1 on any difference."""
    from signalhub_platform.inspections.services import verify_draw

    problems = _run(ctx, lambda s: verify_draw(s, draw_id, actor=_actor(), source="cli"))
    if as_json:
        click.echo(json.dumps({"ok": not problems, "problems": problems}, ensure_ascii=False))
    else:
        for problem in problems:
            click.echo(f"FAIL: {problem}", err=True)
        if not problems:
            click.echo(f"draw {draw_id}: OK, re-derived from its frozen inputs and seed")
    if problems:
        sys.exit(1)


@draw_group.command(name="export")
@click.argument("draw_id", type=int)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--format", "fmt", type=click.Choice(["json", "xlsx", "pdf"]), default="json", show_default=True)
@pass_context
def export_command(ctx: CliContext, draw_id: int, out: Path, fmt: str) -> None:
    """Write the draw package (json, for verify_draw.py), the XLSX or the printable PDF."""
    from signalhub_platform.inspections.exports import export_draw

    data = _run(ctx, lambda s: export_draw(s, draw_id, fmt, actor=_actor(), source="cli"))
    out.write_bytes(data)
    click.echo(f"draw {draw_id}: {fmt} written to {out} ({len(data)} bytes)")


@draw_group.command(name="script")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def script_command(out: Path) -> None:
    """Write verify_draw.py, the standalone verifier anyone can run on an exported package."""
    from signalhub_platform.inspections.package import standalone_script

    out.write_text(standalone_script(), encoding="utf-8")
    click.echo(f"verifier written to {out}; run: python3 {out.name} draw-package.json")
