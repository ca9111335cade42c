"""Usage records over REST: operators report batches (idempotent per record id) and correct them with
adjustments; every record is checked against its booking and refused on its own; tenants read their own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from allocation.models import AuditEvent, BookingStatus, UsageRecord
from allocation.services.bookings import booking_cancel, booking_fixed_create, booking_flexible_create
from tests.api import client_for
from tests.factories import grant

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
URL = "/api/v1/usage-records/"
ADJUST = "/api/v1/usage-records/adjustments/"
START = datetime(2027, 1, 8, tzinfo=UTC)
LATER = START + timedelta(days=2)  # every booking below has ended by then


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    """Move the server's clock (bookings are made before, at the real time: they start in 2027)."""

    def move(to: datetime) -> None:
        monkeypatch.setattr("django.utils.timezone.now", lambda: to)

    return move


@pytest.fixture
def bookings(
    catalogue: Any, aurora: Any, nimbus: Any, alice: Any, mallory: Any, carol: Any, clock: Callable[[datetime], None]
) -> dict[str, Any]:
    for inventory in (catalogue.muc_b200, catalogue.lux_h100, catalogue.muc_h100):  # spent where granted
        grant(catalogue, aurora, carol, 10_000, inventory)
    grant(catalogue, nimbus, carol, 10_000, catalogue.lux_h100)
    a, _ = booking_fixed_create(
        actor=alice, tenant=aurora, inventory=catalogue.muc_b200, starts_at=START, hours=2, chips=4
    )
    n, _ = booking_fixed_create(
        actor=mallory, tenant=nimbus, inventory=catalogue.lux_h100, starts_at=START, hours=1, chips=10
    )
    big, _ = booking_fixed_create(
        actor=alice,
        tenant=aurora,
        inventory=catalogue.lux_h100,
        starts_at=START + timedelta(hours=2),
        hours=10,
        chips=60,
    )
    cancelled, _ = booking_fixed_create(
        actor=alice, tenant=aurora, inventory=catalogue.muc_h100, starts_at=START, hours=5, chips=10
    )
    booking_cancel(actor=alice, booking=cancelled)  # long before it starts
    pending, _ = booking_flexible_create(
        actor=alice,
        tenant=aurora,
        eligible=[catalogue.muc_h100],
        earliest_start=START,
        latest_end=START + timedelta(days=1),
        hours=2,
        chips=5,
    )
    clock(LATER)
    return {"aurora": a, "nimbus": n, "big": big, "cancelled": cancelled, "pending": pending}


def record(record_id: str, booking: Any, at: datetime, gpu_hours: float) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "booking": booking.pk,
        "at": at.isoformat().replace("+00:00", "Z"),
        "gpu_hours": gpu_hours,
    }


def batch(bookings: dict[str, Any]) -> dict[str, Any]:
    return {
        "records": [
            {"record_id": "muc-1", "booking": bookings["aurora"].pk, "at": "2027-01-08T01:00:00Z", "gpu_hours": 8},
            {"record_id": "lux-1", "booking": bookings["nimbus"].pk, "at": "2027-01-08T01:00:00Z", "gpu_hours": 9.5},
        ]
    }


def refused(response: Any) -> list[tuple[int, str, str]]:
    body = response.json()
    rows = body["refused"] if "refused" in body else body["error"]["refused"]
    return [(r["index"], r["field"], r["code"]) for r in rows]


def test_operator_reports_a_batch_once(oscar: Any, bookings: dict) -> None:
    client = client_for(oscar)
    first = client.post(URL, batch(bookings), format="json")
    assert first.status_code == 201 and first.json() == {"created": 2, "already_reported": 0, "refused": []}
    again = client.post(URL, batch(bookings), format="json")
    assert again.status_code == 200 and again.json() == {"created": 0, "already_reported": 2, "refused": []}
    assert UsageRecord.objects.count() == 2
    muc = UsageRecord.objects.get(record_id="muc-1")
    assert (muc.gpu_hours, muc.normalized_hours, muc.tenant.slug) == (8, 20.0, "aurora-lab")  # B200: 2.5


def test_a_known_id_with_other_figures_is_refused_and_the_rest_kept(oscar: Any, bookings: dict) -> None:
    client = client_for(oscar)
    client.post(URL, batch(bookings), format="json")
    body = batch(bookings)
    body["records"][1]["gpu_hours"] = 1
    body["records"].append(record("new", bookings["big"], bookings["big"].starts_at, 1))
    response = client.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["created"] == 1 and response.json()["already_reported"] == 1
    assert refused(response) == [(1, "record_id", "conflict")]
    assert "lux-1 was already reported with other figures" in response.json()["refused"][0]["message"]
    assert UsageRecord.objects.get(record_id="lux-1").gpu_hours == 9.5  # unchanged
    assert UsageRecord.objects.filter(record_id="new").exists()


def test_the_issues_batch_keeps_only_what_the_booking_can_have_used(oscar: Any, bookings: dict) -> None:
    """Issue 11, item 4: three 600 GPU-h records for a 60-chip x 10 h booking, one dated before it started,
    one in 2030, and one for a booking cancelled before it started."""
    big, inside = bookings["big"], bookings["big"].starts_at + timedelta(hours=5)
    response = client_for(oscar).post(
        URL,
        {
            "records": [
                record("r1", big, inside, 600),
                record("r2", big, inside, 600),
                record("r3", big, inside, 600),
                record("early", big, big.starts_at - timedelta(days=3), 1),
                record("2030", big, datetime(2030, 1, 1, tzinfo=UTC), 1),
                record("cancelled", bookings["cancelled"], START + timedelta(hours=1), 1),
                record("pending", bookings["pending"], START + timedelta(hours=1), 1),
            ]
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["created"] == 1
    assert refused(response) == [
        (1, "gpu_hours", "over_booking"),
        (2, "gpu_hours", "over_booking"),
        (3, "at", "outside_window"),
        (4, "at", "outside_window"),
        (5, "booking", "not_started"),
        (6, "booking", "not_started"),
    ]
    messages = [r["message"] for r in response.json()["refused"]]
    assert "holds 600.00 GPU-hours (60 chips for 10 h) and 600.00 are recorded already" in messages[1]
    assert "cancelled before it started" in messages[4] and "never placed" in messages[5]
    assert [r["record_id"] for r in response.json()["refused"]] == ["r2", "r3", "early", "2030", "cancelled", "pending"]
    assert list(UsageRecord.objects.values_list("record_id", "gpu_hours")) == [("r1", 600.0)]


def test_the_limit_counts_records_already_stored(oscar: Any, bookings: dict) -> None:
    big, inside = bookings["big"], bookings["big"].starts_at + timedelta(hours=1)
    client = client_for(oscar)
    assert client.post(URL, {"records": [record("a", big, inside, 599.5)]}, format="json").status_code == 201
    over = client.post(URL, {"records": [record("b", big, inside, 1)]}, format="json")
    assert over.status_code == 400 and over.json()["error"]["fields"] == {
        "records[0].gpu_hours": [over.json()["error"]["refused"][0]["message"]]
    }
    assert client.post(URL, {"records": [record("c", big, inside, 0.5)]}, format="json").status_code == 201


def test_a_booking_that_has_not_started_yet_gets_no_usage(
    oscar: Any, bookings: dict, clock: Callable[[datetime], None]
) -> None:
    big = bookings["big"]
    clock(big.starts_at - timedelta(minutes=30))
    response = client_for(oscar).post(URL, {"records": [record("x", big, big.starts_at, 1)]}, format="json")
    assert response.status_code == 400 and refused(response) == [(0, "booking", "not_started")]


def test_usage_dated_in_the_future_is_refused(oscar: Any, bookings: dict, clock: Callable[[datetime], None]) -> None:
    big = bookings["big"]
    clock(big.starts_at + timedelta(hours=2))  # running: what it used until now may come in, not later hours
    client = client_for(oscar)
    assert (
        client.post(
            URL, {"records": [record("now", big, big.starts_at + timedelta(hours=2), 1)]}, format="json"
        ).status_code
        == 201
    )
    ahead = client.post(URL, {"records": [record("ahead", big, big.starts_at + timedelta(hours=6), 1)]}, format="json")
    assert ahead.status_code == 400 and refused(ahead) == [(0, "at", "in_future")]


def test_the_window_tolerance_is_a_setting(oscar: Any, bookings: dict, settings: Any) -> None:
    big = bookings["big"]
    late = record("late", big, big.ends_at + timedelta(hours=2), 1)
    client = client_for(oscar)
    assert refused(client.post(URL, {"records": [late]}, format="json")) == [(0, "at", "outside_window")]
    settings.USAGE_WINDOW_TOLERANCE_HOURS = 3
    assert client.post(URL, {"records": [late]}, format="json").status_code == 201


def test_a_cancelled_booking_that_ran_gets_usage_for_the_hours_it_ran(
    oscar: Any, alice: Any, bookings: dict, clock: Callable[[datetime], None]
) -> None:
    big = bookings["big"]
    booking_cancel(actor=alice, booking=big, now=big.starts_at + timedelta(hours=3))  # ran 3 of its 10 hours
    client = client_for(oscar)
    inside = big.starts_at + timedelta(hours=1)
    assert client.post(URL, {"records": [record("ran", big, inside, 180)]}, format="json").status_code == 201
    assert refused(client.post(URL, {"records": [record("more", big, inside, 1)]}, format="json")) == [
        (0, "gpu_hours", "over_booking")
    ]


def test_every_stored_record_is_audited(oscar: Any, bookings: dict) -> None:
    client_for(oscar).post(URL, batch(bookings), format="json")
    events = AuditEvent.objects.filter(action="usage.reported").order_by("object_id")
    stored = {str(u.pk): u for u in UsageRecord.objects.all()}
    assert sorted(e.object_id for e in events) == sorted(stored)
    muc = next(e for e in events if stored[e.object_id].record_id == "muc-1")
    assert (muc.actor, muc.tenant.slug, muc.object_type) == (oscar, "aurora-lab", "usagerecord")
    assert muc.after["gpu_hours"] == 8 and muc.after["booking"] == bookings["aurora"].pk
    client_for(oscar).post(URL, batch(bookings), format="json")  # a replay stores nothing, audits nothing
    assert AuditEvent.objects.filter(action="usage.reported").count() == 2


def test_a_large_batch_is_audited_in_a_bounded_number_of_queries(
    oscar: Any, bookings: dict, django_assert_max_num_queries: Any
) -> None:
    big = bookings["big"]
    body = {"records": [record(f"r{i}", big, big.starts_at + timedelta(minutes=i), 0.5) for i in range(500)]}
    client = client_for(oscar)
    with django_assert_max_num_queries(20):
        assert client.post(URL, body, format="json").status_code == 201
    assert AuditEvent.objects.filter(action="usage.reported").count() == 500


def test_an_adjustment_corrects_a_record_audited_and_never_below_zero(oscar: Any, alice: Any, bookings: dict) -> None:
    big, inside = bookings["big"], bookings["big"].starts_at + timedelta(hours=1)
    client = client_for(oscar)
    client.post(URL, {"records": [record("r1", big, inside, 600)]}, format="json")
    fix = {"record_id": "r1-fix", "corrects": "r1", "gpu_hours": -200, "reason": "restart counted twice"}
    first = client.post(ADJUST, {"adjustments": [fix]}, format="json")
    assert first.status_code == 201 and first.json() == {"created": 1, "already_reported": 0, "refused": []}
    again = client.post(ADJUST, {"adjustments": [fix]}, format="json")
    assert again.status_code == 200 and again.json()["already_reported"] == 1
    adjustment = UsageRecord.objects.get(record_id="r1-fix")
    assert (adjustment.gpu_hours, adjustment.at, adjustment.corrects.record_id) == (-200, inside, "r1")
    event = AuditEvent.objects.get(action="usage.adjusted")
    assert event.before == {"record_id": "r1", "gpu_hours": 600.0}
    assert event.after["record_gpu_hours"] == 400.0 and event.after["reason"] == "restart counted twice"
    # The 200 GPU-hours taken off can be reported again; more cannot.
    assert client.post(URL, {"records": [record("r2", big, inside, 200)]}, format="json").status_code == 201
    response = client.post(
        ADJUST,
        {
            "adjustments": [
                {"record_id": "r1-fix2", "corrects": "r1", "gpu_hours": -401, "reason": "wrong"},
                {"record_id": "r2-fix", "corrects": "r2", "gpu_hours": 1, "reason": "missed a minute"},
                {"record_id": "r1-fix3", "corrects": "r1-fix", "gpu_hours": -1, "reason": "chained"},
                {"record_id": "r1-fix4", "corrects": "r1", "gpu_hours": -400, "reason": "job never ran"},
            ]
        },
        format="json",
    )
    assert refused(response) == [
        (0, "gpu_hours", "below_zero"),
        (1, "gpu_hours", "over_booking"),
        (2, "corrects", "not_found"),
    ]
    assert response.json()["created"] == 1
    mine = {r["record_id"]: r for r in client_for(alice).get(URL).json()["results"]}
    assert (mine["r1-fix4"]["corrects"], mine["r1-fix4"]["reason"], mine["r1"]["corrects"]) == (
        "r1",
        "job never ran",
        None,
    )


def test_adjustments_net_out_in_the_fair_share_usage(oscar: Any, alice: Any, bookings: dict) -> None:
    aurora = bookings["aurora"]
    client = client_for(oscar)
    client.post(URL, {"records": [record("a1", aurora, aurora.ends_at, 8)]}, format="json")
    client.post(
        ADJUST,
        {"adjustments": [{"record_id": "a1-fix", "corrects": "a1", "gpu_hours": -8, "reason": "test job"}]},
        format="json",
    )
    row = client_for(alice).get("/api/v1/fair-share/").json()["tenants"][0]
    assert row["decayed_usage_normalized_hours"] == 0.0 and row["factor"] == 1.0


@pytest.mark.parametrize(
    ("records", "field"),
    [
        ([], "records"),
        ("nope", "records"),
        ([{"record_id": "x", "booking": 999_999, "at": "2027-01-08T01:00:00Z", "gpu_hours": 1}], "records[0].booking"),
        ([{"record_id": "x", "booking": "the big one", "at": "2027-01-08T01:00:00Z", "gpu_hours": 1}], "records"),
        (
            [{"record_id": "x", "booking": "AURORA", "at": "2027-01-08T01:00:00Z", "gpu_hours": 100}],
            "records[0].gpu_hours",
        ),
        ([{"record_id": "x", "booking": "AURORA", "at": "2027-01-08T01:00:00Z", "gpu_hours": -1}], "records"),
        ([{"record_id": "x", "booking": "AURORA", "gpu_hours": 1}], "records"),
    ],
)
def test_bad_batches_are_named(oscar: Any, bookings: dict, records: Any, field: str) -> None:
    if isinstance(records, list):
        records = [
            {**r, "booking": bookings["aurora"].pk if r["booking"] == "AURORA" else r["booking"]} for r in records
        ]  # AURORA: Aurora's booking of 4 chips x 2 h
    response = client_for(oscar).post(URL, {"records": records}, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"], response.json()
    assert not UsageRecord.objects.exists()


def test_bad_adjustments_are_named(oscar: Any, bookings: dict) -> None:
    client = client_for(oscar)
    response = client.post(
        ADJUST,
        {"adjustments": [{"record_id": "f", "corrects": "nothing", "gpu_hours": 1, "reason": "x"}]},
        format="json",
    )
    assert response.status_code == 400 and "adjustments[0].corrects" in response.json()["error"]["fields"]
    response = client.post(ADJUST, {"adjustments": [{"record_id": "f", "corrects": "nothing"}]}, format="json")
    assert response.status_code == 400 and "adjustments" in response.json()["error"]["fields"]


def test_only_operators_report(alice: Any, carol: Any, bookings: dict) -> None:
    for user in (alice, carol):
        response = client_for(user).post(URL, batch(bookings), format="json")
        assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
        response = client_for(user).post(
            ADJUST,
            {"adjustments": [{"record_id": "f", "corrects": "muc-1", "gpu_hours": 1, "reason": "x"}]},
            format="json",
        )
        assert response.status_code == 403
    assert not UsageRecord.objects.exists()


def test_operators_see_all_records_tenants_their_own(
    oscar: Any, alice: Any, mallory: Any, carol: Any, bookings: dict
) -> None:
    client_for(oscar).post(URL, batch(bookings), format="json")
    assert {r["record_id"] for r in client_for(oscar).get(URL).json()["results"]} == {"muc-1", "lux-1"}
    mine = client_for(alice).get(URL).json()["results"]
    assert [(r["record_id"], r["tenant"], r["resource"], r["normalized_hours"], r["reported_by"]) for r in mine] == [
        ("muc-1", "aurora-lab", "muc/b200", 20.0, "oscar")
    ]
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


def test_the_schema_documents_refusals_and_adjustments(oscar: Any) -> None:
    schema = client_for(oscar).get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    post = schema["paths"][URL]["post"]
    assert {"200", "201", "400", "403"} <= set(post["responses"])
    assert "adjustments" in schema["paths"]["/api/v1/usage-records/adjustments/"]["post"]["summary"].lower()
    refusal = schema["components"]["schemas"]["UsageRefusal"]["properties"]
    assert {"index", "record_id", "field", "code", "message"} <= set(refusal)
    assert "refused" in schema["components"]["schemas"]["UsageBatchResult"]["properties"]


def test_the_pending_and_expired_are_refused(oscar: Any, bookings: dict) -> None:
    from allocation.services.bookings import bookings_advance

    bookings_advance(now=LATER)
    bookings["pending"].refresh_from_db()
    assert bookings["pending"].status == BookingStatus.EXPIRED
    response = client_for(oscar).post(URL, {"records": [record("e", bookings["pending"], START, 1)]}, format="json")
    assert response.status_code == 400 and refused(response) == [(0, "booking", "not_started")]


def test_the_database_refuses_negative_usage_that_corrects_nothing(oscar: Any, bookings: dict) -> None:
    from django.db import IntegrityError, transaction

    aurora = bookings["aurora"]
    fields = {
        "booking": aurora,
        "tenant_id": aurora.tenant_id,
        "reported_by": oscar,
        "at": START,
        "gpu_hours": -1,
        "normalized_hours": -2.5,
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        UsageRecord.objects.create(record_id="neg", **fields)
    base = UsageRecord.objects.create(record_id="base", **{**fields, "gpu_hours": 1, "normalized_hours": 2.5})
    UsageRecord.objects.create(record_id="fix", corrects=base, reason="r", **fields)  # an adjustment may be
