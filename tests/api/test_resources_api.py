"""Resources and availability over REST: what exists, and what is free hour by hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from allocation.services.bookings import booking_fixed_create
from allocation.services.maintenance import maintenance_announce
from tests.api import client_for
from tests.factories import grant

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
START = datetime(2027, 1, 8, tzinfo=UTC)
AVAILABILITY = "/api/v1/availability/"


def test_resources_list_every_chip_type_at_every_site(alice: Any, catalogue: Any) -> None:
    response = client_for(alice).get("/api/v1/resources/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [r["resource"] for r in rows] == ["lux/h100", "muc/b200", "muc/h100"]
    lux = rows[0]
    assert (lux["site"], lux["site_kind"], lux["country"], lux["chip_type"]) == ("lux", "factory", "LU", "h100")
    assert (lux["chips_installed"], lux["chips_in_service"], lux["throughput"]) == (100, 90, 1.0)
    assert lux["chip_name"] == "NVIDIA H100" and lux["site_name"] == "L-AI Factory"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"site": "muc"}, ["muc/b200", "muc/h100"]),
        ({"chip_type": "h100"}, ["lux/h100", "muc/h100"]),
        ({"kind": "factory"}, ["lux/h100"]),
        ({"kind": "gigafactory", "chip_type": "b200"}, ["muc/b200"]),
        ({"site": "nowhere"}, []),
    ],
)
def test_resource_filters(alice: Any, catalogue: Any, params: dict, expected: list[str]) -> None:
    rows = client_for(alice).get("/api/v1/resources/", params).json()["results"]
    assert [r["resource"] for r in rows] == expected


def test_resources_need_a_login(catalogue: Any) -> None:
    assert APIClient().get("/api/v1/resources/").status_code == 401


def test_availability_shows_free_chips_per_hour_from_the_ledger(
    catalogue: Any, aurora: Any, alice: Any, carol: Any, oscar: Any
) -> None:
    grant(catalogue, aurora, carol, 10_000, catalogue.lux_h100)
    booking_fixed_create(
        actor=alice,
        tenant=aurora,
        inventory=catalogue.lux_h100,
        starts_at=START + timedelta(hours=1),
        hours=2,
        chips=60,
    )
    maintenance_announce(
        actor=oscar,
        inventory=catalogue.lux_h100,
        chips=10,
        starts_at=START + timedelta(hours=2),
        ends_at=START + timedelta(hours=4),
    )
    response = client_for(alice).get(
        AVAILABILITY, {"resource": "lux/h100", "start": "2027-01-08T00:00:00Z", "hours": 5}
    )
    assert response.status_code == 200, response.json()
    data = response.json()
    assert (data["resource"], data["chips_in_service"], data["hours"]) == ("lux/h100", 90, 5)
    assert data["start"] == "2027-01-08T00:00:00Z"
    assert [s["free_chips"] for s in data["slots"]] == [90, 30, 20, 80, 90]
    assert [s["hour"] for s in data["slots"]][:2] == ["2027-01-08T00:00:00Z", "2027-01-08T01:00:00Z"]


def test_availability_by_end_and_rounded_start(alice: Any, catalogue: Any) -> None:
    data = (
        client_for(alice)
        .get(AVAILABILITY, {"resource": "muc/b200", "start": "2027-01-08T09:30:00Z", "end": "2027-01-08T12:10:00Z"})
        .json()
    )
    assert data["start"] == "2027-01-08T09:00:00Z" and data["hours"] == 4
    assert [s["free_chips"] for s in data["slots"]] == [200] * 4


def test_availability_defaults_to_a_day_from_the_current_hour(alice: Any, catalogue: Any) -> None:
    data = client_for(alice).get(AVAILABILITY, {"resource": "muc/h100"}).json()
    assert data["hours"] == 24 and len(data["slots"]) == 24
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    assert datetime.fromisoformat(data["start"]) in (now, now - timedelta(hours=1))


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "resource"),
        ({"resource": "lux"}, "resource"),
        ({"resource": "lux/b200"}, "resource"),
        ({"resource": "lux/h100", "hours": 0}, "hours"),
        ({"resource": "lux/h100", "hours": "ten"}, "hours"),
        ({"resource": "lux/h100", "hours": 24 * 31 + 1}, "hours"),
        ({"resource": "lux/h100", "start": "soon"}, "start"),
        ({"resource": "lux/h100", "start": "2027-01-08T00:00:00Z", "end": "2027-01-07T00:00:00Z"}, "end"),
        ({"resource": "lux/h100", "start": "2027-01-08T00:00:00Z", "end": "2027-03-08T00:00:00Z"}, "end"),
        ({"resource": "lux/h100", "hours": 3, "end": "2027-01-09T00:00:00Z"}, "end"),
    ],
)
def test_availability_bad_parameters_are_named(alice: Any, catalogue: Any, params: dict, field: str) -> None:
    response = client_for(alice).get(AVAILABILITY, params)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"], response.json()


def test_the_largest_window_is_allowed(alice: Any, catalogue: Any) -> None:
    data = (
        client_for(alice)
        .get(AVAILABILITY, {"resource": "lux/h100", "start": "2027-01-01T00:00:00Z", "hours": 24 * 31})
        .json()
    )
    assert len(data["slots"]) == 744
