"""Bookings over REST: book fixed and flexible, replay with an Idempotency-Key, refusals, cancel, isolation.

Every call goes through the HTTP stack with a token, as a partner's client
would; the ledger is checked behind the API. The concurrent-client proof is
tests/integration/test_booking_races.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from allocation.models import Booking, BookingStatus, QuotaBalance, ResourceHour
from allocation.services.usage import usage_records_report
from tests.api import client_for
from tests.factories import booked_hours, member

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
URL = "/api/v1/bookings/"
START = datetime(2027, 1, 8, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def fixed(**overrides: Any) -> dict[str, Any]:
    return {
        "tenant": "aurora-lab",
        "resource": "lux/h100",
        "starts_at": iso(START),
        "hours": 10,
        "chips": 60,
        **overrides,
    }


def book(user: Any, body: dict[str, Any], *, key: str | None = None) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client_for(user).post(URL, body, format="json", **headers)


def test_fixed_booking_is_confirmed_and_holds_chips_and_quota(funded: Any, alice: Any) -> None:
    response = book(alice, fixed())
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "confirmed" and body["kind"] == "fixed"
    assert (body["tenant"], body["resource"], body["chips"], body["hours"]) == ("aurora-lab", "lux/h100", 60, 10)
    assert body["starts_at"] == "2027-01-08T00:00:00Z" and body["ends_at"] == "2027-01-08T10:00:00Z"
    assert (body["period"], body["cost_normalized_hours"], body["created_by"]) == ("2027-q1", 600.0, "alice")
    assert booked_hours(inventory=funded.lux_h100) == {START + timedelta(hours=h): 60 for h in range(10)}
    assert QuotaBalance.objects.get(tenant__slug="aurora-lab").used == 600


def test_resource_may_be_named_by_site_and_chip_type_and_the_only_tenant_is_implied(funded: Any, alice: Any) -> None:
    body = fixed(site="muc", chip_type="b200", chips=4, hours=2)
    del body["resource"], body["tenant"]
    response = book(alice, body)
    assert response.status_code == 201, response.json()
    assert (response.json()["resource"], response.json()["cost_normalized_hours"]) == ("muc/b200", 20.0)


def test_idempotency_key_replays_with_200_and_refuses_another_body_with_422(funded: Any, alice: Any) -> None:
    first = book(alice, fixed(), key="run-42")
    assert first.status_code == 201
    again = book(alice, fixed(), key="run-42")
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    other = book(alice, fixed(hours=3), key="run-42")
    assert other.status_code == 422
    error = other.json()["error"]
    assert error["code"] == "idempotency_mismatch" and "idempotency_key" in error["fields"]
    assert Booking.objects.count() == 1
    assert booked_hours() == {START + timedelta(hours=h): 60 for h in range(10)}  # held once


def test_the_same_key_is_independent_per_tenant(funded: Any, alice: Any, mallory: Any) -> None:
    assert book(alice, fixed(chips=10), key="k").status_code == 201
    assert book(mallory, fixed(tenant="nimbus-ai", chips=10), key="k").status_code == 201
    assert Booking.objects.count() == 2


def test_capacity_refusal_is_a_409_with_the_earliest_start_that_fits(funded: Any, alice: Any, mallory: Any) -> None:
    assert book(alice, fixed()).status_code == 201
    response = book(mallory, fixed(tenant="nimbus-ai", starts_at=iso(START + timedelta(hours=2)), hours=5, chips=40))
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "capacity" and "capacity" in error["fields"]
    assert datetime.fromisoformat(error["earliest_start"]) == START + timedelta(hours=10)
    assert "2027-01-08 10:00 UTC" in error["message"]
    assert Booking.objects.filter(tenant__slug="nimbus-ai").count() == 0


def test_quota_refusal_is_a_409_and_gives_the_chips_back(funded: Any, alice: Any) -> None:
    response = book(alice, fixed(resource="muc/b200", hours=100, chips=50))  # 12,500 > 10,000
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "quota" and "quota" in error["fields"] and "earliest_start" not in error
    assert not ResourceHour.objects.filter(booked__gt=0).exists()


def test_no_period_means_no_quota(funded: Any, alice: Any) -> None:
    response = book(alice, fixed(starts_at="2028-06-01T00:00:00Z"))
    assert response.status_code == 409 and response.json()["error"]["code"] == "quota"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"resource": "lux/b200"}, "resource"),
        ({"resource": "nonsense"}, "resource"),
        ({"resource": None}, "resource"),
        ({"starts_at": None}, "starts_at"),
        ({"starts_at": "2027-01-08T09:30:00Z"}, "starts_at"),
        ({"starts_at": "yesterday"}, "starts_at"),
        ({"starts_at": "2020-01-01T00:00:00Z"}, "starts_at"),
        ({"chips": 0}, "chips"),
        ({"chips": "many"}, "chips"),
        ({"chips": 91}, "chips"),
        ({"hours": -1}, "hours"),
        ({"hours": 100_000}, "hours"),
        ({"hours": None}, "hours"),
        ({"tenant": "nimbus-ai"}, "tenant"),
        ({"tenant": "no-such-lab"}, "tenant"),
        ({"kind": "weekly"}, "kind"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(funded: Any, alice: Any, overrides: dict, field: str) -> None:
    body = {k: v for k, v in fixed(**overrides).items() if v is not None}
    response = book(alice, body)
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]
    assert Booking.objects.count() == 0


def test_a_member_of_two_tenants_must_name_one(funded: Any, alice: Any, nimbus: Any) -> None:
    from allocation.models import Membership

    Membership.objects.create(user=alice, tenant=nimbus, role="member")
    body = fixed()
    del body["tenant"]
    response = book(alice, body)
    assert response.status_code == 400 and "tenant" in response.json()["error"]["fields"]


def test_an_overlong_idempotency_key_is_named(funded: Any, alice: Any) -> None:
    response = book(alice, fixed(), key="k" * 121)
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["error"]["fields"]


def test_flexible_booking_is_queued_with_its_eligible_resources(funded: Any, alice: Any) -> None:
    body = {
        "kind": "flexible",
        "tenant": "aurora-lab",
        "hours": 4,
        "chips": 8,
        "eligible": ["lux/h100", {"site": "muc"}, {"chip_type": "h100"}],
        "earliest_start": iso(START),
        "latest_end": iso(START + timedelta(days=2)),
    }
    response = book(alice, body, key="flex-1")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["status"], data["kind"], data["resource"], data["starts_at"]) == ("pending", "flexible", None, None)
    assert data["eligible"] == ["lux/h100", "muc/b200", "muc/h100"]
    assert data["latest_end"] == "2027-01-10T00:00:00Z"
    assert book(alice, body, key="flex-1").json() == data
    assert book(alice, {**body, "chips": 9}, key="flex-1").status_code == 422
    assert not ResourceHour.objects.exists()  # nothing held until the round places it


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"eligible": None}, "eligible"),
        ({"eligible": []}, "eligible"),
        ({"eligible": ["lux/b200"]}, "eligible"),
        ({"eligible": [{"site": "ber"}]}, "eligible"),
        ({"eligible": [{"rack": "7"}]}, "eligible"),
        ({"eligible": [42]}, "eligible"),
        ({"earliest_start": None}, "earliest_start"),
        ({"latest_end": None}, "latest_end"),
        ({"latest_end": "2027-01-07T00:00:00Z"}, "latest_end"),
        ({"hours": 49}, "hours"),
        ({"chips": 2000}, "chips"),
    ],
)
def test_bad_flexible_input_is_a_400_naming_the_field(funded: Any, alice: Any, overrides: dict, field: str) -> None:
    body = {
        "kind": "flexible",
        "hours": 4,
        "chips": 8,
        "eligible": ["lux/h100"],
        "earliest_start": iso(START),
        "latest_end": iso(START + timedelta(days=2)),
        **overrides,
    }
    response = book(alice, {k: v for k, v in body.items() if v is not None})
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]


def test_another_tenants_booking_is_a_404_and_absent_from_lists(funded: Any, alice: Any, mallory: Any) -> None:
    booking_id = book(alice, fixed()).json()["id"]
    client = client_for(mallory)
    for response in (client.get(f"{URL}{booking_id}/"), client.post(f"{URL}{booking_id}/cancel/")):
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert client.get(URL).json()["count"] == 0
    assert client.get(URL, {"tenant": "aurora-lab"}).json()["count"] == 0
    assert client_for(alice).get(f"{URL}{booking_id}/").json()["id"] == booking_id
    assert client_for(alice).get(f"{URL}nonsense/").status_code == 404
    assert Booking.objects.get().status == BookingStatus.CONFIRMED


def test_list_filters(funded: Any, alice: Any, bob: Any) -> None:
    a = book(alice, fixed(chips=10)).json()
    b = book(bob, fixed(resource="muc/b200", chips=2, starts_at=iso(START + timedelta(days=3)))).json()
    flex = book(
        alice,
        {
            "kind": "flexible",
            "eligible": ["muc/h100"],
            "hours": 1,
            "chips": 1,
            "earliest_start": iso(START),
            "latest_end": iso(START + timedelta(days=1)),
        },
    ).json()
    client = client_for(alice)

    def ids(**params: Any) -> set[int]:
        response = client.get(URL, params)
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    assert ids() == {a["id"], b["id"], flex["id"]}
    assert ids(status="pending") == {flex["id"]} and ids(kind="fixed") == {a["id"], b["id"]}
    assert ids(site="lux") == {a["id"]} and ids(site="muc") == {b["id"], flex["id"]}
    assert ids(chip_type="b200") == {b["id"]} and ids(chip_type="h100") == {a["id"], flex["id"]}
    assert ids(starts_after=iso(START + timedelta(days=1))) == {b["id"]}
    assert ids(starts_before=iso(START + timedelta(days=1))) == {a["id"]}
    assert ids(tenant="aurora-lab") == {a["id"], b["id"], flex["id"]} and ids(tenant="nimbus-ai") == set()
    assert client.get(URL, {"status": "sleeping"}).status_code == 400
    assert client.get(URL, {"page_size": 1}).json()["count"] == 3


def test_cancel_gives_back_chips_and_quota_once(funded: Any, alice: Any) -> None:
    booking_id = book(alice, fixed()).json()["id"]
    response = client_for(alice).post(f"{URL}{booking_id}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert set(ResourceHour.objects.values_list("booked", flat=True)) == {0}
    assert QuotaBalance.objects.get(tenant__slug="aurora-lab").used == 0
    again = client_for(alice).post(f"{URL}{booking_id}/cancel/")
    assert again.status_code == 400 and again.json()["error"]["code"] == "invalid_transition"


def test_operators_see_and_cancel_any_booking_the_committee_does_not(
    funded: Any, alice: Any, oscar: Any, carol: Any
) -> None:
    booking_id = book(alice, fixed()).json()["id"]
    assert client_for(carol).get(f"{URL}{booking_id}/").status_code == 404
    assert client_for(oscar).get(URL).json()["count"] == 1
    assert client_for(oscar).post(f"{URL}{booking_id}/cancel/").json()["status"] == "cancelled"
    assert book(oscar, fixed()).status_code == 400  # not a member of aurora: a 400 naming the tenant


def test_anonymous_gets_401(funded: Any) -> None:
    assert client_for().get(URL).status_code == 401
    assert client_for().post(URL, fixed(), format="json").status_code == 401


def test_fair_share_lists_my_tenants_with_factor_and_decayed_usage(
    funded: Any, alice: Any, mallory: Any, oscar: Any, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.API_TOKEN_TTL_HOURS = 24 * 365  # the clock moves past the booking below; tokens stay valid
    fresh = client_for(alice).get("/api/v1/fair-share/").json()
    assert [t["tenant"] for t in fresh["tenants"]] == ["aurora-lab"]
    assert fresh["tenants"][0]["factor"] == 1.0 and fresh["tenants"][0]["decayed_usage_normalized_hours"] == 0.0
    assert fresh["half_life_hours"] == 168.0

    booking = Booking.objects.get(pk=book(alice, fixed(chips=10, hours=2)).json()["id"])
    assert booking.ends_at is not None
    now = booking.ends_at  # the booking ran; the page is read as it ends
    monkeypatch.setattr("django.utils.timezone.now", lambda: now)
    usage_records_report(actor=oscar, records=[{"record_id": "r1", "booking": booking.pk, "at": now, "gpu_hours": 20}])
    row = client_for(alice).get("/api/v1/fair-share/").json()["tenants"][0]
    assert row["decayed_usage_normalized_hours"] == pytest.approx(20.0, rel=1e-3)
    assert 0 < row["factor"] < 1
    other = client_for(mallory).get("/api/v1/fair-share/").json()["tenants"]
    assert [t["tenant"] for t in other] == ["nimbus-ai"] and other[0]["factor"] > row["factor"]


def test_schema_documents_the_booking_endpoints(alice: Any) -> None:
    schema = client_for(alice).get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for path in (
        "/api/v1/bookings/",
        "/api/v1/bookings/{id}/",
        "/api/v1/bookings/{id}/cancel/",
        "/api/v1/fair-share/",
        "/api/v1/resources/",
        "/api/v1/availability/",
        "/api/v1/usage-records/",
    ):
        assert path in schema["paths"], path
    post = schema["paths"]["/api/v1/bookings/"]["post"]
    assert {"201", "200", "409", "422"} <= set(post["responses"])
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in post["parameters"])
    assert "earliest_start" in schema["components"]["schemas"]["BookingErrorBody"]["properties"]
    assert post["summary"]


def test_extra_member_books_for_the_same_tenant(funded: Any, aurora: Any) -> None:
    dave = member("dave", aurora, role="member")
    assert book(dave, fixed(chips=5)).status_code == 201


def test_a_flexible_booking_placed_by_the_round_shows_its_slot(funded: Any, alice: Any) -> None:
    from allocation.services.booking_round import booking_round_run, booking_round_shards

    body = {
        "kind": "flexible",
        "eligible": ["lux/h100"],
        "hours": 3,
        "chips": 30,
        "earliest_start": iso(START),
        "latest_end": iso(START + timedelta(days=1)),
    }
    booking_id = book(alice, body).json()["id"]
    now = START - timedelta(hours=1)
    booking_round_run(inventory_ids=booking_round_shards(now=now)[0], now=now)
    data = client_for(alice).get(f"{URL}{booking_id}/").json()
    assert (data["status"], data["resource"], data["starts_at"]) == ("confirmed", "lux/h100", "2027-01-08T00:00:00Z")
    assert data["cost_normalized_hours"] == 90.0 and data["eligible"] == ["lux/h100"]


def test_the_list_costs_a_bounded_number_of_queries(
    funded: Any, alice: Any, django_assert_max_num_queries: Any
) -> None:
    for i in range(12):
        book(alice, fixed(chips=1, hours=1, starts_at=iso(START + timedelta(hours=i))))
        book(
            alice,
            {
                "kind": "flexible",
                "eligible": ["lux/h100", "muc/h100"],
                "hours": 1,
                "chips": 1,
                "earliest_start": iso(START),
                "latest_end": iso(START + timedelta(days=1)),
            },
        )
    client = client_for(alice)
    with django_assert_max_num_queries(8):
        assert client.get(URL).json()["count"] == 24
