"""Allocation periods over REST, and the OpenAPI schema of the whole v1 API.

Every signed-in user sees the periods; the detail shows what each resource
can deliver in the period (maintenance taken out), in GPU-hours and in
normalized hours; a period is found by slug or by id.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from allocation.models import AllocationPeriod, MaintenanceWindow
from tests.api import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
URL = "/api/v1/periods/"
HOURS = 90 * 24  # the catalogue's 2027 Q1


def later_period(slug: str, catalogue: Any, *, status: str = "open", quarters: int = 1) -> AllocationPeriod:
    start = catalogue.period.starts_at + timedelta(days=91 * quarters)
    return AllocationPeriod.objects.create(
        name=slug.upper(),
        slug=slug,
        starts_at=start,
        ends_at=start + timedelta(days=90),
        request_deadline=start - timedelta(days=7),
        status=status,
    )


def test_every_user_lists_periods_newest_first(alice: Any, mallory: Any, catalogue: Any) -> None:
    later_period("2027-q2", catalogue, status="closed")
    for user in (alice, mallory):
        body = client_for(user).get(URL).json()
        assert body["count"] == 2
        assert [p["slug"] for p in body["results"]] == ["2027-q2", "2027-q1"]
        first = body["results"][1]
        assert first == {
            "id": catalogue.period.pk,
            "slug": "2027-q1",
            "name": "2027 Q1",
            "starts_at": "2027-01-01T00:00:00Z",
            "ends_at": "2027-04-01T00:00:00Z",
            "request_deadline": "2026-12-25T00:00:00Z",
            "status": "open",
            "hours": HOURS,
        }


def test_filter_by_status(alice: Any, catalogue: Any) -> None:
    later_period("2027-q2", catalogue, status="closed")
    client = client_for(alice)
    assert [p["slug"] for p in client.get(URL, {"status": "open"}).json()["results"]] == ["2027-q1"]
    assert [p["slug"] for p in client.get(URL, {"status": "closed"}).json()["results"]] == ["2027-q2"]
    assert client.get(URL, {"status": "bogus"}).status_code == 400


def test_detail_shows_capacity_per_resource_by_slug_or_id(alice: Any, catalogue: Any) -> None:
    client = client_for(alice)
    by_slug = client.get(f"{URL}2027-q1/").json()
    assert client.get(f"{URL}{catalogue.period.pk}/").json() == by_slug
    resources = {(r["site"], r["chip_type"]): r for r in by_slug["capacity"]}
    assert set(resources) == {("muc", "h100"), ("muc", "b200"), ("lux", "h100")}
    assert resources["muc", "h100"]["gpu_hours"] == 1000 * HOURS
    assert resources["muc", "h100"]["normalized_hours"] == 1000 * HOURS
    assert resources["muc", "b200"]["gpu_hours"] == 200 * HOURS
    assert resources["muc", "b200"]["normalized_hours"] == 200 * HOURS * 2.5
    assert resources["lux", "h100"]["gpu_hours"] == 90 * HOURS  # in service, not installed
    assert resources["muc", "b200"]["throughput"] == 2.5
    assert by_slug["capacity_gpu_hours"] == (1000 + 200 + 90) * HOURS
    assert by_slug["capacity_normalized_hours"] == (1000 + 500 + 90) * HOURS


def test_maintenance_takes_chip_hours_out(alice: Any, catalogue: Any) -> None:
    start = catalogue.period.starts_at + timedelta(days=10)
    MaintenanceWindow.objects.create(
        inventory=catalogue.muc_b200, chips=100, starts_at=start, ends_at=start + timedelta(hours=24), reason="Firmware"
    )
    detail = client_for(alice).get(f"{URL}2027-q1/").json()
    b200 = next(r for r in detail["capacity"] if r["chip_type"] == "b200")
    assert b200["gpu_hours"] == 200 * HOURS - 100 * 24
    assert b200["normalized_hours"] == (200 * HOURS - 100 * 24) * 2.5


def test_unknown_period_is_a_json_404(alice: Any, catalogue: Any) -> None:
    for ref in ("2099-q9", "999999"):
        response = client_for(alice).get(f"{URL}{ref}/")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_anonymous_gets_401(catalogue: Any) -> None:
    assert APIClient().get(URL).status_code == 401


@pytest.mark.parametrize("n", [5, 50])
def test_list_query_count_is_bounded(n: int, alice: Any, catalogue: Any, django_assert_max_num_queries: Any) -> None:
    for i in range(1, n):
        later_period(f"p-{i}", catalogue, quarters=i)
    client = client_for(alice)
    with django_assert_max_num_queries(3):  # token, count, page
        response = client.get(URL, {"page_size": 100})
    assert response.json()["count"] == n


def test_schema_has_every_path_with_summaries_and_examples(alice: Any) -> None:
    client = client_for(alice)
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    expected = {
        "/api/v1/periods/": {"get"},
        "/api/v1/periods/{id}/": {"get"},
        "/api/v1/allocation-requests/": {"get", "post"},
        "/api/v1/allocation-requests/{id}/": {"get", "patch"},
        "/api/v1/allocation-requests/{id}/submit/": {"post"},
        "/api/v1/allocation-requests/{id}/withdraw/": {"post"},
        "/api/v1/allocation-requests/{id}/decide/": {"post"},
        "/api/v1/quotas/": {"get"},
        "/api/v1/quotas/{id}/": {"get"},
        "/api/v1/allocation-rounds/": {"get", "post"},
        "/api/v1/allocation-rounds/{id}/": {"get"},
        "/api/v1/allocation-rounds/{id}/commit/": {"post"},
        "/api/v1/allocation-rounds/{id}/discard/": {"post"},
        "/api/v1/audit-events/": {"get"},
        "/api/v1/audit-events/{id}/": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
        for method in methods:
            assert paths[path][method].get("summary"), (path, method)
    listed = {p["name"] for p in paths["/api/v1/allocation-requests/"]["get"]["parameters"]}
    assert {"period", "status", "tenant", "chip_type", "page", "page_size"} <= listed
    audit = {p["name"] for p in paths["/api/v1/audit-events/"]["get"]["parameters"]}
    assert {"action", "object_type", "object_id", "since", "until"} <= audit
    for path, method in [
        ("/api/v1/allocation-requests/", "post"),
        ("/api/v1/allocation-requests/{id}/", "patch"),
        ("/api/v1/allocation-requests/{id}/decide/", "post"),
        ("/api/v1/allocation-rounds/", "post"),
    ]:
        assert paths[path][method]["requestBody"]["content"]["application/json"].get("examples"), (path, method)
    assert "202" in paths["/api/v1/allocation-rounds/{id}/commit/"]["post"]["responses"]
