"""Issue 11, items 6 and 7 through the services, the API and the pages.

Invariants checked: a tenant whose F = 2^-x underflows (x above 1074) gets a
positive factor, its exponent and a decimal factor text from
GET /api/v1/fair-share/, and the booking round serves the lighter of two such
tenants first although the heavier one submitted earlier; "My bookings" shows
F with 6 significant digits; a quota round with tenant weights 1 and 1e-17
grants no more than the site holds; a round the engine refuses records why,
naming the resource, and raises nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from allocation.models import AllocationRound, Booking, BookingStatus, Quota, RoundStatus, Tenant, UsageRecord
from allocation.services import rounds
from tests.api import client_for
from tests.factories import TenantFactory
from tests.services.test_quota_rounds import accepted

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]

START = datetime(2027, 1, 8, tzinfo=UTC)


def _book(user: Any, tenant: str, *, chips: int = 1000) -> int:
    body = {
        "kind": "flexible",
        "tenant": tenant,
        "eligible": ["muc/h100"],
        "hours": 2,
        "chips": chips,
        "earliest_start": START.isoformat(),
        "latest_end": (START + timedelta(hours=2)).isoformat(),
    }
    response = client_for(user).post("/api/v1/bookings/", body, format="json")
    assert response.status_code == 201, response.content
    return int(response.json()["id"])


def _heavy_users(aurora: Any, nimbus: Any, oscar: Any, booking_id: int, at: datetime) -> None:
    """Aurora and Nimbus hold all the usage with tiny weights next to a tenant of weight 1:
    x = e / s is about 12,000 and 4,000, far beyond the 1,074 where 2^-x becomes 0.0."""
    TenantFactory(name="Bulk", slug="bulk", kind="researcher", pool=aurora.pool, weight=1.0)
    Tenant.objects.filter(pk=aurora.pk).update(weight=1e-4)
    Tenant.objects.filter(pk=nimbus.pk).update(weight=2e-4)
    booking = Booking.objects.get(pk=booking_id)
    for tenant, hours in ((aurora, 60.0), (nimbus, 40.0)):
        UsageRecord.objects.create(
            record_id=f"heavy-{tenant.slug}",
            booking=booking,
            tenant=tenant,
            reported_by=oscar,
            at=at,
            gpu_hours=hours,
            normalized_hours=hours,
        )


def test_an_underflowed_factor_stays_positive_and_orderable_in_the_api(
    funded: Any, aurora: Any, nimbus: Any, alice: Any, mallory: Any, oscar: Any
) -> None:
    _heavy_users(aurora, nimbus, oscar, _book(alice, "aurora-lab", chips=1), timezone.now() - timedelta(hours=1))
    mine = client_for(alice).get("/api/v1/fair-share/").json()["tenants"][0]
    theirs = client_for(mallory).get("/api/v1/fair-share/").json()["tenants"][0]
    assert mine["tenant"] == "aurora-lab" and theirs["tenant"] == "nimbus-ai"
    assert 0.0 < mine["factor"] <= 1.0 and 0.0 < theirs["factor"] <= 1.0
    assert mine["exponent"] > theirs["exponent"] > 1074
    assert re.fullmatch(r"\d\.\d{5}e-\d{4}", mine["factor_text"]), mine["factor_text"]


def test_the_booking_round_serves_the_lighter_underflowed_tenant_first(
    funded: Any, aurora: Any, nimbus: Any, alice: Any, mallory: Any, oscar: Any
) -> None:
    from allocation.services.booking_round import booking_round_run, booking_round_shards

    # Both ask for every H100 at MUC for the same two hours; Aurora (heavier) asked first.
    heavier = _book(alice, "aurora-lab")
    lighter = _book(mallory, "nimbus-ai")
    _heavy_users(aurora, nimbus, oscar, heavier, START - timedelta(hours=2))
    now = START - timedelta(hours=1)
    booking_round_run(inventory_ids=booking_round_shards(now=now)[0], now=now)
    assert Booking.objects.get(pk=lighter).status == BookingStatus.CONFIRMED
    assert Booking.objects.get(pk=heavier).status == BookingStatus.PENDING


def test_my_bookings_shows_the_factor_with_six_significant_digits(
    client: Any, funded: Any, aurora: Any, nimbus: Any, alice: Any, oscar: Any
) -> None:
    _heavy_users(aurora, nimbus, oscar, _book(alice, "aurora-lab", chips=1), timezone.now() - timedelta(hours=1))
    client.force_login(alice)
    html = client.get(reverse("booking-list")).content.decode()
    # F itself, however small: rounded to two decimals every heavy user would read 0.00.
    assert re.search(r'data-tenant="aurora-lab">\d\.\d{5}e-\d{4}<', html), html


def test_extreme_tenant_weights_never_grant_above_the_sites_capacity(
    catalogue: Any,
    aurora: Any,
    bob: Any,
    nimbus: Any,
    mallory: Any,
    carol: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # LUX has 90 H100 in service for 2,160 h: 194,400 GPU-hours; 1 + 1e-17 == 1.0 must not let both have it all.
    Tenant.objects.filter(pk=nimbus.pk).update(weight=1e-17)
    only_lux = dict(eligible_sites=(catalogue.lux,))
    a = accepted(catalogue, aurora, bob, carol, 50_000, **only_lux)
    n = accepted(catalogue, nimbus, mallory, carol, 194_400, **only_lux)
    with django_capture_on_commit_callbacks(execute=True):
        rnd = rounds.round_preview_start(actor=carol, period=catalogue.period)
    rnd.refresh_from_db()
    granted = {g["request"]: g["gpu_hours"] for g in rnd.result["grants"]}
    assert granted == {a.pk: pytest.approx(50_000), n.pk: pytest.approx(144_400)}
    assert rnd.result["granted_normalized_hours"] <= 194_400 + 1e-6


def test_a_round_the_engine_refuses_records_why_and_raises_nothing(
    catalogue: Any,
    aurora: Any,
    bob: Any,
    nimbus: Any,
    mallory: Any,
    carol: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # 1e-320 is below every normal float: the engine's levels overflow and it refuses rather than overgrant.
    Tenant.objects.filter(pk=nimbus.pk).update(weight=1e-320)
    if Tenant.objects.get(pk=nimbus.pk).weight == 0.0:
        pytest.skip("this database does not keep subnormal floats")
    only_lux = dict(eligible_sites=(catalogue.lux,))
    accepted(catalogue, aurora, bob, carol, 50_000, **only_lux)
    accepted(catalogue, nimbus, mallory, carol, 194_400, **only_lux)
    with django_capture_on_commit_callbacks(execute=True):
        rnd = rounds.round_preview_start(actor=carol, period=catalogue.period)
    rnd.refresh_from_db()
    assert rnd.status == RoundStatus.PREVIEW and rnd.result is None
    assert rnd.failure.startswith("The engine refused this round: resource lux/h100: the round would grant")
    assert Quota.objects.count() == 0
    assert AllocationRound.objects.count() == 1
