"""The whole UI is usable at 1366×768 and on a phone (390×844), in Chinese and in English (issue 6,
point 8): for each role's main pages, the page never scrolls sideways (wide tables scroll inside
their ``.table-scroll`` box), every visible form field has an accessible name, ``<html lang>``
matches the language shown, and the sign-in and search forms can be reached with the Tab key alone.

Each role's pages are found the way a user finds them (the queue's first red warning, its entity,
one of that entity's records, the first draw), so the test follows the demo data rather than ids.
Phone screenshots land in ``tests/e2e/screenshots/layout/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import PASSWORD, SCREENSHOTS, sign_in

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}
LANGS = {"zh": "zh-CN", "en": "en"}  # the UI language (cookie ``lang``) → the expected <html lang>

# Per role: the demo account (None: the public, signed out) and its main pages. Names in braces are
# found by ``discover`` from the demo data.
ROLES: dict[str, tuple[str | None, list[str]]] = {
    "liaison": ("tax.liaison", ["/", "/search", "{entity}", "{record}", "/batches", "{batch}", "/batches/new",
                                "/records/new", "/reports/", "/inbox", "{received}", "/messages/sent",
                                "/messages/new?about_type=entity&about_ref={uscc}", "/password", "/statistics",
                                "/reporting/quarterly", "/reporting/scorecard", "/audit/readers"]),
    "supervisor": ("samr.supervisor", ["/", "/search", "{entity}", "{record}", "/warnings", "{warning}", "/watches",
                                       "/inbox", "/messages/new?about_type=warning&about_ref={warning_id}",
                                       "/messages/sent", "{sent}", "/draws", "/statistics?dimension=entity",
                                       "/reporting/annual"]),
    "coordinator": ("samr.coordinator", ["/", "/draws", "{draw}", "/draws/new", "/draws/inspectors",
                                         "/draws/outcomes", "/inbox"]),
    "agency_admin": ("tax.admin", ["/", "/admin/users", "/warnings", "/warnings/marks", "/batches", "/reports/",
                                   "/audit/readers", "/statistics?dimension=quarter"]),
    "office": ("office", ["/", "/search", "{entity}", "/warnings", "{warning}", "/draws", "{draw}", "/inbox",
                          "/admin/users", "/admin/jobs", "/reports/overdue", "/statistics", "/reporting/quarterly",
                          "/reporting/annual", "/audit/"]),
    "public": (None, ["/login", "/public/draws", "{public_draw}", "/public/search?q=%E5%8C%97%E4%BA%AC"]),
}  # fmt: skip

# Run in the page: what a check needs to know, and enough about each failure to fix it.
MEASURE = """() => {
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const text = (el) => (el.textContent || '').trim();
  const unnamed = [];
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden' || !visible(el)) continue;
    if (['submit', 'button', 'reset'].includes(el.type) && (el.value || '').trim()) continue;
    const byLabel = Array.from(el.labels || []).some((label) => text(label));
    const byAria = (el.getAttribute('aria-label') || '').trim() !== '';
    const byIds = (el.getAttribute('aria-labelledby') || '').split(/\\s+/).filter(Boolean)
      .map((id) => document.getElementById(id)).some((node) => node && text(node));
    if (!byLabel && !byAria && !byIds) unnamed.push(el.outerHTML.slice(0, 140));
  }
  const width = window.innerWidth;
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    // Inside a .table-scroll box only what escapes it (positioned against the page) can widen the page.
    const escapes = ['absolute', 'fixed'].includes(getComputedStyle(el).position);
    if (!visible(el) || (el.closest('.table-scroll') && !escapes)) continue;
    const box = el.getBoundingClientRect();
    if (box.right > width + 1 && wide.length < 5) {
      const classes = typeof el.className === 'string' ? el.className.trim().split(/\\s+/).join('.') : '';
      const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (classes ? '.' + classes : '');
      wide.push(`${name} right=${Math.round(box.right)}`);
    }
  }
  return {lang: document.documentElement.getAttribute('lang'), scrollWidth: document.documentElement.scrollWidth,
          innerWidth: width, unnamed, wide};
}"""


def _first_href(page: Any, selector: str) -> str:
    link = page.locator(selector).first
    assert link.count() == 1, f"no {selector} on {page.url}"
    return str(link.get_attribute("href"))


@pytest.fixture(scope="module")
def found(browser: Any, server: str) -> dict[str, str]:
    """The pages behind the braces in ``ROLES``, found as a supervisor and as the public would."""
    context = browser.new_context(base_url=server, viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(30_000)
    sign_in(page, "samr.supervisor")
    page.goto("/warnings?level=red")
    values: dict[str, str] = {}
    for href in [a.get_attribute("href") for a in page.locator("table tbody tr td a[href^='/warnings/']").all()]:
        page.goto(str(href))
        entity = page.locator("table.kv td.code a[href^='/entities/']")
        if entity.count():
            values["warning"] = str(href)
            values["entity"] = str(entity.first.get_attribute("href"))
            break
    assert "entity" in values, "the demo has no red warning on an entity"
    values["warning_id"] = values["warning"].rsplit("/", 1)[1]
    values["uscc"] = values["entity"].rsplit("/", 1)[1]
    page.goto(values["entity"])
    values["record"] = _first_href(page, "#main a[href^='/records/']")
    # A message to the tax bureau, so that inboxes and the sent box have something to lay out.
    page.locator("#main a", has_text="发送内部消息").click()
    page.select_option("#recipient_agency", "TAX")
    page.fill("#title", "请协助核查该企业的实际经营地址与登记地址是否一致")
    page.fill("#body", "我局在日常检查中发现该企业登记地址无人办公，请贵局协助核实其纳税申报地址。")
    page.locator("#main form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/messages/sent"))
    assert "消息已发送" in page.locator("#main").inner_text()
    values["sent"] = _first_href(page, "#main table a[href^='/messages/']")
    page.goto("/draws")
    values["draw"] = next(h for h in (a.get_attribute("href") for a in page.locator("#main a").all())
                          if h and re.fullmatch(r"/draws/\d+", h))  # fmt: skip
    page.context.clear_cookies()
    sign_in(page, "tax.liaison")
    page.goto("/batches")
    values["batch"] = _first_href(page, "#main table a[href^='/batches/']")
    page.goto("/inbox")
    values["received"] = _first_href(page, "#main table a[href^='/messages/']")
    page.context.clear_cookies()
    page.goto("/public/draws")
    values["public_draw"] = _first_href(page, "#main a[href^='/public/draws/']")
    context.close()
    return values


@pytest.fixture
def contexts(browser: Any, server: str) -> Iterator[Any]:
    opened: list[Any] = []

    def new(lang: str) -> Any:
        context = browser.new_context(base_url=server, viewport=DESKTOP, locale=LANGS[lang])
        context.add_cookies([{"name": "lang", "value": lang, "url": server}])
        opened.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        return page

    yield new
    for context in opened:
        context.close()


def _problems(page: Any, where: str, lang: str) -> list[str]:
    seen = page.evaluate(MEASURE)
    problems = []
    if seen["scrollWidth"] > seen["innerWidth"]:
        problems.append(f"{where}: scrolls sideways ({seen['scrollWidth']} > {seen['innerWidth']}): {seen['wide']}")
    problems += [f"{where}: field without an accessible name: {html}" for html in seen["unnamed"]]
    if seen["lang"] != LANGS[lang]:
        problems.append(f"{where}: <html lang={seen['lang']!r}>, expected {LANGS[lang]!r}")
    return problems


@pytest.mark.parametrize("role", list(ROLES))
def test_main_pages_fit_the_screen_and_name_their_fields(
    role: str, contexts: Any, found: dict[str, str]
) -> None:  # fmt: skip
    username, paths = ROLES[role]
    folder = SCREENSHOTS / "layout"
    folder.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    for lang in LANGS:
        page = contexts(lang)
        if username:
            sign_in(page, username)
        for template in paths:
            path = template.format(**found)
            for name, viewport in VIEWPORTS.items():
                page.set_viewport_size(viewport)
                response = page.goto(path)
                assert response is not None and response.ok, f"{role} {path}: {response and response.status}"
                if lang == "en":
                    # The language really switched: the sign-out / sign-in wording is English.
                    assert re.search(r"Sign (out|in)|Published inspections", page.locator("body").inner_text()), path
                problems += _problems(page, f"{role} {lang} {name} {path}", lang)
                if name == "phone" and lang == "zh":
                    slug = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"
                    page.screenshot(path=str(folder / f"{role}-{slug}.png"), full_page=True)
    assert problems == [], "\n".join(problems)


def _focused(page: Any, selector: str) -> bool:
    return bool(page.evaluate("(s) => document.activeElement !== null && document.activeElement.matches(s)", selector))


def _tab_to(page: Any, selector: str, *, limit: int = 40) -> int:
    """Press Tab until ``selector`` has focus; how many presses it took."""
    visited: list[str] = []
    for presses in range(limit):
        if _focused(page, selector):
            return presses
        visited.append(page.evaluate("() => document.activeElement.tagName + '#' + document.activeElement.id"))
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector} on {page.url}: {visited}")


def _from_the_top(page: Any) -> None:
    """Where a keyboard user starts: the page's first stop, the skip link (autofocus aside)."""
    page.locator("a.skip").focus()
    assert _focused(page, "a.skip")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_the_keyboard_alone_signs_in_and_searches(contexts: Any, viewport: str) -> None:
    page = contexts("zh")
    page.set_viewport_size(VIEWPORTS[viewport])
    page.goto("/login")
    _from_the_top(page)
    _tab_to(page, "#username")
    page.keyboard.type("samr.supervisor")
    page.keyboard.press("Tab")
    assert _focused(page, "#password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    assert _focused(page, "#main form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url)
    if "/pledge" in page.url:  # a first sign-in on this server: the pledge, by keyboard too
        _from_the_top(page)
        _tab_to(page, "#main input[type=checkbox]")
        page.keyboard.press("Space")
        _tab_to(page, "#main form button[type=submit]")
        page.keyboard.press("Enter")
        page.wait_for_url(lambda url: "/pledge" not in url)

    page.goto("/search")
    _from_the_top(page)
    _tab_to(page, "#q")
    page.keyboard.type("有限公司")
    page.keyboard.press("Tab")
    assert _focused(page, "#main form[role=search] button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#main table tbody tr").count() > 0, "the search by keyboard found nothing"
