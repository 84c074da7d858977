"""``signalhub entities search|show`` and ``signalhub records show``: the operator's own reads.

They call the same audited services as the pages and the API, so the one visibility rule decides
(``Actor.cli()`` sees what the platform office sees: shared and public records, never another
agency's private ones) and each read leaves one audit event under ``cli:<os user>``. ``--json``
prints the API's documents, dumped by the same marshmallow schemas; the tables are rendered from
those same documents, so the two outputs cannot disagree.

Exit status: 0 shown; 1 "not found" (a hidden record answers exactly like a missing one);
2 usage error; 3 the read failed, e.g. its audit event could not be written, and nothing is shown.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import click
from sqlalchemy.orm import Session

from signalhub_audit.tags import AuditTag
from signalhub_platform.cli import CliContext, main, pass_context
from signalhub_platform.db import transaction
from signalhub_platform.models import Actor
from signalhub_platform.sharing import services
from signalhub_platform.sharing.schemas import EntitySummarySchema, entity_document, record_document

T = TypeVar("T")
Document = dict[str, Any]

EXIT_NOT_FOUND = 1
EXIT_READ_FAILED = 3
# As the API's X-Signalhub-Purpose header.
PURPOSE_MAX_CHARS = 100
# Display columns of a description in a table; --json carries it whole.
DESCRIPTION_COLUMNS = 40
# C1 controls (CSI is one) pass json.dumps unescaped; escape them so data cannot drive the terminal.
_C1_CONTROLS = re.compile("[\x7f-\x9f]")

json_option = click.option("--json", "as_json", is_flag=True, help="Print the API's JSON document instead of tables.")
purpose_option = click.option("--purpose", default="", help="Why you are reading (kept in the audit event).")


class NotFoundError(click.ClickException):
    """No such entity or record, or one the CLI may not see: the same words and status for both."""

    exit_code = EXIT_NOT_FOUND

    def __init__(self) -> None:
        super().__init__("not found")


class ReadFailedError(click.ClickException):
    """The read did not complete (its audit event included), so nothing of it may be shown."""

    exit_code = EXIT_READ_FAILED


@main.group()
def entities() -> None:
    """Look up registered entities and the records the CLI may see about them."""


@main.group()
def records() -> None:
    """Read supervision records the CLI may see (shared and public ones)."""


@entities.command("search")
@click.argument("query")
@json_option
@pass_context
def search_entities(ctx: CliContext, query: str, as_json: bool) -> None:
    """Entities whose name contains QUERY or whose USCC starts with it."""
    if not query.strip():
        # The service would return nothing without auditing: refuse instead of an unaudited "read".
        raise click.BadParameter("must not be blank", param_hint="QUERY")

    def build(session: Session, actor: Actor) -> Document:
        found = services.search_entities(session, actor, query, tag=AuditTag.CLI_ENTITY_SEARCH)
        return {"results": EntitySummarySchema(many=True).dump(found)}

    _emit(_read(ctx, build), as_json, _render_search)


@entities.command("show")
@click.argument("uscc")
@purpose_option
@json_option
@pass_context
def show_entity(ctx: CliContext, uscc: str, purpose: str, as_json: bool) -> None:
    """Show entity USCC, its persons and its records.

    Base data, responsible persons (ID numbers masked) and the current records the CLI may see.
    """

    def build(session: Session, actor: Actor) -> Document | None:
        profile = services.get_entity_profile(
            session, actor, uscc, tag=AuditTag.CLI_ENTITY_READ, purpose=purpose[:PURPOSE_MAX_CHARS]
        )
        return None if profile is None else entity_document(profile, is_public=actor.is_public)

    document = _read(ctx, build)
    if document is None:
        raise NotFoundError()
    _emit(document, as_json, _render_entity)


@records.command("show")
@click.argument("record_id", metavar="ID", type=click.IntRange(1, 2**63 - 1))
@purpose_option
@json_option
@pass_context
def show_record(ctx: CliContext, record_id: int, purpose: str, as_json: bool) -> None:
    """Show record ID and its versions.

    A record of another agency that is not shared answers "not found", exactly like a missing id.
    """

    def build(session: Session, actor: Actor) -> Document | None:
        view = services.get_record(
            session,
            actor,
            record_id,
            tag=AuditTag.CLI_RECORD_READ,
            denied_tag=AuditTag.CLI_RECORD_DENIED,
            purpose=purpose[:PURPOSE_MAX_CHARS],
        )
        return None if view is None else record_document(view, is_public=actor.is_public)

    # The denied attempt's audit event is committed by _read before "not found" is raised.
    document = _read(ctx, build)
    if document is None:
        raise NotFoundError()
    _emit(document, as_json, _render_record)


def _read(ctx: CliContext, build: Callable[[Session, Actor], T]) -> T:
    """Run one read in one transaction; hand back its document only after the commit.

    The document is dumped inside the transaction (lazy relationships still load) and printed
    by the caller afterwards, so a read whose audit event was not stored prints nothing. The
    error names only the exception's class: its message may quote SQL parameters (a search term).
    """
    try:
        with transaction(ctx.session_factory) as session:
            return build(session, Actor.cli())
    except Exception as exc:  # whatever failed, the operator gets no data and a non-zero status
        raise ReadFailedError(f"the read failed and nothing is shown ({type(exc).__name__})") from None


def _emit(document: Document, as_json: bool, render: Callable[[Document], str]) -> None:
    if as_json:
        text = json.dumps(document, ensure_ascii=False, indent=2)
        click.echo(_C1_CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", text))
    else:
        click.echo(render(document))


def _render_search(document: Document) -> str:
    found = document["results"]
    if not found:
        return "no matching entities"
    table = _table(
        ("USCC", "NAME", "TYPE", "STATUS", "REGION", "INDUSTRY", "IN REGISTRY"),
        [
            (e["uscc"], e["name"], e["type"], e["status"], e["region"], e["industry"], e["is_in_registry"])
            for e in found
        ],
    )
    more = " (the first ones only: refine the query)" if len(found) >= services.SEARCH_LIMIT else ""
    return f"{table}\n\n{len(found)} {'entity' if len(found) == 1 else 'entities'}{more}"


def _render_entity(document: Document) -> str:
    entity = document["entity"]
    head = _fields(
        [
            ("USCC", f"{entity['uscc']} ({entity['uscc_status']})"),
            ("name", entity["name"]),
            ("type", entity["type"]),
            ("status", entity["status"]),
            ("region", entity["region"]),
            ("industry", entity["industry"]),
            ("address", entity["address"]),
            ("registered on", entity["registered_on"]),
            ("in registry", entity["is_in_registry"]),
        ]
    )
    roles = document["responsible_persons"]
    persons = _table(
        ("ROLE", "NAME", "ID NUMBER", "SINCE", "UNTIL"),
        [(r["role"], r["person"]["name"], r["person"]["id_number_masked"], r["since"], r["until"]) for r in roles],
    )
    rows = [
        (
            r["id"],
            agency,
            r["department"],
            r["kind"],
            r["risk_level"],
            r["openness"],
            r["occurred_on"],
            r["category"],
            _person(r.get("person")),
            _truncate(_cell(r["description"]), DESCRIPTION_COLUMNS),
        )
        for agency, agency_records in document["records_by_agency"].items()
        for r in agency_records
    ]
    table = _table(
        ("ID", "AGENCY", "DEPARTMENT", "KIND", "RISK", "OPENNESS", "OCCURRED", "CATEGORY", "PERSON", "DESCRIPTION"),
        rows,
    )
    return "\n".join(
        [
            head,
            "",
            "Responsible persons",
            persons if roles else "none on record",
            "",
            f"Current records visible to the CLI: {document['record_count']}",
            table if rows else "none",
        ]
    )


def _render_record(document: Document) -> str:
    r = document["record"]
    head = _fields(
        [
            ("record", r["id"]),
            ("version", f"{r['version']} ({'current' if r['is_current'] else 'superseded'})"),
            ("status", r["status"]),
            ("agency", f"{r['agency_name']} ({r['agency']})"),
            ("department", r["department"]),
            ("kind", r["kind"]),
            ("risk level", r["risk_level"]),
            ("openness", r["openness"]),
            ("entity", r["uscc"]),
            ("person", _person(r.get("person"))),
            ("category", r["category"]),
            ("occurred on", r["occurred_on"]),
            ("source ref", r["source_ref"]),
            ("source", r["source"]),
            ("created at", r["created_at"]),
            ("change reason", r["change_reason"]),
            ("description", r["description"]),
        ]
    )
    history = _table(
        ("ID", "VERSION", "STATUS", "CURRENT", "RISK", "OPENNESS", "OCCURRED", "CHANGE REASON"),
        [
            (
                v["id"],
                v["version"],
                v["status"],
                v["is_current"],
                v["risk_level"],
                v["openness"],
                v["occurred_on"],
                v["change_reason"],
            )
            for v in document["history"]
        ],
    )
    return f"{head}\n\nVersions visible to the CLI\n{history}"


def _person(person: dict[str, Any] | None) -> str | None:
    return None if person is None else f"{person['name']} {person['id_number_masked']}"


def _cell(value: object) -> str:
    """One printable line: uploaded text must neither break the table nor send terminal controls."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return " ".join("".join(char if char.isprintable() else " " for char in str(value)).split()) or "-"


def _width(text: str) -> int:
    # Chinese characters take two terminal columns.
    return sum(2 if unicodedata.east_asian_width(char) in ("W", "F") else 1 for char in text)


def _truncate(text: str, columns: int) -> str:
    if _width(text) <= columns:
        return text
    kept, used = [], 1
    for char in text:
        used += _width(char)
        if used > columns:
            break
        kept.append(char)
    return "".join(kept) + "…"


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = [list(headers), *([_cell(value) for value in row] for row in rows)]
    widths = [max(_width(line[i]) for line in lines) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell + " " * (width - _width(cell)) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _fields(pairs: Sequence[tuple[str, object]]) -> str:
    label_width = max(len(label) for label, _ in pairs)
    return "\n".join(f"{label.ljust(label_width)}  {_cell(value)}" for label, value in pairs)
