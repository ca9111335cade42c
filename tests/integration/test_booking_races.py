"""Concurrent clients racing over real HTTP: the database's guarantee against overbooking.

On PostgreSQL only. pytest-django's ``live_server`` runs the app in a threaded
WSGI server, so each request runs in its own thread on its own database
connection, as under gunicorn; each client is a thread with its own token and
its own urllib opener, and a ``threading.Barrier`` releases them together.
Every answer must be one of the expected statuses (a 500 fails the test), and
afterwards the ledger (``ResourceHour``, ``QuotaBalance``) and the bookings
table must agree.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.servers.basehttp import ThreadedWSGIServer
from django.db import connection
from django.db.models import Sum
from rest_framework.authtoken.models import Token

from allocation.models import AuditEvent, Booking, BookingStatus, QuotaBalance, ResourceHour
from allocation.services import ledger
from allocation.services.booking_round import booking_round_run, booking_round_shards
from allocation.services.bookings import booking_fixed_create, booking_flexible_create
from tests.factories import TenantFactory, booked_hours, grant, member

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]

# Django's development server listens with a backlog of 10 connections; forty
# clients connecting at once overflow it and get resets before the app sees
# them. A production server listens far deeper (gunicorn: 2048). Set here, at
# import, because pytest-django starts one live server per session.
ThreadedWSGIServer.request_queue_size = max(ThreadedWSGIServer.request_queue_size, 128)
START = datetime(2027, 1, 8, tzinfo=UTC)


@pytest.fixture(autouse=True)
def postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent connections need PostgreSQL (SQLite's test database is one in-memory connection)")


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def post(base: str, token: str, body: dict[str, Any], *, key: str | None = None) -> tuple[int, dict[str, Any]]:
    """One client's POST /api/v1/bookings/ on a connection of its own."""
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json", "Accept": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    request = urllib.request.Request(
        f"{base}/api/v1/bookings/", data=json.dumps(body).encode(), method="POST", headers=headers
    )
    opener = urllib.request.build_opener()
    try:
        with opener.open(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw)
        except ValueError:
            return error.code, {"raw": raw[:500].decode(errors="replace")}


def race(clients: int, call: Callable[[int], Any]) -> list[Any]:
    """Run ``call(i)`` in ``clients`` threads released together; exceptions are returned, not lost."""
    barrier = threading.Barrier(clients)
    results: list[Any] = [None] * clients

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[i] = call(i)
        except BaseException as exc:  # reported by the test below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(thread.is_alive() for thread in threads), "a client hung"
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    return results


def tokens_for(tenant: Any, count: int, prefix: str) -> list[str]:
    return [Token.objects.create(user=member(f"{prefix}{i}", tenant, role="member")).key for i in range(count)]


def assert_ledger_matches_bookings(inventory: Any) -> None:
    """Per hour: ResourceHour.booked == chips of placed bookings <= capacity; per grant: used == costs."""
    held: dict[datetime, int] = defaultdict(int)
    for booking in Booking.objects.filter(inventory=inventory, status=BookingStatus.CONFIRMED):
        for hour in ledger.hour_range(booking.starts_at, booking.hours):
            held[hour] += booking.chips
    rows = {row.hour: row for row in ResourceHour.objects.filter(inventory=inventory)}
    assert set(held) <= set(rows)
    for hour, row in rows.items():
        assert row.booked == held.get(hour, 0), hour
        assert row.booked + row.at_risk <= row.capacity, hour
    for balance in QuotaBalance.objects.all():
        costs = Booking.objects.filter(
            tenant_id=balance.tenant_id,
            period_id=balance.period_id,
            inventory_id=balance.inventory_id,
            status=BookingStatus.CONFIRMED,
        ).aggregate(s=Sum("cost_normalized_hours"))
        assert balance.used == pytest.approx(costs["s"] or 0.0), balance
        assert balance.used <= balance.granted + 1e-6


def warm_up(base: str, token: str) -> None:
    request = urllib.request.Request(f"{base}/api/v1/me/", headers={"Authorization": f"Token {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


# Each race runs on a cold ledger (no ledger rows or quota balances yet: the racers take the
# general path, which creates them) and on a warm one (every racer's tenant has booked before, as
# in steady operation: the racers take the one-statement confirmation,
# ``allocation.services.bookings._confirm_at_once``, and the losers fall from it to the general
# path for their refusal or replay). The guarantees must not change.
LEDGER = pytest.mark.parametrize("warm", [False, True], ids=["cold-ledger", "warm-ledger"])
ELSEWHERE = START + timedelta(days=30)  # an hour of the same period that no race touches


def warm_ledger(tenant: Any, inventory: Any) -> None:
    """One chip for an hour, far from the race: the period's ledger rows and the tenant's balance exist."""
    booking_fixed_create(
        actor=member(f"warm-{tenant.slug}", tenant, role="member"),
        tenant=tenant,
        inventory=inventory,
        starts_at=ELSEWHERE,
        hours=1,
        chips=1,
    )


@LEDGER
def test_forty_clients_race_for_the_last_chips_and_exactly_nine_win(
    live_server: Any, catalogue: Any, carol: Any, warm: bool
) -> None:
    lux = catalogue.lux_h100  # 90 chips in service
    tokens: list[str] = []
    for t in range(8):
        tenant = TenantFactory(slug=f"racer-{t}", pool=catalogue.public_pool)
        grant(catalogue, tenant, carol, 1_000, lux)
        if warm:
            warm_ledger(tenant, lux)
        tokens += tokens_for(tenant, 5, f"racer{t}-")
    assert ResourceHour.objects.filter(inventory=lux, hour=START).exists() == warm
    warm_up(live_server.url, tokens[0])
    body_of = {
        i: {"tenant": f"racer-{i // 5}", "resource": "lux/h100", "starts_at": iso(START), "hours": 2, "chips": 10}
        for i in range(40)
    }

    results = race(40, lambda i: post(live_server.url, tokens[i], body_of[i]))

    statuses = Counter(code for code, _ in results)
    assert set(statuses) <= {201, 409}, results
    assert statuses == {201: 9, 409: 31}
    for code, body in results:
        if code == 409:
            assert body["error"]["code"] == "capacity"
            assert datetime.fromisoformat(body["error"]["earliest_start"]) == START + timedelta(hours=2)
        else:
            assert body["status"] == "confirmed"
    assert Booking.objects.filter(status=BookingStatus.CONFIRMED).count() == 9 + 8 * warm
    warmed = {ELSEWHERE: 8} if warm else {}
    assert booked_hours(inventory=lux) == {START: 90, START + timedelta(hours=1): 90, **warmed}
    assert_ledger_matches_bookings(lux)


@LEDGER
def test_thirty_two_clients_of_one_tenant_race_for_the_last_quota(
    live_server: Any, catalogue: Any, aurora: Any, carol: Any, warm: bool
) -> None:
    grant(catalogue, aurora, carol, 50 + warm)  # (the warm-up's 1, then) 5 bookings of 10 chips x 1 h of H100
    if warm:
        warm_ledger(aurora, catalogue.muc_h100)
    tokens = tokens_for(aurora, 32, "lab")
    warm_up(live_server.url, tokens[0])

    def book(i: int) -> tuple[int, dict[str, Any]]:
        return post(
            live_server.url,
            tokens[i],
            {
                "tenant": "aurora-lab",
                "resource": "muc/h100",
                "starts_at": iso(START + timedelta(hours=i)),
                "hours": 1,
                "chips": 10,
            },
        )

    results = race(32, book)

    statuses = Counter(code for code, _ in results)
    assert set(statuses) <= {201, 409}, results
    assert statuses == {201: 5, 409: 27}
    assert {body["error"]["code"] for code, body in results if code == 409} == {"quota"}
    balance = QuotaBalance.objects.get(tenant=aurora)
    assert balance.used == pytest.approx(50.0 + warm) and balance.granted == pytest.approx(50.0 + warm)
    assert Booking.objects.filter(tenant=aurora, status=BookingStatus.CONFIRMED).count() == 5 + warm
    assert_ledger_matches_bookings(catalogue.muc_h100)


@LEDGER
def test_sixteen_retries_with_one_idempotency_key_make_one_booking(
    live_server: Any, catalogue: Any, aurora: Any, carol: Any, warm: bool
) -> None:
    grant(catalogue, aurora, carol, 10_000, catalogue.lux_h100)
    if warm:
        warm_ledger(aurora, catalogue.lux_h100)
    tokens = tokens_for(aurora, 16, "retry")
    warm_up(live_server.url, tokens[0])
    # 60 of 90 chips: a retry that loses the lock to the first request no longer fits,
    # and must still get the first request's booking back, not a capacity refusal.
    body = {"tenant": "aurora-lab", "resource": "lux/h100", "starts_at": iso(START), "hours": 3, "chips": 60}

    results = race(16, lambda i: post(live_server.url, tokens[i], body, key="nightly-run-2027-01-08"))

    statuses = Counter(code for code, _ in results)
    assert set(statuses) <= {200, 201}, results
    assert statuses == {201: 1, 200: 15}
    assert len({body["id"] for _, body in results}) == 1
    assert Booking.objects.count() == 1 + warm
    assert Booking.objects.filter(idempotency_key="nightly-run-2027-01-08").count() == 1
    warmed = {ELSEWHERE: 1} if warm else {}
    assert booked_hours() == {**{START + timedelta(hours=h): 60 for h in range(3)}, **warmed}
    assert QuotaBalance.objects.get(tenant=aurora).used == pytest.approx(180.0 + warm)
    assert_ledger_matches_bookings(catalogue.lux_h100)


def test_two_booking_rounds_on_one_shard_place_each_booking_at_most_once(
    catalogue: Any, aurora: Any, nimbus: Any, alice: Any, mallory: Any, carol: Any
) -> None:
    lux = catalogue.lux_h100
    grant(catalogue, aurora, carol, 10_000, lux)
    grant(catalogue, nimbus, carol, 10_000, lux)
    # 90 chips x 12 h hold nine bookings of 30 chips x 4 h; thirty are pending.
    for i in range(30):
        actor, tenant = (alice, aurora) if i % 2 else (mallory, nimbus)
        booking_flexible_create(
            actor=actor,
            tenant=tenant,
            eligible=[lux],
            earliest_start=START,
            latest_end=START + timedelta(hours=12),
            hours=4,
            chips=30,
        )
    now = START - timedelta(hours=1)
    shards = booking_round_shards(now=now)
    assert shards == [[lux.pk]]

    def run(_: int) -> dict[str, Any]:
        try:
            return booking_round_run(inventory_ids=shards[0], now=now)
        finally:
            connection.close()

    outcomes = race(2, run)

    placed = Booking.objects.filter(status=BookingStatus.CONFIRMED)
    assert sum(o["placed"] for o in outcomes) == placed.count()
    assert 1 <= placed.count() <= 9
    per_booking = Counter(AuditEvent.objects.filter(action="booking.placed").values_list("object_id", flat=True))
    assert set(per_booking.values()) == {1} and len(per_booking) == placed.count()
    assert Booking.objects.filter(status=BookingStatus.PENDING).count() == 30 - placed.count()
    assert_ledger_matches_bookings(lux)
    # A third round afterwards changes nothing that is placed and still never overbooks.
    booking_round_run(inventory_ids=shards[0], now=now)
    assert Booking.objects.filter(status=BookingStatus.CONFIRMED).count() <= 9
    assert_ledger_matches_bookings(lux)
