"""Grants over REST: spent only where they were granted, listed per resource, refusals that name them.

Issue 11, items 2 and 11, as a partner's client meets them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from allocation.models import Booking, QuotaBalance, ResourceHour
from tests.api import client_for
from tests.factories import booked_hours, grant

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
START = datetime(2027, 1, 8, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def book(user: Any, **body: Any) -> Any:
    return client_for(user).post("/api/v1/bookings/", body, format="json")


def flexible(**overrides: Any) -> dict[str, Any]:
    return {
        "kind": "flexible",
        "tenant": "aurora-lab",
        "hours": 10,
        "chips": 10,
        "eligible": ["lux/h100"],
        "earliest_start": iso(START),
        "latest_end": iso(START + timedelta(days=2)),
        **overrides,
    }


@pytest.fixture
def split(catalogue: Any, aurora: Any, nimbus: Any, carol: Any) -> Any:
    """Aurora was granted only on site A (muc/h100); Nimbus all of lux/h100 for ten hours (90 chips x 10 h)."""
    grant(catalogue, aurora, carol, 10_000, catalogue.muc_h100)
    grant(catalogue, nimbus, carol, 900, catalogue.lux_h100)
    return catalogue


def test_a_tenant_granted_only_on_site_a_cannot_book_site_b_while_the_grant_holder_books_all_of_it(
    split: Any, alice: Any, mallory: Any
) -> None:
    refused = book(alice, tenant="aurora-lab", resource="lux/h100", starts_at=iso(START), hours=10, chips=60)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "quota"
    assert error["fields"]["quota"] == ["No grant of yours covers lux/h100 in 2027 Q1."]
    assert not Booking.objects.exists() and not ResourceHour.objects.filter(booked__gt=0).exists()

    taken = book(mallory, tenant="nimbus-ai", resource="lux/h100", starts_at=iso(START), hours=10, chips=90)
    assert taken.status_code == 201, taken.json()
    assert booked_hours(inventory=split.lux_h100) == {START + timedelta(hours=h): 90 for h in range(10)}

    # Aurora's own grant still books where it was granted.
    home = book(alice, tenant="aurora-lab", resource="muc/h100", starts_at=iso(START), hours=10, chips=60)
    assert home.status_code == 201, home.json()


def test_an_exhausted_grant_is_named_with_what_is_left(split: Any, mallory: Any) -> None:
    assert (
        book(mallory, tenant="nimbus-ai", resource="lux/h100", starts_at=iso(START), hours=8, chips=90).status_code
        == 201
    )
    refused = book(
        mallory, tenant="nimbus-ai", resource="lux/h100", starts_at=iso(START + timedelta(hours=8)), hours=5, chips=40
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == (
        "Your grant on lux/h100 in 2027 Q1 has 180.0 normalized hours left; this booking needs 200.0."
    )
    assert QuotaBalance.objects.get(tenant__slug="nimbus-ai").used == 720


def test_a_refusal_reads_in_german(split: Any, alice: Any) -> None:
    response = client_for(alice).post(
        "/api/v1/bookings/",
        {"tenant": "aurora-lab", "resource": "lux/h100", "starts_at": iso(START), "hours": 1, "chips": 1},
        format="json",
        HTTP_ACCEPT_LANGUAGE="de",
    )
    assert response.status_code == 409
    assert response.json()["error"]["message"] == "Kein Kontingent Ihrer Organisation deckt lux/h100 in 2027 Q1 ab."


@pytest.mark.parametrize(
    ("overrides", "status", "field"),
    [
        # A window outside every allocation period (the period is 2027 Q1).
        ({"earliest_start": "2027-06-01T00:00:00Z", "latest_end": "2027-06-03T00:00:00Z"}, 400, "latest_end"),
        # A window ending in 2099.
        ({"latest_end": "2099-01-01T00:00:00Z"}, 400, "latest_end"),
        # More chips than the largest acceptable resource has.
        ({"chips": 38_000, "hours": 500, "latest_end": iso(START + timedelta(days=40))}, 400, "chips"),
        # More than the grant on the acceptable resources: 90 chips x 20 h = 1,800 > 900.
        ({"chips": 90, "hours": 20}, 409, "quota"),
        # No grant at all on the acceptable resources.
        ({"tenant": "aurora-lab", "eligible": ["lux/h100", "muc/b200"]}, 409, "quota"),
        # A window that runs past the end of the last allocation period.
        (
            {"earliest_start": "2027-03-31T20:00:00Z", "latest_end": "2027-04-01T02:00:00Z", "hours": 4},
            400,
            "latest_end",
        ),
    ],
)
def test_flexible_bookings_that_can_never_be_placed_are_refused_at_submission(
    split: Any, mallory: Any, alice: Any, overrides: dict[str, Any], status: int, field: str
) -> None:
    body = flexible(tenant="nimbus-ai", **{k: v for k, v in overrides.items() if k != "tenant"})
    user = mallory
    if overrides.get("tenant") == "aurora-lab":
        body["tenant"], user = "aurora-lab", alice
    response = book(user, **body)
    assert response.status_code == status, response.json()
    assert field in response.json()["error"]["fields"], response.json()
    assert not Booking.objects.exists()


def test_a_flexible_booking_the_grant_covers_is_queued(split: Any, mallory: Any) -> None:
    response = book(mallory, **flexible(tenant="nimbus-ai", chips=90, hours=10))
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "pending"


def test_grants_list_each_grant_with_its_resource_and_figures(split: Any, alice: Any, mallory: Any, carol: Any) -> None:
    assert (
        book(mallory, tenant="nimbus-ai", resource="lux/h100", starts_at=iso(START), hours=2, chips=90).status_code
        == 201
    )
    mine = client_for(mallory).get("/api/v1/grants/")
    assert mine.status_code == 200
    rows = mine.json()["results"]
    assert [
        (r["tenant"], r["resources"], r["granted"], r["booked"], r["used"], r["remaining"], r["overdrawn"])
        for r in rows
    ] == [("nimbus-ai", ["lux/h100"], 900.0, 180.0, 0.0, 720.0, False)]
    everyone = client_for(carol).get("/api/v1/grants/", {"period": "2027-q1"}).json()["results"]
    assert {(r["tenant"], r["site"], r["chip_type"]) for r in everyone} == {
        ("aurora-lab", "muc", "h100"),
        ("nimbus-ai", "lux", "h100"),
    }
    assert client_for(carol).get("/api/v1/grants/", {"period": "nope"}).status_code == 400
    assert client_for(alice).get("/api/v1/grants/", {"tenant": "nimbus-ai"}).json()["results"] == []
