"""Maintenance over REST for site operators, and what they do with the bookings it puts at risk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from allocation.models import Booking, BookingStatus, MaintenanceWindow, Notification, ResourceHour
from allocation.services.bookings import booking_fixed_create
from tests.api import client_for

pytestmark = pytest.mark.django_db
URL = "/api/v1/maintenance-windows/"
START = datetime(2027, 1, 8, tzinfo=UTC)
H = timedelta(hours=1)
WINDOW = {
    "resource": "lux/h100",
    "chips": 30,
    "starts_at": "2027-01-08T00:00:00Z",
    "ends_at": "2027-01-08T02:00:00Z",
    "reason": "PDU swap",
}


def capacity(inventory: Any) -> list[int]:
    return list(
        ResourceHour.objects.filter(inventory=inventory, hour__gte=START, hour__lt=START + 3 * H)
        .order_by("hour")
        .values_list("capacity", flat=True)
    )


@pytest.fixture
def at_risk(funded: Any, aurora: Any, alice: Any, nimbus: Any, mallory: Any) -> Booking:
    booking_fixed_create(actor=alice, tenant=aurora, inventory=funded.lux_h100, starts_at=START, hours=3, chips=50)
    late, _ = booking_fixed_create(
        actor=mallory, tenant=nimbus, inventory=funded.lux_h100, starts_at=START, hours=3, chips=30
    )
    return late


def test_operator_announces_changes_and_ends_maintenance(
    funded: Any, oscar: Any, at_risk: Booking, nimbus: Any
) -> None:
    operator = client_for(oscar)
    created = operator.post(URL, WINDOW)
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["at_risk"] == [at_risk.pk] and body["resource"] == "lux/h100"
    assert capacity(funded.lux_h100) == [60, 60, 90]
    assert Notification.objects.filter(tenant=nimbus, subject=f"Booking {at_risk.pk} is at risk").exists()
    assert operator.get(URL).json()["results"][0]["id"] == body["id"]

    changed = operator.patch(f"{URL}{body['id']}/", {"chips": 10, "ends_at": "2027-01-08T03:00:00Z"})
    assert changed.status_code == 200, changed.json()
    assert capacity(funded.lux_h100) == [80, 80, 80]

    # Still at risk until an operator re-confirms it; then confirmed, its tenant told.
    assert operator.post(f"/api/v1/bookings/{at_risk.pk}/reconfirm/").status_code == 200
    assert Booking.objects.get(pk=at_risk.pk).status == BookingStatus.CONFIRMED

    ended = operator.post(f"{URL}{body['id']}/end/")  # not started yet: cancelled
    assert ended.status_code == 200 and ended.json()["id"] is None
    assert capacity(funded.lux_h100) == [90, 90, 90] and not MaintenanceWindow.objects.exists()


def test_reconfirm_is_a_409_while_short_and_move_confirms_elsewhere(
    funded: Any, oscar: Any, at_risk: Booking, nimbus: Any
) -> None:
    operator = client_for(oscar)
    assert operator.post(URL, WINDOW).status_code == 201
    short = operator.post(f"/api/v1/bookings/{at_risk.pk}/reconfirm/")
    assert short.status_code == 409 and short.json()["error"]["code"] == "capacity"

    other_chip = operator.post(f"/api/v1/bookings/{at_risk.pk}/move/", {"resource": "muc/b200"})
    assert other_chip.status_code == 400 and "resource" in other_chip.json()["error"]["fields"]
    moved = operator.post(f"/api/v1/bookings/{at_risk.pk}/move/", {"resource": "muc/h100"})
    assert moved.status_code == 200, moved.json()
    assert (moved.json()["status"], moved.json()["resource"]) == ("confirmed", "muc/h100")
    assert Notification.objects.filter(tenant=nimbus, subject=f"Booking {at_risk.pk} was moved").exists()


def test_an_operator_cancelling_an_at_risk_booking_tells_its_tenant(
    funded: Any, oscar: Any, at_risk: Booking, nimbus: Any
) -> None:
    operator = client_for(oscar)
    assert operator.post(URL, WINDOW).status_code == 201
    cancelled = operator.post(f"/api/v1/bookings/{at_risk.pk}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert Notification.objects.filter(tenant=nimbus, subject=f"Booking {at_risk.pk} was cancelled").exists()


def test_only_operators_and_every_refusal_names_its_field(
    funded: Any, alice: Any, carol: Any, oscar: Any, at_risk: Booking
) -> None:
    for user in (alice, carol):
        client = client_for(user)
        assert client.get(URL).status_code == 403
        assert client.post(URL, WINDOW).status_code == 403
        assert client.post(f"/api/v1/bookings/{at_risk.pk}/move/", {"resource": "muc/h100"}).status_code in (403, 404)
    assert client_for().post(URL, WINDOW).status_code == 401
    operator = client_for(oscar)
    for overrides, field in [
        ({"chips": 0}, "chips"),
        ({"chips": 1000}, "chips"),
        ({"resource": "nowhere/h100"}, "resource"),
        ({"ends_at": "2027-01-07T00:00:00Z"}, "ends_at"),
        ({"starts_at": "soon"}, "starts_at"),
    ]:
        response = operator.post(URL, {**WINDOW, **overrides})
        assert response.status_code == 400, (overrides, response.json())
        assert field in response.json()["error"]["fields"], (overrides, response.json())
    assert not MaintenanceWindow.objects.exists() and capacity(funded.lux_h100) == [90, 90, 90]
    assert operator.post(f"/api/v1/bookings/{at_risk.pk}/reconfirm/").status_code == 400  # not at risk
