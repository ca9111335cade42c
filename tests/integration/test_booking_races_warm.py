"""The races of test_booking_races.py again, on a warm ledger: PostgreSQL only.

There the ledger rows and quota balances do not exist yet, so the racers mostly take the
general path, which creates them. Here every racer's tenant has booked before, as in
steady operation, so every racer takes the one-statement confirmation
(``allocation.services.bookings._confirm_at_once``) and the losers fall from it to the
general path for their refusal or replay. The guarantees must not change.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from allocation.models import Booking, BookingStatus, QuotaBalance, ResourceHour
from allocation.services.bookings import booking_fixed_create
from tests.factories import TenantFactory, booked_hours, grant, member
from tests.integration.test_booking_races import (
    START,
    assert_ledger_matches_bookings,
    iso,
    post,
    postgres_only,
    race,
    tokens_for,
    warm_up,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]
__all__ = ["postgres_only"]  # the autouse fixture that skips on SQLite, imported to apply here too
ELSEWHERE = START + timedelta(days=30)  # an hour of the same period that no race touches


def warm(catalogue: Any, tenant: Any, inventory: Any) -> None:
    """One chip for an hour, far from the race: the period's ledger rows and the tenant's balance exist."""
    booking_fixed_create(actor=member(f"warm-{tenant.slug}", tenant, role="member"), tenant=tenant,
                         inventory=inventory, starts_at=ELSEWHERE, hours=1, chips=1)


def test_forty_clients_race_for_the_last_chips_of_a_warm_ledger(live_server: Any, catalogue: Any,
                                                                carol: Any) -> None:
    lux = catalogue.lux_h100  # 90 chips in service
    tokens: list[str] = []
    for t in range(8):
        tenant = TenantFactory(slug=f"racer-{t}", pool=catalogue.public_pool)
        grant(catalogue, tenant, carol, 1_000)
        warm(catalogue, tenant, lux)
        tokens += tokens_for(tenant, 5, f"racer{t}-")
    assert ResourceHour.objects.filter(inventory=lux, hour=START).exists()
    warm_up(live_server.url, tokens[0])
    body_of = {i: {"tenant": f"racer-{i // 5}", "resource": "lux/h100", "starts_at": iso(START), "hours": 2,
                   "chips": 10} for i in range(40)}

    results = race(40, lambda i: post(live_server.url, tokens[i], body_of[i]))

    statuses = Counter(code for code, _ in results)
    assert statuses == {201: 9, 409: 31}, results
    for code, body in results:
        if code == 409:
            assert body["error"]["code"] == "capacity"
            assert body["error"]["earliest_start"] == (START + timedelta(hours=2)).isoformat()
    assert booked_hours(inventory=lux) == {START: 90, START + timedelta(hours=1): 90, ELSEWHERE: 8}
    assert_ledger_matches_bookings(lux)


def test_thirty_two_clients_race_for_the_last_quota_of_a_warm_balance(live_server: Any, catalogue: Any,
                                                                     aurora: Any, carol: Any) -> None:
    grant(catalogue, aurora, carol, 51)  # the warm-up's 1, then exactly 5 bookings of 10 chips x 1 h of H100
    warm(catalogue, aurora, catalogue.muc_h100)
    tokens = tokens_for(aurora, 32, "lab")
    warm_up(live_server.url, tokens[0])

    def book(i: int) -> tuple[int, dict[str, Any]]:
        return post(live_server.url, tokens[i], {"tenant": "aurora-lab", "resource": "muc/h100",
                                                 "starts_at": iso(START + timedelta(hours=i)), "hours": 1,
                                                 "chips": 10})

    results = race(32, book)

    statuses = Counter(code for code, _ in results)
    assert statuses == {201: 5, 409: 27}, results
    assert {body["error"]["code"] for code, body in results if code == 409} == {"quota"}
    balance = QuotaBalance.objects.get(tenant=aurora)
    assert balance.used == pytest.approx(51.0) and balance.granted == pytest.approx(51.0)
    assert Booking.objects.filter(tenant=aurora, status=BookingStatus.CONFIRMED).count() == 6
    assert_ledger_matches_bookings(catalogue.muc_h100)


def test_sixteen_retries_with_one_idempotency_key_on_a_warm_ledger_make_one_booking(
    live_server: Any, catalogue: Any, aurora: Any, carol: Any
) -> None:
    grant(catalogue, aurora, carol, 10_000)
    warm(catalogue, aurora, catalogue.lux_h100)
    tokens = tokens_for(aurora, 16, "retry")
    warm_up(live_server.url, tokens[0])
    body = {"tenant": "aurora-lab", "resource": "lux/h100", "starts_at": iso(START), "hours": 3, "chips": 60}

    results = race(16, lambda i: post(live_server.url, tokens[i], body, key="nightly-run-2027-01-08"))

    statuses = Counter(code for code, _ in results)
    assert statuses == {201: 1, 200: 15}, results
    assert len({body["id"] for _, body in results}) == 1
    assert Booking.objects.filter(idempotency_key="nightly-run-2027-01-08").count() == 1
    assert booked_hours() == {**{START + timedelta(hours=h): 60 for h in range(3)}, ELSEWHERE: 1}
    assert QuotaBalance.objects.get(tenant=aurora).used == pytest.approx(181.0)
    assert_ledger_matches_bookings(catalogue.lux_h100)
