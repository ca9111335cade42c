"""Quotas in force and the audit trail over REST.

A tenant sees its own quotas and audit events and nothing of another tenant's
(a 404 for each id, nothing in lists); the committee and operators see every
quota, the committee every event; filters narrow, never widen; list pages cost
a bounded number of queries.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from allocation.models import AllocationRound, AuditEvent, Quota, RoundStatus
from tests.api import accepted, client_for, commit, draft, preview

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
QUOTAS = "/api/v1/quotas/"
AUDIT = "/api/v1/audit-events/"


@pytest.fixture
def granted(bob: Any, mallory: Any, carol: Any, catalogue: Any, django_capture_on_commit_callbacks: Any) -> dict:
    """Aurora on H100 at muc or lux, Nimbus on B200 at muc, both committed in one round."""
    aurora = accepted(bob, carol)
    nimbus = accepted(
        mallory,
        carol,
        tenant="nimbus-ai",
        title="Agents",
        chip_type="b200",
        demand_gpu_hours=20_000,
        eligible_sites=["muc"],
        eligible_chip_types=["b200"],
    )
    capture = django_capture_on_commit_callbacks
    round_ = commit(carol, capture, preview(carol, capture)["id"])
    return {"aurora": aurora, "nimbus": nimbus, "round": round_}


# --- Quotas ---------------------------------------------------------------------


def test_tenant_sees_only_its_quotas(bob: Any, mallory: Any, granted: dict) -> None:
    bobs = client_for(bob).get(QUOTAS).json()["results"]
    assert bobs and {q["tenant"] for q in bobs} == {"aurora-lab"}
    assert {q["request"] for q in bobs} == {granted["aurora"]["id"]}
    assert {q["chip_type"] for q in bobs} == {"h100"}
    assert sum(q["normalized_hours"] for q in bobs) == pytest.approx(250_000)
    one = client_for(bob).get(f"{QUOTAS}{bobs[0]['id']}/").json()
    assert one == bobs[0]
    assert one["period"] == "2027-q1" and one["round"] == granted["round"]["id"]

    mallorys = client_for(mallory).get(QUOTAS).json()["results"]
    assert {q["tenant"] for q in mallorys} == {"nimbus-ai"}
    assert sum(q["normalized_hours"] for q in mallorys) == pytest.approx(50_000)
    assert sum(q["gpu_hours"] for q in mallorys) == pytest.approx(20_000)


def test_other_tenant_gets_404_on_a_quota_and_nothing_in_the_list(mallory: Any, granted: dict) -> None:
    aurora_quota = Quota.objects.filter(tenant__slug="aurora-lab").order_by("pk")[0]
    client = client_for(mallory)
    response = client.get(f"{QUOTAS}{aurora_quota.pk}/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert client.get(QUOTAS, {"tenant": "aurora-lab"}).json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }


def test_committee_and_operators_see_every_quota(carol: Any, oscar: Any, granted: dict) -> None:
    for user in (carol, oscar):
        tenants = {q["tenant"] for q in client_for(user).get(QUOTAS).json()["results"]}
        assert tenants == {"aurora-lab", "nimbus-ai"}


def test_quota_filters(carol: Any, granted: dict) -> None:
    client = client_for(carol)

    def tenants(**params: Any) -> set[str]:
        return {q["tenant"] for q in client.get(QUOTAS, params).json()["results"]}

    assert tenants(tenant="nimbus-ai") == {"nimbus-ai"}
    assert tenants(chip_type="b200") == {"nimbus-ai"}
    assert tenants(chip_type="h100") == {"aurora-lab"}
    assert tenants(site="muc") >= {"nimbus-ai"}
    assert "nimbus-ai" not in tenants(site="lux")
    assert tenants(period="2027-q1") == {"aurora-lab", "nimbus-ai"}
    assert tenants(period="2030-q1") == set()
    assert tenants(request=granted["nimbus"]["id"]) == {"nimbus-ai"}


@pytest.mark.parametrize("n", [5, 50])
def test_quota_list_query_count_is_bounded(
    n: int, bob: Any, carol: Any, catalogue: Any, django_assert_max_num_queries: Any
) -> None:
    request_ids = [draft(bob, title=f"Run {i}", demand_gpu_hours=1000)["id"] for i in range(n)]
    rnd = AllocationRound.objects.create(period=catalogue.period, created_by=carol, status=RoundStatus.COMMITTED)
    tenant = bob.memberships.get().tenant
    Quota.objects.bulk_create(
        [
            Quota(
                round=rnd,
                period=catalogue.period,
                tenant=tenant,
                request_id=request_id,
                inventory=catalogue.muc_h100,
                gpu_hours=1000,
                normalized_hours=1000,
            )
            for request_id in request_ids
        ]
    )
    client = client_for(bob)
    with django_assert_max_num_queries(5):
        response = client.get(QUOTAS, {"page_size": 100})
    assert response.json()["count"] == n
    assert {q["request_title"] for q in response.json()["results"]} == {f"Run {i}" for i in range(n)}


# --- Audit ----------------------------------------------------------------------


def test_tenant_sees_its_audit_trail(bob: Any, granted: dict) -> None:
    events = client_for(bob).get(AUDIT, {"page_size": 500}).json()["results"]
    actions = {e["action"] for e in events}
    assert {"request.created", "request.submitted", "request.accepted", "quota.granted"} <= actions
    assert {e["tenant"] for e in events} == {"aurora-lab"}
    created = next(e for e in events if e["action"] == "request.created")
    assert created["actor"] == "bob"
    assert created["object_type"] == "allocationrequest" and created["object_id"] == str(granted["aurora"]["id"])
    assert created["after"]["status"] == "draft"
    accepted_event = next(e for e in events if e["action"] == "request.accepted")
    assert accepted_event["before"]["status"] == "submitted" and accepted_event["after"]["status"] == "accepted"
    assert client_for(bob).get(f"{AUDIT}{created['id']}/").json() == created
    # Round events carry no tenant: they are the committee's.
    assert not any(e["action"].startswith("round.") for e in events)


def test_other_tenant_gets_404_on_an_audit_event_and_nothing_in_the_list(mallory: Any, granted: dict) -> None:
    aurora_events = AuditEvent.objects.filter(tenant__slug="aurora-lab")
    client = client_for(mallory)
    for event in aurora_events:
        response = client.get(f"{AUDIT}{event.pk}/")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    listed = client.get(AUDIT, {"page_size": 500}).json()["results"]
    assert listed and {e["tenant"] for e in listed} == {"nimbus-ai"}
    assert client.get(AUDIT, {"tenant": "aurora-lab"}).json()["count"] == 0
    assert (
        client.get(AUDIT, {"object_type": "allocationrequest", "object_id": str(granted["aurora"]["id"])}).json()[
            "count"
        ]
        == 0
    )


def test_committee_sees_everything_and_filters(carol: Any, granted: dict) -> None:
    client = client_for(carol)
    everything = client.get(AUDIT, {"page_size": 500}).json()
    assert everything["count"] == AuditEvent.objects.count()
    assert {e["action"] for e in client.get(AUDIT, {"action": "round.committed"}).json()["results"]} == {
        "round.committed"
    }
    aurora_id = str(granted["aurora"]["id"])
    trail = client.get(AUDIT, {"object_type": "allocationrequest", "object_id": aurora_id}).json()["results"]
    assert [e["action"] for e in trail] == ["request.accepted", "request.submitted", "request.created"]

    now = timezone.now()
    assert client.get(AUDIT, {"since": (now - timedelta(hours=1)).isoformat()}).json()["count"] == everything["count"]
    assert client.get(AUDIT, {"since": (now + timedelta(hours=1)).isoformat()}).json()["count"] == 0
    assert client.get(AUDIT, {"until": (now - timedelta(hours=1)).isoformat()}).json()["count"] == 0
    assert client.get(AUDIT, {"since": "yesterday"}).status_code == 400


@pytest.mark.parametrize("n", [5, 50])
def test_audit_list_query_count_is_bounded(
    n: int, bob: Any, catalogue: Any, django_assert_max_num_queries: Any
) -> None:
    tenant = bob.memberships.get().tenant
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                actor=bob,
                action="request.created",
                object_type="allocationrequest",
                object_id=str(i),
                tenant=tenant,
                after={"i": i},
            )
            for i in range(n)
        ]
    )
    client = client_for(bob)
    with django_assert_max_num_queries(5):
        response = client.get(AUDIT, {"page_size": 100})
    assert response.json()["count"] == n
    assert {e["actor"] for e in response.json()["results"]} == {"bob"}
