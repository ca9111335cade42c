"""What must never happen is refused by the database itself.

Each test writes the forbidden row with a raw ORM call (no service, no form)
and expects the database to refuse it; CI runs this file on PostgreSQL and on
SQLite.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, transaction

from allocation import models as m

pytestmark = pytest.mark.django_db


def refused(make: Any) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        make()


def test_in_service_above_installed_is_refused(catalogue: Any) -> None:
    inv = catalogue.muc_h100
    refused(lambda: m.Inventory.objects.filter(pk=inv.pk).update(chips_in_service=inv.chips_installed + 1))
    inv.refresh_from_db()
    assert inv.chips_in_service == 1000


def test_negative_chips_are_refused(catalogue: Any) -> None:
    refused(
        lambda: m.Inventory.objects.filter(pk=catalogue.muc_h100.pk).update(chips_installed=-1, chips_in_service=-1)
    )


def test_second_inventory_row_for_a_resource_is_refused(catalogue: Any) -> None:
    refused(
        lambda: m.Inventory.objects.create(
            gigafactory=catalogue.muc, chip_type=catalogue.h100, chips_installed=1, chips_in_service=1
        )
    )


def test_duplicate_site_slug_is_refused(catalogue: Any) -> None:
    refused(lambda: m.Gigafactory.objects.create(name="Other", slug="muc", country="DE", city="X", kind="factory"))


def test_duplicate_tenant_slug_is_refused(aurora: Any) -> None:
    refused(lambda: m.Tenant.objects.create(name="Copy", slug="aurora-lab", kind="sme", country="FR", pool=aurora.pool))


def test_zero_throughput_is_refused(db: Any) -> None:
    refused(
        lambda: m.ChipType.objects.create(
            vendor="X", model="Y", slug="y", memory_gb=1, peak_bf16_tflops=1, tdp_watts=1, throughput=0
        )
    )


def test_maintenance_ending_before_it_starts_is_refused(catalogue: Any) -> None:
    start = catalogue.period.starts_at
    refused(
        lambda: m.MaintenanceWindow.objects.create(
            inventory=catalogue.muc_h100, chips=10, starts_at=start, ends_at=start - timedelta(hours=1)
        )
    )


def test_period_ending_before_it_starts_is_refused(catalogue: Any) -> None:
    p = catalogue.period
    refused(
        lambda: m.AllocationPeriod.objects.create(
            name="Bad", slug="bad", starts_at=p.ends_at, ends_at=p.starts_at, request_deadline=p.starts_at
        )
    )


def test_negative_or_zero_demand_is_refused(aurora: Any, bob: Any, catalogue: Any) -> None:
    refused(
        lambda: m.AllocationRequest.objects.create(
            period=catalogue.period,
            tenant=aurora,
            created_by=bob,
            title="x",
            chip_type=catalogue.h100,
            demand_gpu_hours=-5,
            demand_normalized_hours=-5,
        )
    )


def test_booking_with_negative_hours_or_chips_is_refused(aurora: Any, bob: Any, catalogue: Any) -> None:
    start = catalogue.period.starts_at
    common = dict(
        tenant=aurora,
        created_by=bob,
        kind="fixed",
        status="confirmed",
        inventory=catalogue.muc_h100,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
    )
    refused(lambda: m.Booking.objects.create(chips=-1, hours=2, **common))
    refused(lambda: m.Booking.objects.create(chips=1, hours=0, **common))


def test_booking_ending_before_it_starts_is_refused(aurora: Any, bob: Any, catalogue: Any) -> None:
    start = catalogue.period.starts_at
    refused(
        lambda: m.Booking.objects.create(
            tenant=aurora,
            created_by=bob,
            kind="fixed",
            status="confirmed",
            inventory=catalogue.muc_h100,
            chips=1,
            hours=1,
            starts_at=start,
            ends_at=start - timedelta(hours=1),
        )
    )


def test_confirmed_booking_without_a_slot_is_refused(aurora: Any, bob: Any) -> None:
    refused(
        lambda: m.Booking.objects.create(
            tenant=aurora, created_by=bob, kind="flexible", status="confirmed", chips=1, hours=1
        )
    )


def test_negative_contribution_is_refused(catalogue: Any) -> None:
    partner = m.Partner.objects.create(name="P", slug="p", kind="company", pool=catalogue.acme_pool)
    refused(lambda: m.Contribution.objects.create(partner=partner, tranche="equity", amount_eur=-1))


def test_second_public_pool_is_refused(catalogue: Any) -> None:
    refused(lambda: m.Pool.objects.create(name="Another public", slug="public-2", is_public=True))


def test_audit_events_cannot_be_rewritten(alice: Any) -> None:
    event = m.AuditEvent.objects.create(actor=alice, action="test", object_type="x", object_id="1", after={"v": 1})
    refused(lambda: m.AuditEvent.objects.filter(pk=event.pk).update(action="forged"))
    event.refresh_from_db()
    assert event.action == "test"


def test_audit_events_cannot_be_deleted_on_postgresql(alice: Any) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite keeps DELETE for its test runner's table flush")
    event = m.AuditEvent.objects.create(actor=alice, action="test", object_type="x", object_id="1")
    refused(lambda: m.AuditEvent.objects.filter(pk=event.pk).delete())
    assert m.AuditEvent.objects.filter(pk=event.pk).exists()
