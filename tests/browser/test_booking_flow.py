"""Booking chips in a real browser: live preview, book, see it, cancel it, see the timeline.

alice (member of Aurora Lab, with quota) opens Book chips on a resource
where Nimbus already holds 60 of 90 chips: the htmx preview shows red hours
and the earliest start that fits; booking anyway is refused with that start
under the field, she takes it, books, finds the confirmed
booking in My bookings, cancels it through the confirm dialog, and opens the
resource's timeline.

Run: .venv/bin/pytest tests/browser/test_booking_flow.py -q -p no:cacheprovider
Screenshots: test-artifacts/screenshots/booking_*.png
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from allocation.models import Booking, BookingStatus
from allocation.services.bookings import booking_fixed_create
from allocation.services.maintenance import maintenance_announce
from tests.browser.conftest import assert_no_server_error, screenshot
from tests.factories import PASSWORD, grant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]
START = datetime(2027, 1, 8, tzinfo=UTC)


def test_book_with_the_live_preview_then_cancel_and_see_the_timeline(
    page, live_server, login, catalogue, aurora, alice, nimbus, mallory, carol, oscar
):
    for inventory in (catalogue.muc_h100, catalogue.muc_b200, catalogue.lux_h100):  # grants are per resource
        grant(catalogue, aurora, carol, 10_000, inventory)
        grant(catalogue, nimbus, carol, 10_000, inventory)
    booking_fixed_create(
        actor=mallory, tenant=nimbus, inventory=catalogue.lux_h100, starts_at=START, hours=10, chips=60
    )
    nav = page.get_by_role("navigation", name="Main")
    availability = page.locator("#availability")

    # 1. From My bookings to the booking form.
    login(page, live_server, "alice", PASSWORD)
    nav.get_by_role("link", name="My bookings").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My bookings")
    expect(page.get_by_text("0.5 means you used exactly your share; higher is served first.")).to_be_visible()
    page.get_by_role("link", name="Book chips").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Book chips")
    expect(page.get_by_label("Organisation")).to_have_value(str(aurora.pk))
    expect(availability.locator("svg.strip")).to_be_visible()  # the preview loads with the form

    # 2. The preview follows the inputs: 40 chips do not fit while Nimbus holds 60 of 90.
    page.get_by_label("Site and chip type").select_option(str(catalogue.lux_h100.pk))
    page.get_by_label("Start (UTC, on the hour)").fill("2027-01-08T06:00")
    page.get_by_label("Hours", exact=True).fill("6")
    page.get_by_label("Chips", exact=True).fill("40")
    expect(availability.locator("svg.strip rect[data-free]")).to_have_count(6)
    expect(availability.locator("rect.short")).to_have_count(4)
    expect(availability).to_contain_text("40 chips do not fit in 4 hours of this slot (red).")
    expect(availability).to_contain_text("Earliest start that fits: 2027-01-08 10:00 UTC.")
    expect(availability).to_contain_text("Cost: 240 normalized hours")
    expect(availability).to_contain_text(
        "10,000 of 10,000 normalized hours left of your grant on lux/h100 for 2027 Q1."
    )
    free = [
        int(v) for v in availability.locator("rect[data-free]").evaluate_all("bars => bars.map(b => b.dataset.free)")
    ]
    assert free == [30, 30, 30, 30, 90, 90]
    screenshot(page, "booking_1_preview_red")

    # 3. Booking anyway is refused under the start, with the earliest start that fits; take it.
    page.get_by_role("button", name="Book", exact=True).click()
    expect(page.locator(".has-error .errorlist")).to_have_text(
        "Only 30 chips are free in some hour of that slot; the earliest start that fits is 2027-01-08 10:00 UTC."
    )
    expect(availability.locator("rect.short")).to_have_count(4)  # the preview reloads with the posted values
    assert not Booking.objects.filter(tenant=aurora).exists()
    screenshot(page, "booking_2_refused")
    page.get_by_role("button", name="Use the earliest start that fits").click()
    expect(page.get_by_label("Start (UTC, on the hour)")).to_have_value("2027-01-08T10:00")
    expect(availability).to_contain_text("40 chips are free in every hour of this slot.")
    expect(availability.locator("rect.short")).to_have_count(0)
    screenshot(page, "booking_2b_preview_fits")

    # 4. Book: confirmed at once.
    page.get_by_role("button", name="Book", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(re.compile(r"Booking \d+"))
    expect(page.locator(".messages")).to_contain_text("Booked: 40 chips for 6 hours from 2027-01-08 10:00 UTC.")
    expect(page.locator("h1 .badge")).to_have_text("Confirmed")
    booking = Booking.objects.get(tenant=aurora)
    assert booking.status == BookingStatus.CONFIRMED
    assert_no_server_error(page)
    screenshot(page, "booking_3_confirmed")

    # 5. My bookings lists it; cancel through the confirm dialog.
    nav.get_by_role("link", name="My bookings").click()
    row = page.locator(f"#booking-{booking.pk}")
    expect(row.locator(".badge")).to_have_text("Confirmed")
    dialogs: list[str] = []

    def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    row.get_by_role("button", name="Cancel").click()
    expect(page.locator(".messages")).to_contain_text(f"Booking {booking.pk} cancelled")
    expect(page.locator(f"#booking-{booking.pk} .badge")).to_have_text("Cancelled")
    expect(page.locator(f"#booking-{booking.pk}").get_by_role("button", name="Cancel")).to_have_count(0)
    assert dialogs == [f"Cancel booking {booking.pk}? Unused hours go back to your quota."]
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    screenshot(page, "booking_4_cancelled")

    # 6. The resource's timeline: the SVG, alice's own booking highlighted, Nimbus only as anonymous load,
    #    the maintenance window hatched.
    booking_fixed_create(
        actor=alice,
        tenant=aurora,
        inventory=catalogue.lux_h100,
        starts_at=START + timedelta(hours=20),
        hours=8,
        chips=20,
    )
    maintenance_announce(
        actor=oscar,
        inventory=catalogue.lux_h100,
        chips=30,
        starts_at=START + timedelta(days=1),
        ends_at=START + timedelta(days=1, hours=12),
        reason="Cooling loop service",
    )
    page.goto(f"{live_server.url}/resources/lux/h100/timeline/?start=2027-01-07&days=3")
    chart = page.locator("figure.chart svg.timeline-chart")
    expect(chart).to_be_visible()
    expect(chart.locator("path.tl-cap")).to_have_count(1)
    expect(chart).to_contain_text("Others · Startup")
    expect(chart.locator("path.tl-own")).to_have_count(1)
    expect(chart).to_contain_text("Maintenance")
    expect(page.locator("table.bookings tbody tr")).to_have_count(1)
    assert "Nimbus" not in page.content()
    box = chart.bounding_box()
    assert box and box["width"] > 600 and box["height"] > 250
    screenshot(page, "booking_5_timeline")

    # 7. A flexible booking: queued as pending for the booking round.
    page.goto(f"{live_server.url}/bookings/new/")
    page.get_by_role("link", name=re.compile("Flexible window")).click()
    page.get_by_label("L-AI Factory · NVIDIA H100").check()
    page.get_by_label("Window opens (UTC)").fill("2027-01-09T00:00")
    page.get_by_label("Window closes (UTC)").fill("2027-01-12T00:00")
    page.get_by_label("Hours", exact=True).fill("12")
    page.get_by_label("Chips", exact=True).fill("16")
    screenshot(page, "booking_6_flexible_form")
    page.get_by_role("button", name="Queue booking").click()
    expect(page.locator("h1 .badge")).to_have_text("Pending")
    expect(page.locator("h1")).to_contain_text("waiting for the next booking round")
    assert Booking.objects.get(tenant=aurora, status=BookingStatus.PENDING).chips == 16
    nav.get_by_role("link", name="My bookings").click()
    expect(page.locator("table.bookings tbody tr")).to_have_count(3)
    assert_no_server_error(page)
    screenshot(page, "booking_7_my_bookings")

    assert page.js_errors == []
    assert page.external_requests == []


def test_an_operator_finds_the_at_risk_bookings_of_every_organisation(
    page, live_server, login, catalogue, aurora, alice, nimbus, mallory, carol, oscar
):
    for inventory in (catalogue.muc_h100, catalogue.muc_b200, catalogue.lux_h100):  # grants are per resource
        grant(catalogue, aurora, carol, 10_000, inventory)
        grant(catalogue, nimbus, carol, 10_000, inventory)
    booking_fixed_create(actor=alice, tenant=aurora, inventory=catalogue.lux_h100, starts_at=START, hours=10, chips=50)
    booking_fixed_create(
        actor=mallory, tenant=nimbus, inventory=catalogue.lux_h100, starts_at=START, hours=10, chips=30
    )
    booking_fixed_create(actor=mallory, tenant=nimbus, inventory=catalogue.muc_h100, starts_at=START, hours=4, chips=8)
    # Maintenance takes 40 of LUX's 90 chips: the bookings holding them are at risk.
    maintenance_announce(
        actor=oscar,
        inventory=catalogue.lux_h100,
        chips=40,
        starts_at=START + timedelta(hours=2),
        ends_at=START + timedelta(hours=4),
        reason="Power supply swap",
    )
    login(page, live_server, "oscar", PASSWORD)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Site bookings").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Site bookings")
    expect(page.locator("table.bookings tbody tr")).to_have_count(3)
    expect(page.get_by_role("alert")).to_contain_text(re.compile(r"\d+ bookings? (is|are) at risk"))
    screenshot(page, "operations_bookings")
    page.get_by_role("link", name="Show them").click()
    expect(page.locator("table.bookings tbody tr")).to_have_count(
        Booking.objects.filter(status=BookingStatus.AT_RISK).count()
    )
    page.get_by_label("Organisation").fill("Nimbus")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.bookings tbody tr")).to_contain_text(["Nimbus AI"])
    assert_no_server_error(page)
    screenshot(page, "operations_bookings_filtered")
