"""Display names of the closed vocabularies, in the seed's terms (translated via Flask-Babel)."""

from __future__ import annotations

from flask import Flask
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

LABELS = {
    "private": _l("Not open"),  # 暂不开放
    "shared": _l("Conditionally open"),  # 有条件开放
    "public": _l("Fully open"),  # 完全开放
    "risk": _l("Risk"),  # 风险类
    "penalty": _l("Penalty"),  # 处罚类
    "low": _l("Low"),
    "medium": _l("Medium"),
    "high": _l("High"),
    "active": _l("Active"),
    "withdrawn": _l("Withdrawn"),
    "revoked": _l("Revoked"),
    "cancelled": _l("Cancelled"),
    "enterprise": _l("Enterprise"),
    "individual_business": _l("Individual business"),
    "farmer_cooperative": _l("Farmer cooperative"),
    "legal_representative": _l("Legal representative"),
    "responsible_person": _l("Responsible person"),
    "valid": _l("Valid"),
    "nonstandard": _l("Nonstandard check character"),
    "form": _l("Form"),
    "batch": _l("Batch import"),
    "api": _l("API"),
    "platform_admin": _l("Platform office"),
    "agency_admin": _l("Agency admin"),
    "liaison": _l("Agency liaison"),
    "supervisor": _l("Supervisor"),
    "coordinator": _l("Joint-inspection coordinator"),
    "auditor": _l("Auditor"),
    "special_assessment": _l("Special assessment report"),  # 专项研判报告
    "annual_risk": _l("Annual risk assessment report"),  # 年度风险评估报告
    "submitted": _l("Submitted"),
    "due": _l("Due"),
    "overdue": _l("Overdue"),
    # warnings: levels, statuses, what happened to them, and their rules
    "red": _l("Red"),
    "orange": _l("Orange"),
    "yellow": _l("Yellow"),
    "open": _l("Open"),
    "acknowledged": _l("Acknowledged"),
    "in_disposal": _l("In disposal"),
    "closed": _l("Closed"),
    "cleared": _l("Cleared"),
    "opened": _l("Raised"),
    "escalated": _l("Escalated"),
    "de_escalated": _l("De-escalated"),
    "evidence_changed": _l("Evidence changed"),
    "assigned": _l("Assigned"),
    "disposal": _l("Measure recorded"),
    "snoozed": _l("Rule snoozed"),
    "feedback": _l("Feedback sent"),
    "receipt": _l("Receipt recorded"),
    "manual": _l("Marked by hand"),
    "red_agencies": _l("Shared records from several agencies"),
    "orange_departments": _l("Records from three or more departments"),
    "yellow_departments": _l("Records from two or more departments"),
    "yellow_high_risk": _l("Several records graded high risk"),
}
# A warning's measure (处置措施); "penalty" is also a record kind, so measures have their own names.
MEASURE_LABELS = {
    "inspection": _l("Inspection"),  # 检查
    "caution": _l("Caution"),  # 警示
    "penalty": _l("Administrative penalty"),  # 处罚
    "interview": _l("Interview"),  # 约谈
    "other": _l("Other measure"),
}


def label(value: object) -> str:
    key = str(getattr(value, "value", value))
    return str(LABELS.get(key, key))


def measure_label(value: object) -> str:
    key = str(getattr(value, "value", value))
    return str(MEASURE_LABELS.get(key, key))


def init_app(app: Flask) -> None:
    app.add_template_filter(label, "label")
    app.add_template_filter(measure_label, "measure_label")
    # base.html asks get_locale() for <html lang>; Flask-Babel 4 does not expose it to templates.
    app.jinja_env.globals["get_locale"] = get_locale
