"""Browser journeys: a real ``signalhub serve`` on 127.0.0.1 with the demo district, driven by
Debian's Chromium through Playwright (never a downloaded browser).

The server runs in its own instance folder (SQLite) for the whole e2e session. Without
``/usr/bin/chromium`` the journeys are skipped, unless ``SIGNALHUB_E2E_REQUIRED`` is set (CI
installs Chromium and sets it, so a missing browser fails there instead of passing silently).
Screenshots land in ``tests/e2e/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BACKEND, drop_database, new_database_url

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parent / "screenshots"
SIGNALHUB = Path(sys.executable).with_name("signalhub")
PASSWORD = "signalhub-demo"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _require_browser() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("SIGNALHUB_E2E_REQUIRED"):
        pytest.fail("SIGNALHUB_E2E_REQUIRED is set but /usr/bin/chromium is missing (apt-get install chromium)")
    pytest.skip("browser journeys need Debian's chromium at /usr/bin/chromium")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo district served on a free port; yields its base URL."""
    _require_browser()
    instance = tmp_path_factory.mktemp("e2e-instance")
    # The backend under test: SQLite in the instance folder, or a fresh PostgreSQL database.
    database_url = new_database_url(instance, "e2e") if BACKEND == "postgresql" else ""
    env = {
        **os.environ,
        "SIGNALHUB_INSTANCE_PATH": str(instance),
        "SIGNALHUB_SECURE_COOKIES": "false",
        "SIGNALHUB_DATABASE_URL": database_url,
    }
    for command in (["init"], ["demo"]):
        subprocess.run([str(SIGNALHUB), *command], env=env, check=True, capture_output=True)  # noqa: S603 -- our CLI
    port = _free_port()
    log = (instance / "server.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 -- our own CLI on a loopback port
        [str(SIGNALHUB), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{base}/login", timeout=2)  # noqa: S310 -- loopback http
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"signalhub serve did not start; see {instance / 'server.log'}") from None
            time.sleep(0.2)
    yield base
    process.terminate()
    process.wait(timeout=10)
    log.close()
    if database_url:
        drop_database(database_url)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: object, server: str, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh browser context per journey (1366×768, Chinese), with its own downloads."""
    context = browser.new_context(  # type: ignore[attr-defined]
        base_url=server, viewport={"width": 1366, "height": 768}, locale="zh-CN", accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(30_000)  # a shared, busy CI machine
    yield page
    context.close()


class Shots:
    """Numbered screenshots of one journey: ``screenshots/<journey>/<nn>-<step>.png``."""

    def __init__(self, page: object, journey: str) -> None:
        self.page = page
        self.folder = SCREENSHOTS / journey
        shutil.rmtree(self.folder, ignore_errors=True)  # only this run's steps
        self.folder.mkdir(parents=True)
        self.count = 0

    def __call__(self, step: str) -> None:
        self.count += 1
        self.page.screenshot(path=str(self.folder / f"{self.count:02d}-{step}.png"), full_page=True)  # type: ignore[attr-defined]


def sign_in(page: object, username: str) -> None:
    """Sign in as a demo user and accept the confidentiality pledge when it is asked."""
    page.goto("/login")  # type: ignore[attr-defined]
    page.fill("#username", username)  # type: ignore[attr-defined]
    page.fill("#password", PASSWORD)  # type: ignore[attr-defined]
    page.click("#main button[type=submit]")  # type: ignore[attr-defined]
    if "/pledge" in page.url:  # type: ignore[attr-defined]
        page.check("input[type=checkbox]")  # type: ignore[attr-defined]
        page.click("#main button[type=submit]")  # type: ignore[attr-defined]
