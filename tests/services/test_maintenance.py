"""Maintenance and resource changes keep the ledger: capacity follows, up and down, and
displaced bookings are put at risk, their tenants told; at-risk bookings are re-confirmed,
moved or cancelled through the ledger (issue 11, item 1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from allocation.models import AuditEvent, Booking, BookingStatus, Notification, QuotaBalance, ResourceHour
from allocation.services import ledger
from allocation.services.bookings import booking_fixed_create
from allocation.services.errors import Conflict, NotAllowed, ServiceError
from allocation.services.maintenance import (
    booking_at_risk_cancel,
    booking_at_risk_move,
    booking_at_risk_resolve,
    inventory_chips_set,
    maintenance_announce,
    maintenance_cancel,
    maintenance_change,
    maintenance_end,
)
from tests.factories import booked_hours

pytestmark = pytest.mark.django_db
START = datetime(2027, 1, 8, tzinfo=UTC)
H = timedelta(hours=1)


def capacity(inventory: Any, start: datetime = START, hours: int = 4) -> list[int]:
    """Chips in service per hour as the ledger has them (an hour without a row: as it would be created)."""
    ledger_rows = ledger.capacity_and_held(inventory=inventory, start=start, hours=hours)
    return [ledger_rows[start + i * H][0] for i in range(hours)]


def told(tenant: Any) -> list[str]:
    return list(Notification.objects.filter(tenant=tenant).values_list("subject", flat=True))


def test_announcing_lowers_capacity_flags_the_latest_booking_and_tells_its_tenant(
    funded: Any, aurora: Any, alice: Any, nimbus: Any, mallory: Any, oscar: Any
) -> None:
    lux = funded.lux_h100  # 90 in service
    early, _ = booking_fixed_create(actor=alice, tenant=aurora, inventory=lux, starts_at=START, hours=3, chips=50)
    late, _ = booking_fixed_create(actor=mallory, tenant=nimbus, inventory=lux, starts_at=START, hours=3, chips=30)

    window, displaced = maintenance_announce(
        actor=oscar, inventory=lux, chips=30, starts_at=START + H, ends_at=START + 2 * H, reason="PDU swap"
    )

    assert [b.pk for b in displaced] == [late.pk]
    assert capacity(lux) == [90, 60, 90, 90]
    late.refresh_from_db()
    early.refresh_from_db()
    assert (late.status, early.status) == (BookingStatus.AT_RISK, BookingStatus.CONFIRMED)
    # The displaced booking's chips leave "booked" for its whole slot, not only the window's hour.
    rows = {
        r.hour: (r.booked, r.at_risk)
        for r in ResourceHour.objects.filter(inventory=lux, hour__lt=START + 3 * H, hour__gte=START)
    }
    assert rows == {START: (50, 30), START + H: (50, 30), START + 2 * H: (50, 30)}
    assert told(nimbus) == [f"Booking {late.pk} is at risk"] and told(aurora) == []
    assert AuditEvent.objects.filter(action="maintenance.announced", object_id=str(window.pk)).exists()
    # Nothing more fits in the hour the maintenance took.
    with pytest.raises(Conflict):
        booking_fixed_create(actor=alice, tenant=aurora, inventory=lux, starts_at=START + H, hours=1, chips=1)


def test_changing_a_window_recomputes_capacity_up_and_down(funded: Any, oscar: Any) -> None:
    lux = funded.lux_h100
    window, _ = maintenance_announce(actor=oscar, inventory=lux, chips=40, starts_at=START, ends_at=START + 2 * H)
    assert capacity(lux) == [50, 50, 90, 90]

    maintenance_change(actor=oscar, window=window, chips=10)  # fewer chips: capacity goes back up
    assert capacity(lux) == [80, 80, 90, 90]

    maintenance_change(actor=oscar, window=window, starts_at=START + 2 * H, ends_at=START + 4 * H)  # moved later
    assert capacity(lux) == [90, 90, 80, 80]


def test_overlapping_windows_each_count_and_cancelling_one_leaves_the_other(funded: Any, oscar: Any) -> None:
    lux = funded.lux_h100
    first, _ = maintenance_announce(actor=oscar, inventory=lux, chips=20, starts_at=START, ends_at=START + 3 * H)
    maintenance_announce(actor=oscar, inventory=lux, chips=30, starts_at=START + H, ends_at=START + 4 * H)
    assert capacity(lux) == [70, 40, 40, 60]

    maintenance_cancel(actor=oscar, window=first)

    assert capacity(lux) == [90, 60, 60, 60]
    assert AuditEvent.objects.filter(action="maintenance.cancelled", object_id=str(first.pk)).exists()


def test_ending_early_gives_the_chips_back_from_now_and_a_window_not_started_is_cancelled(
    funded: Any, oscar: Any
) -> None:
    lux = funded.lux_h100
    window, _ = maintenance_announce(actor=oscar, inventory=lux, chips=40, starts_at=START, ends_at=START + 4 * H)
    ended = maintenance_end(actor=oscar, window=window, now=START + 2 * H)
    assert ended.ends_at == START + 2 * H
    assert capacity(lux) == [50, 50, 90, 90]  # hours gone by keep their figures

    later, _ = maintenance_announce(
        actor=oscar, inventory=lux, chips=40, starts_at=START + 10 * H, ends_at=START + 12 * H
    )
    assert maintenance_end(actor=oscar, window=later, now=START).pk is None
    assert capacity(lux, START + 10 * H, 2) == [90, 90]


def test_chips_in_service_changes_move_capacity_and_flag_what_no_longer_fits(
    funded: Any, aurora: Any, alice: Any, oscar: Any
) -> None:
    lux = funded.lux_h100
    booking, _ = booking_fixed_create(actor=alice, tenant=aurora, inventory=lux, starts_at=START, hours=2, chips=80)
    maintenance_announce(actor=oscar, inventory=lux, chips=5, starts_at=START + H, ends_at=START + 2 * H)

    _, displaced = inventory_chips_set(actor=oscar, inventory=lux, chips_in_service=70)

    assert [b.pk for b in displaced] == [booking.pk]
    assert capacity(lux, START, 3) == [70, 65, 70]
    inventory_chips_set(actor=oscar, inventory=lux, chips_in_service=100)
    assert capacity(lux, START, 3) == [100, 95, 100]
    with pytest.raises(ServiceError) as refused:
        inventory_chips_set(actor=oscar, inventory=lux, chips_in_service=101)
    assert refused.value.field == "chips_in_service"


def test_reconfirm_once_the_chips_are_back(funded: Any, aurora: Any, alice: Any, oscar: Any) -> None:
    lux = funded.lux_h100
    booking, _ = booking_fixed_create(actor=alice, tenant=aurora, inventory=lux, starts_at=START, hours=2, chips=80)
    window, _ = maintenance_announce(actor=oscar, inventory=lux, chips=30, starts_at=START, ends_at=START + H)
    with pytest.raises(Conflict):
        booking_at_risk_resolve(actor=oscar, booking=booking)
    maintenance_change(actor=oscar, window=window, chips=10)  # 80 fit again

    booking_at_risk_resolve(actor=oscar, booking=booking)

    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    assert booked_hours(inventory=lux) == {START: 80, START + H: 80}
    assert f"Booking {booking.pk} is confirmed again" in told(aurora)


def test_move_to_another_resource_of_the_chip_type_goes_through_the_ledger(
    funded: Any, aurora: Any, alice: Any, oscar: Any
) -> None:
    lux, muc = funded.lux_h100, funded.muc_h100
    booking, _ = booking_fixed_create(actor=alice, tenant=aurora, inventory=lux, starts_at=START, hours=2, chips=80)
    maintenance_announce(actor=oscar, inventory=lux, chips=90, starts_at=START, ends_at=START + 2 * H)

    moved = booking_at_risk_move(actor=oscar, booking=booking, inventory=muc, starts_at=START + 5 * H)

    assert (moved.status, moved.inventory_id, moved.starts_at) == (BookingStatus.CONFIRMED, muc.pk, START + 5 * H)
    assert booked_hours(inventory=muc) == {START + 5 * H: 80, START + 6 * H: 80}
    assert not ResourceHour.objects.filter(inventory=lux, at_risk__gt=0).exists()
    # Charged once, as a new booking, on the grant of the resource it moved to; the old one is refunded.
    assert QuotaBalance.objects.get(tenant=aurora, inventory=muc).used == pytest.approx(160)
    assert QuotaBalance.objects.get(tenant=aurora, inventory=lux).used == pytest.approx(0)
    assert f"Booking {booking.pk} was moved" in told(aurora)
    assert AuditEvent.objects.filter(action="booking.moved", object_id=str(booking.pk)).exists()


def test_a_move_that_does_not_fit_or_changes_chip_type_changes_nothing(
    funded: Any, aurora: Any, alice: Any, nimbus: Any, mallory: Any, oscar: Any
) -> None:
    lux, muc = funded.lux_h100, funded.muc_h100
    booking, _ = booking_fixed_create(actor=alice, tenant=aurora, inventory=lux, starts_at=START, hours=2, chips=80)
    booking_fixed_create(actor=mallory, tenant=nimbus, inventory=muc, starts_at=START, hours=2, chips=950)
    maintenance_announce(actor=oscar, inventory=lux, chips=90, starts_at=START, ends_at=START + 2 * H)
    before = (
        booked_hours(),
        dict(ResourceHour.objects.filter(at_risk__gt=0).values_list("hour", "at_risk")),
        QuotaBalance.objects.get(tenant=aurora).used,
    )

    with pytest.raises(Conflict) as full:
        booking_at_risk_move(actor=oscar, booking=booking, inventory=muc)
    with pytest.raises(ServiceError) as other_chip:
        booking_at_risk_move(actor=oscar, booking=booking, inventory=funded.muc_b200)

    assert full.value.field == "capacity" and other_chip.value.field == "resource"
    booking.refresh_from_db()
    assert booking.status == BookingStatus.AT_RISK and booking.inventory_id == lux.pk
    assert before == (
        booked_hours(),
        dict(ResourceHour.objects.filter(at_risk__gt=0).values_list("hour", "at_risk")),
        QuotaBalance.objects.get(tenant=aurora).used,
    )


def test_cancelling_an_at_risk_booking_gives_chips_and_quota_back_and_tells_the_tenant(
    funded: Any, aurora: Any, alice: Any, oscar: Any
) -> None:
    lux = funded.lux_h100
    booking, _ = booking_fixed_create(actor=alice, tenant=aurora, inventory=lux, starts_at=START, hours=2, chips=80)
    maintenance_announce(actor=oscar, inventory=lux, chips=30, starts_at=START, ends_at=START + H)

    booking_at_risk_cancel(actor=oscar, booking=booking)

    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert not ResourceHour.objects.filter(inventory=lux, at_risk__gt=0).exists()
    assert QuotaBalance.objects.get(tenant=aurora).used == pytest.approx(0)
    assert f"Booking {booking.pk} was cancelled" in told(aurora)


def test_only_operators_and_bad_input_is_refused_naming_the_field(
    funded: Any, aurora: Any, alice: Any, carol: Any, oscar: Any
) -> None:
    lux = funded.lux_h100
    for user in (alice, carol):
        with pytest.raises(NotAllowed):
            maintenance_announce(actor=user, inventory=lux, chips=1, starts_at=START, ends_at=START + H)
    cases = [
        ({"chips": 0}, "chips"),
        ({"chips": 101}, "chips"),
        ({"ends_at": START}, "ends_at"),
        ({"ends_at": START + timedelta(days=400)}, "ends_at"),
        ({"ends_at": datetime(2020, 1, 1, tzinfo=UTC), "starts_at": datetime(2019, 1, 1, tzinfo=UTC)}, "ends_at"),
    ]
    for overrides, field in cases:
        body = {"chips": 10, "starts_at": START, "ends_at": START + H, **overrides}
        with pytest.raises(ServiceError) as refused:
            maintenance_announce(actor=oscar, inventory=lux, **body)
        assert refused.value.field == field, overrides
    assert not ResourceHour.objects.exists() and not Booking.objects.exists()
    assert ledger.capacity_by_hour(inventory=lux, start=START, hours=1) == {START: 90}
