"""The fixed-booking hot path: a bounded number of queries, and the one-statement confirmation
(PostgreSQL) writing exactly what the general path writes, at the edges of capacity and quota too.

Timings live in benchmarks/bookings.py, never here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from allocation.models import AuditEvent, Booking, QuotaBalance, ResourceHour
from allocation.services import bookings as services
from tests.api import client_for

pytestmark = [pytest.mark.usefixtures("eager_celery")]
URL = "/api/v1/bookings/"
START = datetime(2027, 1, 8, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def fixed(hour: int, **overrides: Any) -> dict[str, Any]:
    return {
        "tenant": "aurora-lab",
        "resource": "lux/h100",
        "starts_at": iso(START + timedelta(hours=hour)),
        "hours": 1,
        "chips": 10,
        **overrides,
    }


def book(client: Any, body: dict[str, Any], status: int = 201, key: str | None = None) -> dict[str, Any]:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    response = client.post(URL, body, format="json", **headers)
    assert response.status_code == status, response.json()
    return dict(response.json())


@pytest.fixture
def postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement confirmation is PostgreSQL's")


# Inside a test's transaction the one statement runs in a savepoint: token, rows, SAVEPOINT,
# the statement, RELEASE. The general path takes more, so this shows which path confirmed.
ONE_STATEMENT = 5


@pytest.mark.django_db(transaction=True)
def test_a_fixed_booking_costs_three_queries_on_postgresql_nine_on_sqlite(
    funded: Any, alice: Any, django_assert_num_queries: Any
) -> None:
    client = client_for(alice)
    book(client, fixed(0))  # the first booking creates the period's ledger rows and the quota balance
    # PostgreSQL: the token, the tenant + resource + period, the one statement (no BEGIN/COMMIT);
    # SQLite: the general path's transaction (lock, hold, charge, booking, audit event, in BEGIN/COMMIT).
    with django_assert_num_queries(3 if connection.vendor == "postgresql" else 9):
        book(client, fixed(1), key="k-1")


@pytest.mark.django_db
def test_one_statement_writes_what_the_general_path_writes(
    postgres_only: None, funded: Any, alice: Any, monkeypatch: pytest.MonkeyPatch, django_assert_num_queries: Any
) -> None:
    client = client_for(alice)
    book(client, fixed(0, chips=1))
    used_before = QuotaBalance.objects.get(tenant__slug="aurora-lab").used
    with django_assert_num_queries(ONE_STATEMENT):
        fast = book(client, fixed(1, hours=3), key="fast")
    monkeypatch.setattr(services, "_confirm_at_once", lambda **kwargs: None)
    general = book(client, fixed(4, hours=3), key="general")

    shifted = {"id", "starts_at", "ends_at", "idempotency_key", "submitted_at"}
    assert {k: v for k, v in fast.items() if k not in shifted} == {k: v for k, v in general.items() if k not in shifted}
    rows = {b["idempotency_key"]: b for b in Booking.objects.filter(idempotency_key__in=["fast", "general"]).values()}
    assert {k: v for k, v in rows["fast"].items() if k not in shifted | {"request_fingerprint"}} == {
        k: v for k, v in rows["general"].items() if k not in shifted | {"request_fingerprint"}
    }
    events = {e.object_id: e for e in AuditEvent.objects.filter(action="booking.confirmed")}
    by_path = {path: events[str(rows[path]["id"])] for path in ("fast", "general")}
    for path, event in by_path.items():
        assert (event.object_type, event.tenant_id, event.actor_id, event.before) == (
            "booking",
            rows[path]["tenant_id"],
            alice.pk,
            None,
        )
        assert event.after["starts_at"] == rows[path]["starts_at"].isoformat()
    assert {k: v for k, v in by_path["fast"].after.items() if k not in shifted} == {
        k: v for k, v in by_path["general"].after.items() if k not in shifted
    }
    held = dict(ResourceHour.objects.filter(inventory=funded.lux_h100, booked__gt=0).values_list("hour", "booked"))
    assert held == {START: 1, **{START + timedelta(hours=h): 10 for h in range(1, 7)}}
    assert QuotaBalance.objects.get(tenant__slug="aurora-lab").used == used_before + 2 * 30


@pytest.mark.django_db
def test_one_statement_takes_the_last_chips_and_leaves_a_refusal_to_the_general_path(
    postgres_only: None, funded: Any, alice: Any, django_assert_num_queries: Any
) -> None:
    client = client_for(alice)
    book(client, fixed(0, chips=1))
    free = funded.lux_h100.chips_in_service
    book(client, fixed(1, chips=free - 5))
    with django_assert_num_queries(ONE_STATEMENT):
        book(client, fixed(1, chips=5))  # exactly what is left
    refused = book(client, fixed(1, chips=1), status=409)["error"]
    assert refused["code"] == "capacity" and refused["earliest_start"] == (START + timedelta(hours=2)).isoformat()
    assert ResourceHour.objects.get(inventory=funded.lux_h100, hour=START + timedelta(hours=1)).booked == free
    assert Booking.objects.count() == 3


@pytest.mark.django_db
def test_one_statement_takes_the_last_quota_and_leaves_a_refusal_to_the_general_path(
    postgres_only: None, funded: Any, alice: Any, django_assert_num_queries: Any
) -> None:
    client = client_for(alice)
    book(client, fixed(0, chips=10))
    remaining = QuotaBalance.objects.get(tenant__slug="aurora-lab").remaining  # 10,000 granted, 10 used
    assert remaining == 9_990
    with django_assert_num_queries(ONE_STATEMENT):
        book(client, fixed(1, hours=111, chips=90))  # 9,990 normalized hours: the last of the quota
    refused = book(client, fixed(200, chips=1), status=409)["error"]
    assert refused["code"] == "quota"
    balance = QuotaBalance.objects.get(tenant__slug="aurora-lab")
    assert balance.used == balance.granted == 10_000
    assert not ResourceHour.objects.filter(
        inventory=funded.lux_h100, hour=START + timedelta(hours=200), booked__gt=0
    ).exists()


@pytest.mark.django_db
def test_a_replay_and_a_reused_key_are_answered_as_before(postgres_only: None, funded: Any, alice: Any) -> None:
    client = client_for(alice)
    book(client, fixed(0, chips=1))
    first = book(client, fixed(1), key="run-7")
    response = client.post(URL, fixed(1), format="json", HTTP_IDEMPOTENCY_KEY="run-7")
    assert response.status_code == 200 and response.json() == first and response["Idempotent-Replayed"] == "true"
    assert book(client, fixed(2), status=422, key="run-7")["error"]["code"] == "idempotency_mismatch"
    assert dict(ResourceHour.objects.filter(booked__gt=0).values_list("hour", "booked")) == {
        START: 1,
        START + timedelta(hours=1): 10,
    }
    assert AuditEvent.objects.filter(action="booking.confirmed").count() == 2
