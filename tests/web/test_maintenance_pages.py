"""The operators' maintenance and at-risk pages: announce, change, end; re-confirm, move, cancel.

Every write on them goes through ``services.maintenance``; tenants' people get a 403.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse

from allocation.models import Booking, BookingStatus, MaintenanceWindow, Notification, ResourceHour
from allocation.services.bookings import booking_fixed_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
START = datetime(2027, 1, 8, tzinfo=UTC)
H = timedelta(hours=1)
LIST = reverse("maintenance-list")
AT_RISK = reverse("at-risk-list")


def capacity(inventory: Any) -> list[int]:
    return list(
        ResourceHour.objects.filter(inventory=inventory, hour__gte=START, hour__lt=START + 2 * H)
        .order_by("hour")
        .values_list("capacity", flat=True)
    )


@pytest.fixture
def late(funded: Any, aurora: Any, alice: Any, nimbus: Any, mallory: Any) -> Booking:
    booking_fixed_create(actor=alice, tenant=aurora, inventory=funded.lux_h100, starts_at=START, hours=2, chips=50)
    booking, _ = booking_fixed_create(
        actor=mallory, tenant=nimbus, inventory=funded.lux_h100, starts_at=START, hours=2, chips=30
    )
    return booking


def announce(client: Any, funded: Any, **overrides: Any) -> Any:
    return client.post(
        LIST,
        {
            "inventory": funded.lux_h100.pk,
            "chips": 30,
            "starts_at": "2027-01-08T00:00",
            "ends_at": "2027-01-08T02:00",
            "reason": "PDU swap",
            **overrides,
        },
        follow=True,
    )


@pytest.mark.parametrize("persona", ["alice", "carol"])
def test_the_pages_are_403_for_everyone_but_operators(
    client: Any, funded: Any, request: Any, persona: str, late: Booking
) -> None:
    client.force_login(request.getfixturevalue(persona))
    for url in (LIST, AT_RISK):
        assert client.get(url).status_code == 403
    for action in ("at-risk-reconfirm", "at-risk-move", "at-risk-cancel"):
        assert client.post(reverse(action, args=[late.pk])).status_code == 403
    assert LIST not in client.get(reverse("booking-list")).content.decode()


def test_an_operator_announces_maintenance_and_settles_the_bookings_it_put_at_risk(
    client: Any, funded: Any, oscar: Any, late: Booking, nimbus: Any
) -> None:
    client.force_login(oscar)
    site_bookings = client.get(reverse("operations-bookings")).content.decode()
    assert "in the admin" not in site_bookings and LIST in site_bookings and AT_RISK in site_bookings

    page = announce(client, funded)

    assert page.status_code == 200
    assert f"#{late.pk}" in page.content.decode()  # the warning names the booking put at risk
    assert capacity(funded.lux_h100) == [60, 60]
    assert Notification.objects.filter(tenant=nimbus, subject=f"Booking {late.pk} is at risk").exists()
    listed = client.get(AT_RISK)
    assert [b.pk for b, _form in listed.context["rows"]] == [late.pk]

    # Re-confirm while short: refused with the reason, nothing changes.
    refused = client.post(reverse("at-risk-reconfirm", args=[late.pk]), follow=True)
    assert "chips are back in service" in refused.content.decode()
    assert Booking.objects.get(pk=late.pk).status == BookingStatus.AT_RISK

    # Move it two hours later, where the chips are free.
    moved = client.post(
        reverse("at-risk-move", args=[late.pk]),
        {f"move-{late.pk}-inventory": funded.lux_h100.pk, f"move-{late.pk}-starts_at": "2027-01-08T02:00"},
        follow=True,
    )
    assert moved.status_code == 200
    booking = Booking.objects.get(pk=late.pk)
    assert (booking.status, booking.starts_at) == (BookingStatus.CONFIRMED, START + 2 * H)
    assert Notification.objects.filter(tenant=nimbus, subject=f"Booking {late.pk} was moved").exists()


def test_changing_and_ending_maintenance_from_its_page(client: Any, funded: Any, oscar: Any, late: Booking) -> None:
    client.force_login(oscar)
    announce(client, funded)
    window = MaintenanceWindow.objects.get()
    detail = reverse("maintenance-detail", args=[window.pk])
    assert client.get(LIST).status_code == 200 and detail in client.get(LIST).content.decode()

    bad = client.post(detail, {"chips": 500, "starts_at": "2027-01-08T00:00", "ends_at": "2027-01-08T02:00"})
    assert bad.status_code == 400 and bad.context["form"].errors["chips"]
    changed = client.post(
        detail, {"chips": 10, "starts_at": "2027-01-08T00:00", "ends_at": "2027-01-08T02:00", "reason": "smaller"}
    )
    assert changed.status_code == 302 and capacity(funded.lux_h100) == [80, 80]

    ended = client.post(reverse("maintenance-end", args=[window.pk]))
    assert ended.status_code == 302 and ended.url == AT_RISK
    assert not MaintenanceWindow.objects.exists() and capacity(funded.lux_h100) == [90, 90]

    cancelled = client.post(reverse("at-risk-cancel", args=[late.pk]), follow=True)
    assert cancelled.status_code == 200
    assert Booking.objects.get(pk=late.pk).status == BookingStatus.CANCELLED


def test_bad_announcements_come_back_on_the_form(client: Any, funded: Any, oscar: Any) -> None:
    client.force_login(oscar)
    for overrides, field in [
        ({"chips": 0}, "chips"),
        ({"chips": 1000}, "chips"),
        ({"ends_at": "2027-01-07T00:00"}, "ends_at"),
        ({"starts_at": "later"}, "starts_at"),
    ]:
        response = announce(client, funded, **overrides)
        assert response.status_code == 400, overrides
        assert response.context["form"].errors[field], overrides
    assert not MaintenanceWindow.objects.exists()


def test_cancelling_an_at_risk_booking_from_site_bookings_tells_its_organisation(
    client: Any, funded: Any, oscar: Any, late: Booking, nimbus: Any
) -> None:
    client.force_login(oscar)
    announce(client, funded)

    response = client.post(reverse("booking-cancel", args=[late.pk]), {"next": reverse("operations-bookings")})

    assert response.status_code == 302
    assert Booking.objects.get(pk=late.pk).status == BookingStatus.CANCELLED
    assert Notification.objects.filter(tenant=nimbus, subject=f"Booking {late.pk} was cancelled").exists()
