"""A user's walk through the pages in a real browser, and the API docs.

Run: .venv/bin/pytest tests/browser -q -p no:cacheprovider
Screenshots: test-artifacts/screenshots/<test name>.png
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from allocation.models import Gigafactory, Membership
from tests.browser.conftest import assert_no_server_error, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_wrong_password_then_login_lands_on_the_dashboard(page, live_server, demo):
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))

    page.locator("#id_username").fill("researcher")
    page.locator("#id_password").fill("not-the-password")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Log in").click()

    assert navigation.value.status == 200
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")
    expect(page.locator("#id_username")).to_have_value("researcher")
    assert_no_server_error(page)
    screenshot(page, "login_wrong_password")

    page.locator("#id_password").fill("investai-demo")
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(f"{live_server.url}/")
    expect(page).to_have_title("Dashboard · InvestAI")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Researcher")
    organisation = Membership.objects.get(user__username="researcher").tenant
    table = page.locator("section.card table")
    expect(table.get_by_role("row").filter(has_text=organisation.name)).to_contain_text(
        [re.compile(f"{re.escape(organisation.name)}.*Researcher \\(academic\\).*Member")]
    )
    expect(page.locator(".who")).to_have_text("Researcher")
    assert_no_server_error(page)


def test_sites_page_lists_all_sites(page, live_server, demo, login):
    login(page, live_server, "researcher")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sites").click()

    expect(page).to_have_url(f"{live_server.url}/sites/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Gigafactories and AI factories")
    rows = page.locator("table.sites tbody tr")
    expect(rows).to_have_count(11)
    assert Gigafactory.objects.count() == 11
    bavaria = rows.filter(has_text="Bavaria AI Gigafactory")
    expect(bavaria).to_have_count(1)
    expect(bavaria).to_contain_text("Munich, DE")
    expect(bavaria).to_contain_text("AI gigafactory")
    expect(bavaria.locator("td.num")).to_have_text("97,000")
    assert_no_server_error(page)


def test_language_switch_to_german(page, live_server, demo, login):
    login(page, live_server, "researcher")
    page.goto(f"{live_server.url}/sites/")

    with page.expect_navigation():
        page.get_by_label("Language").select_option(label="Deutsch")

    expect(page).to_have_url(f"{live_server.url}/sites/")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    nav = page.get_by_role("navigation", name="Hauptnavigation")
    expect(nav.get_by_role("link", name="Übersicht", exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="Standorte", exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="Dashboard", exact=True)).to_have_count(0)
    expect(nav.get_by_role("link", name="Sites", exact=True)).to_have_count(0)
    expect(page.get_by_role("heading", level=1)).to_have_text("Gigafactorys und KI-Fabriken")
    expect(page.get_by_role("button", name="Abmelden")).to_be_visible()
    expect(page.get_by_label("Sprache")).to_have_value("de")
    expect(page.get_by_role("row").filter(has_text="Bavaria AI Gigafactory")).to_contain_text("KI-Gigafactory")
    screenshot(page, "sites_de")

    nav.get_by_role("link", name="Übersicht").click()
    expect(page).to_have_title("Übersicht · InvestAI")
    expect(page.get_by_role("heading", level=1)).to_have_text("Willkommen, Researcher")
    expect(page.get_by_role("heading", name="Ihre Organisationen")).to_be_visible()
    assert_no_server_error(page)


def test_logout_returns_to_the_login_page(page, live_server, demo, login):
    login(page, live_server, "pi")

    with page.expect_navigation():
        page.get_by_role("button", name="Log out").click()

    expect(page).to_have_url(f"{live_server.url}/login/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
    # The session is gone: the dashboard asks for a login again.
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))


# Every labelled thing in the header, as rectangles, to check none overlaps another.
HEADER_BOXES = """() => {
    const bar = document.querySelector('.topbar').getBoundingClientRect();
    const selector = '.topbar .brand, .topbar nav a, .topbar select, .topbar .who, .topbar button';
    const items = [...document.querySelectorAll(selector)]
        .filter(el => el.offsetParent !== null)
        .map(el => ({name: (el.innerText || el.name || el.tagName).trim(), ...el.getBoundingClientRect().toJSON()}));
    return {bar: bar.toJSON(), items, pageWidth: document.documentElement.scrollWidth, viewport: window.innerWidth};
}"""


def assert_fits_the_screen(page) -> None:
    # The DOM can be complete before the stylesheet arrives; measure the styled page.
    page.wait_for_load_state("load")
    boxes = page.evaluate(HEADER_BOXES)
    assert boxes["pageWidth"] <= boxes["viewport"], f"{page.url} scrolls sideways: {boxes['pageWidth']}px"
    bar, items = boxes["bar"], boxes["items"]
    for item in items:
        assert bar["left"] <= item["left"] and item["right"] <= bar["right"] + 0.5, f"{item['name']} leaves the header"
        assert bar["top"] <= item["top"] and item["bottom"] <= bar["bottom"] + 0.5, f"{item['name']} leaves the header"
    for i, one in enumerate(items):
        for other in items[i + 1 :]:
            apart = (
                one["right"] <= other["left"]
                or other["right"] <= one["left"]
                or one["bottom"] <= other["top"]
                or other["bottom"] <= one["top"]
            )
            assert apart, f"{one['name']!r} overlaps {other['name']!r} in the header of {page.url}"


@pytest.mark.parametrize("width", [1280, 390])
def test_header_and_tables_fit_the_screen(page, live_server, demo, login, width):
    page.set_viewport_size({"width": width, "height": 844})
    login(page, live_server, "researcher")
    assert_fits_the_screen(page)
    with page.expect_navigation():
        page.get_by_label("Language").select_option(label="Deutsch")
    assert_fits_the_screen(page)
    with page.expect_navigation():
        page.get_by_role("link", name="Standorte").click()
    expect(page.locator("table.sites tbody tr")).to_have_count(11)
    # A wide table scrolls inside its own box, not the whole page.
    assert_fits_the_screen(page)


def test_api_docs_render_swagger_ui_from_local_files(page, live_server):
    response = page.goto(f"{live_server.url}/api/v1/docs/")

    assert response is not None and response.status == 200
    title = page.locator(".swagger-ui .info .title")
    expect(title).to_contain_text("InvestAI compute access API")
    expect(title).to_be_visible()
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    assert page.external_requests == [], f"the docs reached out to the internet: {page.external_requests}"
    assert page.js_errors == []
