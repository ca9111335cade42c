"""The committee's review queue and round page in a real browser (issue 11, items 13 and 14).

Run: .venv/bin/pytest tests/browser/test_committee_pages.py -q -p no:cacheprovider
Screenshots: test-artifacts/screenshots/committee_*.png
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from allocation.models import AllocationRequest, Contribution, Partner, RequestStatus
from allocation.services.requests import content_from_ids, request_create, request_decide, request_submit
from allocation.services.rounds import round_compute, round_preview_start
from tests.browser.conftest import assert_no_server_error, screenshot
from tests.factories import PASSWORD, TenantFactory, member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]


def submitted(
    catalogue: Any, tenant: Any, pi: Any, title: str, gpu_hours: float = 1_000.0, sites: tuple = ()
) -> AllocationRequest:
    req = request_create(
        actor=pi,
        tenant=tenant,
        period=catalogue.period,
        content=content_from_ids(
            title=title, chip_type_id=catalogue.h100.pk, demand_gpu_hours=gpu_hours, site_ids=[s.pk for s in sites]
        ),
    )
    return request_submit(actor=pi, request=req)


def test_a_refused_decision_on_a_filtered_second_page_stays_there_with_the_error(
    page, live_server, login, catalogue, aurora, bob, carol
):
    sme = TenantFactory(name="Delta SME", kind="sme", pool=catalogue.public_pool)
    pi = member("delta-pi", sme, role="pi")
    smes = [submitted(catalogue, sme, pi, f"SME request {i:02}") for i in range(52)]
    for i in range(3):
        submitted(catalogue, aurora, bob, f"Lab request {i}")
    target = smes[51]

    login(page, live_server, "carol", PASSWORD)
    page.goto(f"{live_server.url}/committee/periods/{catalogue.period.slug}/review/")
    with page.expect_navigation():
        page.get_by_label("Tenant kind").select_option("sme")
        page.get_by_role("button", name="Filter").click()
    with page.expect_navigation():
        page.get_by_role("link", name="Next →").click()
    expect(page.locator(".pagination")).to_contain_text("Page 2 of 2")

    card = page.locator(f"#request-{target.pk}")
    card.get_by_label("Accept reduced").check()
    card.get_by_label("Accepted (normalized hours)").fill("")  # it starts at the demand
    card.get_by_label("Reason").fill("Too big for the pilot.")
    with page.expect_navigation():
        card.get_by_role("button", name="Record decision").click()

    expect(card).to_contain_text("Give the reduced amount.")
    expect(card).to_be_in_viewport()  # the page opens at the request, not at the top of a long queue
    expect(card.get_by_label("Reason")).to_have_value("Too big for the pilot.")
    expect(page.locator("#refused")).to_contain_text("The decision on “SME request 51” was not recorded")
    expect(page.get_by_label("Tenant kind")).to_have_value("sme")
    expect(page.locator(".pagination")).to_contain_text("Page 2 of 2")
    expect(page.locator("article.review")).to_have_count(2)
    assert_no_server_error(page)
    screenshot(page, "committee_review_refused_on_page_2")
    target.refresh_from_db()
    assert target.status == RequestStatus.SUBMITTED

    card.get_by_label("Accepted (normalized hours)").fill("500")
    with page.expect_navigation():
        card.get_by_role("button", name="Record decision").click()

    expect(page.locator(".messages")).to_contain_text("Decision on “SME request 51” recorded.")
    expect(page.get_by_label("Tenant kind")).to_have_value("sme")
    expect(page.locator(".pagination")).to_contain_text("Page 2 of 2")
    expect(page.locator("#refused")).to_have_count(0)
    expect(page.locator("article.review")).to_have_count(1)
    url = urlsplit(page.url)
    assert url.path == f"/committee/periods/{catalogue.period.slug}/review/", page.url
    assert {"kind=sme", "page=2"} <= set(url.query.split("&")), page.url
    target.refresh_from_db()
    assert target.status == RequestStatus.ACCEPTED and target.accepted_normalized_hours == pytest.approx(500)
    assert page.js_errors == []


def test_the_round_page_shows_the_public_pools_share_against_its_weight(
    page, live_server, login, catalogue, aurora, bob, carol
):
    for slug, kind, pool, eur in (
        ("digital-europe", "eu_programme", catalogue.public_pool, 40),
        ("acme", "company", catalogue.acme_pool, 60),
    ):
        partner = Partner.objects.create(name=slug, slug=slug, kind=kind, pool=pool)
        Contribution.objects.create(partner=partner, tranche="equity", amount_eur=Decimal(eur * 1_000_000))
    agency = TenantFactory(name="Statistics Agency", kind="public_body", pool=catalogue.public_pool)
    acme = TenantFactory(name="Acme Corp", kind="large_enterprise", pool=catalogue.acme_pool)
    lux_hours = 90 * 2160.0
    for tenant, pi in (
        (aurora, bob),
        (agency, member("agency-pi", agency, role="pi")),
        (acme, member("acme-pi", acme, role="pi")),
    ):
        request_decide(
            actor=carol, accept=True, request=submitted(catalogue, tenant, pi, tenant.name, lux_hours, (catalogue.lux,))
        )
    rnd = round_preview_start(actor=carol, period=catalogue.period)
    round_compute(round_id=rnd.pk)

    login(page, live_server, "carol", PASSWORD)
    page.goto(f"{live_server.url}/committee/rounds/{rnd.pk}/")

    share = page.locator(".stat.public-share")
    expect(share).to_contain_text("40.0 %")
    expect(share).to_contain_text("of granted hours to the public pool (its weight: 40.0 %)")
    expect(share.locator(".figure")).not_to_have_class("figure bad")
    expect(page.locator(".kinds-note")).to_contain_text(
        "By tenant kind, whatever the pool: startups, SMEs and researchers together received 20.0 %"
    )
    expect(page.locator("tr.public-pool")).to_contain_text("Public pool")
    assert_no_server_error(page)
    assert page.js_errors == []
    screenshot(page, "committee_round_public_share")
