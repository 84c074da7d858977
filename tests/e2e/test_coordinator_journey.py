"""Journey (c): a coordinator creates a draw, sees the population hash, enters a dice seed, runs
it, exports the XLSX, records a result, publishes it, and finds it on the public site."""

from __future__ import annotations

import re

from openpyxl import load_workbook

from tests.e2e.conftest import Shots, sign_in

DICE = "73190465528401937362"


def test_coordinator_runs_and_publishes_a_draw(page, tmp_path) -> None:  # type: ignore[no-untyped-def]
    shot = Shots(page, "coordinator")
    sign_in(page, "samr.coordinator")
    page.goto("/draws/new")
    page.fill("#name", "浏览器验收联合抽查")
    page.check("input[name=agencies][value=SAMR]")
    page.check("input[name=agencies][value=TAX]")
    page.fill("#targets", "5")
    shot("new-draw")
    page.locator("#main form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/draws/\d+(\?.*)?$"))
    draw_url = page.url

    population = page.locator("#population")
    population_hash = population.locator(".hash").inner_text().replace(" ", "").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", population_hash), population_hash
    shot("frozen-population")

    page.fill("#dice", DICE[:19])  # one digit short: refused, nothing recorded
    page.locator("#seed form", has=page.locator("#dice")).locator("button").click()
    assert "20" in page.locator("[role=alert]").first.inner_text()
    page.goto(draw_url)
    page.fill("#dice", DICE)
    page.locator("#seed form", has=page.locator("#dice")).locator("button").click()
    page.wait_for_load_state()
    assert DICE in page.locator("#seed").inner_text()
    shot("seeded")

    page.locator("#run form button").click()
    page.wait_for_load_state()
    rows = page.locator("#targets table tbody tr")
    assert rows.count() == 5
    first_uscc = rows.first.locator(".code").first.inner_text().strip()
    assert re.fullmatch(r"[0-9A-Z]{18}", first_uscc)
    assert "区税务局" in rows.first.inner_text() and "区市场监督管理局" in rows.first.inner_text()
    shot("drawn")

    with page.expect_download() as download:
        page.locator("a[href$='export.xlsx']").click()
    workbook = tmp_path / "draw.xlsx"
    download.value.save_as(workbook)
    sheet = load_workbook(workbook).worksheets[0]
    assert [c.value for c in sheet[1]][:3] == ["序号", "轮次", "统一社会信用代码"]
    assert sheet.cell(row=2, column=3).value == first_uscc

    rows.first.locator("summary").click()
    rows.first.locator("select[name=outcome]").select_option("ordered_to_correct")
    rows.first.locator("textarea[name=notes]").fill("现场检查发现未按规定公示年报")
    rows.first.locator("form button").click()
    page.wait_for_load_state()
    assert "责令整改" in page.locator("#targets table tbody tr").first.inner_text()
    shot("result")

    page.locator("#publish form button").click()
    page.wait_for_load_state()
    shot("published")

    page.context.clear_cookies()  # the public site needs no login
    page.goto("/public/draws")
    page.get_by_role("link", name="浏览器验收联合抽查").click()
    page.wait_for_url(re.compile(r"/public/draws/\d+$"))
    body = page.locator("body").inner_text()
    assert first_uscc in body and "责令整改" in body
    assert "未按规定公示年报" not in body  # notes stay internal
    assert population_hash in body.replace(" ", "")
    shot("public-site")
