"""The committee's pages and the audit trail through Django's test client.

carol is on the allocation committee; alice, bob (Aurora Lab) and mallory
(Nimbus AI) are tenants' people, for whom review and rounds are 403.
Celery runs eagerly, and posts that enqueue run their on_commit callbacks.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from allocation.models import AllocationRequest, AllocationRound, Heartbeat, Quota, RequestStatus, RoundStatus
from allocation.services.heartbeat import heartbeat_record
from allocation.services.requests import content_from_ids, request_create, request_decide, request_submit
from allocation.services.rounds import round_compute
from tests.factories import TenantFactory, member

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]


def submitted(
    catalogue: Any,
    tenant: Any,
    pi: Any,
    *,
    title: str = "Climate model",
    gpu_hours: float = 20_000.0,
    sites: tuple = (),
    chips: tuple = (),
) -> AllocationRequest:
    req = request_create(
        actor=pi,
        tenant=tenant,
        period=catalogue.period,
        content=content_from_ids(
            title=title,
            chip_type_id=(chips[0] if chips else catalogue.h100).pk,
            demand_gpu_hours=gpu_hours,
            site_ids=[s.pk for s in sites],
            chip_type_ids=[c.pk for c in chips],
        ),
    )
    return request_submit(actor=pi, request=req)


def decide_data(pk: int, decision: str, amount: str = "", reason: str = "") -> dict[str, str]:
    return {f"r{pk}-decision": decision, f"r{pk}-accepted_normalized_hours": amount, f"r{pk}-reason": reason}


# --- who may open what ----------------------------------------------------------


@pytest.mark.parametrize("persona", ["alice", "bob", "mallory", "oscar"])
def test_committee_pages_are_403_for_everyone_else(client, catalogue, request, persona):
    client.force_login(request.getfixturevalue(persona))
    slug = catalogue.period.slug

    for url in (reverse("committee-home"), reverse("review-queue", args=[slug]), reverse("round-period", args=[slug])):
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("round-preview", args=[slug])).status_code == 403
    assert AllocationRound.objects.count() == 0


def test_committee_home_lists_periods_with_counts(client, catalogue, aurora, bob, carol):
    submitted(catalogue, aurora, bob)
    client.force_login(carol)

    response = client.get(reverse("committee-home"))

    assert response.status_code == 200
    period = response.context["periods"][0]
    assert (period.submitted, period.accepted) == (1, 0)
    assert reverse("review-queue", args=[catalogue.period.slug]) in response.content.decode()


# --- the review queue -------------------------------------------------------------


def test_review_queue_shows_submitted_requests_and_demand_against_capacity(
    client, catalogue, aurora, bob, alice, carol
):
    submitted(catalogue, aurora, bob, title="Weather at 1 km", sites=(catalogue.lux,))
    request_create(
        actor=alice,
        tenant=aurora,
        period=catalogue.period,
        content=content_from_ids(title="Still a draft", chip_type_id=catalogue.h100.pk, demand_gpu_hours=5.0),
    )
    client.force_login(carol)

    response = client.get(reverse("review-queue", args=[catalogue.period.slug]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Weather at 1 km" in html and "Still a draft" not in html
    assert "1 request to review" in html
    lux = next(r for r in response.context["demand"] if r["inventory"] == catalogue.lux_h100)
    assert lux["submitted"] == pytest.approx(20_000.0)
    assert lux["capacity_normalized_hours"] == pytest.approx(90 * 90 * 24)
    assert "Demand against capacity" in html


def test_review_queue_filters_by_kind_pool_chip_and_site(client, catalogue, aurora, bob, nimbus, mallory, carol):
    submitted(catalogue, aurora, bob, title="Aurora at Lux", sites=(catalogue.lux,))
    submitted(catalogue, nimbus, mallory, title="Nimbus on B200", sites=(catalogue.muc,), chips=(catalogue.b200,))
    client.force_login(carol)
    url = reverse("review-queue", args=[catalogue.period.slug])

    def titles(**params: Any) -> list[str]:
        return [req.title for req, _ in client.get(url, params).context["rows"]]

    assert titles() == ["Aurora at Lux", "Nimbus on B200"]
    assert titles(kind="researcher") == ["Aurora at Lux"]
    assert titles(kind="startup") == ["Nimbus on B200"]
    assert titles(chip_type=catalogue.b200.pk) == ["Nimbus on B200"]
    assert titles(site=catalogue.lux.pk) == ["Aurora at Lux"]
    assert titles(pool=catalogue.public_pool.pk) == ["Aurora at Lux", "Nimbus on B200"]
    assert titles(pool=catalogue.acme_pool.pk) == []


@pytest.mark.parametrize("count", [5, 40])
def test_review_queue_query_count_does_not_grow_with_the_queue(
    client, catalogue, carol, count, django_assert_max_num_queries
):
    for i in range(count):
        tenant = TenantFactory(pool=catalogue.public_pool, kind="sme")
        pi = member(f"pi{i}", tenant, role="pi")
        submitted(
            catalogue,
            tenant,
            pi,
            title=f"Request {i}",
            gpu_hours=100.0,
            sites=(catalogue.muc,),
            chips=(catalogue.h100,),
        )
    client.force_login(carol)

    with django_assert_max_num_queries(20) as captured:
        response = client.get(reverse("review-queue", args=[catalogue.period.slug]), {"kind": "sme"})

    assert len(response.context["rows"]) == count, [q["sql"][:150] for q in captured.captured_queries]


# --- decisions ------------------------------------------------------------------------


def test_accept_in_full(client, catalogue, aurora, bob, carol, django_capture_on_commit_callbacks):
    req = submitted(catalogue, aurora, bob)
    client.force_login(carol)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("request-decide", args=[req.pk]), decide_data(req.pk, "accept"), follow=True)

    req.refresh_from_db()
    assert req.status == RequestStatus.ACCEPTED
    assert req.accepted_normalized_hours == pytest.approx(20_000.0)
    assert "Decision on “Climate model” recorded." in response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("review-queue", args=[catalogue.period.slug])


def test_accept_reduced_with_amount_and_reason(client, catalogue, aurora, bob, carol):
    req = submitted(catalogue, aurora, bob)
    client.force_login(carol)
    back = reverse("review-queue", args=[catalogue.period.slug]) + "?kind=researcher"

    response = client.post(
        reverse("request-decide", args=[req.pk]),
        {**decide_data(req.pk, "reduce", "12000", "Scaled to the pilot."), "next": back},
    )

    assert response["Location"] == back
    req.refresh_from_db()
    assert req.status == RequestStatus.ACCEPTED
    assert req.accepted_normalized_hours == pytest.approx(12_000.0)
    assert req.decision_reason == "Scaled to the pilot."


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (("reduce", "12000", ""), "reason", "Say why the demand is reduced."),
        (("reduce", "", "Smaller"), "accepted_normalized_hours", "Give the reduced amount."),
        (("reduce", "99999", "More"), "accepted_normalized_hours", "Cannot accept more than the demand"),
        (("reject", "", ""), "reason", "Give the reason for rejecting the request."),
    ],
)
def test_a_bad_decision_shows_the_error_on_its_field(client, catalogue, aurora, bob, carol, data, field, message):
    req = submitted(catalogue, aurora, bob)
    client.force_login(carol)

    response = client.post(reverse("request-decide", args=[req.pk]), decide_data(req.pk, *data))

    assert response.status_code == 400
    form = dict((r.pk, f) for r, f in response.context["rows"])[req.pk]
    assert message in " ".join(form.errors[field])
    assert message in response.content.decode()
    req.refresh_from_db()
    assert req.status == RequestStatus.SUBMITTED


def test_reject_with_reason_shows_on_the_tenants_timeline(client, catalogue, aurora, bob, alice, carol):
    req = submitted(catalogue, aurora, bob)
    client.force_login(carol)
    client.post(reverse("request-decide", args=[req.pk]), decide_data(req.pk, "reject", "", "Out of scope."))
    client.force_login(alice)

    response = client.get(reverse("request-detail", args=[req.pk]))

    html = response.content.decode()
    assert '<span class="badge status-rejected">Rejected</span>' in html
    assert "Out of scope." in html
    assert [e.action for e in response.context["timeline"]] == [
        "request.created",
        "request.submitted",
        "request.rejected",
    ]


def test_tenants_cannot_decide(client, catalogue, aurora, bob, mallory):
    req = submitted(catalogue, aurora, bob)

    client.force_login(bob)
    assert client.post(reverse("request-decide", args=[req.pk]), decide_data(req.pk, "accept")).status_code == 403
    client.force_login(mallory)
    assert client.post(reverse("request-decide", args=[req.pk]), decide_data(req.pk, "accept")).status_code == 403
    req.refresh_from_db()
    assert req.status == RequestStatus.SUBMITTED


# --- quota rounds ------------------------------------------------------------------------


@pytest.fixture
def accepted(catalogue: Any, aurora: Any, bob: Any, nimbus: Any, mallory: Any, carol: Any) -> list[AllocationRequest]:
    one = submitted(catalogue, aurora, bob, title="Aurora big", gpu_hours=3_000_000.0)
    two = submitted(catalogue, nimbus, mallory, title="Nimbus big", gpu_hours=3_000_000.0)
    return [request_decide(actor=carol, request=r, accept=True) for r in (one, two)]


def test_preview_then_commit_grants_quotas_the_tenant_sees(
    client, catalogue, accepted, carol, alice, django_capture_on_commit_callbacks
):
    client.force_login(carol)

    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(reverse("round-preview", args=[catalogue.period.slug]))
    rnd = AllocationRound.objects.get()
    assert started["Location"] == reverse("round-detail", args=[rnd.pk])
    page = client.get(started["Location"])
    html = page.content.decode()
    assert rnd.status == RoundStatus.PREVIEW and rnd.result is not None
    assert 'hx-trigger="every 2s"' not in html
    assert "Jain" in html and "Per pool" in html and "Per tenant kind" in html
    assert "Aurora Lab" in html and "Nimbus AI" in html
    assert page.context["result"]["jain_index"] == pytest.approx(1.0)
    assert reverse("round-commit", args=[rnd.pk]) in html

    with django_capture_on_commit_callbacks(execute=True):
        committed = client.post(reverse("round-commit", args=[rnd.pk]))

    assert committed["Location"] == reverse("round-detail", args=[rnd.pk]) + "?committing=1"
    rnd.refresh_from_db()
    assert rnd.status == RoundStatus.COMMITTED
    done = client.get(committed["Location"])
    assert 'hx-trigger="every 2s"' not in done.content.decode()
    assert reverse("round-commit", args=[rnd.pk]) not in done.content.decode()
    assert Quota.objects.filter(round=rnd).exists()

    client.force_login(alice)
    mine = client.get(reverse("request-detail", args=[accepted[0].pk]))
    quotas = list(mine.context["quotas"])
    assert quotas and all(q.request_id == accepted[0].pk for q in quotas)
    total = sum(q.normalized_hours for q in quotas)
    assert total > 0
    assert "Quotas granted" in mine.content.decode()


def test_a_computing_preview_polls_every_two_seconds(client, catalogue, accepted, carol):
    heartbeat_record(name="beat")  # a worker is alive
    rnd = AllocationRound.objects.create(period=catalogue.period, created_by=carol)
    client.force_login(carol)

    waiting = client.get(reverse("round-detail", args=[rnd.pk]))
    fragment = client.get(reverse("round-status", args=[rnd.pk]), HTTP_HX_REQUEST="true")
    round_compute(round_id=rnd.pk)
    ready = client.get(reverse("round-status", args=[rnd.pk]), HTTP_HX_REQUEST="true")

    assert 'hx-trigger="every 2s"' in waiting.content.decode()
    assert "Computing the preview" in waiting.content.decode()
    assert fragment.content.decode().lstrip().startswith('<div id="round-body"')
    assert "<html" not in fragment.content.decode()
    assert 'hx-trigger="every' not in ready.content.decode()
    assert "Jain" in ready.content.decode()


def test_a_round_waiting_on_silent_workers_says_so(client, catalogue, accepted, carol):
    rnd = AllocationRound.objects.create(period=catalogue.period, created_by=carol)
    client.force_login(carol)
    url = reverse("round-status", args=[rnd.pk])

    never = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    Heartbeat.objects.create(name="beat", seen_at=timezone.now() - timedelta(hours=1), beats=7)
    stale = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    heartbeat_record(name="beat")
    alive = client.get(url, HTTP_HX_REQUEST="true").content.decode()

    assert "No worker has answered the scheduler's heartbeat yet" in never
    assert 'hx-trigger="every 10s"' in never  # it keeps waiting, but politely
    assert "heartbeat since" in stale
    assert "Queued… waiting for a background worker." in never
    assert "check the workers" not in alive and "Computing the preview" in alive
    assert 'hx-trigger="every 2s"' in alive


def test_committing_polls_until_committed_or_failed(client, catalogue, accepted, carol):
    heartbeat_record(name="beat")  # a worker is alive
    rnd = AllocationRound.objects.create(period=catalogue.period, created_by=carol)
    round_compute(round_id=rnd.pk)
    client.force_login(carol)
    url = reverse("round-status", args=[rnd.pk]) + "?committing=1"

    pending = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    AllocationRound.objects.filter(pk=rnd.pk).update(failure="Decisions changed since this preview.")
    failed = client.get(url, HTTP_HX_REQUEST="true").content.decode()

    assert "Committing…" in pending and 'hx-trigger="every 2s"' in pending
    assert 'hx-trigger="every' not in failed
    assert "Decisions changed since this preview." in failed
    assert reverse("round-commit", args=[rnd.pk]) not in failed


def test_a_stale_preview_is_refused_and_says_why(
    client, catalogue, accepted, aurora, bob, carol, django_capture_on_commit_callbacks
):
    client.force_login(carol)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("round-preview", args=[catalogue.period.slug]))
    rnd = AllocationRound.objects.get()
    late = submitted(catalogue, aurora, bob, title="Late one")
    request_decide(actor=carol, request=late, accept=True)

    with django_capture_on_commit_callbacks(execute=True):
        posted = client.post(reverse("round-commit", args=[rnd.pk]))
    response = client.get(posted["Location"])

    rnd.refresh_from_db()
    assert rnd.status == RoundStatus.PREVIEW
    assert 'hx-trigger="every 2s"' not in response.content.decode()
    assert "run a new preview" in response.content.decode()
    assert not Quota.objects.exists()


def test_discard_a_preview(client, catalogue, accepted, carol, django_capture_on_commit_callbacks):
    client.force_login(carol)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("round-preview", args=[catalogue.period.slug]))
    rnd = AllocationRound.objects.get()

    response = client.post(reverse("round-discard", args=[rnd.pk]), follow=True)

    rnd.refresh_from_db()
    assert rnd.status == RoundStatus.DISCARDED
    assert response.redirect_chain[-1][0] == reverse("round-period", args=[catalogue.period.slug])
    assert "Preview discarded." in response.content.decode()


def test_round_tenant_search(client, catalogue, accepted, carol):
    rnd = AllocationRound.objects.create(period=catalogue.period, created_by=carol)
    round_compute(round_id=rnd.pk)
    client.force_login(carol)

    response = client.get(reverse("round-detail", args=[rnd.pk]), {"q": "nimb"})

    assert [t["name"] for t in response.context["tenants"]] == ["Nimbus AI"]


# --- audit -----------------------------------------------------------------------------------


def test_audit_page_for_the_committee_with_filters(client, catalogue, aurora, bob, carol):
    req = submitted(catalogue, aurora, bob)
    request_decide(actor=carol, request=req, accept=False, reason="No.")
    client.force_login(carol)

    everything = client.get(reverse("audit-list"))
    rejected = client.get(reverse("audit-list"), {"action": "request.rejected"})
    by_type = client.get(reverse("audit-list"), {"object_type": "allocationrequest"})

    assert everything.status_code == 200
    assert [e.action for e, _ in everything.context["rows"]] == [
        "request.rejected",
        "request.submitted",
        "request.created",
    ]
    assert [e.action for e, _ in rejected.context["rows"]] == ["request.rejected"]
    assert len(by_type.context["rows"]) == 3
    html = rejected.content.decode()
    assert "<del>submitted</del> → <ins>rejected</ins>" in html


def test_audit_page_shows_tenants_only_their_own_events(client, catalogue, aurora, bob, alice, nimbus, mallory):
    submitted(catalogue, aurora, bob, title="Aurora")
    submitted(catalogue, nimbus, mallory, title="Nimbus")

    client.force_login(alice)
    mine = client.get(reverse("audit-list"))
    client.force_login(mallory)
    theirs = client.get(reverse("audit-list"))

    assert {e.tenant.name for e, _ in mine.context["rows"]} == {"Aurora Lab"}
    assert {e.tenant.name for e, _ in theirs.context["rows"]} == {"Nimbus AI"}


def test_audit_page_is_paginated(client, catalogue, aurora, bob, carol):
    for i in range(26):
        submitted(catalogue, aurora, bob, title=f"R{i}", gpu_hours=10.0)
    client.force_login(carol)

    one = client.get(reverse("audit-list"))
    two = client.get(reverse("audit-list"), {"page": 2, "action": "request.submitted"})

    assert len(one.context["rows"]) == 50
    assert one.context["page"].paginator.count == 52
    assert len(two.context["rows"]) == 0 or two.context["page"].number == 1
