"""Classified statistics (分类统计): the page, its CSV and XLSX exports, and ``GET /api/v1/statistics``.

Thin adapters over ``signalhub_platform.statistics``: parse the query string with its schema, call
the one service (it authorises and audits, refusals too), commit, render. Two things are composed
here because the statistics package sits beside them in the layers and may not import them: the
warnings area's visibility rule (``visible_warnings_clause``) and the export code's formula escaping
(``sharing.export``), so a category typed as ``=HYPERLINK(...)`` reaches a spreadsheet as text.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from marshmallow import ValidationError
from openpyxl import Workbook

from signalhub_audit.tags import AuditTag
from signalhub_platform.models import RecordKind, RiskLevel
from signalhub_platform.models.types import beijing_today
from signalhub_platform.sharing.export import escape_cell, to_csv
from signalhub_platform.statistics.charts import Bar, Segment, bar_chart
from signalhub_platform.statistics.schemas import StatisticsQuerySchema, load_query, statistics_document
from signalhub_platform.statistics.services import (
    MAX_LIMIT,
    Dimension,
    StatisticsError,
    StatisticsQuery,
    StatisticsRow,
    StatisticsTable,
    agency_choices,
    classified_statistics,
)
from signalhub_platform.web.batch_schemas import error_document
from signalhub_platform.web.context import current_actor, db
from signalhub_platform.web.security import api_auth_required
from signalhub_platform.web.sessions import login_required
from signalhub_warnings.services import visible_warnings_clause

bp = Blueprint("statistics", __name__, url_prefix="/statistics")
api_bp = Blueprint("api_statistics", __name__, url_prefix="/api/v1")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CHART_BARS = 20  # the chart shows this many groups; the table lists them all
COLOURS = {"records": "#1f5fbf", "red": "#c62828", "orange": "#ef6c00", "yellow": "#f9a825"}

DIMENSION_LABELS = {
    Dimension.REGION: _l("Street"),
    Dimension.INDUSTRY: _l("Industry"),
    Dimension.ENTITY: _l("Entity"),
    Dimension.PERSON: _l("Person"),
    Dimension.CATEGORY: _l("Category"),
    Dimension.AGENCY: _l("Agency"),
    Dimension.QUARTER: _l("Quarter"),
}
# The row of a group that has no value for the dimension (key None).
NOT_RECORDED = {
    Dimension.REGION: _l("Street not recorded"),
    Dimension.INDUSTRY: _l("Industry not recorded"),
    Dimension.ENTITY: _l("No entity (records on a person only, warnings on persons)"),
    Dimension.PERSON: _l("No person named"),
    Dimension.CATEGORY: _l("Category not recorded"),
    Dimension.AGENCY: _l("All member agencies (red warnings)"),
    Dimension.QUARTER: _l("Quarter not recorded"),
}
FIELD_MESSAGES = {
    "dimension": _l("Choose what to break the figures down by."),
    "date_from": _l("Enter dates as YYYY-MM-DD."),
    "date_to": _l("Enter dates as YYYY-MM-DD."),
    "quarter_from": _l("Enter quarters such as 2026Q3."),
    "quarter_to": _l("Enter quarters such as 2026Q3."),
    "period": _l("Give a date range or a quarter range, not both."),
    "date_order": _l("The first day is after the last day."),
    "quarter_order": _l("The first quarter is after the last quarter."),
    "agency": _l("Choose an agency from the list."),
    "region": _l("The street is longer than 64 characters."),
    "industry": _l("The industry code is longer than 8 characters."),
    "kind": _l("Choose a kind from the list."),
    "risk_level": _l("Choose a risk level from the list."),
    "kind_level": _l("Penalty records carry no risk level."),
    "limit": _l("Rows at most must be a number from 1 to %(max)s."),
}
FILTER_LABELS = {
    "date_from": _l("From date"),
    "date_to": _l("To date"),
    "agency": _l("Agency"),
    "region": _l("Street"),
    "industry": _l("Industry"),
    "kind": _l("Kind"),
    "risk_level": _l("Risk level"),
}
QUERY_FIELDS = frozenset(StatisticsQuerySchema().fields)
# header, rows, query -> the file's content
Writer = Callable[[list[str], list[list[object]], StatisticsQuery], str | bytes]
SUPPRESSION_NOTE = _l(
    "“<3”: fewer than 3 entities or persons (perhaps none) have warnings of this level in the group. "
    "Other agencies' yellow and orange warnings are shown to the platform office as counts only, so "
    "such small figures are withheld; “…” is withheld because it would give one away. A group with "
    "only withheld figures is not listed, and the warnings chart leaves out groups with withheld figures."
)
REFUSALS = {
    "unknown_agency": _l("There is no agency with this code."),
    "not_permitted": _l("Statistics are not available to you."),
}
# Small-cell suppression (``StatisticsRow.is_suppressed``): an orange or yellow figure withheld, and
# a figure withheld because it would give one away. The page explains both.
FEW = "<3"
WITHHELD = "…"


# --- the page ---------------------------------------------------------------------------------------


@bp.get("")
@login_required
def index() -> ResponseReturnValue:
    outcome = _serve(AuditTag.WEB_STATISTICS_READ)
    if isinstance(outcome, list):
        return _render(None, errors=outcome), 400
    return _render(outcome)


@bp.get("/export.csv")
@login_required
def export_csv() -> ResponseReturnValue:
    return _export("csv", "text/csv", lambda header, rows, _query: to_csv(header, rows))


@bp.get("/export.xlsx")
@login_required
def export_xlsx() -> ResponseReturnValue:
    return _export("xlsx", XLSX, _workbook)


def _export(extension: str, mimetype: str, write: Writer) -> ResponseReturnValue:
    """The page's table as a download, audited as an export in that format; a bad query gets the page."""
    outcome = _serve(AuditTag.WEB_STATISTICS_EXPORT, audit_data={"format": extension})
    if isinstance(outcome, list):
        return _render(None, errors=outcome), 400
    header, rows = _export_table(outcome)
    return _attachment(write(header, rows, outcome.query), mimetype, _filename(outcome.query, extension))


def _serve(tag: AuditTag, audit_data: dict[str, str] | None = None) -> StatisticsTable | list[str]:
    """The table for the request's query string, or the messages saying what is wrong with it."""
    try:
        query = load_query(request.args)
    except ValidationError as exc:
        return _field_messages(exc)
    session = db()
    try:
        table = classified_statistics(
            session, current_actor(), query, warning_rule=visible_warnings_clause, tag=tag, audit_data=audit_data
        )
    except StatisticsError as exc:
        session.commit()  # the refusal's audit event
        if exc.status_code == 403:
            abort(403)
        return [str(REFUSALS.get(exc.code, exc.message))]
    session.commit()
    return table


def _field_messages(exc: ValidationError) -> list[str]:
    fields = exc.messages if isinstance(exc.messages, dict) else {"_": exc.messages}
    messages = []
    for name in fields:
        if name in FIELD_MESSAGES:
            messages.append(str(FIELD_MESSAGES[name]) % {"max": MAX_LIMIT})
        else:
            messages.append(_("Unknown filter: %(name)s.", name=name))
    return messages


def _render(table: StatisticsTable | None, *, errors: list[str] | None = None) -> str:
    # Only the query's own fields go back into the export links (url_for treats _external etc. specially).
    args = {key: value for key, value in request.args.items() if value != "" and key in QUERY_FIELDS}
    return render_template(
        "statistics/index.html",
        table=table,
        errors=errors or [],
        args=args,
        dimensions=[(dimension.value, DIMENSION_LABELS[dimension]) for dimension in Dimension],
        dimension_label=DIMENSION_LABELS[table.dimension] if table else "",
        agencies=agency_choices(db()),
        kinds=list(RecordKind),
        risk_levels=list(RiskLevel),
        max_limit=MAX_LIMIT,
        rows=[(row, _row_label(table.dimension, row)) for row in table.rows] if table else [],
        figures=_figures,
        suppression_note=str(SUPPRESSION_NOTE),  # a lazy string counts as markup: this one holds a "<"
        has_suppressed=any(row.is_suppressed for row in [*table.rows, table.total]) if table else False,
        charts=_charts(table) if table else [],
    )


def _row_label(dimension: Dimension, row: StatisticsRow) -> str:
    return row.label if row.key is not None else str(NOT_RECORDED[dimension])


def _figures(row: StatisticsRow) -> list[int | str | None]:
    """Entities with warnings, red, orange, yellow and all warnings, a withheld one as its marker
    (None: warnings have no such group, as by category)."""
    values = {"entities_with_warnings": row.entities_with_warnings, "red": row.red, "orange": row.orange,
              "yellow": row.yellow, "warnings": row.warnings}  # fmt: skip
    if row.is_suppressed:
        for name, value in values.items():
            if value is None:
                values[name] = FEW if name in ("orange", "yellow") else WITHHELD
    return list(values.values())


def _charts(table: StatisticsTable) -> list[Markup]:
    dimension = DIMENSION_LABELS[table.dimension]
    # Quarters read in time order, so the chart keeps the latest; the others keep the largest.
    shown = table.rows[-CHART_BARS:] if table.dimension is Dimension.QUARTER else table.rows[:CHART_BARS]
    description = _("The bars show %(count)s of the table's rows; the table lists the same figures.", count=len(shown))
    charts = [
        bar_chart(
            chart_id="chart-records",
            title=_("Records by %(dimension)s", dimension=dimension),
            description=description,
            bars=[
                Bar(_row_label(table.dimension, row), (Segment(_("Records"), row.records, COLOURS["records"]),))
                for row in shown
            ],
        )
    ]
    if table.has_warning_groups:
        levels = [("red", _("Red")), ("orange", _("Orange")), ("yellow", _("Yellow"))]
        with_warnings = [row for row in table.rows if row.warnings]
        if table.dimension is not Dimension.QUARTER:
            with_warnings.sort(key=lambda row: -(row.warnings or 0))
        warned = with_warnings[-CHART_BARS:] if table.dimension is Dimension.QUARTER else with_warnings[:CHART_BARS]
        charts.append(
            bar_chart(
                chart_id="chart-warnings",
                title=_("Warnings by level and %(dimension)s", dimension=dimension),
                description=_(
                    "The bars show %(count)s groups with warnings, by level; the table lists the same figures.",
                    count=len(warned),
                ),
                bars=[
                    Bar(
                        _row_label(table.dimension, row),
                        tuple(Segment(name, getattr(row, level) or 0, COLOURS[level]) for level, name in levels),
                    )
                    for row in warned
                ],
                legend=[(name, COLOURS[level]) for level, name in levels],
            )
        )
    return charts


# --- exports ----------------------------------------------------------------------------------------


def _has_code(dimension: Dimension) -> bool:
    return dimension in (Dimension.ENTITY, Dimension.PERSON, Dimension.AGENCY)


def _export_table(table: StatisticsTable) -> tuple[list[str], list[list[object]]]:
    """The page's table as header and rows, the total last; labels in the user's language."""
    dimension = table.dimension
    header = [str(DIMENSION_LABELS[dimension])]
    if _has_code(dimension):
        header.append(_("ID number (masked)") if dimension is Dimension.PERSON else _("Code"))
    header += [
        _("Records"),
        _("Entities with warnings"),
        _("Red"),
        _("Orange"),
        _("Yellow"),
        _("Warnings (all levels)"),
    ]

    def line(label: str, row: StatisticsRow) -> list[object]:
        cells: list[object] = [label]
        if _has_code(dimension):
            cells.append(row.code)
        cells += [row.records, *_figures(row)]
        return cells

    rows = [line(_row_label(dimension, row), row) for row in table.rows]
    rows.append(line(_("Total"), table.total))
    return header, rows


def _workbook(header: list[str], rows: list[list[object]], query: StatisticsQuery) -> bytes:
    """The table on one sheet, the dimension and filters on another; every text cell escaped."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Statistics")[:31])
    sheet.append([escape_cell(cell) for cell in header])
    for row in rows:
        sheet.append(["" if cell is None else escape_cell(cell) for cell in row])
    filters = workbook.create_sheet(_("Filters")[:31])
    filters.append([_("Broken down by"), str(DIMENSION_LABELS[query.dimension])])
    for name, value in query.filters().items():
        filters.append([str(FILTER_LABELS.get(name, name)), escape_cell(value)])
    if any(cell in (FEW, WITHHELD) for row in rows for cell in row):
        filters.append([_("Note"), str(SUPPRESSION_NOTE)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _filename(query: StatisticsQuery, extension: str) -> str:
    return f"statistics-{query.dimension.value}-{beijing_today():%Y%m%d}.{extension}"


def _attachment(data: str | bytes, mimetype: str, filename: str) -> Response:
    return Response(data, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# --- the JSON API -----------------------------------------------------------------------------------


@api_bp.get("/statistics")
@api_auth_required
def api_statistics() -> tuple[dict[str, Any], int]:
    try:
        query = load_query(request.args)
    except ValidationError as exc:
        return error_document(400, "invalid query", exc.messages), 400
    session = db()
    try:
        table = classified_statistics(
            session, current_actor(), query, warning_rule=visible_warnings_clause, tag=AuditTag.API_STATISTICS_READ
        )
    except StatisticsError as exc:
        session.commit()  # the refusal's audit event
        return error_document(exc.status_code, exc.message, {"reason": exc.code}), exc.status_code
    session.commit()
    return statistics_document(table), 200
