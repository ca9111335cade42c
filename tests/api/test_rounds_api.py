"""Allocation rounds over REST, and the whole walk from draft to quota.

The committee previews (202, computed by the worker), commits (202, committed
by the worker) and discards; committing twice grants once; a later round
supersedes the earlier one: /quotas/ shows only the new grants while the
audit trail keeps both. Rounds are the committee's: 403 on the list, 404 on
one round for everyone else.
"""

from __future__ import annotations

from typing import Any

import pytest

from allocation.models import AllocationRound, AuditEvent, Quota, RoundStatus
from tests.api import accepted, client_for, commit, decide, draft, preview, submit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
URL = "/api/v1/allocation-rounds/"


def test_the_whole_walk_over_http(
    alice: Any, bob: Any, carol: Any, catalogue: Any, django_capture_on_commit_callbacks: Any, mailoutbox: Any
) -> None:
    # The tenant drafts; a member may draft too, only the PI submits.
    request_id = draft(bob)["id"]
    alices = draft(alice, title="Alice's idea")["id"]
    assert client_for(alice).post(f"/api/v1/allocation-requests/{alices}/submit/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        submit(bob, request_id)

    # The committee accepts less than asked, and says why.
    with django_capture_on_commit_callbacks(execute=True):
        decide(
            carol, request_id, decision="accept", accepted_normalized_hours=150_000, reason="Start with the 3B model."
        )

    # Preview: 202 at once, not ready until the worker has computed it.
    committee = client_for(carol)
    with django_capture_on_commit_callbacks(execute=True):
        started = committee.post(URL, {"period": "2027-q1"})
        assert started.status_code == 202
        assert started.json()["status"] == "preview" and started.json()["ready"] is False
        assert started.json()["jain_index"] is None
    round_id = started.json()["id"]
    computed = committee.get(f"{URL}{round_id}/").json()
    assert computed["ready"] is True and computed["status"] == "preview"
    assert computed["granted_normalized_hours"] == pytest.approx(150_000)
    assert computed["demand_normalized_hours"] == pytest.approx(150_000)
    assert computed["capacity_normalized_hours"] == pytest.approx((1000 + 90 + 200 * 2.5) * 90 * 24)
    assert computed["public_share"] == pytest.approx(1.0)
    assert 0 <= computed["public_target"] <= 1 and computed["jain_index"] == pytest.approx(1.0)
    assert {p["id"] for p in computed["pools"]} == {catalogue.public_pool.pk, catalogue.acme_pool.pk}
    assert {k["kind"] for k in computed["kinds"]} >= {"researcher", "startup"}
    assert computed["tenants_count"] == 1 and computed["tenants_truncated"] is False
    [row] = computed["tenants"]
    assert row["name"] == "Aurora Lab" and row["granted"] == pytest.approx(150_000)
    assert row["explanation"]
    assert Quota.objects.count() == 0  # a preview grants nothing

    # Commit: 202, then the worker commits; the tenant sees the quota.
    with django_capture_on_commit_callbacks(execute=True):
        queued = committee.post(f"{URL}{round_id}/commit/")
        assert queued.status_code == 202
        assert queued.json()["status"] == "preview"
    assert committee.get(f"{URL}{round_id}/").json()["status"] == "committed"

    quotas = client_for(bob).get("/api/v1/quotas/").json()
    assert quotas["count"] >= 1
    assert sum(q["normalized_hours"] for q in quotas["results"]) == pytest.approx(150_000)
    assert {q["tenant"] for q in quotas["results"]} == {"aurora-lab"}
    assert {q["request"] for q in quotas["results"]} == {request_id}
    assert {q["site"] for q in quotas["results"]} <= {"muc", "lux"}

    detail = client_for(bob).get(f"/api/v1/allocation-requests/{request_id}/").json()
    assert detail["status"] == "accepted" and detail["decision_reason"] == "Start with the 3B model."
    assert detail["granted_normalized_hours"] == pytest.approx(150_000)
    assert {q["id"] for q in detail["quotas"]} == {q["id"] for q in quotas["results"]}
    assert any("Quota granted" in message.subject for message in mailoutbox)


def test_committing_twice_grants_once(
    bob: Any, carol: Any, catalogue: Any, django_capture_on_commit_callbacks: Any
) -> None:
    accepted(bob, carol)
    round_id = preview(carol, django_capture_on_commit_callbacks)["id"]
    committee = client_for(carol)
    # Two clicks before the worker has run: both queued, the second finds it committed.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert committee.post(f"{URL}{round_id}/commit/").status_code == 202
        assert committee.post(f"{URL}{round_id}/commit/").status_code == 202
    assert sum("commit" in callback.__qualname__ for callback in callbacks) == 2  # both clicks queued
    granted = Quota.objects.count()
    assert granted >= 1
    # A third, after it is committed: 200 with the round, nothing queued.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = committee.post(f"{URL}{round_id}/commit/")
    assert again.status_code == 200 and again.json()["status"] == "committed"
    assert callbacks == []
    assert Quota.objects.count() == granted
    assert AuditEvent.objects.filter(action="round.committed").count() == 1
    assert AuditEvent.objects.filter(action="quota.granted").count() == granted


def test_later_round_supersedes_and_audit_keeps_both(
    bob: Any, mallory: Any, carol: Any, catalogue: Any, django_capture_on_commit_callbacks: Any
) -> None:
    capture = django_capture_on_commit_callbacks
    accepted(bob, carol)
    first = commit(carol, capture, preview(carol, capture)["id"])
    assert first["status"] == "committed"
    first_quotas = set(Quota.objects.filter(round_id=first["id"]).values_list("pk", flat=True))

    nimbus = accepted(mallory, carol, tenant="nimbus-ai", title="Nimbus agents")
    second = commit(carol, capture, preview(carol, capture)["id"])
    assert second["status"] == "committed"
    assert client_for(carol).get(f"{URL}{first['id']}/").json()["status"] == "superseded"

    in_force = client_for(carol).get("/api/v1/quotas/", {"page_size": 500}).json()["results"]
    assert in_force and {q["round"] for q in in_force} == {second["id"]}
    assert nimbus["id"] in {q["request"] for q in in_force}
    # Bob's old quota is gone from /quotas/ (a 404 now), his new one is there.
    bob_client = client_for(bob)
    assert {q["round"] for q in bob_client.get("/api/v1/quotas/").json()["results"]} == {second["id"]}
    assert bob_client.get(f"/api/v1/quotas/{min(first_quotas)}/").status_code == 404

    trail = client_for(carol).get("/api/v1/audit-events/", {"page_size": 500}).json()["results"]
    committed = [e for e in trail if e["action"] == "round.committed"]
    assert {e["object_id"] for e in committed} == {str(first["id"]), str(second["id"])}
    granted_rounds = {e["after"]["round"] for e in trail if e["action"] == "quota.granted"}
    assert granted_rounds == {first["id"], second["id"]}
    assert [e["object_id"] for e in trail if e["action"] == "round.superseded"] == [str(first["id"])]
    # The tenant's own trail keeps its grants of both rounds too.
    bobs = bob_client.get("/api/v1/audit-events/", {"action": "quota.granted"}).json()["results"]
    assert {e["after"]["round"] for e in bobs} == {first["id"], second["id"]}


def test_commit_before_the_preview_is_computed_is_a_409(bob: Any, carol: Any, catalogue: Any) -> None:
    accepted(bob, carol)
    started = client_for(carol).post(URL, {"period": "2027-q1"})  # the worker never runs: callbacks not executed
    assert started.status_code == 202 and started.json()["ready"] is False
    response = client_for(carol).post(f"{URL}{started.json()['id']}/commit/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_ready"
    assert "round" in response.json()["error"]["fields"]
    assert Quota.objects.count() == 0


def test_stale_preview_is_refused_by_the_worker_and_says_why(
    bob: Any, mallory: Any, carol: Any, catalogue: Any, django_capture_on_commit_callbacks: Any
) -> None:
    accepted(bob, carol)
    round_id = preview(carol, django_capture_on_commit_callbacks)["id"]
    accepted(mallory, carol, tenant="nimbus-ai", title="Decided after the preview")
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(carol).post(f"{URL}{round_id}/commit/").status_code == 202
    after = client_for(carol).get(f"{URL}{round_id}/").json()
    assert after["status"] == "preview"
    assert "changed since this preview" in after["failure"]
    assert Quota.objects.count() == 0


def test_discard(bob: Any, carol: Any, catalogue: Any, django_capture_on_commit_callbacks: Any) -> None:
    accepted(bob, carol)
    round_id = preview(carol, django_capture_on_commit_callbacks)["id"]
    committee = client_for(carol)
    response = committee.post(f"{URL}{round_id}/discard/")
    assert response.status_code == 200 and response.json()["status"] == "discarded"

    again = committee.post(f"{URL}{round_id}/discard/")
    assert again.status_code == 400 and "status" in again.json()["error"]["fields"]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        refused = committee.post(f"{URL}{round_id}/commit/")
    assert refused.status_code == 400 and "status" in refused.json()["error"]["fields"]
    assert callbacks == [] and Quota.objects.count() == 0


def test_unknown_period_is_a_400_naming_it(carol: Any, catalogue: Any) -> None:
    response = client_for(carol).post(URL, {"period": "2099-q9"})
    assert response.status_code == 400 and "period" in response.json()["error"]["fields"]
    assert AllocationRound.objects.count() == 0


def test_rounds_are_the_committees(
    alice: Any,
    bob: Any,
    mallory: Any,
    oscar: Any,
    carol: Any,
    catalogue: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    accepted(bob, carol)
    round_id = preview(carol, django_capture_on_commit_callbacks)["id"]
    for user in (alice, bob, mallory, oscar):
        client = client_for(user)
        listed = client.get(URL)
        assert listed.status_code == 403 and listed.json()["error"]["code"] == "permission_denied"
        assert client.post(URL, {"period": "2027-q1"}).status_code == 403
        for response in (
            client.get(f"{URL}{round_id}/"),
            client.post(f"{URL}{round_id}/commit/"),
            client.post(f"{URL}{round_id}/discard/"),
        ):
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "not_found"
    assert AllocationRound.objects.get().status == RoundStatus.PREVIEW
    assert AllocationRound.objects.count() == 1


def test_list_filters_and_bounded_queries(
    bob: Any,
    carol: Any,
    catalogue: Any,
    django_capture_on_commit_callbacks: Any,
    django_assert_max_num_queries: Any,
) -> None:
    accepted(bob, carol)
    rounds = [preview(carol, django_capture_on_commit_callbacks)["id"] for _ in range(3)]
    client = client_for(carol)
    client.post(f"{URL}{rounds[0]}/discard/")
    with django_assert_max_num_queries(6):
        listed = client.get(URL).json()
    assert [r["id"] for r in listed["results"]] == sorted(rounds, reverse=True)
    assert all(r["ready"] and r["jain_index"] == pytest.approx(1.0) for r in listed["results"])
    assert all("tenants" not in r for r in listed["results"])  # the list stays small
    assert {r["id"] for r in client.get(URL, {"status": "discarded"}).json()["results"]} == {rounds[0]}
    assert client.get(URL, {"period": "2027-q1"}).json()["count"] == 3
    assert client.get(URL, {"period": "2030-q1"}).json()["count"] == 0
