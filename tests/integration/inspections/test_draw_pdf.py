"""The printable draw: a PDF with the Chinese font embedded, the targets and teams legible to any
reader (checked by extracting the text through the font's ToUnicode map), and the export audited."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub_platform.inspections import printable
from signalhub_platform.inspections.exports import export_draw
from signalhub_platform.inspections.services import create_draw, run_draw, set_dice
from signalhub_platform.models import Actor, AuditEvent, Draw, InspectorConflict
from tests.integration.inspections.draw_fixtures import DICE, make_directory, spec

SYSTEM = Actor.cli()
# wqy-microhei.ttc 0.2.0-beta as Debian ships it (fonts-wqy-microhei 0.2.0-beta-3.1).
WQY_MICROHEI_SHA256 = "2420e8078af796b19a3f6ef13de527a1a91c1e7171eea115926c614ced1009b3"


def drawn(session: Session, **overrides: object) -> Draw:
    draw = create_draw(session, spec(**overrides), actor=SYSTEM, source="cli")
    set_dice(session, draw.id, DICE, actor=SYSTEM, source="cli")
    return run_draw(session, draw.id, actor=SYSTEM, source="cli")


def pages_text(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def embedded_fonts(data: bytes) -> list[tuple[str, set[str]]]:
    """``(BaseFont, font file keys)`` of every font the pages use."""
    fonts = []
    for page in PdfReader(io.BytesIO(data)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            for descendant in font.get("/DescendantFonts", []):
                descriptor = descendant.get_object()["/FontDescriptor"].get_object()
                fonts.append((str(font["/BaseFont"]), {k for k in descriptor if k.startswith("/FontFile")}))
    return fonts


def test_the_pdf_embeds_the_font_and_lists_targets_with_their_teams(db_session: Session) -> None:
    directory = make_directory(db_session)
    for entity in directory.entities:  # every target gets an exclusion to print
        conflict = InspectorConflict(inspector_id=directory.inspectors["SAMR-001"].id, entity_id=entity.id)
        db_session.add(conflict)
    db_session.flush()
    draw = drawn(db_session)

    data = export_draw(db_session, draw.id, "pdf", actor=SYSTEM, source="cli")

    assert data.startswith(b"%PDF-")
    fonts = embedded_fonts(data)
    assert fonts and all(name.endswith("+WenQuanYiMicroHei") and keys == {"/FontFile2"} for name, keys in fonts)
    (text,) = pages_text(data)
    text = text.replace("\n", "")  # cells wrap
    targets = json.loads(draw.result)["targets"]
    names = {e.uscc: e.name for e in directory.entities}
    for target in targets:
        assert target["uscc"] in text and names[target["uscc"]] in text
        for member in target["team"]:
            inspector = directory.inspectors[member["inspector"]]
            assert f"{inspector.name}（{inspector.certificate_no}）" in text
    assert "SAMR-001（申报回避）" in text
    for heading in printable.HEADINGS:
        assert heading in text
    for value in (draw.name, draw.population_sha256, draw.seed, draw.result_sha256, "第 1 页 / 共 1 页"):
        assert value and value in text
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.tag == "cli:draw:export")).one()
    assert json.loads(event.payload)["data"] == {"format": "pdf", "bytes": len(data)}


def test_a_long_draw_repeats_the_headings_and_numbers_every_page(db_session: Session) -> None:
    make_directory(db_session, entities=120)
    draw = drawn(db_session, targets=120)

    pages = pages_text(export_draw(db_session, draw.id, "pdf", actor=SYSTEM, source="cli"))

    assert len(pages) > 3
    for number, text in enumerate(pages, start=1):
        assert "统一社会信用代码" in text and "检查组" in text
        assert f"第 {number} 页 / 共 {len(pages)} 页" in text
    text = "\n".join(pages)
    assert all(text.count(target["uscc"]) == 1 for target in json.loads(draw.result)["targets"])


def test_characters_the_font_lacks_are_printed_as_code_points() -> None:
    assert printable.printable("北京测试有限公司\n住所") == "北京测试有限公司\n住所"
    assert printable.printable("𠀾记餐饮😀") == "〔U+2003E〕记餐饮〔U+1F600〕"


def test_wrap_breaks_between_chinese_characters_and_at_spaces_only() -> None:
    def width(char: str) -> float:
        return 2.0 if ord(char) >= 0x2E80 else 1.0

    assert printable.wrap("北京市西城区金融大街", 8, width) == ["北京市西", "城区金融", "大街"]
    assert printable.wrap("检查员（SAMR-001）", 12, width) == ["检查员", "（SAMR-001）"]
    assert printable.wrap("甲乙丙，丁", 6, width) == ["甲乙", "丙，丁"]  # no line starts with ，
    assert printable.wrap("Holdings Limited", 10, width) == ["Holdings", "Limited"]
    assert printable.wrap("91110102MA01ABCD1X", 10, width) == ["91110102MA", "01ABCD1X"]
    assert printable.wrap("甲\n\n乙", 8, width) == ["甲", "", "乙"]


def test_a_cell_longer_than_a_page_continues_in_the_next_rows(
    db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = make_directory(db_session)
    draw = drawn(db_session)
    row: dict[str, Any] = {
        "position": 1,
        "round": 1,
        "uscc": directory.entities[0].uscc,
        "name": "长名单有限公司",
        "address": "北京市西城区金融大街1号",
        "region": "金融街街道",
        "stratum": "无预警",
        "ticket": "0.123456789",
        "team": [{"agency": "Agency SAMR", "inspector": "检查员甲", "certificate_no": "SAMR-001"}],
        "exclusions": [f"SAMR-{n:03d}（申报回避）" for n in range(200)],
        "unfilled": [],
    }
    monkeypatch.setattr(printable, "draw_rows", lambda session, draw: [row])

    pages = pages_text(printable.draw_pdf(db_session, draw))

    text = "\n".join(pages)
    assert len(pages) >= 2 and "（续）" in text
    assert all(f"SAMR-{n:03d}（申报回避）" in text for n in range(200))


def test_the_font_is_the_known_wenquanyi_micro_hei() -> None:
    # A new upload of the font package within the pinned range must not swap the font unnoticed.
    assert hashlib.sha256(printable.font_path().read_bytes()).hexdigest() == WQY_MICROHEI_SHA256


def test_a_missing_font_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(printable, "FONT_PACKAGE", "no_such_font_package")
    printable.font_path.cache_clear()
    try:
        with pytest.raises(printable.FontMissing, match="paperang-p2-fonts-cjk"):
            printable.font_path()
    finally:
        printable.font_path.cache_clear()
