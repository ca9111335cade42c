"""Grants bound to where they were granted (issue 11, items 2, 5 and 11), at the service level.

- a booking draws only on its tenant's grant on its resource, fixed or flexible;
- the booking round places a flexible booking only where its tenant has grant left;
- a round commit goes through when a tenant already booked more than it grants (overdrawn),
  the committee sees those grants in the preview, and nothing more can be booked on them;
- flexible bookings that can never be placed are refused at submission, and the reason a
  pending booking shows is the right one;
- the data migration rebuilds the per-tenant balances per resource, keeping what was booked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from allocation import fairshare
from allocation.models import (
    Booking,
    BookingKind,
    BookingStatus,
    Inventory,
    Notification,
    QuotaBalance,
    RoundStatus,
)
from allocation.services import rounds
from allocation.services.booking_round import booking_round_run
from allocation.services.bookings import booking_cancel, booking_fixed_create, booking_flexible_create
from allocation.services.errors import Conflict, ServiceError
from allocation.services.requests import RequestContent, request_create, request_decide, request_submit
from tests.factories import grant

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
START = datetime(2027, 1, 8, tzinfo=UTC)


@pytest.fixture
def on_muc(catalogue: Any, aurora: Any, nimbus: Any, carol: Any) -> Any:
    """Aurora holds a grant only on muc/h100; Nimbus only on lux/h100."""
    grant(catalogue, aurora, carol, 1_000, catalogue.muc_h100)
    grant(catalogue, nimbus, carol, 1_000, catalogue.lux_h100)
    return catalogue


# --- item 2: a grant is spent only where it was granted --------------------------------------


def test_a_fixed_booking_outside_the_grant_is_refused_naming_it(on_muc: Any, aurora: Any, alice: Any) -> None:
    for inventory in (on_muc.lux_h100, on_muc.muc_b200):
        with pytest.raises(Conflict) as refused:
            booking_fixed_create(actor=alice, tenant=aurora, inventory=inventory, starts_at=START, hours=2, chips=5)
        assert refused.value.message == f"No grant of yours covers {inventory} in 2027 Q1."
    assert not Booking.objects.exists()
    assert not QuotaBalance.objects.filter(used__gt=0).exists()


def test_each_grant_is_charged_on_its_own_resource(catalogue: Any, aurora: Any, alice: Any, carol: Any) -> None:
    grant(catalogue, aurora, carol, 100, catalogue.muc_h100)
    grant(catalogue, aurora, carol, 500, catalogue.lux_h100)
    booking_fixed_create(actor=alice, tenant=aurora, inventory=catalogue.muc_h100, starts_at=START, hours=10, chips=10)
    with pytest.raises(Conflict) as refused:  # muc/h100 is spent, although lux/h100 has 500 left
        booking_fixed_create(
            actor=alice, tenant=aurora, inventory=catalogue.muc_h100, starts_at=START, hours=1, chips=1
        )
    assert refused.value.message == (
        "Your grant on muc/h100 in 2027 Q1 has 0.0 normalized hours left; this booking needs 1.0."
    )
    booking_fixed_create(actor=alice, tenant=aurora, inventory=catalogue.lux_h100, starts_at=START, hours=10, chips=50)
    used = {
        str(b.inventory): (b.granted, b.used)
        for b in QuotaBalance.objects.select_related("inventory__gigafactory", "inventory__chip_type")
    }
    assert used == {"muc/h100": (100, 100), "lux/h100": (500, 500)}


def test_the_booking_round_places_a_flexible_booking_only_where_its_grant_is(
    on_muc: Any, aurora: Any, alice: Any
) -> None:
    # lux/h100 comes first in the round's resource order and is free; Aurora's grant is on muc/h100.
    booking, _ = booking_flexible_create(
        actor=alice,
        tenant=aurora,
        eligible=[on_muc.lux_h100, on_muc.muc_h100],
        earliest_start=START,
        latest_end=START + timedelta(days=1),
        hours=4,
        chips=10,
    )
    outcome = booking_round_run(inventory_ids=[on_muc.lux_h100.pk, on_muc.muc_h100.pk], now=START)
    booking.refresh_from_db()
    assert outcome["placed"] == 1
    assert (booking.status, booking.inventory_id, booking.starts_at) == (
        BookingStatus.CONFIRMED,
        on_muc.muc_h100.pk,
        START,
    )
    assert QuotaBalance.objects.get(tenant=aurora, inventory=on_muc.muc_h100).used == 40
    assert not QuotaBalance.objects.filter(tenant=aurora, inventory=on_muc.lux_h100).exists()


def test_a_grant_spent_after_submission_leaves_the_booking_pending_for_lack_of_grant(
    on_muc: Any, aurora: Any, alice: Any
) -> None:
    booking, _ = booking_flexible_create(
        actor=alice,
        tenant=aurora,
        eligible=[on_muc.muc_h100],
        earliest_start=START,
        latest_end=START + timedelta(days=1),
        hours=10,
        chips=60,
    )
    booking_fixed_create(actor=alice, tenant=aurora, inventory=on_muc.muc_h100, starts_at=START, hours=10, chips=50)
    outcome = booking_round_run(inventory_ids=[on_muc.muc_h100.pk], now=START)
    booking.refresh_from_db()
    assert outcome["unplaced"] == {"quota": 1}
    assert (booking.status, booking.unplaced_reason) == (BookingStatus.PENDING, "quota")


def test_my_bookings_shows_each_grant_with_its_figures(client: Any, on_muc: Any, aurora: Any, alice: Any) -> None:
    booking_fixed_create(actor=alice, tenant=aurora, inventory=on_muc.muc_h100, starts_at=START, hours=2, chips=100)
    client.force_login(alice)
    html = client.get(reverse("booking-list")).content.decode()
    assert "Your grants" in html
    assert (
        '<tr data-grant="aurora-lab/muc/h100"><td>2027 Q1</td><td>Aurora Lab</td><td>muc/h100</td>'
        '<td class="num">1,000.0</td><td class="num">200.0</td><td class="num">0.0</td>'
        '<td class="num">800.0</td></tr>'
    ) in html
    assert "lux/h100" not in html  # Nimbus's grant is not Aurora's business


def test_a_retried_flexible_booking_is_replayed_even_once_its_grant_is_spent(
    on_muc: Any, aurora: Any, alice: Any
) -> None:
    ask = dict(
        actor=alice,
        tenant=aurora,
        eligible=[on_muc.muc_h100],
        earliest_start=START,
        latest_end=START + timedelta(days=1),
        hours=10,
        chips=50,
        idempotency_key="retry-1",
    )
    first, created = booking_flexible_create(**ask)
    booking_fixed_create(actor=alice, tenant=aurora, inventory=on_muc.muc_h100, starts_at=START, hours=10, chips=100)
    again, created_again = booking_flexible_create(**ask)
    assert (created, created_again, again.pk) == (True, False, first.pk)


def test_the_engine_draws_on_the_grants_covering_the_resource_only() -> None:
    hour, lux, muc = START, ("lux", "h100"), ("muc", "h100")
    inp = fairshare.BookingInput(
        resources=(
            fairshare.Resource("lux", "h100", 1.0, chips=100),
            fairshare.Resource("muc", "h100", 1.0, chips=100),
        ),
        tenants=(
            fairshare.Tenant(
                "a",
                "p",
                grants=(
                    fairshare.TenantGrant("wide", (("lux", "h100"), ("muc", "h100")), 30.0),
                    fairshare.TenantGrant("muc-only", (("muc", "h100"),), 20.0),
                ),
            ),
        ),
        horizon_start=hour,
        horizon_hours=10,
        reserved=(),
        bookings=tuple(
            fairshare.BookingAsk(str(i), "a", 10, 1, hour, hour + timedelta(hours=10), hour, (key,))
            for i, key in enumerate([muc, muc, lux, lux, muc, lux])
        ),
        fair_share={},
    )
    result = fairshare.place_bookings(inp)
    # Each booking costs 10. muc draws on the grant covering only muc first (20), so the wide grant (30) still
    # pays for two on lux and a third on muc; then nothing is left for the sixth. (Drawing the wide grant
    # first would have left the second lux booking unplaced with 20 hours unused on muc-only.)
    assert [p.booking for p in result.placements] == ["0", "1", "2", "3", "4"]
    assert [(u.booking, u.reason) for u in result.unplaced] == [("5", "quota")]


# --- item 5: overdrawn tenants do not block a round -------------------------------------------


def _accepted(catalogue: Any, tenant: Any, pi: Any, carol: Any, gpu_hours: float) -> None:
    req = request_create(
        actor=pi,
        tenant=tenant,
        period=catalogue.period,
        content=RequestContent(
            title=f"{tenant.name} {gpu_hours}",
            chip_type=catalogue.h100,
            demand_gpu_hours=gpu_hours,
            eligible_sites=(catalogue.muc,),
        ),
    )
    request_submit(actor=pi, request=req)
    request_decide(actor=carol, request=req, accept=True)


@pytest.fixture
def overdrawn(
    catalogue: Any,
    aurora: Any,
    alice: Any,
    nimbus: Any,
    mallory: Any,
    carol: Any,
    django_capture_on_commit_callbacks: Any,
) -> Any:
    """Aurora booked 600 h on lux/h100 under an earlier round; then a long outage took lux/h100 out of
    service, so a new preview grants Aurora nothing there (its request goes to muc instead)."""
    grant(catalogue, aurora, carol, 1_000, catalogue.lux_h100)
    booking_fixed_create(actor=alice, tenant=aurora, inventory=catalogue.lux_h100, starts_at=START, hours=10, chips=60)
    Inventory.objects.filter(pk=catalogue.lux_h100.pk).update(chips_in_service=0)
    _accepted(catalogue, nimbus, mallory, carol, 5_000)
    with django_capture_on_commit_callbacks(execute=True):
        rnd = rounds.round_preview_start(actor=carol, period=catalogue.period)
    rnd.refresh_from_db()
    return rnd


def test_the_preview_lists_the_grants_a_commit_would_find_overdrawn(
    overdrawn: Any, catalogue: Any, aurora: Any
) -> None:
    assert overdrawn.result["overdrawn"] == [
        {
            "tenant": aurora.pk,
            "tenant_name": "Aurora Lab",
            "inventory": catalogue.lux_h100.pk,
            "resource": "lux/h100",
            "granted": 0.0,
            "used": 600.0,
        }
    ]


def test_a_round_commits_with_an_overdrawn_tenant_whose_grant_becomes_what_it_booked(
    overdrawn: Any, catalogue: Any, aurora: Any, alice: Any, nimbus: Any, mallory: Any, carol: Any
) -> None:
    rnd = rounds.round_commit(actor=carol, round_id=overdrawn.pk)

    assert rnd.status == RoundStatus.COMMITTED
    assert [o["tenant_name"] for o in rnd.result["overdrawn"]] == ["Aurora Lab"]
    balance = QuotaBalance.objects.get(tenant=aurora, inventory=catalogue.lux_h100)
    assert (balance.round_granted, balance.granted, balance.used, balance.overdrawn) == (0.0, 600.0, 600.0, True)
    told = Notification.objects.get(tenant=aurora, user=alice)  # Aurora's members are told where and why
    assert "already booked more than this round grants it on lux/h100" in told.body
    with pytest.raises(Conflict):  # it cannot book more there
        booking_fixed_create(
            actor=alice,
            tenant=aurora,
            inventory=catalogue.lux_h100,
            starts_at=START + timedelta(hours=20),
            hours=1,
            chips=1,
        )
    # Everyone else's grants are in force: Nimbus books where the round granted it.
    theirs = QuotaBalance.objects.filter(tenant=nimbus, granted__gt=0).select_related("inventory__chip_type").get()
    booking_fixed_create(actor=mallory, tenant=nimbus, inventory=theirs.inventory, starts_at=START, hours=10, chips=10)


def test_cancelling_an_overdrawn_booking_does_not_free_hours_the_round_did_not_grant(
    overdrawn: Any, catalogue: Any, aurora: Any, alice: Any, carol: Any
) -> None:
    rounds.round_commit(actor=carol, round_id=overdrawn.pk)
    booking_cancel(actor=alice, booking=Booking.objects.get(tenant=aurora), now=START - timedelta(days=1))
    balance = QuotaBalance.objects.get(tenant=aurora, inventory=catalogue.lux_h100)
    assert (balance.granted, balance.used) == (0.0, 0.0)
    with pytest.raises(Conflict):
        booking_fixed_create(
            actor=alice, tenant=aurora, inventory=catalogue.lux_h100, starts_at=START, hours=1, chips=1
        )


def test_the_committee_sees_the_overdrawn_grants_before_it_commits(client: Any, overdrawn: Any, carol: Any) -> None:
    client.force_login(carol)
    html = client.get(reverse("round-detail", args=[overdrawn.pk])).content.decode()
    assert "Overdrawn grants" in html
    assert '<td>Aurora Lab</td><td>lux/h100</td><td class="num">0.0</td><td class="num">600.0</td>' in html


def test_the_rounds_api_lists_the_overdrawn_grants_of_a_preview(overdrawn: Any, carol: Any) -> None:
    from tests.api import client_for

    detail = client_for(carol).get(f"/api/v1/allocation-rounds/{overdrawn.pk}/").json()
    assert [(o["tenant_name"], o["resource"], o["granted"], o["used"]) for o in detail["overdrawn"]] == [
        ("Aurora Lab", "lux/h100", 0.0, 600.0)
    ]


# --- item 11: flexible bookings that can never be placed -------------------------------------


@pytest.mark.parametrize(
    ("window", "chips", "hours", "field"),
    [
        ((datetime(2027, 6, 1, tzinfo=UTC), datetime(2027, 6, 2, tzinfo=UTC)), 10, 4, "latest_end"),  # no period
        ((START, datetime(2099, 1, 1, tzinfo=UTC)), 10, 4, "latest_end"),  # past the last period
        ((START, START + timedelta(days=30)), 38_000, 500, "chips"),  # more chips than any acceptable resource
        ((START, START + timedelta(days=2)), 10, 20, "quota"),  # 200 h against 1,000 - 900 left on muc/h100
    ],
)
def test_a_flexible_booking_that_can_never_be_placed_is_refused(
    on_muc: Any, aurora: Any, alice: Any, window: tuple[datetime, datetime], chips: int, hours: int, field: str
) -> None:
    booking_fixed_create(actor=alice, tenant=aurora, inventory=on_muc.muc_h100, starts_at=START, hours=9, chips=100)
    with pytest.raises(ServiceError) as refused:
        booking_flexible_create(
            actor=alice,
            tenant=aurora,
            eligible=[on_muc.muc_h100],
            earliest_start=window[0],
            latest_end=window[1],
            hours=hours,
            chips=chips,
        )
    assert refused.value.field == field
    assert not Booking.objects.filter(kind=BookingKind.FLEXIBLE).exists()


def test_a_pending_booking_whose_window_left_every_period_shows_the_window_reason(
    on_muc: Any, aurora: Any, alice: Any
) -> None:
    # Queued before submission checked windows: its window lies after every allocation period.
    after = on_muc.period.ends_at + timedelta(days=3)
    legacy = Booking.objects.create(
        tenant=aurora,
        created_by=alice,
        kind=BookingKind.FLEXIBLE,
        status=BookingStatus.PENDING,
        chips=10,
        hours=4,
        earliest_start=after,
        latest_end=after + timedelta(days=1),
    )
    legacy.eligible.set([on_muc.muc_h100])
    outcome = booking_round_run(inventory_ids=[on_muc.muc_h100.pk], now=START)
    legacy.refresh_from_db()
    assert outcome["unplaced"] == {"window": 1}
    assert legacy.unplaced_reason == "window"


# --- the data migration ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_rebuilds_balances_per_resource_keeping_what_was_booked() -> None:
    before, after = [("allocation", "0008_usage_adjustments")], [("allocation", "0009_grants_per_resource")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    ids = _legacy_data(old)
    executor.loader.build_graph()
    executor.migrate(after)
    new = executor.loader.project_state(after).apps
    rows = {
        (b.tenant_id, b.inventory_id): (b.round_granted, b.granted, b.used)
        for b in new.get_model("allocation", "QuotaBalance").objects.all()
    }
    executor.loader.build_graph()
    executor.migrate(before)  # and back: one row per tenant and period again, with the same totals
    reversed_ = list(
        executor.loader.project_state(before)
        .apps.get_model("allocation", "QuotaBalance")
        .objects.values_list("tenant_id", "granted", "used")
    )
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert rows == {
        (ids["tenant"], ids["muc"]): (800.0, 800.0, 300.0),  # granted there, partly booked
        (ids["tenant"], ids["lux"]): (0.0, 120.0, 120.0),  # booked where nothing was granted: overdrawn, kept
    }
    assert reversed_ == [(ids["tenant"], 920.0, 420.0)]


def _legacy_data(apps: Any) -> dict[str, int]:
    """Before the migration: one balance per tenant and period (920 granted, 420 used) over two resources."""
    get = apps.get_model
    user = get("auth", "User").objects.create(username="legacy")
    h100 = get("allocation", "ChipType").objects.create(
        vendor="NVIDIA", model="H100", slug="h100", memory_gb=80, peak_bf16_tflops=989, tdp_watts=700, throughput=1.0
    )
    sites = [
        get("allocation", "Gigafactory").objects.create(
            name=s, slug=s, country="DE", city=s, kind="factory", timezone="UTC"
        )
        for s in ("muc", "lux")
    ]
    muc, lux = (
        get("allocation", "Inventory").objects.create(
            gigafactory=s, chip_type=h100, chips_installed=100, chips_in_service=100
        )
        for s in sites
    )
    pool = get("allocation", "Pool").objects.create(name="Public", slug="public", is_public=True)
    tenant = get("allocation", "Tenant").objects.create(
        name="Old", slug="old", kind="startup", country="DE", verification="verified", pool=pool
    )
    period = get("allocation", "AllocationPeriod").objects.create(
        name="Q", slug="q", starts_at=START, ends_at=START + timedelta(days=30), request_deadline=START
    )
    rnd = get("allocation", "AllocationRound").objects.create(period=period, status="committed", created_by=user)
    req = get("allocation", "AllocationRequest").objects.create(
        period=period,
        tenant=tenant,
        created_by=user,
        title="r",
        chip_type=h100,
        demand_gpu_hours=800,
        demand_normalized_hours=800,
        status="accepted",
        accepted_normalized_hours=800,
    )
    get("allocation", "Quota").objects.create(
        round=rnd, period=period, tenant=tenant, request=req, inventory=muc, gpu_hours=800, normalized_hours=800
    )
    booking = get("allocation", "Booking")
    for inventory, chips, status in ((muc, 30, "confirmed"), (lux, 12, "confirmed"), (muc, 5, "pending")):
        placed = status != "pending"
        booking.objects.create(
            tenant=tenant,
            created_by=user,
            kind="fixed" if placed else "flexible",
            status=status,
            chips=chips,
            hours=10,
            inventory=inventory if placed else None,
            starts_at=START if placed else None,
            ends_at=START + timedelta(hours=10) if placed else None,
            earliest_start=None if placed else START,
            latest_end=None if placed else START + timedelta(days=1),
            period=period if placed else None,
            cost_normalized_hours=chips * 10 if placed else 0,
        )
    get("allocation", "QuotaBalance").objects.create(tenant=tenant, period=period, granted=920, used=420)
    return {"tenant": tenant.pk, "muc": muc.pk, "lux": lux.pk}
