"""Quota rounds end to end at the service level: decisions -> engine -> quotas.

Celery runs eagerly here; tests/integration covers real workers and crashes.
"""

from __future__ import annotations

from typing import Any

import pytest

from allocation.models import AllocationRequest, AllocationRound, AuditEvent, Quota, RoundStatus
from allocation.services import rounds
from allocation.services.errors import Conflict, NotAllowed
from allocation.services.notifications import email_preference_set
from allocation.services.requests import RequestContent, request_create, request_decide, request_submit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]


def accepted(catalogue: Any, tenant: Any, pi: Any, carol: Any, gpu_hours: float, **content: Any) -> AllocationRequest:
    req = request_create(
        actor=pi,
        tenant=tenant,
        period=catalogue.period,
        content=RequestContent(
            title=f"{tenant.name} {gpu_hours}",
            chip_type=content.pop("chip_type", catalogue.h100),
            demand_gpu_hours=gpu_hours,
            **content,
        ),
    )
    request_submit(actor=pi, request=req)
    return request_decide(actor=carol, request=req, accept=True)


def committed_round(catalogue: Any, carol: Any, capture: Any) -> AllocationRound:
    with capture(execute=True):
        rnd = rounds.round_preview_start(actor=carol, period=catalogue.period)
    rnd.refresh_from_db()
    with capture(execute=True):
        return rounds.round_commit(actor=carol, round_id=rnd.pk)


def test_two_tenants_contending_for_one_site_split_it_fairly(
    catalogue: Any,
    aurora: Any,
    bob: Any,
    nimbus: Any,
    mallory: Any,
    carol: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # LUX has 90 H100 in service for 2160 h: 194,400 GPU-hours. Both ask for all of it.
    only_lux = dict(eligible_sites=(catalogue.lux,))
    a = accepted(catalogue, aurora, bob, carol, 194_400, **only_lux)
    n = accepted(catalogue, nimbus, mallory, carol, 194_400, **only_lux)

    rnd = committed_round(catalogue, carol, django_capture_on_commit_callbacks)

    assert rnd.status == RoundStatus.COMMITTED
    granted = {q.request_id: q.gpu_hours for q in Quota.objects.filter(round=rnd)}
    assert granted == {a.pk: pytest.approx(97_200), n.pk: pytest.approx(97_200)}
    explanation = {t["name"]: t["explanation"] for t in rnd.result["tenants"]}
    assert "lux/h100" in explanation["Aurora Lab"]


def test_preview_reports_public_share_and_fairness(
    catalogue: Any,
    aurora: Any,
    bob: Any,
    carol: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    accepted(catalogue, aurora, bob, carol, 1000)
    with django_capture_on_commit_callbacks(execute=True):
        rnd = rounds.round_preview_start(actor=carol, period=catalogue.period)
    rnd.refresh_from_db()
    assert rnd.result["granted_normalized_hours"] == pytest.approx(1000)
    assert rnd.result["public_share"] == pytest.approx(1.0)  # a researcher in the public pool got it all
    assert 0 < rnd.result["jain_index"] <= 1
    assert Quota.objects.count() == 0  # a preview grants nothing


def test_committing_twice_grants_once(
    catalogue: Any,
    aurora: Any,
    bob: Any,
    carol: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    accepted(catalogue, aurora, bob, carol, 5000)
    rnd = committed_round(catalogue, carol, django_capture_on_commit_callbacks)
    again = rounds.round_commit(actor=carol, round_id=rnd.pk)
    assert again.pk == rnd.pk
    assert Quota.objects.filter(round=rnd).count() == len(rnd.result["grants"]) == 1
    assert AuditEvent.objects.filter(action="round.committed").count() == 1
    assert AuditEvent.objects.filter(action="quota.granted").count() == 1


def test_a_later_round_supersedes_and_the_audit_keeps_both(
    catalogue: Any,
    aurora: Any,
    bob: Any,
    carol: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    accepted(catalogue, aurora, bob, carol, 5000)
    first = committed_round(catalogue, carol, django_capture_on_commit_callbacks)
    second = committed_round(catalogue, carol, django_capture_on_commit_callbacks)
    first.refresh_from_db()
    assert (first.status, second.status) == (RoundStatus.SUPERSEDED, RoundStatus.COMMITTED)
    in_force = Quota.objects.filter(round__status=RoundStatus.COMMITTED)
    assert list(in_force.values_list("round_id", flat=True)) == [second.pk]
    assert AuditEvent.objects.filter(action="quota.granted").count() == 2
    assert AuditEvent.objects.filter(action="round.superseded", object_id=str(first.pk)).exists()


def test_a_stale_preview_cannot_be_committed(
    catalogue: Any,
    aurora: Any,
    bob: Any,
    nimbus: Any,
    mallory: Any,
    carol: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    accepted(catalogue, aurora, bob, carol, 5000)
    with django_capture_on_commit_callbacks(execute=True):
        rnd = rounds.round_preview_start(actor=carol, period=catalogue.period)
    accepted(catalogue, nimbus, mallory, carol, 7000)  # decided after the preview
    with pytest.raises(Conflict) as refused:
        rounds.round_commit(actor=carol, round_id=rnd.pk)
    assert refused.value.code == "stale_preview"
    assert Quota.objects.count() == 0


def test_only_the_committee_runs_rounds(catalogue: Any, bob: Any) -> None:
    with pytest.raises(NotAllowed):
        rounds.round_preview_start(actor=bob, period=catalogue.period)


def test_members_are_mailed_on_submission_decision_and_grant_unless_they_opted_out(
    catalogue: Any,
    aurora: Any,
    alice: Any,
    bob: Any,
    carol: Any,
    mailoutbox: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    email_preference_set(user=alice, enabled=False)
    with django_capture_on_commit_callbacks(execute=True):
        accepted(catalogue, aurora, bob, carol, 5000)
    committed_round(catalogue, carol, django_capture_on_commit_callbacks)
    subjects = [(m.subject, m.to) for m in mailoutbox]
    assert [s for s, _ in subjects] == [
        "[InvestAI] Request submitted: Aurora Lab 5000",
        "[InvestAI] Decision on Aurora Lab 5000: accepted",
        "[InvestAI] Quota granted for 2027 Q1",
    ]
    assert all(to == ["bob@example.eu"] for _, to in subjects)  # alice opted out


def test_a_commit_sets_each_tenants_quota_balance_to_its_grants(
    catalogue: Any,
    aurora: Any,
    bob: Any,
    nimbus: Any,
    mallory: Any,
    carol: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from allocation.models import QuotaBalance

    accepted(catalogue, aurora, bob, carol, 5000)
    accepted(catalogue, nimbus, mallory, carol, 3000)
    committed_round(catalogue, carol, django_capture_on_commit_callbacks)
    balances = dict(QuotaBalance.objects.values_list("tenant__slug", "granted"))
    assert balances == {"aurora-lab": pytest.approx(5000), "nimbus-ai": pytest.approx(3000)}
