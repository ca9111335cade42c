"""The booking pages through Django's test client: book chips, the live preview, my bookings, cancel.

Personas (tests/conftest.py): alice is a member of Aurora Lab, bob its PI,
mallory the PI of Nimbus AI, who must never see Aurora's bookings. Quota is
granted by ``funded`` (tests/conftest.py), through ``tests.factories.grant``:
a committed round's quota written directly.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse

from allocation.models import (
    Booking,
    BookingKind,
    BookingStatus,
    QuotaBalance,
    ResourceHour,
)
from allocation.services.bookings import booking_fixed_create, booking_flexible_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
START = datetime(2027, 1, 8, tzinfo=UTC)


def fixed_data(catalogue: Any, tenant: Any, **overrides: Any) -> dict[str, Any]:
    data = {
        "tenant": tenant.pk,
        "inventory": catalogue.lux_h100.pk,
        "starts_at": "2027-01-08T09:00",
        "hours": "10",
        "chips": "20",
        "idempotency_key": "k1",
    }
    data.update(overrides)
    return data


def flexible_data(catalogue: Any, tenant: Any, **overrides: Any) -> dict[str, Any]:
    data = {
        "tenant": tenant.pk,
        "eligible": [catalogue.lux_h100.pk, catalogue.muc_h100.pk],
        "earliest_start": "2027-01-08T00:00",
        "latest_end": "2027-01-10T00:00",
        "hours": "6",
        "chips": "10",
        "idempotency_key": "f1",
    }
    data.update(overrides)
    return data


def errors_of(response: Any) -> dict[str, list[str]]:
    form = response.context["form"]
    return {name: [str(e) for e in errs] for name, errs in form.errors.items()}


# --- book chips -------------------------------------------------------------------


def test_book_page_offers_only_the_users_tenants_and_the_live_preview(client, funded, aurora, alice, nimbus):
    client.force_login(alice)

    response = client.get(reverse("booking-new"))

    assert response.status_code == 200
    html = response.content.decode()
    tenants = list(response.context["form"].fields["tenant"].queryset)
    assert tenants == [aurora]
    assert "Nimbus AI" not in html
    assert 'type="datetime-local"' in html
    assert f'hx-get="{reverse("booking-availability")}"' in html
    assert "L-AI Factory" in html


def test_book_pages_need_a_login(client, funded):
    for name in ("booking-new", "booking-new-flexible", "booking-list", "booking-availability"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_fixed_booking_is_confirmed_and_shown_with_a_success_message(client, funded, aurora, alice):
    client.force_login(alice)

    response = client.post(reverse("booking-new"), fixed_data(funded, aurora), follow=True)

    booking = Booking.objects.get()
    assert response.redirect_chain == [(reverse("booking-detail", args=[booking.pk]), 302)]
    assert booking.status == BookingStatus.CONFIRMED and booking.tenant == aurora
    assert booking.starts_at == START + timedelta(hours=9) and booking.chips == 20 and booking.hours == 10
    html = response.content.decode()
    assert "Booked: 20 chips for 10 hours from 2027-01-08 09:00 UTC." in html
    assert "booking-confirmed" in html


def test_a_double_submitted_form_books_once(client, funded, aurora, alice):
    client.force_login(alice)

    first = client.post(reverse("booking-new"), fixed_data(funded, aurora))
    second = client.post(reverse("booking-new"), fixed_data(funded, aurora))

    assert first["Location"] == second["Location"]
    assert Booking.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        ({"chips": "0"}, "chips", "greater than or equal to 1"),
        ({"hours": "0"}, "hours", "greater than or equal to 1"),
        ({"chips": "2.5"}, "chips", "whole number"),
        ({"starts_at": "2027-01-08T09:30"}, "starts_at", "on the hour"),
        ({"starts_at": "not a time"}, "starts_at", "valid date/time"),
        ({"chips": "500"}, "chips", "90 chips in service"),
    ],
)
def test_bad_fixed_input_gives_a_field_error_and_creates_nothing(client, funded, aurora, alice, overrides, field, text):
    client.force_login(alice)

    response = client.post(reverse("booking-new"), fixed_data(funded, aurora, **overrides))

    assert response.status_code == 200
    errors = errors_of(response)
    assert field in errors, errors
    assert text in " ".join(errors[field])
    assert Booking.objects.count() == 0
    assert not ResourceHour.objects.filter(booked__gt=0).exists()


def test_capacity_refusal_shows_how_many_are_free_and_the_earliest_start(
    client, funded, aurora, alice, nimbus, mallory
):
    booking_fixed_create(actor=mallory, tenant=nimbus, inventory=funded.lux_h100, starts_at=START, hours=10, chips=60)
    client.force_login(alice)

    response = client.post(
        reverse("booking-new"), fixed_data(funded, aurora, starts_at="2027-01-08T02:00", hours="5", chips="40")
    )

    errors = errors_of(response)
    assert list(errors) == ["starts_at"]
    assert errors["starts_at"] == [
        "Only 30 chips are free in some hour of that slot; the earliest start that fits is 2027-01-08 10:00 UTC."
    ]
    assert 'data-fill-start="2027-01-08T10:00"' in response.content.decode()
    assert Booking.objects.filter(tenant=aurora).count() == 0
    # The form comes back with a fresh idempotency key: a retry at the suggested hour is a new request.
    assert 'value="k1"' not in response.content.decode()


def test_quota_refusal_is_shown_above_the_form(client, funded, aurora, alice):
    client.force_login(alice)

    # 50 chips x 100 h x 2.5 = 12,500 normalized hours > 10,000.
    response = client.post(
        reverse("booking-new"), fixed_data(funded, aurora, inventory=funded.muc_b200.pk, hours="100", chips="50")
    )

    errors = errors_of(response)
    assert list(errors) == ["__all__"]
    assert errors["__all__"][0] == (
        "Your grant on muc/b200 in 2027 Q1 has 10,000.0 normalized hours left; this booking needs 12,500.0."
    )
    assert Booking.objects.count() == 0
    assert not QuotaBalance.objects.filter(tenant=aurora, used__gt=0).exists()
    assert not ResourceHour.objects.filter(booked__gt=0).exists()


def test_a_member_cannot_book_for_another_tenant(client, funded, alice, nimbus):
    client.force_login(alice)

    response = client.post(reverse("booking-new"), fixed_data(funded, nimbus))

    assert "tenant" in errors_of(response)
    assert Booking.objects.count() == 0


def test_a_flexible_booking_is_queued_as_pending(client, funded, aurora, alice):
    client.force_login(alice)

    response = client.post(reverse("booking-new-flexible"), flexible_data(funded, aurora), follow=True)

    booking = Booking.objects.get()
    assert booking.kind == BookingKind.FLEXIBLE and booking.status == BookingStatus.PENDING
    assert set(booking.eligible.all()) == {funded.lux_h100, funded.muc_h100}
    html = response.content.decode()
    assert "Queued." in html
    assert "waiting for the next booking round" in html


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        ({"latest_end": "2027-01-07T00:00"}, "latest_end", "end after it starts"),
        ({"chips": "0"}, "chips", "greater than or equal to 1"),
        ({"eligible": []}, "eligible", "required"),
        ({"hours": "72"}, "hours", "cannot hold 72 whole hours"),
    ],
)
def test_bad_flexible_input_gives_a_field_error_and_creates_nothing(
    client, funded, aurora, alice, overrides, field, text
):
    client.force_login(alice)

    response = client.post(reverse("booking-new-flexible"), flexible_data(funded, aurora, **overrides))

    errors = errors_of(response)
    assert field in errors, errors
    assert text in " ".join(errors[field])
    assert Booking.objects.count() == 0


# --- the availability fragment ------------------------------------------------------


def test_the_availability_fragment_shows_free_chips_per_hour_and_the_cost(
    client, funded, aurora, alice, nimbus, mallory
):
    booking_fixed_create(actor=mallory, tenant=nimbus, inventory=funded.lux_h100, starts_at=START, hours=10, chips=60)
    client.force_login(alice)

    response = client.get(
        reverse("booking-availability"),
        {
            "tenant": aurora.pk,
            "inventory": funded.lux_h100.pk,
            "starts_at": "2027-01-08T08:00",
            "hours": "4",
            "chips": "40",
        },
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html  # a fragment, not a page
    free = [int(n) for n in re.findall(r'data-free="(\d+)"', html)]
    hours = re.findall(r'data-hour="([^"]+)"', html)
    assert free == [30, 30, 90, 90]
    assert hours == ["2027-01-08T08:00Z", "2027-01-08T09:00Z", "2027-01-08T10:00Z", "2027-01-08T11:00Z"]
    assert html.count('class="short"') == 2
    assert 'data-short-hours="2"' in html
    assert "Earliest start that fits: 2027-01-08 10:00 UTC." in html
    assert "Cost: <strong>160</strong> normalized hours" in html
    assert "10,000 of 10,000 normalized hours left of your grant on lux/h100 for 2027 Q1." in html


def test_the_availability_fragment_buckets_long_windows_by_their_fewest_free_chips(
    client, funded, aurora, alice, nimbus, mallory
):
    booking_fixed_create(
        actor=mallory, tenant=nimbus, inventory=funded.lux_h100, starts_at=START + timedelta(hours=5), hours=1, chips=80
    )
    client.force_login(alice)

    response = client.get(
        reverse("booking-availability"),
        {"inventory": funded.lux_h100.pk, "starts_at": "2027-01-08T00:00", "hours": str(24 * 14), "chips": "20"},
    )

    free = [int(n) for n in re.findall(r'data-free="(\d+)"', response.content.decode())]
    assert len(free) == 168  # two hours a bar
    assert free[2] == 10 and free.count(10) == 1 and set(free) == {10, 90}


def test_the_availability_fragment_warns_when_the_cost_exceeds_the_quota(client, funded, aurora, alice):
    client.force_login(alice)

    response = client.get(
        reverse("booking-availability"),
        {
            "tenant": aurora.pk,
            "inventory": funded.muc_b200.pk,
            "starts_at": "2027-01-08T00:00",
            "hours": "100",
            "chips": "50",
        },
    )

    html = response.content.decode()
    assert "More than the 10,000 normalized hours left of your grant on muc/b200 for 2027 Q1." in html


def test_the_availability_fragment_asks_for_what_is_missing_and_hides_other_tenants_quota(
    client, funded, nimbus, alice
):
    client.force_login(alice)

    empty = client.get(reverse("booking-availability"), {"inventory": funded.lux_h100.pk})
    foreign = client.get(
        reverse("booking-availability"),
        {
            "tenant": nimbus.pk,
            "inventory": funded.lux_h100.pk,
            "starts_at": "2027-01-08T00:00",
            "hours": "2",
            "chips": "1",
        },
    )

    assert "Choose a site and chip type, a start hour" in empty.content.decode()
    assert "left of your grant" not in foreign.content.decode()


# --- my bookings, one booking, cancel -----------------------------------------------------


def make_bookings(catalogue: Any, tenant: Any, actor: Any, n: int) -> list[Booking]:
    """Bookings in every state, written directly (the services are tested in tests/services/test_bookings.py)."""
    states = [
        BookingStatus.CONFIRMED,
        BookingStatus.ACTIVE,
        BookingStatus.COMPLETED,
        BookingStatus.CANCELLED,
        BookingStatus.AT_RISK,
        BookingStatus.PENDING,
        BookingStatus.EXPIRED,
    ]
    inventories = [catalogue.muc_h100, catalogue.lux_h100, catalogue.muc_b200]
    made = []
    for i in range(n):
        status = states[i % len(states)]
        start = START + timedelta(hours=i)
        if status in (BookingStatus.PENDING, BookingStatus.EXPIRED):
            made.append(
                Booking(
                    tenant=tenant,
                    created_by=actor,
                    kind=BookingKind.FLEXIBLE,
                    status=status,
                    chips=2,
                    hours=3,
                    earliest_start=start,
                    latest_end=start + timedelta(days=1),
                    unplaced_reason="window" if i % 2 else "",
                )
            )
        else:
            made.append(
                Booking(
                    tenant=tenant,
                    created_by=actor,
                    kind=BookingKind.FIXED,
                    status=status,
                    chips=2,
                    hours=3,
                    inventory=inventories[i % 3],
                    starts_at=start,
                    ends_at=start + timedelta(hours=3),
                    cost_normalized_hours=6,
                )
            )
    made = Booking.objects.bulk_create(made)
    for booking in made:
        if booking.kind == BookingKind.FLEXIBLE:
            booking.eligible.set(inventories[:2])
    return made


def test_my_bookings_lists_the_tenants_bookings_with_states_and_the_fair_share_factor(
    client, funded, aurora, alice, nimbus, mallory
):
    make_bookings(funded, aurora, alice, 7)
    make_bookings(funded, nimbus, mallory, 3)
    client.force_login(alice)

    response = client.get(reverse("booking-list"))

    assert response.status_code == 200
    html = response.content.decode()
    assert {b.tenant for b in response.context["page"]} == {aurora}
    assert len(response.context["page"]) == 7
    for state in ("pending", "confirmed", "active", "completed", "expired", "cancelled", "at_risk"):
        assert f"booking-{state}" in html
    assert "At risk" in html
    assert "not placed: what is left of its window cannot hold its hours within one allocation period" in html
    assert "Nimbus AI" not in html
    assert re.search(r'data-tenant="aurora-lab">\d\.\d{5}(e-\d+)?<', html)  # F to 6 significant digits
    assert "0.5 means you used exactly your share; higher is served first." in html
    # Cancel buttons only where the lifecycle allows it, each with a confirm dialog.
    assert html.count('action="/bookings/') == 4  # pending, confirmed, active, at risk
    assert html.count("return confirm(") == 4


def test_my_bookings_filters_by_state_and_site(client, funded, aurora, alice):
    make_bookings(funded, aurora, alice, 14)
    client.force_login(alice)

    confirmed = client.get(reverse("booking-list"), {"status": "confirmed"}).context["page"]
    at_lux = client.get(reverse("booking-list"), {"site": funded.lux.pk}).context["page"]

    assert {b.status for b in confirmed} == {"confirmed"} and len(confirmed) == 2
    # Placed at Luxembourg, or pending with Luxembourg among the acceptable resources.
    assert at_lux.object_list
    for b in at_lux:
        assert (b.inventory == funded.lux_h100) or (b.inventory is None and funded.lux_h100 in b.eligible.all())
    assert any(b.inventory is None for b in at_lux) and any(b.inventory is not None for b in at_lux)


def test_my_bookings_pages_by_25(client, funded, aurora, alice):
    make_bookings(funded, aurora, alice, 30)
    client.force_login(alice)

    first = client.get(reverse("booking-list"), {"status": ""})
    second = client.get(reverse("booking-list"), {"page": 2})

    assert len(first.context["page"]) == 25 and len(second.context["page"]) == 5
    assert "Page 1 of 2" in first.content.decode()


@pytest.mark.parametrize("n", [5, 40])
def test_my_bookings_runs_a_bounded_number_of_queries(client, funded, aurora, alice, django_assert_max_num_queries, n):
    make_bookings(funded, aurora, alice, n)
    client.force_login(alice)

    # session, user, nav, filters, tenants, roles, F, page; and the grants (quotas, ledger, usage, names)
    with django_assert_max_num_queries(19):
        response = client.get(reverse("booking-list"))

    assert len(response.context["page"]) == min(n, 25)


def test_booking_detail_for_a_member_and_404_for_another_tenant(client, funded, aurora, alice, mallory):
    booking, _ = booking_fixed_create(
        actor=alice, tenant=aurora, inventory=funded.lux_h100, starts_at=START, hours=10, chips=20
    )
    client.force_login(alice)
    mine = client.get(reverse("booking-detail", args=[booking.pk]))
    client.force_login(mallory)
    theirs = client.get(reverse("booking-detail", args=[booking.pk]))

    assert mine.status_code == 200
    html = mine.content.decode()
    assert "L-AI Factory · NVIDIA H100" in html
    assert "Booked and confirmed" in html  # the history
    assert "/resources/lux/h100/timeline/?start=2027-01-08" in html
    assert theirs.status_code == 404


def test_mallory_cannot_cancel_auroras_booking(client, funded, aurora, alice, mallory):
    booking, _ = booking_fixed_create(
        actor=alice, tenant=aurora, inventory=funded.lux_h100, starts_at=START, hours=10, chips=20
    )
    client.force_login(mallory)

    response = client.post(reverse("booking-cancel", args=[booking.pk]))

    assert response.status_code == 404
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


def test_cancel_needs_a_post(client, funded, aurora, alice):
    booking, _ = booking_fixed_create(
        actor=alice, tenant=aurora, inventory=funded.lux_h100, starts_at=START, hours=10, chips=20
    )
    client.force_login(alice)

    assert client.get(reverse("booking-cancel", args=[booking.pk])).status_code == 405


def test_cancel_gives_the_chips_and_quota_back_and_returns_to_the_list(client, funded, aurora, alice):
    booking, _ = booking_fixed_create(
        actor=alice, tenant=aurora, inventory=funded.lux_h100, starts_at=START, hours=10, chips=20
    )
    client.force_login(alice)
    back = reverse("booking-list") + "?status=confirmed"

    response = client.post(reverse("booking-cancel", args=[booking.pk]), {"next": back}, follow=True)

    assert response.redirect_chain == [(back, 302)]
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert QuotaBalance.objects.get(tenant=aurora).used == 0
    assert set(ResourceHour.objects.filter(inventory=funded.lux_h100).values_list("booked", flat=True)) == {0}
    assert f"Booking {booking.pk} cancelled" in response.content.decode()


def test_cancel_ignores_a_next_url_off_the_site(client, funded, aurora, alice):
    booking, _ = booking_fixed_create(
        actor=alice, tenant=aurora, inventory=funded.lux_h100, starts_at=START, hours=10, chips=20
    )
    client.force_login(alice)

    response = client.post(reverse("booking-cancel", args=[booking.pk]), {"next": "https://evil.example/"})

    assert response["Location"] == reverse("booking-detail", args=[booking.pk])


def test_cancelling_twice_says_why_not(client, funded, aurora, alice):
    booking, _ = booking_flexible_create(
        actor=alice,
        tenant=aurora,
        eligible=[funded.lux_h100],
        earliest_start=START,
        latest_end=START + timedelta(days=1),
        hours=2,
        chips=2,
    )
    client.force_login(alice)
    client.post(reverse("booking-cancel", args=[booking.pk]))

    response = client.post(reverse("booking-cancel", args=[booking.pk]), follow=True)

    assert "A cancelled booking cannot become cancelled." in response.content.decode()


# --- the resource timeline page ---------------------------------------------------------


def test_the_timeline_page_draws_the_resource_for_any_member(client, funded, aurora, alice, nimbus, mallory):
    booking_fixed_create(actor=alice, tenant=aurora, inventory=funded.lux_h100, starts_at=START, hours=10, chips=20)
    client.force_login(mallory)

    response = client.get(reverse("resource-timeline", args=["lux", "h100"]), {"start": "2027-01-07", "days": "3"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "<svg" in html and "tl-cap" in html
    assert "Aurora" not in html  # mallory sees Aurora's chips only as anonymous load
    assert "Others · Researcher (academic)" in html


def test_the_timeline_svg_endpoint_and_an_unknown_resource(client, funded, alice):
    client.force_login(alice)

    svg = client.get(reverse("resource-timeline-svg", args=["lux", "h100"]), {"days": "2"})
    missing = client.get(reverse("resource-timeline", args=["lux", "b200"]))

    assert svg.status_code == 200 and svg["Content-Type"].startswith("image/svg+xml")
    assert svg.content.startswith(b"<svg")
    assert missing.status_code == 404
