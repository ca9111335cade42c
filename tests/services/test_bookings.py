"""Bookings at the service level: confirm, refuse with a reason, cancel, round, maintenance.

The concurrent-client proof is tests/integration/test_booking_races.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from allocation import fairshare
from allocation.models import AuditEvent, Booking, BookingStatus, QuotaBalance, ResourceHour
from allocation.services import ledger
from allocation.services.booking_round import booking_round_run, booking_round_shards
from allocation.services.bookings import booking_cancel, booking_fixed_create, booking_flexible_create
from allocation.services.errors import Conflict, IdempotencyMismatch, ServiceError
from allocation.services.maintenance import booking_at_risk_resolve, maintenance_announce, maintenance_cancel
from allocation.services.usage import usage_records_report
from tests.factories import booked_hours

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
START = datetime(2027, 1, 8, tzinfo=UTC)


def test_fixed_booking_is_confirmed_and_holds_chips_and_quota(funded: Any, aurora: Any, alice: Any) -> None:
    booking, created = booking_fixed_create(
        actor=alice, tenant=aurora, inventory=funded.lux_h100, starts_at=START, hours=10, chips=60
    )
    assert created and booking.status == BookingStatus.CONFIRMED
    assert booked_hours(inventory=funded.lux_h100) == {START + timedelta(hours=h): 60 for h in range(10)}
    assert QuotaBalance.objects.get(tenant=aurora).used == 600


def test_capacity_refusal_names_the_earliest_start_that_fits(
    funded: Any, aurora: Any, alice: Any, nimbus: Any, mallory: Any
) -> None:
    booking_fixed_create(actor=alice, tenant=aurora, inventory=funded.lux_h100, starts_at=START, hours=10, chips=60)
    with pytest.raises(Conflict) as refused:
        booking_fixed_create(
            actor=mallory,
            tenant=nimbus,
            inventory=funded.lux_h100,
            starts_at=START + timedelta(hours=2),
            hours=5,
            chips=40,
        )
    assert refused.value.field == "capacity"
    assert refused.value.extra["earliest_start"] == (START + timedelta(hours=10)).isoformat()
    assert Booking.objects.filter(tenant=nimbus).count() == 0


def test_quota_refusal(funded: Any, aurora: Any, alice: Any) -> None:
    with pytest.raises(Conflict) as refused:
        booking_fixed_create(
            actor=alice, tenant=aurora, inventory=funded.muc_b200, starts_at=START, hours=100, chips=50
        )  # 50 * 100 * 2.5 = 12,500 > 10,000
    assert refused.value.field == "quota"
    assert ResourceHour.objects.filter(booked__gt=0).count() == 0  # the chips were given back


def test_bad_shapes_name_the_field(funded: Any, aurora: Any, alice: Any) -> None:
    for kwargs, field in (
        ({"chips": 0}, "chips"),
        ({"hours": -1}, "hours"),
        ({"starts_at": START + timedelta(minutes=30)}, "starts_at"),
        ({"chips": 10_000}, "chips"),
    ):
        args = {"starts_at": START, "hours": 1, "chips": 1, **kwargs}
        with pytest.raises(ServiceError) as err:
            booking_fixed_create(actor=alice, tenant=aurora, inventory=funded.lux_h100, **args)
        assert err.value.field == field


def test_idempotency_key_replays_and_refuses_a_different_body(funded: Any, aurora: Any, alice: Any) -> None:
    first, _ = booking_fixed_create(
        actor=alice,
        tenant=aurora,
        inventory=funded.lux_h100,
        starts_at=START,
        hours=2,
        chips=1,
        idempotency_key="run-42",
    )
    again, created = booking_fixed_create(
        actor=alice,
        tenant=aurora,
        inventory=funded.lux_h100,
        starts_at=START,
        hours=2,
        chips=1,
        idempotency_key="run-42",
    )
    assert (again.pk, created) == (first.pk, False)
    with pytest.raises(IdempotencyMismatch):
        booking_fixed_create(
            actor=alice,
            tenant=aurora,
            inventory=funded.lux_h100,
            starts_at=START,
            hours=3,
            chips=1,
            idempotency_key="run-42",
        )
    assert Booking.objects.count() == 1


def test_cancel_releases_chips_and_quota_and_an_active_one_pays_for_hours_used(
    funded: Any, aurora: Any, alice: Any
) -> None:
    booking, _ = booking_fixed_create(
        actor=alice, tenant=aurora, inventory=funded.lux_h100, starts_at=START, hours=10, chips=10
    )
    booking.status = BookingStatus.ACTIVE
    booking.save()
    booking_cancel(actor=alice, booking=booking, now=START + timedelta(hours=3, minutes=20))
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert booking.cost_normalized_hours == 40  # 4 started hours x 10 chips
    assert QuotaBalance.objects.get(tenant=aurora).used == 40
    booked = dict(ResourceHour.objects.filter(inventory=funded.lux_h100).values_list("hour", "booked"))
    assert booked[START + timedelta(hours=3)] == 10 and booked[START + timedelta(hours=4)] == 0


def test_booking_round_places_by_fair_share_and_reports_reasons(
    funded: Any, aurora: Any, alice: Any, nimbus: Any, mallory: Any
) -> None:
    now = START - timedelta(hours=1)
    window = dict(
        earliest_start=START, latest_end=START + timedelta(hours=10), hours=10, chips=60, eligible=[funded.lux_h100]
    )
    a, _ = booking_flexible_create(actor=alice, tenant=aurora, **window)
    n, _ = booking_flexible_create(actor=mallory, tenant=nimbus, **window)
    shards = booking_round_shards(now=now)
    assert shards == [[funded.lux_h100.pk]]
    outcome = booking_round_run(inventory_ids=shards[0], now=now)
    assert outcome == {"bookings": 2, "placed": 1, "unplaced": {"capacity": 1}}
    a.refresh_from_db()
    n.refresh_from_db()
    assert a.status == BookingStatus.CONFIRMED and a.starts_at == START  # equal F: submitted first wins
    assert (n.status, n.unplaced_reason) == (BookingStatus.PENDING, "capacity")
    # A second run (or one racing it) places nothing twice.
    assert booking_round_run(inventory_ids=shards[0], now=now)["placed"] == 0
    assert Booking.objects.filter(status=BookingStatus.CONFIRMED).count() == 1


def test_a_tenant_hears_once_per_round_about_all_its_placed_bookings(
    funded: Any, aurora: Any, alice: Any, django_capture_on_commit_callbacks: Any, mailoutbox: Any
) -> None:
    now = START - timedelta(hours=1)
    runs = [
        booking_flexible_create(
            actor=alice,
            tenant=aurora,
            earliest_start=START + timedelta(hours=10 * i),
            latest_end=START + timedelta(hours=10 * i + 5),
            hours=5,
            chips=4,
            eligible=[funded.lux_h100],
        )[0]
        for i in range(3)
    ]

    with django_capture_on_commit_callbacks(execute=True):
        booking_round_run(inventory_ids=[funded.lux_h100.pk], now=now)

    placed = [m for m in mailoutbox if "confirmed" in m.subject]
    assert [m.subject for m in placed] == ["[InvestAI] 3 bookings confirmed"]  # one message, not three
    assert all(f"Booking {b.pk}: 4 chips" in placed[0].body for b in runs)


def test_a_round_whose_snapshot_went_stale_places_what_still_fits(
    funded: Any, aurora: Any, alice: Any, nimbus: Any, mallory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = START - timedelta(hours=1)
    chips = funded.lux_h100.chips_in_service
    early, _ = booking_flexible_create(
        actor=alice,
        tenant=aurora,
        earliest_start=START,
        hours=5,
        chips=chips,
        latest_end=START + timedelta(hours=5),
        eligible=[funded.lux_h100],
    )
    late, _ = booking_flexible_create(
        actor=alice,
        tenant=aurora,
        earliest_start=START + timedelta(hours=5),
        hours=5,
        chips=10,
        latest_end=START + timedelta(hours=10),
        eligible=[funded.lux_h100],
    )
    decide = fairshare.place_bookings

    def decide_then_someone_books_first(engine_input: Any) -> Any:
        # Between the engine's snapshot and the writes, a fixed booking takes one chip of the first slot.
        result = decide(engine_input)
        booking_fixed_create(
            actor=mallory,
            tenant=nimbus,
            inventory=funded.lux_h100,
            starts_at=START + timedelta(hours=4),
            hours=1,
            chips=1,
        )
        return result

    monkeypatch.setattr(fairshare, "place_bookings", decide_then_someone_books_first)
    outcome = booking_round_run(inventory_ids=[funded.lux_h100.pk], now=now)

    early.refresh_from_db()
    late.refresh_from_db()
    assert outcome == {"bookings": 2, "placed": 1, "unplaced": {"capacity": 1}}
    assert (early.status, early.unplaced_reason) == (BookingStatus.PENDING, "capacity")
    assert late.status == BookingStatus.CONFIRMED and late.starts_at == START + timedelta(hours=5)
    booked = booked_hours(inventory=funded.lux_h100)
    assert booked[START + timedelta(hours=4)] == 1 and booked[START + timedelta(hours=5)] == 10
    assert QuotaBalance.objects.get(tenant=aurora).used == pytest.approx(10 * 5 * funded.lux_h100.chip_type.throughput)


def test_the_ledger_takes_a_batch_of_holds_in_order_each_only_if_it_fits(funded: Any, aurora: Any, nimbus: Any) -> None:
    lux, muc, period = funded.lux_h100, funded.muc_b200, funded.period
    capacity = lux.chips_in_service

    def hold(inventory: Any, tenant: Any, start: datetime, hours: int, chips: int) -> ledger.Hold:
        cost = chips * hours * inventory.chip_type.throughput
        return ledger.Hold(
            inventory=inventory, start=start, hours=hours, chips=chips, tenant_id=tenant.pk, period=period, cost=cost
        )

    outcome = ledger.holds_place(
        holds=[
            hold(lux, aurora, START, 10, capacity - 5),
            hold(lux, nimbus, START + timedelta(hours=9), 2, 6),  # one chip short in hour 9
            hold(lux, nimbus, START + timedelta(hours=9), 2, 5),
            hold(muc, aurora, START, 100, 50),  # 12,500 normalized hours > what Aurora has left
        ]
    )

    assert outcome == ["", "capacity", "", "quota"]
    booked = booked_hours(inventory=lux)
    assert booked[START] == capacity - 5 and booked[START + timedelta(hours=9)] == capacity
    assert booked[START + timedelta(hours=10)] == 5
    assert booked_hours(inventory=muc) == {}
    balances = dict(QuotaBalance.objects.values_list("tenant_id", "used"))
    assert balances[aurora.pk] == pytest.approx((capacity - 5) * 10 * lux.chip_type.throughput)
    assert balances[nimbus.pk] == pytest.approx(5 * 2 * lux.chip_type.throughput)


def test_maintenance_flags_the_bookings_it_displaces(
    funded: Any, aurora: Any, alice: Any, nimbus: Any, mallory: Any, oscar: Any
) -> None:
    booking_fixed_create(actor=alice, tenant=aurora, inventory=funded.lux_h100, starts_at=START, hours=5, chips=50)
    late, _ = booking_fixed_create(
        actor=mallory, tenant=nimbus, inventory=funded.lux_h100, starts_at=START, hours=5, chips=30
    )
    _, displaced = maintenance_announce(
        actor=oscar, inventory=funded.lux_h100, chips=30, starts_at=START, ends_at=START + timedelta(hours=2)
    )
    assert [b.pk for b in displaced] == [late.pk]  # 90 - 30 = 60 left: the later booking goes
    late.refresh_from_db()
    assert late.status == BookingStatus.AT_RISK
    row = ResourceHour.objects.get(inventory=funded.lux_h100, hour=START)
    assert (row.capacity, row.booked, row.at_risk) == (60, 50, 30)


def test_usage_reports_are_idempotent_per_record(funded: Any, aurora: Any, alice: Any, oscar: Any) -> None:
    booking, _ = booking_fixed_create(
        actor=alice, tenant=aurora, inventory=funded.muc_b200, starts_at=START, hours=2, chips=4
    )
    batch = [{"record_id": "muc-1", "booking": booking.pk, "at": START, "gpu_hours": 8}]
    later = START + timedelta(hours=3)
    assert usage_records_report(actor=oscar, records=batch, now=later).as_dict() == {
        "created": 1,
        "already_reported": 0,
        "refused": [],
    }
    assert usage_records_report(actor=oscar, records=batch, now=later).as_dict() == {
        "created": 0,
        "already_reported": 1,
        "refused": [],
    }
    other = usage_records_report(actor=oscar, records=[{**batch[0], "gpu_hours": 7}], now=later)
    assert [(r.field, r.code) for r in other.refused] == [("record_id", "conflict")]
    assert ledger.floor_hour(START + timedelta(minutes=59)) == START


def test_a_round_run_before_the_period_starts_books_from_that_periods_quota(
    funded: Any, aurora: Any, alice: Any
) -> None:
    booking, _ = booking_flexible_create(
        actor=alice,
        tenant=aurora,
        earliest_start=START,
        latest_end=START + timedelta(days=2),
        hours=4,
        chips=10,
        eligible=[funded.lux_h100],
    )
    a_month_before = funded.period.starts_at - timedelta(days=30)
    outcome = booking_round_run(inventory_ids=[funded.lux_h100.pk], now=a_month_before)
    booking.refresh_from_db()
    assert outcome["placed"] == 1
    assert (booking.status, booking.starts_at, booking.period_id) == (BookingStatus.CONFIRMED, START, funded.period.pk)
    assert QuotaBalance.objects.get(tenant=aurora, period=funded.period).used == 40


def test_a_window_no_period_covers_is_refused_at_submission(funded: Any, aurora: Any, alice: Any) -> None:
    after = funded.period.ends_at + timedelta(days=10)
    with pytest.raises(ServiceError) as refused:
        booking_flexible_create(
            actor=alice,
            tenant=aurora,
            earliest_start=after,
            latest_end=after + timedelta(days=1),
            hours=4,
            chips=10,
            eligible=[funded.lux_h100],
        )
    assert refused.value.field == "latest_end"
    assert not Booking.objects.exists()


def test_an_operator_reconfirms_an_at_risk_booking_once_its_chips_are_back(
    funded: Any, aurora: Any, alice: Any, oscar: Any
) -> None:
    booking, _ = booking_fixed_create(
        actor=alice, tenant=aurora, inventory=funded.lux_h100, starts_at=START, hours=2, chips=80
    )
    window, displaced = maintenance_announce(
        actor=oscar, inventory=funded.lux_h100, chips=30, starts_at=START, ends_at=START + timedelta(hours=1)
    )
    assert [b.pk for b in displaced] == [booking.pk]
    with pytest.raises(Conflict):  # still short while the maintenance holds the chips
        booking_at_risk_resolve(actor=oscar, booking=booking, now=START - timedelta(days=1))
    # The maintenance is called off: the hour gets its chips back.
    maintenance_cancel(actor=oscar, window=window)
    booking_at_risk_resolve(actor=oscar, booking=booking, now=START - timedelta(days=1))
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    assert booked_hours(inventory=funded.lux_h100) == {START: 80, START + timedelta(hours=1): 80}
    assert not ResourceHour.objects.filter(at_risk__gt=0).exists()


def test_every_booking_state_change_leaves_an_audit_event_with_before_and_after(
    funded: Any, aurora: Any, alice: Any, oscar: Any
) -> None:
    """Confirm, queue, place, at risk, re-confirm, cancel: each writes its event, in its transaction."""
    now = START - timedelta(hours=1)
    fixed, _ = booking_fixed_create(
        actor=alice, tenant=aurora, inventory=funded.lux_h100, starts_at=START, hours=2, chips=80
    )
    flexible, _ = booking_flexible_create(
        actor=alice,
        tenant=aurora,
        eligible=[funded.muc_h100],
        earliest_start=START,
        latest_end=START + timedelta(hours=4),
        hours=2,
        chips=5,
    )
    booking_round_run(inventory_ids=[funded.muc_h100.pk], now=now)
    window, _ = maintenance_announce(
        actor=oscar, inventory=funded.lux_h100, chips=30, starts_at=START, ends_at=START + timedelta(hours=1)
    )
    maintenance_cancel(actor=oscar, window=window)
    booking_at_risk_resolve(actor=oscar, booking=fixed, now=now)
    booking_cancel(actor=alice, booking=flexible, now=now)

    def trail(booking: Booking) -> list[tuple[str, str | None, str | None]]:
        events = AuditEvent.objects.filter(object_type="booking", object_id=str(booking.pk)).order_by("pk")
        return [(e.action, (e.before or {}).get("status"), (e.after or {}).get("status")) for e in events]

    assert trail(fixed) == [
        ("booking.confirmed", None, "confirmed"),
        ("booking.at_risk", "confirmed", "at_risk"),
        ("booking.resolved", "at_risk", "confirmed"),
    ]
    assert trail(flexible) == [
        ("booking.queued", None, "pending"),
        ("booking.placed", "pending", "confirmed"),
        ("booking.cancelled", "confirmed", "cancelled"),
    ]
    assert AuditEvent.objects.get(action="booking.at_risk").actor is None  # the maintenance did it, not a person
