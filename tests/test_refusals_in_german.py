"""Refusals come back in the client's language: a German client reads every reason in German.

Each request below is refused by the project's own code (a serializer, a view, a policy, a
service or a page form), not by DRF's or Django's stock messages, which ship their own German.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.urls import reverse
from django.utils import translation

from allocation.models import AllocationRequest, Booking, MaintenanceWindow, Notification, Verification
from allocation.services.bookings import booking_fixed_create
from allocation.services.tenants import tenant_verification_change
from tests.api import client_for, request_body
from tests.factories import with_role

pytestmark = pytest.mark.django_db
START = datetime(2027, 1, 8, tzinfo=UTC)
GERMAN = {"HTTP_ACCEPT_LANGUAGE": "de-DE,de;q=0.9,en;q=0.5"}
WINDOW = {
    "resource": "lux/h100",
    "chips": 30,
    "starts_at": "2027-01-08T00:00:00Z",
    "ends_at": "2027-01-08T02:00:00Z",
    "reason": "PDU swap",
}


def refusal(response: Any, status: int) -> dict[str, Any]:
    """The error body of a refused request, after checking its status and language."""
    assert response.status_code == status, response.content
    assert response["Content-Language"] == "de"
    return response.json()["error"]


def test_a_booking_naming_an_unknown_resource(funded: Any, aurora: Any, alice: Any) -> None:
    body = {
        "tenant": "aurora-lab",
        "resource": "nowhere/h100",
        "starts_at": "2027-01-08T09:00:00Z",
        "hours": 2,
        "chips": 1,
    }

    error = refusal(client_for(alice).post("/api/v1/bookings/", body, format="json", **GERMAN), 400)

    assert error["fields"]["resource"] == ["Keine Ressource „nowhere/h100“."]
    assert error["message"] == "Keine Ressource „nowhere/h100“."
    assert not Booking.objects.exists()


def test_availability_with_both_hours_and_end(funded: Any, alice: Any) -> None:
    query = {"resource": "lux/h100", "start": "2027-01-08T00:00:00Z", "hours": 5, "end": "2027-01-09T00:00:00Z"}

    error = refusal(client_for(alice).get("/api/v1/availability/", query, **GERMAN), 400)

    assert error["fields"]["end"] == ["Geben Sie entweder hours oder end an, nicht beides."]


def test_availability_of_an_unknown_resource(funded: Any, alice: Any) -> None:
    error = refusal(client_for(alice).get("/api/v1/availability/", {"resource": "lux"}, **GERMAN), 400)

    assert error["fields"]["resource"] == [
        "Keine Ressource „lux“; geben Sie sie als „site/chip_type“ an, z. B. „lux/h100“."
    ]


def test_allocation_rounds_are_the_committees(catalogue: Any, alice: Any) -> None:
    error = refusal(client_for(alice).get("/api/v1/allocation-rounds/", **GERMAN), 403)

    assert error["message"] == "Nur Mitglieder des Vergabeausschusses dürfen Vergaberunden sehen."


def test_maintenance_as_a_member_is_refused(funded: Any, alice: Any) -> None:
    error = refusal(client_for(alice).post("/api/v1/maintenance-windows/", WINDOW, format="json", **GERMAN), 403)

    assert error["message"] == "Nur Standortbetreiber verwalten Wartungen."
    assert not MaintenanceWindow.objects.exists()


def test_a_flexible_booking_without_its_window(funded: Any, aurora: Any, alice: Any) -> None:
    body = {
        "kind": "flexible",
        "tenant": "aurora-lab",
        "eligible": ["lux/h100"],
        "latest_end": "2027-01-10T00:00:00Z",
        "hours": 2,
        "chips": 1,
    }

    error = refusal(client_for(alice).post("/api/v1/bookings/", body, format="json", **GERMAN), 400)

    assert error["fields"] == {"earliest_start": ["Eine flexible Buchung braucht dieses Feld."]}
    assert not Booking.objects.exists()


def test_a_request_for_another_tenant_in_an_unknown_period(bob: Any, catalogue: Any) -> None:
    body = request_body(tenant="nimbus-ai", period="1999-q9")

    error = refusal(client_for(bob).post("/api/v1/allocation-requests/", body, format="json", **GERMAN), 400)

    assert error["message"] == "Einige Felder sind ungültig: tenant, period."
    assert error["fields"] == {
        "tenant": ["Sie sind nicht Mitglied einer Organisation „nimbus-ai“."],
        "period": ["Kein Vergabezeitraum 1999-q9."],
    }
    assert not AllocationRequest.objects.exists()


def test_a_booking_form_asking_for_more_chips_than_in_service(
    client: Any, funded: Any, aurora: Any, alice: Any
) -> None:
    client.force_login(alice)
    data = {
        "tenant": aurora.pk,
        "inventory": funded.lux_h100.pk,
        "starts_at": "2027-01-08T09:00",
        "hours": "10",
        "chips": "500",
        "idempotency_key": "k1",
    }

    response = client.post(reverse("booking-new"), data, **GERMAN)

    assert response.status_code == 200
    assert [str(e) for e in response.context["form"].errors["chips"]] == ["lux/h100 hat 90 Chips in Betrieb."]
    assert not Booking.objects.exists()


def test_a_tenant_is_told_in_german_when_maintenance_puts_its_booking_at_risk(
    funded: Any, aurora: Any, alice: Any, oscar: Any
) -> None:
    booking, _ = booking_fixed_create(
        actor=alice, tenant=aurora, inventory=funded.lux_h100, starts_at=START, hours=2, chips=90
    )

    response = client_for(oscar).post("/api/v1/maintenance-windows/", WINDOW, format="json", **GERMAN)

    assert response.status_code == 201, response.json()
    told = Notification.objects.get(tenant=aurora)
    assert told.subject == f"Buchung {booking.pk} ist gefährdet"
    assert told.body.startswith("Eine Wartung belegt Chips, die diese Buchungen halten.")
    assert f"Buchung {booking.pk}: 90 Chips auf " in told.body


def test_members_are_told_in_german_when_their_tenant_is_suspended(aurora: Any, alice: Any) -> None:
    with translation.override("de"):
        tenant_verification_change(
            actor=with_role("adam", "admin"), tenant=aurora, to=Verification.SUSPENDED, reason="Sanktionsprüfung"
        )

    told = Notification.objects.get(tenant=aurora)
    assert told.subject == "Aurora Lab ist gesperrt"
    assert told.body.startswith("Die Plattform-Administration hat Aurora Lab gesperrt:")
    assert told.body.endswith("\nBegründung: Sanktionsprüfung")
