"""Maintenance announced while 32 clients book the same hours: never overbooked, nobody lost.

On PostgreSQL only, over real HTTP with real concurrent connections, as in
``test_booking_races``: 32 tenant clients book ``muc/h100`` and one operator
announces a maintenance window over the same hours, all released together.
Whatever order the database serialises them in, afterwards no resource-hour
holds more confirmed chips than the capacity left, the ledger agrees with the
bookings and with the inventory minus the windows, every booking the window
displaced is at risk, and each of their tenants has an outbox row saying so.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from allocation.models import Booking, BookingStatus, Notification, ResourceHour
from allocation.services import ledger
from allocation.services.bookings import booking_fixed_create
from tests.factories import TenantFactory, grant, member
from tests.integration.test_booking_races import (
    LEDGER,
    START,
    iso,
    post,
    postgres_only,  # noqa: F401 (the autouse skip on SQLite)
    race,
    tokens_for,
    warm_ledger,
    warm_up,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]
H = timedelta(hours=1)


def announce(base: str, token: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{base}/api/v1/maintenance-windows/",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {"raw": error.read()[:500].decode(errors="replace")}


def assert_ledger_keeps_every_promise(inventory: Any) -> None:
    """Per hour: capacity = inventory minus every window; booked = confirmed chips <= capacity;
    at_risk = chips of at-risk bookings."""
    booked: dict[Any, int] = defaultdict(int)
    at_risk: dict[Any, int] = defaultdict(int)
    for booking in Booking.objects.filter(
        inventory=inventory, status__in=[BookingStatus.CONFIRMED, BookingStatus.AT_RISK]
    ):
        for hour in ledger.hour_range(booking.starts_at, booking.hours):
            (booked if booking.status == BookingStatus.CONFIRMED else at_risk)[hour] += booking.chips
    rows = list(ResourceHour.objects.filter(inventory=inventory).order_by("hour"))
    fresh = ledger.capacity_by_hour(inventory=inventory, start=rows[0].hour, hours=len(rows))
    over = [row.hour for row in rows if row.booked > row.capacity]
    assert over == [], "resource-hours above the capacity left"
    for row in rows:
        assert row.capacity == fresh[row.hour], row
        assert (row.booked, row.at_risk) == (booked.get(row.hour, 0), at_risk.get(row.hour, 0)), row


@LEDGER
def test_thirty_two_clients_book_while_an_operator_announces_maintenance(
    live_server: Any, catalogue: Any, carol: Any, oscar: Any, warm: bool
) -> None:
    muc = catalogue.muc_h100  # 1,000 chips in service
    tokens: list[str] = []
    tenants = []
    for t in range(8):
        tenant = TenantFactory(slug=f"booker-{t}", pool=catalogue.public_pool)
        grant(catalogue, tenant, carol, 10_000)
        if warm:
            warm_ledger(tenant, muc)
        tokens += tokens_for(tenant, 4, f"booker{t}-")
        tenants.append(tenant)
    # 500 chips are booked before the race: the window displaces some bookings whatever the order.
    for tenant in tenants[:5]:
        booking_fixed_create(
            actor=member(f"early-{tenant.slug}", tenant, role="member"),
            tenant=tenant,
            inventory=muc,
            starts_at=START,
            hours=3,
            chips=100,
        )
    operator = Token.objects.create(user=oscar).key
    warm_up(live_server.url, tokens[0])
    # 32 x 40 chips over three hours (1,280 asked of the 500 left); the operator takes 600 out of the middle hour.
    window = {
        "resource": "muc/h100",
        "chips": 600,
        "starts_at": iso(START + H),
        "ends_at": iso(START + 2 * H),
        "reason": "Cooling loop repair",
    }

    def client(i: int) -> tuple[int, dict[str, Any]]:
        if i == 32:
            return announce(live_server.url, operator, window)
        return post(
            live_server.url,
            tokens[i],
            {"tenant": f"booker-{i // 4}", "resource": "muc/h100", "starts_at": iso(START), "hours": 3, "chips": 40},
        )

    results = race(33, client)

    maintenance_status, maintenance_body = results[32]
    assert maintenance_status == 201, maintenance_body
    statuses = Counter(code for code, _ in results[:32])
    assert set(statuses) <= {201, 409}, results
    assert {body["error"]["code"] for code, body in results[:32] if code == 409} <= {"capacity"}
    assert_ledger_keeps_every_promise(muc)
    # Exactly the bookings the announcement displaced are at risk, and each of their tenants was told.
    displaced = set(maintenance_body["at_risk"])
    assert displaced, "500 chips were held before the race and 400 are left in service"
    at_risk = set(Booking.objects.filter(status=BookingStatus.AT_RISK).values_list("pk", flat=True))
    assert displaced == at_risk
    for booking in Booking.objects.filter(pk__in=displaced):
        assert Notification.objects.filter(
            tenant_id=booking.tenant_id, body__contains=f"Booking {booking.pk}:"
        ).exists(), booking.pk
    confirmed_in_window = sum(
        Booking.objects.filter(inventory=muc, status=BookingStatus.CONFIRMED, starts_at=START).values_list(
            "chips", flat=True
        )
    )
    assert confirmed_in_window <= 400
    assert statuses[201] + 5 == Booking.objects.filter(starts_at=START).count()


def cancel(base: str, token: str, booking_id: int) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{base}/api/v1/bookings/{booking_id}/cancel/",
        data=b"",
        method="POST",
        headers={"Authorization": f"Token {token}", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {"raw": error.read()[:500].decode(errors="replace")}


def test_cancels_racing_a_maintenance_over_their_hours_neither_deadlock_nor_overbook(
    live_server: Any, catalogue: Any, carol: Any, oscar: Any
) -> None:
    """Cancel locks a booking's hours before its row, as maintenance does: 16 cancels and an
    announcement released together all succeed (a deadlock would answer 500)."""
    muc = catalogue.muc_h100
    tenant = TenantFactory(slug="canceller", pool=catalogue.public_pool)
    grant(catalogue, tenant, carol, 10_000)
    tokens = tokens_for(tenant, 16, "canceller-")
    booking_ids = [
        booking_fixed_create(
            actor=Token.objects.get(key=tokens[i]).user,
            tenant=tenant,
            inventory=muc,
            starts_at=START,
            hours=3,
            chips=60,
        )[0].pk
        for i in range(16)
    ]
    operator = Token.objects.create(user=oscar).key
    warm_up(live_server.url, tokens[0])
    window = {"resource": "muc/h100", "chips": 900, "starts_at": iso(START), "ends_at": iso(START + 3 * H)}

    results = race(
        17,
        lambda i: (
            announce(live_server.url, operator, window)
            if i == 16
            else cancel(live_server.url, tokens[i], booking_ids[i])
        ),
    )

    assert results[16][0] == 201, results[16]
    assert [code for code, _ in results[:16]] == [200] * 16, results
    assert Booking.objects.filter(status=BookingStatus.CANCELLED).count() == 16
    assert_ledger_keeps_every_promise(muc)
