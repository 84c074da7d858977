"""A draw for the people who use it: the package (JSON), an XLSX for the office, a PDF for field teams.

Inspector names appear in the XLSX and PDF (the teams need them) but not in the package, which
is public and carries certificate numbers only. Every export is audited.
"""

from __future__ import annotations

import io
import json
from typing import Any

from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform.drawing import canonical_json
from signalhub_platform.inspections.services import DrawRefused, can_read_draw, draw_package
from signalhub_platform.models import Actor, Agency, Draw, Entity, Inspector
from signalhub_platform.sampling import trim

FORMATS = ("json", "xlsx", "pdf")
# Spreadsheet programs run a cell that starts with one of these as a formula.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

STRATUM_LABELS = {"red": "红色", "orange": "橙色", "yellow": "黄色", "none": "无预警", "all": "全部"}
REASON_LABELS = {
    "inactive": "非在岗",
    "not_qualified": "不具备抽查事项资格",
    "recused": "申报回避",
    "last_inspector": "上次检查该主体",
    "cap_reached": "已达检查任务上限",
    "no_eligible_inspector": "无符合条件的检查人员",
}


def safe_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


def draw_rows(session: Session, draw: Draw) -> list[dict[str, Any]]:
    """One row per target with entity names and inspector names resolved, in draw order."""
    if draw.result is None:
        return []
    targets = json.loads(draw.result)["targets"]
    usccs = [t["uscc"] for t in targets]
    entities: dict[str, Entity] = {}
    for start in range(0, len(usccs), 5000):
        chunk = usccs[start : start + 5000]
        entities.update({e.uscc: e for e in session.scalars(select(Entity).where(Entity.uscc.in_(chunk)))})
    certificates = sorted({m["inspector"] for t in targets for m in t["team"]})
    names = dict(
        session.execute(
            select(Inspector.certificate_no, Inspector.name).where(Inspector.certificate_no.in_(certificates))
        ).all()
    )
    agencies = dict(session.execute(select(Agency.code, Agency.name)).all())
    rows = []
    for t in targets:
        entity = entities.get(t["uscc"])
        rows.append(
            {
                "position": t["position"],
                "round": t["round"],
                "uscc": t["uscc"],
                "name": entity.name if entity else "",
                "address": entity.address if entity else "",
                "region": entity.region if entity else "",
                "stratum": STRATUM_LABELS.get(t["stratum"], t["stratum"]),
                "ticket": trim(t["ticket"]),
                "team": [
                    {
                        "agency": agencies.get(m["agency"], m["agency"]),
                        "inspector": names.get(m["inspector"], ""),
                        "certificate_no": m["inspector"],
                    }
                    for m in t["team"]
                ],
                "exclusions": [
                    f"{e['inspector']}（{REASON_LABELS.get(e['reason'], e['reason'])}）" for e in t["exclusions"]
                ],
                "unfilled": [
                    f"{agencies.get(u['agency'], u['agency'])}：{REASON_LABELS.get(u['reason'], u['reason'])}"
                    for u in t["unfilled"]
                ],
            }
        )
    return rows


def draw_xlsx(session: Session, draw: Draw) -> bytes:
    """Sheet 抽查结果: one row per target; sheet 抽查信息: hash, seed and parameters for the record."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("抽查结果")
    sheet.append(
        ["序号", "轮次", "统一社会信用代码", "主体名称", "住所", "街道", "预警分层", "随机数", "检查组", "回避及排除"]
    )
    for row in draw_rows(session, draw):
        team = "；".join(f"{m['agency']} {m['inspector']}（{m['certificate_no']}）" for m in row["team"])
        notes = "；".join([*row["exclusions"], *row["unfilled"]])
        sheet.append(
            [
                safe_cell(value)
                for value in (
                    row["position"],
                    row["round"],
                    row["uscc"],
                    row["name"],
                    row["address"],
                    row["region"],
                    row["stratum"],
                    row["ticket"],
                    team,
                    notes,
                )
            ]
        )
    info = workbook.create_sheet("抽查信息")
    manifest = json.loads(draw.manifest)
    for label, value in (
        ("抽查计划", draw.name),
        ("编号", draw.id),
        ("状态", draw.status.value),
        ("检查对象名录数量", draw.population_count),
        ("名录SHA-256", draw.population_sha256),
        ("随机种子", draw.seed or ""),
        ("结果SHA-256", draw.result_sha256 or ""),
        ("参数", canonical_json(manifest["parameters"])),
    ):
        info.append([label, safe_cell(value)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def export_draw(session: Session, draw_id: int, fmt: str, *, actor: Actor, source: str = "web") -> bytes:
    """The draw in one of ``FORMATS``; the package only once the draw has been run."""
    if fmt not in FORMATS:
        raise DrawRefused(f"unknown export format {fmt!r}")
    draw = session.get(Draw, draw_id)
    if draw is None or not can_read_draw(actor, draw):
        raise DrawRefused(f"no draw {draw_id}")
    if draw.result is None:
        raise DrawRefused(f"draw {draw_id} has not been run yet")
    if fmt == "json":
        data = json.dumps(draw_package(draw), ensure_ascii=False, indent=1).encode("utf-8")
    elif fmt == "xlsx":
        data = draw_xlsx(session, draw)
    else:
        from signalhub_platform.inspections.printable import draw_pdf

        data = draw_pdf(session, draw)
    record_event(
        session,
        AuditTag(f"{source}:draw:export"),
        actor=actor,
        subjects=[("draw", draw.id)],
        data={"format": fmt, "bytes": len(data)},
    )
    return data
