"""Playwright driving Debian's Chromium against a real platform process.

Chromium comes from the project's setup (`make chromium`, run by
`make test`); the test tool never downloads a browser. Every page opened
through `Browsing.page` fails its test on any console error or uncaught
exception, and `shot` writes a screenshot to tests/browser/screenshots/.
"""

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.local_platform import RunningPlatform

CHROMIUM = os.environ.get("PLATFORM_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing; run `make chromium` (Debian chromium).")
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=FLAGS
        )
        yield launched
        launched.close()


@dataclass
class Browsing:
    browser: Browser
    contexts: list[BrowserContext] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def allow_status(self, status: int) -> None:
        """The next page a test opens on purpose answers `status`: Chromium
        logs that as a console error, which is expected exactly once."""
        self.allowed.append(f"the server responded with a status of {status}")

    def _console(self, url: str, text: str) -> None:
        for expected in self.allowed:
            if expected in text:
                self.allowed.remove(expected)
                return
        self.errors.append(f"{url}: {text}")

    def context(self, **options: object) -> BrowserContext:
        context = self.browser.new_context(**options)  # type: ignore[arg-type]
        self.contexts.append(context)
        return context

    def page(self, context: BrowserContext | None = None) -> Page:
        page = (context or self.context()).new_page()
        page.on(
            "console",
            lambda m: self._console(page.url, m.text) if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: {e}"))
        return page


@pytest.fixture
def browsing(browser: Browser) -> Iterator[Browsing]:
    session = Browsing(browser)
    yield session
    for context in session.contexts:
        context.close()
    assert not session.errors, "console errors:\n" + "\n".join(session.errors)
    assert not session.allowed, f"expected console errors missing: {session.allowed}"


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def projects_url(platform: RunningPlatform) -> str:
    """MASTRA_PROJECTS_URL as the platform printed it (after MASTRA_ORG_ID)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in list(platform.output):
            if line.startswith("export MASTRA_PROJECTS_URL="):
                return line.partition("=")[2].strip()
        time.sleep(0.1)
    raise AssertionError("the platform did not print MASTRA_PROJECTS_URL")


def admin_credentials(platform: RunningPlatform) -> tuple[str, str]:
    identity = json.loads((platform.state_dir / "identity.json").read_text())
    return identity["email"], identity["password"]


def sign_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/dashboard/orgs/[^/]+$"))
