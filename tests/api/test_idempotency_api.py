"""Issue 11, item 12: ``Idempotency-Key`` on every create, with the bookings' semantics.

For each create (allocation requests, usage-record batches, round previews, bookings): two
POSTs with one key create one object; the replay answers 200 with the first answer and
``Idempotent-Replayed: true``; the same key with another body is a 422 in the one error body.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db.models import Model

from allocation.models import AllocationRequest, AllocationRound, Booking, IdempotencyKey, UsageRecord
from allocation.services.bookings import booking_fixed_create
from tests.api import client_for, request_body
from tests.factories import grant

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
START = datetime(2027, 1, 8, tzinfo=UTC)


@dataclass
class Create:
    url: str
    user: Any
    body: dict[str, Any]
    other_body: dict[str, Any]
    model: type[Model]
    status: int  # what the first request answers


def usage_batch(booking: Booking, gpu_hours: float) -> dict[str, Any]:
    return {
        "records": [{"record_id": "muc-7", "booking": booking.pk, "at": "2027-01-08T01:00:00Z", "gpu_hours": gpu_hours}]
    }


@pytest.fixture
def creates(
    catalogue: Any, aurora: Any, alice: Any, carol: Any, oscar: Any, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Callable[[], Create]]:
    def usage() -> Create:
        grant(catalogue, aurora, carol, 10_000, catalogue.muc_b200)
        booking, _ = booking_fixed_create(
            actor=alice, tenant=aurora, inventory=catalogue.muc_b200, starts_at=START, hours=2, chips=4
        )
        # Usage is reported for a booking that has run: the clock moves past it.
        monkeypatch.setattr("django.utils.timezone.now", lambda: START + timedelta(hours=3))
        return Create(
            "/api/v1/usage-records/", oscar, usage_batch(booking, 8), usage_batch(booking, 7), UsageRecord, 201
        )

    def booking() -> Create:
        grant(catalogue, aurora, carol, 10_000, catalogue.lux_h100)
        body = {
            "tenant": "aurora-lab",
            "resource": "lux/h100",
            "starts_at": "2027-01-08T09:00:00Z",
            "hours": 2,
            "chips": 10,
        }
        return Create("/api/v1/bookings/", alice, body, {**body, "chips": 11}, Booking, 201)

    return {
        "allocation-request": lambda: Create(
            "/api/v1/allocation-requests/",
            alice,
            request_body(),
            request_body(title="Another idea"),
            AllocationRequest,
            201,
        ),
        "usage-batch": usage,
        "round-preview": lambda: Create(
            "/api/v1/allocation-rounds/", carol, {"period": "2027-q1"}, {"period": "2027-q2"}, AllocationRound, 202
        ),
        "booking": booking,
    }


EVERY_CREATE = pytest.mark.parametrize("name", ["allocation-request", "usage-batch", "round-preview", "booking"])


@EVERY_CREATE
def test_two_posts_with_one_key_create_one_and_replay_the_answer(name: str, creates: dict) -> None:
    create = creates[name]()
    client = client_for(create.user)

    first = client.post(create.url, create.body, format="json", HTTP_IDEMPOTENCY_KEY="retry-42")
    again = client.post(create.url, create.body, format="json", HTTP_IDEMPOTENCY_KEY="retry-42")

    assert first.status_code == create.status, first.json()
    assert "Idempotent-Replayed" not in first
    assert again.status_code == 200, again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert create.model.objects.count() == 1


@EVERY_CREATE
def test_the_same_key_with_another_body_is_a_422(name: str, creates: dict) -> None:
    create = creates[name]()
    client = client_for(create.user)
    client.post(create.url, create.body, format="json", HTTP_IDEMPOTENCY_KEY="retry-42")

    response = client.post(create.url, create.other_body, format="json", HTTP_IDEMPOTENCY_KEY="retry-42")

    assert response.status_code == 422, response.json()
    assert response.json()["error"]["code"] == "idempotency_mismatch"
    assert create.model.objects.count() == 1


# (A usage record id or a booked slot is taken once whatever the key.)
@pytest.mark.parametrize("name", ["allocation-request", "round-preview"])
def test_without_a_key_or_with_another_key_each_post_creates(name: str, creates: dict) -> None:
    create = creates[name]()
    client = client_for(create.user)

    client.post(create.url, create.body, format="json")
    client.post(create.url, create.body, format="json", HTTP_IDEMPOTENCY_KEY="a")
    client.post(create.url, create.body, format="json", HTTP_IDEMPOTENCY_KEY="b")

    assert create.model.objects.count() == 3


def test_a_key_is_one_users_own(creates: dict, bob: Any) -> None:
    create = creates["allocation-request"]()
    first = client_for(create.user).post(create.url, create.body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    second = client_for(bob).post(create.url, create.body, format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]


def test_a_refused_create_keeps_no_key_so_the_corrected_retry_goes_through(creates: dict) -> None:
    create = creates["allocation-request"]()
    client = client_for(create.user)

    refused = client.post(create.url, request_body(demand_gpu_hours=-5), format="json", HTTP_IDEMPOTENCY_KEY="k")
    corrected = client.post(create.url, create.body, format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert refused.status_code == 400
    assert corrected.status_code == 201
    assert IdempotencyKey.objects.count() == 1


@EVERY_CREATE
@pytest.mark.parametrize("key", ["x" * 121, "tab\there", "nul\x00byte"])
def test_a_key_that_cannot_be_one_is_a_400_naming_the_header(name: str, creates: dict, key: str) -> None:
    create = creates[name]()

    response = client_for(create.user).post(create.url, create.body, format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["fields"]
    assert create.model.objects.count() == 0
