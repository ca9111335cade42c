"""Browser tests: Playwright's sync client drives Debian's chromium against live_server.

- ``browser`` (session): one chromium for the run; the tests are skipped
  with the reason when /usr/bin/chromium is not installed.
- ``page`` (function): a fresh context (1280x800, en-GB) per test, so no
  cookie or session leaks between tests. Requests to any host but the live
  server are aborted and listed in ``page.external_requests``; uncaught
  JavaScript errors are listed in ``page.js_errors``. After the test its
  last page is saved to ``test-artifacts/screenshots/<test name>.png``.
- ``login``: ``login(page, live_server, username)`` signs in through the form.
- ``assert_no_server_error(page)``: the page shows no Django error page.
- ``demo``: the seeded demo partnership (``demo_seed(scale=1)``), whose users
  have the password ``investai-demo``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings

# Playwright's sync API runs an asyncio loop in this thread; Django refuses
# ORM calls from a thread with a running loop unless told it is safe. It is:
# the tests call the ORM synchronously, the live server runs in its own thread.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"
DEMO_PASSWORD = "investai-demo"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        message = f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message)  # CI installs it: a missing browser there is a broken CI, not a skip
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def screenshot(page: Any, name: str) -> Path:
    """Save the whole page as test-artifacts/screenshots/<name>.png."""
    page.wait_for_load_state("load")  # the stylesheet too, not just the DOM
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / (re.sub(r"[^\w.-]+", "_", name).strip("_") + ".png")
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def page(browser: Any, live_server: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    own_host = urlsplit(live_server.url).netloc
    external: list[str] = []

    def local_only(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc != own_host:
            external.append(url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", local_only)
    tab = context.new_page()
    tab.external_requests = external
    tab.js_errors = []
    tab.on("pageerror", lambda error: tab.js_errors.append(str(error)))
    try:
        yield tab
    finally:
        try:
            screenshot(tab, request.node.name)
        except Exception as exc:  # a failed screenshot must not hide the test's own result
            print(f"no screenshot for {request.node.nodeid}: {exc}")
        context.close()


def assert_no_server_error(page: Any) -> None:
    """The page shows no Django error page or traceback."""
    body = page.content()
    for marker in ("Traceback", "Server Error", "Exception Value", "OperationalError"):
        assert marker not in body, f"{page.url} shows {marker!r}"


def login(page: Any, live_server: Any, username: str, password: str = DEMO_PASSWORD) -> Any:
    """Sign in through the real login form and wait for the dashboard."""
    page.goto(f"{live_server.url}/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    with page.expect_navigation():
        page.locator("form button[type=submit].primary").click()
    page.wait_for_url(f"{live_server.url}/")
    return page


@pytest.fixture(name="login")
def login_fixture() -> Callable[..., Any]:
    return login


@pytest.fixture
def demo(transactional_db: Any) -> dict[str, int]:
    from allocation.services.demo import demo_seed

    return demo_seed(scale=1)
