"""Issue 11, item 9 in the pages: times near the ends of the calendar and control characters are form errors.

The timeline at 9999-12-31 or 0001-01-01, the booking form's availability
preview and its POST with a start in year 9999 (where Python's datetime
overflows), and a flexible booking with its window in year 9999, are each an
error shown beside the field (or above the chart), in the platform's stated
range, and nothing is stored.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from allocation.models import AllocationRequest, Booking

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]


def timeline_url(**params: str) -> str:
    return reverse("resource-timeline", args=["lux", "h100"]) + "?" + "&".join(f"{k}={v}" for k, v in params.items())


@pytest.mark.parametrize(("start", "days"), [("9999-12-31", "92"), ("0001-01-01", "1"), ("2100-01-01", "7")])
def test_a_timeline_outside_the_calendar_says_so_and_shows_today(
    client: Any, funded: Any, alice: Any, start: str, days: str
) -> None:
    client.force_login(alice)
    response = client.get(timeline_url(start=start, days=days))
    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html and "2000-01-01" in html and "2100-01-01" in html
    assert "<svg" in html  # today's window, under the message


def test_the_timelines_svg_outside_the_calendar_is_a_400(client: Any, funded: Any, alice: Any) -> None:
    client.force_login(alice)
    url = reverse("resource-timeline-svg", args=["lux", "h100"]) + "?start=9999-12-31&days=92"
    response = client.get(url)
    assert response.status_code == 400 and "2100-01-01" in response.content.decode()


def test_the_last_days_of_the_calendar_still_draw(client: Any, funded: Any, alice: Any) -> None:
    client.force_login(alice)
    assert client.get(timeline_url(start="2099-12-31", days="92")).status_code == 200
    assert client.get(timeline_url(start="2000-01-01", days="1")).status_code == 200


def test_the_availability_preview_in_year_9999_shows_the_error(
    client: Any, funded: Any, aurora: Any, alice: Any
) -> None:
    client.force_login(alice)
    response = client.get(
        reverse("booking-availability"),
        {
            "tenant": aurora.pk,
            "inventory": funded.lux_h100.pk,
            "starts_at": "9999-12-31T23:00",
            "hours": "8",
            "chips": "4",
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "avail-bad" in html and "2100-01-01" in html


def fixed(funded: Any, tenant: Any, **overrides: Any) -> dict[str, Any]:
    return {
        "tenant": tenant.pk,
        "inventory": funded.lux_h100.pk,
        "starts_at": "2027-01-08T09:00",
        "hours": "10",
        "chips": "20",
        "idempotency_key": "k1",
        **overrides,
    }


@pytest.mark.parametrize("start", ["9999-12-31T23:00", "0001-01-01T00:00"])
def test_a_fixed_booking_at_the_end_of_the_calendar_is_a_field_error(
    client: Any, funded: Any, aurora: Any, alice: Any, start: str
) -> None:
    client.force_login(alice)
    response = client.post(reverse("booking-new"), fixed(funded, aurora, starts_at=start))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "starts_at" in errors and "2100-01-01" in " ".join(errors["starts_at"])
    assert not Booking.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"), [("earliest_start", "9999-12-29T00:00"), ("latest_end", "9999-12-31T00:00")]
)
def test_a_flexible_window_in_year_9999_is_a_field_error(
    client: Any, funded: Any, aurora: Any, alice: Any, field: str, value: str
) -> None:
    client.force_login(alice)
    data = {
        "tenant": aurora.pk,
        "eligible": [funded.lux_h100.pk],
        "earliest_start": "2027-01-08T00:00",
        "latest_end": "2027-01-10T00:00",
        "hours": "6",
        "chips": "10",
        "idempotency_key": "f1",
        field: value,
    }
    response = client.post(reverse("booking-new-flexible"), data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors and "2100-01-01" in " ".join(errors[field])
    assert not Booking.objects.exists()


@pytest.mark.parametrize("field", ["title", "abstract", "justification", "expected_outputs"])
def test_control_characters_in_a_request_form_are_a_field_error(
    client: Any, funded: Any, aurora: Any, alice: Any, field: str
) -> None:
    client.force_login(alice)
    data = {
        "tenant": aurora.pk,
        "period": funded.period.pk,
        "title": "LLM pretraining",
        "abstract": "A model.",
        "chip_type": funded.b200.pk,
        "demand_gpu_hours": "4000",
        "eligible_sites": [funded.muc.pk],
        "eligible_chip_types": [funded.b200.pk],
        "justification": "Open.",
        "expected_outputs": "Weights.",
        field: "terminal \x1b[2J escape",
    }
    response = client.post(reverse("request-create"), data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field] and "control characters" in " ".join(errors[field])
    assert not AllocationRequest.objects.filter(title="LLM pretraining").exists()


@pytest.mark.parametrize("resource", ["¹3", "99999999999999999999999", "\x00"])
def test_the_book_page_ignores_a_resource_that_is_no_id(client: Any, funded: Any, alice: Any, resource: str) -> None:
    client.force_login(alice)
    assert client.get(reverse("booking-new"), {"resource": resource}).status_code == 200
