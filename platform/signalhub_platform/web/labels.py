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
}


def label(value: object) -> str:
    key = str(getattr(value, "value", value))
    return str(LABELS.get(key, key))


def init_app(app: Flask) -> None:
    app.add_template_filter(label, "label")
    # base.html asks get_locale() for <html lang>; Flask-Babel 4 does not expose it to templates.
    app.jinja_env.globals["get_locale"] = get_locale
