"""Issue 11, item 9: hostile input gets a 400 naming the field, never a 5xx.

NUL bytes (which PostgreSQL refuses) and other control characters in any
text, slug or key of a body; date filters whose offset PostgreSQL cannot
hold; moments near the ends of the calendar (Python's datetime overflows a
few hours past 9999-12-31). Each case is a 400 in the API's one error
body, naming the field, and nothing is stored.
"""

from __future__ import annotations

from typing import Any

import pytest

from allocation.models import AllocationRequest, Booking, MaintenanceWindow
from tests.api import client_for, request_body

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
BOOKINGS = "/api/v1/bookings/"
REQUESTS = "/api/v1/allocation-requests/"
FIXED = {"tenant": "aurora-lab", "resource": "lux/h100", "starts_at": "2027-01-08T09:00:00Z", "hours": 2, "chips": 4}
FLEXIBLE = {
    "kind": "flexible",
    "tenant": "aurora-lab",
    "eligible": ["lux/h100"],
    "hours": 2,
    "chips": 4,
    "earliest_start": "2027-01-08T00:00:00Z",
    "latest_end": "2027-01-09T00:00:00Z",
}


def refused(response: Any, field: str) -> dict[str, Any]:
    """The API's one error body, a 400 naming ``field``."""
    assert response.status_code == 400, (response.status_code, response.content[:500])
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"], error
    return error


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tenant", "aurora\x00lab"),
        ("resource", "lux/h1\x0000"),
        ("site", "l\x00ux"),
        ("chip_type", "h\x00100"),
    ],
)
def test_a_nul_byte_in_a_booking_is_a_400_naming_the_field(funded: Any, alice: Any, field: str, value: str) -> None:
    body = {**FIXED, field: value}
    if field in ("site", "chip_type"):
        del body["resource"]
        body = {"site": "lux", "chip_type": "h100", **body}
    refused(client_for(alice).post(BOOKINGS, body, format="json"), field)
    assert not Booking.objects.exists()


def test_a_nul_byte_in_a_flexible_bookings_eligible_site_is_a_400(funded: Any, alice: Any) -> None:
    body = {**FLEXIBLE, "eligible": [{"site": "mu\x00c"}]}
    error = refused(client_for(alice).post(BOOKINGS, body, format="json"), "eligible[0].site")
    assert "control character" in error["message"]


def test_a_nul_byte_in_the_idempotency_key_is_a_400(funded: Any, alice: Any) -> None:
    response = client_for(alice).post(BOOKINGS, FIXED, format="json", HTTP_IDEMPOTENCY_KEY="k\x001")
    refused(response, "Idempotency-Key")
    assert not Booking.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "A 7B run\x00"),
        ("abstract", "Open weights\x00"),
        ("justification", "esc \x1b[31m red"),
        ("expected_outputs", "bell \x07"),
        ("tenant", "aurora-lab\x00"),
        ("period", "2027-q1\x00"),
        ("chip_type", "h100\x00"),
        ("eligible_sites", ["muc", "lu\x00x"]),
        ("eligible_chip_types", ["\x00"]),
    ],
)
def test_control_characters_in_a_request_are_a_400_naming_the_field(
    funded: Any, bob: Any, field: str, value: Any
) -> None:
    response = client_for(bob).post(REQUESTS, request_body(**{field: value}), format="json")
    error = refused(response, field if not isinstance(value, list) else f"{field}[{len(value) - 1}]")
    assert "control character" in error["message"]
    assert not AllocationRequest.objects.filter(tenant__slug="aurora-lab", title__startswith="Pre").exists()


def test_tabs_and_new_lines_stay_welcome_in_free_text(funded: Any, bob: Any) -> None:
    response = client_for(bob).post(REQUESTS, request_body(abstract="Line one\n\tline two\r\n"), format="json")
    assert response.status_code == 201, response.json()


def test_a_control_character_in_a_key_of_the_body_is_a_400(funded: Any, bob: Any) -> None:
    response = client_for(bob).post(REQUESTS, {**request_body(), "ti\x00tle": "x"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid"


def test_a_control_character_in_a_form_encoded_body_is_a_400(funded: Any, bob: Any) -> None:
    body = {**request_body(title="A\x00B"), "eligible_sites": "muc", "eligible_chip_types": "h100"}
    refused(client_for(bob).post(REQUESTS, body, format="multipart"), "title")


@pytest.mark.parametrize(
    ("url", "param"),
    [
        ("/api/v1/audit-events/", "until"),
        ("/api/v1/audit-events/", "since"),
        ("/api/v1/bookings/", "starts_before"),
        ("/api/v1/bookings/", "starts_after"),
        ("/api/v1/usage-records/", "until"),
        ("/api/v1/usage-records/", "since"),
    ],
)
@pytest.mark.parametrize("value", ["1877-01-31T01:48:25-18:38", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00Z"])
def test_a_date_filter_outside_the_calendar_is_a_400_naming_it(
    funded: Any, carol: Any, oscar: Any, url: str, param: str, value: str
) -> None:
    error = refused(client_for(oscar if "usage" in url else carol).get(url, {param: value}), param)
    assert "2000-01-01" in error["message"] and "2100-01-01" in error["message"]


def test_a_date_filter_with_an_unusual_but_real_offset_is_read_in_utc(funded: Any, alice: Any) -> None:
    # -18:38 is no zone's, but it names a moment; PostgreSQL cannot hold the offset, so it is converted.
    response = client_for(alice).get(BOOKINGS, {"starts_after": "2027-01-31T01:48:25-18:38"})
    assert response.status_code == 200, response.json()


@pytest.mark.parametrize(
    "starts_at", ["9999-12-31T23:00:00Z", "2100-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59-23:59"]
)
def test_a_booking_at_the_end_of_the_calendar_is_a_400_naming_starts_at(
    funded: Any, alice: Any, starts_at: str
) -> None:
    error = refused(client_for(alice).post(BOOKINGS, {**FIXED, "starts_at": starts_at}, format="json"), "starts_at")
    assert "2000-01-01" in error["message"]
    assert not Booking.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"), [("earliest_start", "9999-12-30T00:00:00Z"), ("latest_end", "9999-12-31T00:00:00Z")]
)
def test_a_flexible_window_in_year_9999_is_refused(funded: Any, alice: Any, field: str, value: str) -> None:
    body = {**FLEXIBLE, "earliest_start": "9999-12-29T00:00:00Z", "latest_end": "9999-12-31T00:00:00Z"}
    refused(client_for(alice).post(BOOKINGS, body, format="json"), field)
    assert not Booking.objects.exists()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "9999-12-31T23:00:00Z"}, "start"),
        ({"start": "9999-12-31T23:00:00Z", "hours": 744}, "start"),
        ({"start": "2027-01-01T00:00:00Z", "end": "9999-12-31T23:59:59Z"}, "end"),
        ({"start": "1999-12-31T23:00:00Z"}, "start"),
    ],
)
def test_availability_at_the_end_of_the_calendar_is_a_400(
    funded: Any, alice: Any, params: dict[str, Any], field: str
) -> None:
    refused(client_for(alice).get("/api/v1/availability/", {"resource": "lux/h100", **params}), field)


def test_the_schema_states_the_range_of_times(funded: Any, alice: Any) -> None:
    schema = client_for(alice).get("/api/v1/schema/", {"format": "json"}).json()
    starts_at = schema["components"]["schemas"]["BookingInputRequest"]["properties"]["starts_at"]
    assert "2000-01-01" in starts_at["description"] and "2100-01-01" in starts_at["description"]
    audit = schema["paths"]["/api/v1/audit-events/"]["get"]["parameters"]
    until = next(p for p in audit if p["name"] == "until")
    assert "2000-01-01" in until["description"]


@pytest.mark.parametrize("period", ["¹3", "٣", "99999999999999999999999"])
def test_a_period_named_by_unusual_digits_is_no_period(funded: Any, bob: Any, carol: Any, period: str) -> None:
    # str.isdigit() holds for superscripts and other scripts' digits, which int() then refuses: no 500 either way.
    listed = client_for(carol).get("/api/v1/quotas/", {"period": period})
    assert listed.status_code == 200 and listed.json()["results"] == []
    refused(client_for(bob).post(REQUESTS, request_body(period=period), format="json"), "period")
    refused(client_for(carol).post("/api/v1/allocation-rounds/", {"period": period}, format="json"), "period")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("starts_at", "9999-12-31T23:00:00Z"),
        ("ends_at", "9999-12-31T23:59:59+00:00"),
        ("starts_at", "1877-01-31T01:48:25-18:38"),
    ],
)
def test_maintenance_outside_the_calendar_is_a_400_naming_the_field(
    funded: Any, oscar: Any, field: str, value: str
) -> None:
    body = {
        "resource": "lux/h100",
        "chips": 10,
        "starts_at": "2027-01-08T00:00:00Z",
        "ends_at": "2027-01-08T03:00:00Z",
        field: value,
    }
    refused(client_for(oscar).post("/api/v1/maintenance-windows/", body, format="json"), field)
    assert not MaintenanceWindow.objects.exists()


def test_a_move_to_the_end_of_the_calendar_is_a_400_naming_starts_at(funded: Any, oscar: Any) -> None:
    refused(
        client_for(oscar).post("/api/v1/bookings/1/move/", {"starts_at": "9999-12-31T23:00:00Z"}, format="json"),
        "starts_at",
    )


def test_maintenance_from_the_admin_or_a_command_outside_the_calendar_is_refused_naming_the_field(
    funded: Any, oscar: Any
) -> None:
    from datetime import UTC, datetime

    from allocation.services.errors import ServiceError
    from allocation.services.maintenance import maintenance_announce

    with pytest.raises(ServiceError) as outside:
        maintenance_announce(
            actor=oscar,
            inventory=funded.lux_h100,
            chips=1,
            starts_at=datetime(2027, 1, 8, tzinfo=UTC),
            ends_at=datetime(9999, 12, 31, tzinfo=UTC),
        )
    assert outside.value.field == "ends_at"
    assert not MaintenanceWindow.objects.exists()
