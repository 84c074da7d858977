"""``signalhub warnings evaluate|list``: run the warning rules, and list warnings, from the shell.

``evaluate`` without ``--as-of`` is the full run the scheduler makes every night, applied and
committed. With ``--as-of`` it is a backtest: the rules as they would have stood on that day,
printed, with the live warnings and their history untouched. ``list`` prints the live warnings,
or with ``--as-of`` the backtest's candidates (``id`` null). The operator is a system actor
(``cli:<os user>``) and every command is audited.

The JSON of ``list`` (and of ``evaluate --as-of --json``) is a list of objects::

    {"id", "subject_type": "entity"|"person", "subject": USCC or masked ID, "name",
     "scope": agency code or "platform", "level": "yellow"|"orange"|"red", "status",
     "rules": [...], "agencies": [...], "departments": [...], "record_count"}

``agencies`` and ``departments`` come from the subject's hits in the window: for an agency's
warning that agency's departments; for a red warning the agencies and departments holding shared
or public hits (the only ones red counts).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub_platform.cli import CliContext, main, pass_context

LEVELS = ("yellow", "orange", "red")
_SEVERITY = {"red": 0, "orange": 1, "yellow": 2}
_IN_CHUNK = 1000  # IN lists stay far below both databases' bound-parameter limits


@dataclass(frozen=True)
class Listed:
    """One warning as listed: a live one (``id`` set) or a backtest's candidate (``id`` None)."""

    id: int | None
    subject_type: str
    subject_id: int
    scope_agency_id: int | None
    level: str
    status: str | None
    rules: tuple[str, ...]
    record_count: int


@main.group(name="warnings")
def warnings_group() -> None:
    """Evaluate the warning rules and list warnings."""


@warnings_group.command(name="evaluate")
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Backtest as of this day (YYYY-MM-DD): print what the rules find, change nothing.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def evaluate_command(ctx: CliContext, as_of: dt.datetime | None, as_json: bool) -> None:
    """Evaluate every subject now (applied), or backtest as of a day (--as-of, not applied)."""
    from signalhub_audit.tags import AuditTag
    from signalhub_platform.db import transaction
    from signalhub_platform.models import Actor
    from signalhub_warnings.jobs import lock_evaluation
    from signalhub_warnings.rules import Thresholds
    from signalhub_warnings.services import evaluate_warnings

    actor = Actor.cli()
    thresholds = Thresholds.from_settings(ctx.settings)
    if as_of is not None:
        day = as_of.date()
        with transaction(ctx.session_factory) as session:
            listed = _backtest(session, ctx, day, level=None)
            rows = _rows(session, listed, as_of=day, window_days=thresholds.window_days)
            _audit(session, AuditTag.CLI_WARNINGS_EVALUATE, rows, {"backtest": True, "as_of": day.isoformat()})
        if as_json:
            click.echo(json.dumps(rows, ensure_ascii=False))
            return
        click.echo(f"backtest as of {day.isoformat()} (live warnings untouched): {len(rows)} warnings")
        _print_rows(rows)
        return
    with transaction(ctx.session_factory) as session:
        lock_evaluation(session)
        result = evaluate_warnings(
            session, thresholds=thresholds, acknowledge_days=ctx.settings.acknowledge_days, actor=actor,
            tag=AuditTag.CLI_WARNINGS_EVALUATE, trigger="cli",
        )  # fmt: skip
    summary = {
        "run_id": result.run_id,
        "as_of": result.as_of.isoformat(),
        "warnings": result.in_force,
        "opened": result.opened,
        "escalated": result.escalated,
        "de_escalated": result.de_escalated,
        "cleared": result.cleared,
    }
    if as_json:
        click.echo(json.dumps(summary))
        return
    click.echo(
        f"evaluation run {result.run_id} as of {result.as_of.isoformat()}: {result.in_force} warnings in force; "
        f"opened {result.opened}, escalated {result.escalated}, de-escalated {result.de_escalated}, "
        f"cleared {result.cleared}"
    )


@warnings_group.command(name="list")
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="List what the rules find as of this day (a backtest; ids are null).",
)
@click.option("--level", type=click.Choice(LEVELS), default=None, help="Only warnings of this level.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@pass_context
def list_command(ctx: CliContext, as_of: dt.datetime | None, level: str | None, as_json: bool) -> None:
    """List the live warnings (open, acknowledged, in disposal), or a backtest's with --as-of."""
    from signalhub_audit.tags import AuditTag
    from signalhub_platform.db import transaction
    from signalhub_platform.models.types import beijing_today
    from signalhub_warnings.rules import Thresholds

    window_days = Thresholds.from_settings(ctx.settings).window_days
    with transaction(ctx.session_factory) as session:
        if as_of is not None:
            day = as_of.date()
            listed = _backtest(session, ctx, day, level=level)
        else:
            day = beijing_today()
            listed = _live(session, level=level)
        rows = _rows(session, listed, as_of=day, window_days=window_days)
        _audit(session, AuditTag.CLI_WARNINGS_LIST, rows,
               {"backtest": as_of is not None, "as_of": day.isoformat(), "level": level})  # fmt: skip
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
    else:
        _print_rows(rows)


# --- what to list --------------------------------------------------------------------------------------


def _live(session: Session, *, level: str | None) -> list[Listed]:
    from signalhub_platform.models import RiskWarning

    query = select(RiskWarning).where(RiskWarning.is_active)
    if level is not None:
        query = query.where(RiskWarning.level == level)
    return [
        Listed(
            id=w.id,
            subject_type=w.subject_type.value,
            subject_id=int(w.entity_id if w.entity_id is not None else w.person_id),  # type: ignore[arg-type]
            scope_agency_id=w.scope_agency_id,
            level=w.level.value,
            status=w.status.value,
            rules=tuple(w.rules or ()),
            record_count=w.record_count,
        )
        for w in session.scalars(query)
    ]


def _backtest(session: Session, ctx: CliContext, day: dt.date, *, level: str | None) -> list[Listed]:
    from signalhub_audit.tags import AuditTag
    from signalhub_platform.models import Actor
    from signalhub_warnings.rules import Thresholds
    from signalhub_warnings.services import evaluate_warnings

    result = evaluate_warnings(
        session, thresholds=Thresholds.from_settings(ctx.settings), acknowledge_days=ctx.settings.acknowledge_days,
        actor=Actor.cli(), tag=AuditTag.CLI_WARNINGS_EVALUATE, as_of=day, apply=False,
    )  # fmt: skip
    return [
        Listed(None, c.subject_type, c.subject_id, c.scope_agency_id, c.level.value, None, tuple(c.rules), c.records)
        for c in result.found.values()
        if level is None or c.level.value == level
    ]


# --- the rows, with agencies and departments -----------------------------------------------------------


def _rows(session: Session, listed: Sequence[Listed], *, as_of: dt.date, window_days: int) -> list[dict[str, Any]]:
    """The JSON rows, most severe first."""
    from signalhub_platform.models import Agency, Entity, Person

    entity_ids = sorted({item.subject_id for item in listed if item.subject_type == "entity"})
    person_ids = sorted({item.subject_id for item in listed if item.subject_type == "person"})
    entities = {e.id: (e.uscc, e.name) for e in _by_ids(session, Entity, entity_ids)}
    persons = {p.id: (p.id_masked, p.name) for p in _by_ids(session, Person, person_ids)}
    agency_codes = {agency_id: code for agency_id, code in session.execute(select(Agency.id, Agency.code))}
    hits = {
        "entity": _hit_facts(session, "entity", entity_ids, as_of=as_of, window_days=window_days),
        "person": _hit_facts(session, "person", person_ids, as_of=as_of, window_days=window_days),
    }
    rows = []
    for item in listed:
        subject, name = (entities if item.subject_type == "entity" else persons).get(item.subject_id, ("", ""))
        agencies, departments = hits[item.subject_type].for_scope(item.subject_id, item.scope_agency_id)
        rows.append(
            {
                "id": item.id,
                "subject_type": item.subject_type,
                "subject": subject,
                "name": name,
                "scope": "platform" if item.scope_agency_id is None else agency_codes.get(item.scope_agency_id, ""),
                "level": item.level,
                "status": item.status,
                "rules": list(item.rules),
                "agencies": agencies,
                "departments": departments,
                "record_count": item.record_count,
            }
        )
    rows.sort(key=lambda r: (_SEVERITY[r["level"]], r["subject_type"], r["subject"], r["scope"]))
    return rows


def _by_ids(session: Session, model: Any, ids: list[int]) -> Iterable[Any]:
    for start in range(0, len(ids), _IN_CHUNK):
        yield from session.scalars(select(model).where(model.id.in_(ids[start : start + _IN_CHUNK])))


@dataclass
class _HitFacts:
    """Per subject: (agency id, agency code, is shared/public) and (agency id, department, is shared/public)."""

    agencies: dict[int, set[tuple[int, str, bool]]]
    departments: dict[int, set[tuple[int, str, bool]]]

    def for_scope(self, subject_id: int, scope_agency_id: int | None) -> tuple[list[str], list[str]]:
        def pick(facts: set[tuple[int, str, bool]]) -> list[str]:
            if scope_agency_id is None:  # red counts shared and public hits only
                return sorted({value for _, value, is_open in facts if is_open})
            return sorted({value for agency_id, value, _ in facts if agency_id == scope_agency_id})

        return pick(self.agencies.get(subject_id, set())), pick(self.departments.get(subject_id, set()))


def _hit_facts(session: Session, subject_type: str, ids: list[int], *, as_of: dt.date, window_days: int) -> _HitFacts:
    """Which agencies and departments hold the subjects' hits in the window: one query each."""
    from signalhub_platform.models import Agency, Department
    from signalhub_platform.models.visibility import OPEN_TO_MEMBERS
    from signalhub_warnings.aggregation import entity_hits, person_hits

    facts = _HitFacts(defaultdict(set), defaultdict(set))
    if not ids:
        return facts
    open_values = {o.value for o in OPEN_TO_MEMBERS}
    hits_query = entity_hits if subject_type == "entity" else person_hits
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        hits = hits_query(as_of, window_days, chunk).subquery()
        in_chunk = hits.c.subject_id.in_(chunk)
        by_agency = (
            select(hits.c.subject_id, hits.c.agency_id, Agency.code, hits.c.openness)
            .join(Agency, Agency.id == hits.c.agency_id)
            .where(in_chunk)
            .distinct()
        )
        by_department = (
            select(hits.c.subject_id, hits.c.agency_id, Department.name, hits.c.openness)
            .join(Department, Department.id == hits.c.department_id)
            .where(in_chunk)
            .distinct()
        )
        for target, query in ((facts.agencies, by_agency), (facts.departments, by_department)):
            for subject_id, agency_id, value, openness in session.execute(query):
                target[int(subject_id)].add((int(agency_id), str(value), str(openness) in open_values))
    return facts


def _audit(session: Session, tag: Any, rows: list[dict[str, Any]], data: dict[str, Any]) -> None:
    from signalhub_audit.services import record_event
    from signalhub_platform.models import Actor

    # Live warnings by id; a backtest's candidates by subject (entities by code, as elsewhere; persons
    # by the mask, never the number).
    subjects = [("warning", row["id"]) if row["id"] is not None else (row["subject_type"], row["subject"])
                for row in rows]  # fmt: skip
    record_event(session, tag, actor=Actor.cli(), subjects=subjects, data={**data, "warnings": len(rows)})


def _print_rows(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        ident = f"#{row['id']}" if row["id"] is not None else "-"
        click.echo(
            f"{ident:>6} {row['level']:<6} {row['scope']:<10} {row['subject_type']:<6} {row['subject']} {row['name']}"
            f"  [{', '.join(row['rules'])}] records {row['record_count']}"
            f"; agencies {', '.join(row['agencies']) or '-'}; departments {', '.join(row['departments']) or '-'}"
            + (f"; {row['status']}" if row["status"] else "")
        )
