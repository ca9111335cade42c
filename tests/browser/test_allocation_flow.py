"""The allocation flow in a real browser: draft, submit, decide, preview, commit, see the quota.

alice (member of Aurora Lab) drafts, bob (its PI) submits, carol (committee)
accepts, previews a quota round and commits it; alice then finds the quota on
her request. Celery runs eagerly, in the live server's thread too, so the
on_commit tasks (engine, commit, e-mail) run when the request commits.

Run: .venv/bin/pytest tests/browser/test_allocation_flow.py -q -p no:cacheprovider
Screenshots: test-artifacts/screenshots/flow_*.png
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from allocation.models import AllocationRequest, AllocationRound, Quota, RequestStatus, RoundStatus
from tests.browser.conftest import assert_no_server_error, screenshot
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]


def switch_user(page: Any, live_server: Any, login: Any, username: str) -> None:
    if page.get_by_role("button", name="Log out").count():
        with page.expect_navigation():
            page.get_by_role("button", name="Log out").click()
    login(page, live_server, username, PASSWORD)


def test_draft_submit_accept_preview_commit_and_see_the_quota(
    page, live_server, login, catalogue, aurora, alice, bob, carol
):
    nav = page.get_by_role("navigation", name="Main")

    # 1. alice drafts a request; the normalized demand follows what she types.
    login(page, live_server, "alice", PASSWORD)
    nav.get_by_role("link", name="My requests").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My requests")
    page.get_by_role("link", name="New request").click()
    expect(page.get_by_label("Organisation")).to_have_value(str(aurora.pk))
    page.get_by_label("Title").fill("Open 7B model for EU languages")
    page.get_by_label("Abstract").fill("Pretraining a 7B-parameter model on the 24 official EU languages.")
    page.get_by_label("Chip type of the demand").select_option(label="NVIDIA B200 (throughput 2.5)")
    page.get_by_label("Demand (GPU-hours)").fill("4000")
    expect(page.locator("#normalized")).to_have_text("= 10,000 normalized hours")
    page.get_by_label("Bavaria AI Gigafactory").check()
    page.locator("#id_eligible_chip_types_group").get_by_label("NVIDIA B200").check()
    page.get_by_label("Justification").fill("No open model of this size covers all EU languages.")
    page.get_by_label("Expected outputs").fill("Open weights and an evaluation report.")
    screenshot(page, "flow_1_alice_new_request")
    with page.expect_navigation():
        page.get_by_role("button", name="Save as draft").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Open 7B model for EU languages")
    expect(page.locator("h1 .badge")).to_have_text("Draft")
    expect(page.get_by_role("button", name="Submit")).to_have_count(0)  # only the PI submits
    expect(page.locator(".timeline")).to_contain_text("Drafted")
    assert_no_server_error(page)
    screenshot(page, "flow_2_alice_draft")
    req = AllocationRequest.objects.get()
    assert req.demand_normalized_hours == pytest.approx(10_000)

    # 2. bob, the PI, submits it.
    switch_user(page, live_server, login, "bob")
    nav.get_by_role("link", name="My requests").click()
    expect(page.locator("table.requests tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Open 7B model for EU languages").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Submit").click()
    expect(page.locator(".messages")).to_contain_text("Submitted. The allocation committee will review it.")
    expect(page.locator("h1 .badge")).to_have_text("Submitted")
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    screenshot(page, "flow_3_bob_submitted")

    # 3. carol accepts it from the review queue.
    switch_user(page, live_server, login, "carol")
    nav.get_by_role("link", name="Committee").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Allocation committee")
    page.get_by_role("link", name="Review queue").click()
    card = page.locator(f"#request-{req.pk}")
    expect(card).to_contain_text("Open 7B model for EU languages")
    expect(card).to_contain_text("Aurora Lab")
    expect(page.locator("table.demand")).to_contain_text("Bavaria AI Gigafactory · NVIDIA B200")
    screenshot(page, "flow_4_carol_review_queue")
    card.get_by_label("Accept in full").check()
    with page.expect_navigation():
        card.get_by_role("button", name="Record decision").click()
    expect(page.locator(".messages")).to_contain_text("recorded")
    expect(page.get_by_role("heading", name="0 requests to review")).to_be_visible()
    req.refresh_from_db()
    assert req.status == RequestStatus.ACCEPTED

    # 4. carol previews a quota round, then commits it.
    page.get_by_role("link", name="Quota rounds").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Round #")
    expect(page.locator("#round-body")).to_contain_text("Jain's fairness index", timeout=20_000)
    tenants = page.locator("table.round-tenants tbody tr")
    expect(tenants).to_have_count(1)
    expect(tenants.first).to_contain_text("Aurora Lab")
    expect(tenants.first).to_contain_text("10,000")
    assert_no_server_error(page)
    screenshot(page, "flow_5_carol_round_preview")
    with page.expect_navigation():
        page.get_by_role("button", name="Commit").click()
    expect(page.locator("#round-body .badge").first).to_have_text("Committed", timeout=20_000)
    expect(page.get_by_role("button", name="Commit")).to_have_count(0)
    screenshot(page, "flow_6_carol_round_committed")
    rnd = AllocationRound.objects.get()
    assert rnd.status == RoundStatus.COMMITTED
    assert sum(Quota.objects.filter(round=rnd).values_list("normalized_hours", flat=True)) == pytest.approx(10_000)

    # 5. alice sees the decision and the quota on her request.
    switch_user(page, live_server, login, "alice")
    page.goto(f"{live_server.url}/requests/{req.pk}/")
    expect(page.locator("h1 .badge")).to_have_text("Accepted")
    quotas = page.locator("table.quotas tbody tr")
    expect(quotas).to_have_count(1)
    expect(quotas.first).to_contain_text(re.compile(r"Bavaria AI Gigafactory\s*NVIDIA B200\s*4,000\s*10,000"))
    expect(page.locator(".timeline")).to_contain_text("Accepted")
    assert_no_server_error(page)
    assert page.js_errors == []
    assert page.external_requests == []
    screenshot(page, "flow_7_alice_quota")

    # 6. the audit trail shows alice her organisation's events, filterable by action.
    nav.get_by_role("link", name="Audit").click()
    with page.expect_navigation():
        page.get_by_label("Action").select_option("request.accepted")
        page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.audit tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("carol")
    expect(rows.first).to_contain_text("submitted → accepted")
    page.get_by_label("Action").select_option("")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    assert_no_server_error(page)
    screenshot(page, "flow_8_alice_audit")


PAGE_WIDTH = "() => ({page: document.documentElement.scrollWidth, viewport: window.innerWidth})"


def test_the_allocation_pages_fit_a_phone(page, live_server, login, catalogue, aurora, alice, bob, carol):
    from allocation.services.requests import content_from_ids, request_create, request_decide, request_submit
    from allocation.services.rounds import round_compute, round_preview_start

    req = request_create(
        actor=alice,
        tenant=aurora,
        period=catalogue.period,
        content=content_from_ids(
            title="Regional climate ensemble at 1 km resolution",
            chip_type_id=catalogue.h100.pk,
            demand_gpu_hours=50_000.0,
            site_ids=[catalogue.muc.pk, catalogue.lux.pk],
            abstract="Downscaling CMIP7 scenarios.",
            justification="Adaptation planning.",
        ),
    )
    request_submit(actor=bob, request=req)
    other = request_create(
        actor=bob,
        tenant=aurora,
        period=catalogue.period,
        content=content_from_ids(title="Second request", chip_type_id=catalogue.h100.pk, demand_gpu_hours=1_000.0),
    )
    request_decide(actor=carol, request=request_submit(actor=bob, request=other), accept=True)
    rnd = round_preview_start(actor=carol, period=catalogue.period)
    round_compute(round_id=rnd.pk)
    page.set_viewport_size({"width": 390, "height": 844})

    login(page, live_server, "alice", PASSWORD)
    for path, name in [
        ("/requests/new/", "phone_new_request"),
        (f"/requests/{req.pk}/", "phone_request"),
        ("/requests/", "phone_my_requests"),
    ]:
        page.goto(f"{live_server.url}{path}")
        assert_no_server_error(page)
        width = page.evaluate(PAGE_WIDTH)
        assert width["page"] <= width["viewport"], f"{path} scrolls sideways: {width}"
        screenshot(page, name)

    switch_user(page, live_server, login, "carol")
    for path, name in [
        (f"/committee/periods/{catalogue.period.slug}/review/", "phone_review_queue"),
        (f"/committee/rounds/{rnd.pk}/", "phone_round"),
        ("/audit/", "phone_audit"),
    ]:
        page.goto(f"{live_server.url}{path}")
        assert_no_server_error(page)
        width = page.evaluate(PAGE_WIDTH)
        assert width["page"] <= width["viewport"], f"{path} scrolls sideways: {width}"
        screenshot(page, name)
    assert page.js_errors == []


def test_a_round_no_worker_picks_up_says_so(page, live_server, login, catalogue, carol):
    # The round exists but nothing computes it: no task was queued, no worker beats.
    rnd = AllocationRound.objects.create(period=catalogue.period, created_by=carol)
    login(page, live_server, "carol", PASSWORD)

    page.goto(f"{live_server.url}/committee/rounds/{rnd.pk}/")

    expect(page.locator("#round-body .working")).to_contain_text("Queued… waiting for a background worker.")
    warning = page.locator("#round-body .warning")
    expect(warning).to_contain_text("No worker has answered the scheduler's heartbeat yet")
    expect(warning).to_contain_text("/healthz")
    assert_no_server_error(page)
    screenshot(page, "round_waiting_without_worker")
