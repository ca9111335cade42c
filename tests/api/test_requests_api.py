"""Allocation requests over REST, as tenants and the committee use them.

Drafting, editing, submitting, withdrawing and deciding over HTTP with tokens;
bad input is a 400 naming the field and leaves the database as it was; another
tenant's requests are 404 whatever the verb; list pages cost a bounded number
of queries.
"""

from __future__ import annotations

from typing import Any

import pytest

from allocation.models import AllocationPeriod, AllocationRequest, AuditEvent, RequestStatus
from tests.api import client_for, decide, draft, request_body, submit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
URL = "/api/v1/allocation-requests/"


def rows() -> tuple[int, int, list[tuple[int, str, Any]]]:
    """What a refused call must leave untouched."""
    states = list(AllocationRequest.objects.order_by("pk").values_list("pk", "status", "accepted_normalized_hours"))
    return AllocationRequest.objects.count(), AuditEvent.objects.count(), states


def assert_400_naming(response: Any, field: str) -> None:
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert field in error["fields"], error
    assert error["message"]


# --- The walk ------------------------------------------------------------------


def test_pi_drafts_and_submits_member_drafts_but_cannot_submit(alice: Any, bob: Any, catalogue: Any) -> None:
    mine = draft(bob)
    assert mine["status"] == "draft"
    assert mine["tenant"] == "aurora-lab" and mine["period"] == "2027-q1"
    assert mine["demand_normalized_hours"] == 250_000
    assert mine["eligible_sites"] == ["lux", "muc"]
    assert mine["created_by"] == "bob"

    hers = draft(
        alice,
        title="Fine-tuning for medical French",
        chip_type="b200",
        demand_gpu_hours=10_000,
        eligible_sites=["muc"],
        eligible_chip_types=["b200"],
    )
    assert hers["demand_normalized_hours"] == 25_000  # B200 throughput 2.5

    submitted = submit(bob, mine["id"])
    assert submitted["status"] == "submitted" and submitted["submitted_at"]

    refused = client_for(alice).post(f"{URL}{hers['id']}/submit/")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    assert AllocationRequest.objects.get(pk=hers["id"]).status == RequestStatus.DRAFT


def test_committee_accepts_reduced_with_reason_and_the_tenant_sees_it(bob: Any, carol: Any, catalogue: Any) -> None:
    request_id = draft(bob)["id"]
    submit(bob, request_id)
    decided = decide(
        carol, request_id, decision="accept", accepted_normalized_hours=150_000, reason="Start with the 3B model."
    )
    assert decided["status"] == "accepted"

    detail = client_for(bob).get(f"{URL}{request_id}/").json()
    assert detail["decision"] == "accepted"
    assert detail["decision_reason"] == "Start with the 3B model."
    assert detail["accepted_normalized_hours"] == 150_000
    assert detail["decided_by"] == "carol" and detail["decided_at"]
    assert detail["quotas"] == [] and detail["granted_normalized_hours"] == 0  # no round committed yet


def test_committee_rejects_with_reason(bob: Any, carol: Any, catalogue: Any) -> None:
    request_id = draft(bob)["id"]
    submit(bob, request_id)
    decided = decide(carol, request_id, decision="reject", reason="Outside the public pool's remit.")
    assert decided["status"] == "rejected" and decided["decision"] == "rejected"
    assert decided["accepted_normalized_hours"] is None


def test_member_edits_a_draft_with_patch(alice: Any, catalogue: Any) -> None:
    request_id = draft(alice)["id"]
    response = client_for(alice).patch(f"{URL}{request_id}/", {"demand_gpu_hours": 100_000, "eligible_sites": ["muc"]})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["demand_gpu_hours"] == 100_000 and body["demand_normalized_hours"] == 100_000
    assert body["eligible_sites"] == ["muc"]
    assert body["title"] == "Pre-training a 7B multilingual model"  # untouched fields stay
    assert body["eligible_chip_types"] == ["h100"]


def test_submitted_request_is_read_only(bob: Any, catalogue: Any) -> None:
    request_id = draft(bob)["id"]
    submit(bob, request_id)
    before = rows()
    response = client_for(bob).patch(f"{URL}{request_id}/", {"title": "Something else"})
    assert_400_naming(response, "status")
    assert response.json()["error"]["code"] == "read_only"
    assert rows() == before


def test_member_withdraws(alice: Any, bob: Any, catalogue: Any) -> None:
    request_id = draft(bob)["id"]
    submit(bob, request_id)
    response = client_for(alice).post(f"{URL}{request_id}/withdraw/")
    assert response.status_code == 200
    assert response.json()["status"] == "withdrawn"


def test_period_may_be_named_by_id(bob: Any, catalogue: Any) -> None:
    assert draft(bob, period=catalogue.period.pk)["period"] == "2027-q1"


# --- Bad input: 400 naming the field, nothing written ----------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"demand_gpu_hours": -5}, "demand_gpu_hours"),
        ({"demand_gpu_hours": 0}, "demand_gpu_hours"),
        ({"demand_gpu_hours": 1e12}, "demand_gpu_hours"),  # more than the resources deliver in the period
        ({"demand_gpu_hours": "lots"}, "demand_gpu_hours"),
        ({"eligible_sites": ["lux"], "eligible_chip_types": ["b200"]}, "eligible_chip_types"),
        ({"chip_type": "tpu-v9"}, "chip_type"),
        ({"eligible_sites": ["atlantis"]}, "eligible_sites"),
        ({"eligible_chip_types": ["mi300x"]}, "eligible_chip_types"),
        ({"period": "2099-q9"}, "period"),
        ({"tenant": "nimbus-ai"}, "tenant"),  # bob is not a member of Nimbus
        ({"tenant": "no-such-tenant"}, "tenant"),
        ({"title": "   "}, "title"),
    ],
)
def test_bad_request_content_is_a_400_naming_the_field(
    bob: Any, mallory: Any, catalogue: Any, overrides: dict[str, Any], field: str
) -> None:
    before = rows()
    response = client_for(bob).post(URL, request_body(**overrides))
    assert_400_naming(response, field)
    assert rows() == before


def test_missing_fields_are_named(bob: Any, catalogue: Any) -> None:
    response = client_for(bob).post(URL, {"title": "Only a title"})
    assert response.status_code == 400
    assert {"tenant", "period", "chip_type", "demand_gpu_hours"} <= set(response.json()["error"]["fields"])


def test_closed_period_is_refused(bob: Any, catalogue: Any) -> None:
    AllocationPeriod.objects.filter(pk=catalogue.period.pk).update(status="closed")
    before = rows()
    response = client_for(bob).post(URL, request_body())
    assert_400_naming(response, "period")
    assert response.json()["error"]["code"] == "period_closed"
    assert rows() == before


def test_bad_edit_leaves_the_draft_as_it_was(bob: Any, catalogue: Any) -> None:
    request_id = draft(bob)["id"]
    before = rows()
    response = client_for(bob).patch(
        f"{URL}{request_id}/", {"eligible_sites": ["lux"], "eligible_chip_types": ["b200"]}
    )
    assert_400_naming(response, "eligible_chip_types")
    assert rows() == before
    assert client_for(bob).get(f"{URL}{request_id}/").json()["eligible_sites"] == ["lux", "muc"]


def test_decision_on_a_withdrawn_request_is_refused(bob: Any, carol: Any, catalogue: Any) -> None:
    request_id = draft(bob)["id"]
    submit(bob, request_id)
    assert client_for(bob).post(f"{URL}{request_id}/withdraw/").status_code == 200
    before = rows()
    response = client_for(carol).post(f"{URL}{request_id}/decide/", {"decision": "accept"})
    assert_400_naming(response, "status")
    assert response.json()["error"]["code"] == "invalid_transition"
    assert rows() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"decision": "reject"}, "reason"),
        ({"decision": "reject", "reason": "  "}, "reason"),
        ({"decision": "accept", "accepted_normalized_hours": 100_000}, "reason"),  # reduced needs a reason
        ({"decision": "accept", "accepted_normalized_hours": 900_000, "reason": "x"}, "accepted_normalized_hours"),
        ({"decision": "accept", "accepted_normalized_hours": -1, "reason": "x"}, "accepted_normalized_hours"),
        ({"decision": "maybe"}, "decision"),
        ({}, "decision"),
    ],
)
def test_bad_decision_is_a_400_naming_the_field(
    bob: Any, carol: Any, catalogue: Any, body: dict[str, Any], field: str
) -> None:
    request_id = draft(bob)["id"]
    submit(bob, request_id)
    before = rows()
    response = client_for(carol).post(f"{URL}{request_id}/decide/", body)
    assert_400_naming(response, field)
    assert rows() == before


def test_only_the_committee_decides(alice: Any, bob: Any, oscar: Any, catalogue: Any) -> None:
    request_id = draft(bob)["id"]
    submit(bob, request_id)
    before = rows()
    for user in (bob, alice):
        response = client_for(user).post(f"{URL}{request_id}/decide/", {"decision": "accept"})
        assert response.status_code == 403, user
        assert response.json()["error"]["code"] == "permission_denied"
    # An operator is not on the committee and cannot even see the request.
    assert client_for(oscar).post(f"{URL}{request_id}/decide/", {"decision": "accept"}).status_code == 404
    assert rows() == before


# --- Another tenant: 404 on every verb, nothing in lists --------------------------


def test_other_tenant_gets_404_on_every_verb(alice: Any, bob: Any, mallory: Any, catalogue: Any) -> None:
    draft_id = draft(bob)["id"]
    submitted_id = draft(bob, title="Second")["id"]
    submit(bob, submitted_id)
    before = rows()
    client = client_for(mallory)
    for request_id in (draft_id, submitted_id):
        responses = {
            "detail": client.get(f"{URL}{request_id}/"),
            "update": client.patch(f"{URL}{request_id}/", {"title": "Mine now"}),
            "submit": client.post(f"{URL}{request_id}/submit/"),
            "withdraw": client.post(f"{URL}{request_id}/withdraw/"),
            "decide": client.post(f"{URL}{request_id}/decide/", {"decision": "reject", "reason": "x"}),
        }
        for verb, response in responses.items():
            assert response.status_code == 404, (verb, response.json())
            assert response.json()["error"]["code"] == "not_found"
    # Same answer as for an id that does not exist: nothing leaks.
    assert client.get(f"{URL}999999/").status_code == 404
    assert rows() == before

    listed = client.get(URL).json()
    assert listed["count"] == 0 and listed["results"] == []
    assert client.get(URL, {"tenant": "aurora-lab"}).json()["count"] == 0


def test_committee_does_not_see_drafts(bob: Any, carol: Any, catalogue: Any) -> None:
    draft_id = draft(bob)["id"]
    submitted_id = draft(bob, title="Second")["id"]
    submit(bob, submitted_id)
    client = client_for(carol)
    assert client.get(f"{URL}{draft_id}/").status_code == 404
    assert [r["id"] for r in client.get(URL).json()["results"]] == [submitted_id]


def test_list_filters(alice: Any, bob: Any, mallory: Any, carol: Any, catalogue: Any) -> None:
    h100 = draft(bob)["id"]
    b200 = draft(bob, chip_type="b200", demand_gpu_hours=1000, eligible_sites=["muc"], eligible_chip_types=["b200"])
    submit(bob, h100)
    nimbus = draft(mallory, tenant="nimbus-ai", title="Nimbus ask")["id"]
    submit(mallory, nimbus)

    def ids(user: Any, **params: Any) -> set[int]:
        response = client_for(user).get(URL, params)
        assert response.status_code == 200
        return {r["id"] for r in response.json()["results"]}

    assert ids(bob) == {h100, b200["id"]}
    assert ids(bob, status="submitted") == {h100}
    assert ids(bob, chip_type="b200") == {b200["id"]}
    assert ids(bob, period="2027-q1") == {h100, b200["id"]}
    assert ids(bob, period=str(catalogue.period.pk)) == {h100, b200["id"]}
    assert ids(bob, period="2030-q1") == set()
    assert ids(carol) == {h100, nimbus}
    assert ids(carol, tenant="nimbus-ai") == {nimbus}
    assert client_for(bob).get(URL, {"status": "pending"}).status_code == 400


def test_anonymous_gets_401(catalogue: Any) -> None:
    from rest_framework.test import APIClient

    assert APIClient().get(URL).status_code == 401


# --- Bounded queries --------------------------------------------------------------


def _drafts(n: int, bob: Any, catalogue: Any) -> None:
    from allocation.services.requests import RequestContent, request_create

    for i in range(n):
        request_create(
            actor=bob,
            tenant=bob.memberships.get().tenant,
            period=catalogue.period,
            content=RequestContent(
                title=f"Run {i}",
                chip_type=catalogue.h100,
                demand_gpu_hours=1000,
                eligible_sites=(catalogue.muc, catalogue.lux),
                eligible_chip_types=(catalogue.h100,),
            ),
        )


@pytest.mark.parametrize("n", [5, 50])
def test_list_query_count_does_not_grow_with_the_page(
    n: int, bob: Any, carol: Any, catalogue: Any, django_assert_max_num_queries: Any
) -> None:
    _drafts(n, bob, catalogue)
    client = client_for(bob)
    with django_assert_max_num_queries(8):
        response = client.get(URL, {"page_size": 100})
    assert response.json()["count"] == n
    assert all(r["eligible_sites"] == ["lux", "muc"] for r in response.json()["results"])
