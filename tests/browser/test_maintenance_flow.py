"""An operator announces maintenance in a real browser and settles the booking it put at risk.

oscar (site operator) opens Maintenance from the menu, announces 30 of 90
lux/h100 chips out of service over hours Nimbus and Aurora booked: the page
names the booking put at risk; under Bookings at risk he moves it two hours
later, where it is confirmed, and the list is empty again.

Screenshots: test-artifacts/screenshots/maintenance_*.png
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from allocation.models import Booking, BookingStatus
from allocation.services.bookings import booking_fixed_create
from tests.browser.conftest import assert_no_server_error, screenshot
from tests.factories import PASSWORD, grant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]
START = datetime(2027, 1, 8, tzinfo=UTC)


def test_announce_maintenance_then_move_the_booking_it_put_at_risk(
    page: Any,
    live_server: Any,
    login: Any,
    catalogue: Any,
    aurora: Any,
    alice: Any,
    nimbus: Any,
    mallory: Any,
    carol: Any,
    oscar: Any,
) -> None:
    for tenant in (aurora, nimbus):  # grants are spent where granted: on the resource booked
        grant(catalogue, tenant, carol, 10_000, catalogue.lux_h100)
    booking_fixed_create(actor=alice, tenant=aurora, inventory=catalogue.lux_h100, starts_at=START, hours=2, chips=50)
    late, _ = booking_fixed_create(
        actor=mallory, tenant=nimbus, inventory=catalogue.lux_h100, starts_at=START, hours=2, chips=30
    )
    nav = page.get_by_role("navigation", name="Main")

    login(page, live_server, "oscar", PASSWORD)
    nav.get_by_role("link", name="Maintenance").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Maintenance")
    page.get_by_label("Resource").select_option(str(catalogue.lux_h100.pk))
    page.get_by_label("Chips out of service").fill("30")
    page.get_by_label("Starts (UTC)").fill("2027-01-08T00:00")
    page.get_by_label("Ends (UTC)").fill("2027-01-08T02:00")
    page.get_by_label("Reason").fill("PDU swap")
    page.get_by_role("button", name="Announce").click()

    expect(page.locator(".messages")).to_contain_text(f"#{late.pk}")
    expect(page.locator("table.bookings")).to_contain_text("PDU swap")
    assert_no_server_error(page)
    screenshot(page, "maintenance_announced")

    page.get_by_role("link", name="Re-confirm, move or cancel them").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bookings at risk")
    row = page.locator(f"#booking-{late.pk}")
    expect(row).to_contain_text("Nimbus AI")
    screenshot(page, "maintenance_at_risk")
    row.get_by_label("Starts (UTC)").fill("2027-01-08T02:00")
    row.get_by_role("button", name="Move").click()

    expect(page.locator(".messages")).to_contain_text(f"Booking {late.pk} moved")
    expect(page.get_by_text("No booking is at risk.")).to_be_visible()
    assert_no_server_error(page)
    booking = Booking.objects.get(pk=late.pk)
    assert (booking.status, booking.starts_at) == (BookingStatus.CONFIRMED, START + timedelta(hours=2))
    assert page.js_errors == [] and page.external_requests == []
