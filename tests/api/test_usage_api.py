"""Usage records over REST: operators report batches (idempotent per record id); tenants read their own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from allocation.models import UsageRecord
from allocation.services.bookings import booking_fixed_create
from tests.api import client_for
from tests.factories import grant

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
URL = "/api/v1/usage-records/"
START = datetime(2027, 1, 8, tzinfo=UTC)


@pytest.fixture
def bookings(catalogue: Any, aurora: Any, nimbus: Any, alice: Any, mallory: Any, carol: Any) -> dict[str, Any]:
    grant(catalogue, aurora, carol, 10_000, catalogue.muc_b200)  # grants are spent where they were granted
    grant(catalogue, nimbus, carol, 10_000, catalogue.lux_h100)
    a, _ = booking_fixed_create(actor=alice, tenant=aurora, inventory=catalogue.muc_b200, starts_at=START, hours=2,
                                chips=4)
    n, _ = booking_fixed_create(actor=mallory, tenant=nimbus, inventory=catalogue.lux_h100, starts_at=START,
                                hours=1, chips=10)
    return {"aurora": a, "nimbus": n}


def batch(bookings: dict[str, Any]) -> dict[str, Any]:
    return {"records": [
        {"record_id": "muc-1", "booking": bookings["aurora"].pk, "at": "2027-01-08T01:00:00Z", "gpu_hours": 8},
        {"record_id": "lux-1", "booking": bookings["nimbus"].pk, "at": "2027-01-08T01:00:00Z", "gpu_hours": 9.5},
    ]}


def test_operator_reports_a_batch_once(oscar: Any, bookings: dict) -> None:
    client = client_for(oscar)
    first = client.post(URL, batch(bookings), format="json")
    assert first.status_code == 201 and first.json() == {"created": 2, "already_reported": 0}
    again = client.post(URL, batch(bookings), format="json")
    assert again.status_code == 200 and again.json() == {"created": 0, "already_reported": 2}
    assert UsageRecord.objects.count() == 2
    muc = UsageRecord.objects.get(record_id="muc-1")
    assert (muc.gpu_hours, muc.normalized_hours, muc.tenant.slug) == (8, 20.0, "aurora-lab")  # B200: 2.5


def test_a_known_id_with_other_figures_refuses_the_whole_batch(oscar: Any, bookings: dict) -> None:
    client = client_for(oscar)
    client.post(URL, batch(bookings), format="json")
    body = batch(bookings)
    body["records"][1]["gpu_hours"] = 1
    body["records"].append({"record_id": "new", "booking": bookings["aurora"].pk, "at": "2027-01-08T01:00:00Z",
                            "gpu_hours": 1})
    response = client.post(URL, body, format="json")
    assert response.status_code == 400 and "records[1]" in response.json()["error"]["fields"]
    assert not UsageRecord.objects.filter(record_id="new").exists()


@pytest.mark.parametrize(("records", "field"), [
    ([], "records"),
    ("nope", "records"),
    ([{"record_id": "x", "booking": 999_999, "at": "2027-01-08T01:00:00Z", "gpu_hours": 1}], "records[0]"),
    ([{"record_id": "x", "booking": "the big one", "at": "2027-01-08T01:00:00Z", "gpu_hours": 1}], "records"),
    ([{"record_id": "x", "booking": "AURORA", "at": "2027-01-08T01:00:00Z", "gpu_hours": 100}], "records[0]"),
    ([{"record_id": "x", "booking": "AURORA", "at": "2027-01-08T01:00:00Z", "gpu_hours": -1}], "records"),
    ([{"record_id": "x", "booking": "AURORA", "gpu_hours": 1}], "records"),
])
def test_bad_batches_are_named(oscar: Any, bookings: dict, records: Any, field: str) -> None:
    if isinstance(records, list):
        records = [{**r, "booking": bookings["aurora"].pk if r["booking"] == "AURORA" else r["booking"]}
                   for r in records]  # AURORA: Aurora's booking of 4 chips x 2 h
    response = client_for(oscar).post(URL, {"records": records}, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"], response.json()
    assert not UsageRecord.objects.exists()


def test_only_operators_report(alice: Any, carol: Any, bookings: dict) -> None:
    for user in (alice, carol):
        response = client_for(user).post(URL, batch(bookings), format="json")
        assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    assert not UsageRecord.objects.exists()


def test_operators_see_all_records_tenants_their_own(
    oscar: Any, alice: Any, mallory: Any, carol: Any, bookings: dict
) -> None:
    client_for(oscar).post(URL, batch(bookings), format="json")
    assert {r["record_id"] for r in client_for(oscar).get(URL).json()["results"]} == {"muc-1", "lux-1"}
    mine = client_for(alice).get(URL).json()["results"]
    assert [(r["record_id"], r["tenant"], r["resource"], r["normalized_hours"], r["reported_by"]) for r in mine] == [
        ("muc-1", "aurora-lab", "muc/b200", 20.0, "oscar")]
    assert [r["record_id"] for r in client_for(mallory).get(URL).json()["results"]] == ["lux-1"]
    assert client_for(mallory).get(URL, {"tenant": "aurora-lab"}).json()["count"] == 0
    assert client_for(carol).get(URL).json()["count"] == 0


def test_usage_filters(oscar: Any, bookings: dict) -> None:
    client = client_for(oscar)
    client.post(URL, batch(bookings), format="json")

    def ids(**params: Any) -> set[str]:
        return {r["record_id"] for r in client.get(URL, params).json()["results"]}

    assert ids(site="muc") == {"muc-1"} and ids(chip_type="h100") == {"lux-1"}
    assert ids(booking=bookings["nimbus"].pk) == {"lux-1"} and ids(tenant="aurora-lab") == {"muc-1"}
    assert ids(since="2027-01-08T01:00:00Z") == {"muc-1", "lux-1"} and ids(until="2027-01-08T01:00:00Z") == set()
