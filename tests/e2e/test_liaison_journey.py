"""Journey (a): a liaison downloads the template, uploads a quarterly file with errors, downloads
the error workbook, fixes the file, uploads it again and commits it, watching the progress."""

from __future__ import annotations

import io
import re
from pathlib import Path

from openpyxl import load_workbook

from tests.e2e.conftest import Shots, sign_in

DATA_SHEET = "监管信息"


def _batch_state(page) -> str:  # type: ignore[no-untyped-def]
    return page.locator("[data-state]").first.get_attribute("data-state") or ""


def _wait_for_state(page, *states: str) -> str:  # type: ignore[no-untyped-def]
    """The page polls its progress; reload until the batch reaches one of ``states``."""
    for _ in range(60):
        state = _batch_state(page)
        if state in states:
            return state
        page.wait_for_timeout(500)
        page.reload()
    raise AssertionError(f"the batch stayed {_batch_state(page)!r}, expected {states}")


def _upload(page, path: Path) -> None:  # type: ignore[no-untyped-def]
    page.goto("/batches/new")
    page.set_input_files("#file", str(path))
    page.locator("#main form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/batches/\d+$"))


def test_liaison_uploads_fixes_and_commits_a_quarterly_file(page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shot = Shots(page, "liaison")
    sign_in(page, "tax.liaison")
    page.goto("/batches/new")
    shot("upload-form")
    with page.expect_download() as template_download:
        page.locator("a[href$='template.xlsx']").click()
    template = tmp_path / "template.xlsx"
    template_download.value.save_as(template)

    workbook = load_workbook(template)
    sheet = workbook[DATA_SHEET]
    headers = [cell.value for cell in sheet[1]]
    example = {h: c.value for h, c in zip(headers, sheet[2], strict=True)}
    assert "统一社会信用代码" in headers and "本单位编号" in headers
    sheet.delete_rows(2)  # the example row
    good = {**example, "部门": "征收管理科", "信息类型": "风险", "风险等级": "高", "开放类别": "有条件开放",
            "本单位编号": "E2E-2026-0001", "发生日期": "2026-10-08"}  # fmt: skip
    bad = {**good, "本单位编号": "E2E-2026-0002", "风险等级": "很高"}
    for row in (good, bad):
        sheet.append([row[h] for h in headers])
    with_errors = tmp_path / "2026Q4-税务局.xlsx"
    workbook.save(with_errors)

    _upload(page, with_errors)
    assert _wait_for_state(page, "invalid") == "invalid"
    errors = page.locator("section.card", has=page.get_by_role("heading", name="错误", exact=True))
    assert "很高" in errors.inner_text() and "风险等级" in errors.inner_text()
    shot("errors")

    with page.expect_download() as error_download:
        page.locator("a[href$='errors.xlsx']").first.click()
    error_book = load_workbook(io.BytesIO(Path(error_download.value.path()).read_bytes()))
    error_text = " ".join(str(c.value) for r in error_book.worksheets[0].iter_rows() for c in r if c.value)
    assert "很高" in error_text and "E2E-2026-0002" in error_text

    sheet.cell(row=3, column=headers.index("风险等级") + 1, value="中")
    fixed = tmp_path / "2026Q4-税务局-修正.xlsx"
    workbook.save(fixed)
    _upload(page, fixed)
    assert _wait_for_state(page, "validated") == "validated"
    shot("validated")
    page.locator("section.card", has=page.get_by_role("heading", name="提交", exact=True)).locator("button").click()
    assert _wait_for_state(page, "committed") == "committed"
    progress = page.locator("#batch-progress")
    assert page.locator("#progress-committed").get_attribute("value") == "2"
    assert "2" in progress.locator("[data-count=committed]").inner_text()
    shot("committed")
