"""Journey (b): the platform office hands a red warning to a supervisor; the supervisor finds it in
the queue, takes it (acknowledges), reads its explanation and the linked entities, records a
measure and closes it."""

from __future__ import annotations

import re

from tests.e2e.conftest import Shots, sign_in


def test_supervisor_works_a_red_warning(page) -> None:  # type: ignore[no-untyped-def]
    shot = Shots(page, "supervisor")
    sign_in(page, "office")
    page.goto("/warnings?level=red&assignee=none")
    rows = page.locator("table tbody tr")
    assert rows.count() > 0
    assert all("红色" in row for row in rows.all_inner_texts())
    subject = rows.first.locator("td a").first
    name = subject.inner_text().strip()
    subject.click()
    page.wait_for_url(re.compile(r"/warnings/\d+$"))
    warning_url = page.url
    option = page.locator("#to option", has_text="samr.supervisor")
    page.select_option("#to", value=option.get_attribute("value"))
    page.get_by_role("button", name="分派", exact=True).click()
    page.wait_for_load_state()
    assert "区市场监督管理局监管人员" in page.locator("table.kv").inner_text()
    shot("office-assigns")
    page.context.clear_cookies()

    sign_in(page, "samr.supervisor")
    page.goto("/warnings?assignee=me")
    shot("my-queue")
    mine = page.locator("table tbody tr", has_text=name)
    assert mine.count() == 1 and "红色" in mine.inner_text()
    mine.locator("td a").first.click()
    page.wait_for_url(warning_url)
    assert name in page.locator("h1").inner_text() and "红色" in page.locator("h1").inner_text()
    reasons = page.locator("section.card", has=page.get_by_role("heading", name="预警依据"))
    assert "成员单位" in reasons.inner_text()  # which agencies hold shared records, and how many
    shot("explanation")

    page.get_by_role("button", name="签收", exact=True).click()
    page.wait_for_load_state()
    assert "已签收" in page.locator("table.kv").inner_text()
    shot("taken")

    page.locator("table.kv td.code a").first.click()
    page.wait_for_url(re.compile(r"/entities/"))
    assert "关联主体" in page.locator("#linked").inner_text()
    shot("linked-entities")

    page.goto(warning_url)
    page.select_option("#measure", index=0)
    page.fill("#dispose_note", "已约谈负责人并责令整改")
    page.get_by_role("button", name="登记措施").click()
    page.wait_for_load_state()
    assert "处置中" in page.locator("table.kv").inner_text()
    shot("measure")

    page.fill("#close_note", "整改完成，复查无问题")
    page.get_by_role("button", name="办结该预警").click()
    page.wait_for_load_state()
    assert "已办结" in page.locator("table.kv").inner_text()
    assert "整改完成，复查无问题" in page.locator("table.kv").inner_text()
    shot("closed")
