"""Concurrent usage batches over real HTTP never record more than a booking can have used.

On PostgreSQL only, as tests/integration/test_booking_races.py: operators' clients are threads with
their own connection to pytest-django's threaded live server, released together by a barrier.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Sum
from rest_framework.authtoken.models import Token

from allocation.models import AuditEvent, UsageRecord
from allocation.services.bookings import booking_fixed_create
from tests.factories import grant, with_role
from tests.integration.test_booking_races import START, postgres_only, race, warm_up  # noqa: F401

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]
CLIENTS = 12
PER_BATCH = 10
GPU_HOURS = 7.5  # 12 x 10 x 7.5 = 900 offered for a booking of 60 chips x 10 h = 600


def post(base: str, token: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json", "Accept": "application/json"}
    request = urllib.request.Request(
        f"{base}/api/v1/usage-records/", data=json.dumps(body).encode(), method="POST", headers=headers
    )
    try:
        with urllib.request.build_opener().open(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_concurrent_batches_never_exceed_chips_times_hours(
    live_server: Any, catalogue: Any, aurora: Any, alice: Any, carol: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    grant(catalogue, aurora, carol, 10_000, catalogue.lux_h100)
    booking, _ = booking_fixed_create(
        actor=alice, tenant=aurora, inventory=catalogue.lux_h100, starts_at=START, hours=10, chips=60
    )
    monkeypatch.setattr("django.utils.timezone.now", lambda: START + timedelta(days=1))  # the booking has run
    tokens = [Token.objects.create(user=with_role(f"op{i}", "operator")).key for i in range(CLIENTS)]
    warm_up(live_server.url, tokens[0])

    def batch(i: int) -> tuple[int, dict[str, Any]]:
        return post(
            live_server.url,
            tokens[i],
            {
                "records": [
                    {
                        "record_id": f"c{i}-r{j}",
                        "booking": booking.pk,
                        "gpu_hours": GPU_HOURS,
                        "at": (START + timedelta(hours=j % 10)).isoformat(),
                    }
                    for j in range(PER_BATCH)
                ]
            },
        )

    answers = race(CLIENTS, batch)
    assert {code for code, _ in answers} <= {201, 400}, answers
    stored = UsageRecord.objects.filter(booking=booking).aggregate(total=Sum("gpu_hours"))["total"]
    assert stored == 600  # exactly full: 80 records of 7.5, none beyond
    assert sum(body.get("created", 0) for _, body in answers) == 80 == UsageRecord.objects.count()
    refused = [r for _, body in answers for r in body.get("refused", body.get("error", {}).get("refused", []))]
    assert len(refused) == CLIENTS * PER_BATCH - 80 and {r["code"] for r in refused} == {"over_booking"}
    assert AuditEvent.objects.filter(action="usage.reported").count() == 80


def test_one_record_id_sent_for_two_bookings_at_once_is_stored_once(
    live_server: Any, catalogue: Any, aurora: Any, alice: Any, carol: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bookings are locked, not the ids: the loser's insert fails on the unique id, and its batch runs
    again, finds the id known with other figures and refuses that record, keeping the rest (no 500)."""
    grant(catalogue, aurora, carol, 10_000, catalogue.lux_h100)
    bookings = [
        booking_fixed_create(
            actor=alice, tenant=aurora, inventory=catalogue.lux_h100, starts_at=START, hours=2, chips=5
        )[0]
        for _ in range(CLIENTS)
    ]
    monkeypatch.setattr("django.utils.timezone.now", lambda: START + timedelta(days=1))
    tokens = [Token.objects.create(user=with_role(f"op{i}", "operator")).key for i in range(CLIENTS)]
    warm_up(live_server.url, tokens[0])

    def batch(i: int) -> tuple[int, dict[str, Any]]:
        at = START.isoformat()
        return post(
            live_server.url,
            tokens[i],
            {
                "records": [
                    {"record_id": "shared", "booking": bookings[i].pk, "at": at, "gpu_hours": 1},
                    {"record_id": f"own-{i}", "booking": bookings[i].pk, "at": at, "gpu_hours": 1},
                ]
            },
        )

    answers = race(CLIENTS, batch)
    assert [code for code, _ in answers] == [201] * CLIENTS, answers
    assert UsageRecord.objects.filter(record_id="shared").count() == 1
    assert UsageRecord.objects.filter(record_id__startswith="own-").count() == CLIENTS
    conflicts = [r for _, body in answers for r in body["refused"]]
    assert len(conflicts) == CLIENTS - 1 and {(r["index"], r["code"]) for r in conflicts} == {(0, "conflict")}
