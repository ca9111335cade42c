"""Allocation requests through their lifecycle, and every way to get them wrong."""

from __future__ import annotations

from typing import Any

import pytest

from allocation.models import AllocationRequest, AuditEvent, PeriodStatus, RequestStatus
from allocation.services.errors import NotAllowed, ServiceError
from allocation.services.requests import (
    RequestContent,
    request_create,
    request_decide,
    request_submit,
    request_update,
    request_withdraw,
)

pytestmark = pytest.mark.django_db


def draft(catalogue: Any, tenant: Any, user: Any, **overrides: Any) -> AllocationRequest:
    content = dict(title="Pretraining", chip_type=catalogue.b200, demand_gpu_hours=1000)
    content.update(overrides)
    return request_create(actor=user, tenant=tenant, period=catalogue.period, content=RequestContent(**content))


def test_draft_shows_its_normalized_demand(catalogue: Any, aurora: Any, alice: Any) -> None:
    req = draft(catalogue, aurora, alice)
    assert (req.status, req.demand_normalized_hours) == (RequestStatus.DRAFT, 2500.0)


def test_only_the_pi_submits_and_then_it_is_read_only(catalogue: Any, aurora: Any, alice: Any, bob: Any) -> None:
    req = draft(catalogue, aurora, alice)
    with pytest.raises(NotAllowed):
        request_submit(actor=alice, request=req)
    request_submit(actor=bob, request=req)
    with pytest.raises(ServiceError) as err:
        request_update(
            actor=bob,
            request=req,
            content=RequestContent(title="Changed", chip_type=catalogue.b200, demand_gpu_hours=10),
        )
    assert err.value.field == "status"
    req.refresh_from_db()
    assert (req.title, req.status) == ("Pretraining", RequestStatus.SUBMITTED)


def test_withdrawal_is_recorded(catalogue: Any, aurora: Any, alice: Any, bob: Any) -> None:
    req = draft(catalogue, aurora, alice)
    request_submit(actor=bob, request=req)
    request_withdraw(actor=alice, request=req)
    actions = list(AuditEvent.objects.filter(object_id=str(req.pk)).order_by("id").values_list("action", flat=True))
    assert actions == ["request.created", "request.submitted", "request.withdrawn"]


def test_no_decision_on_a_withdrawn_request(catalogue: Any, aurora: Any, bob: Any, carol: Any) -> None:
    req = draft(catalogue, aurora, bob)
    request_withdraw(actor=bob, request=req)
    with pytest.raises(ServiceError) as err:
        request_decide(actor=carol, request=req, accept=True)
    assert err.value.field == "status"


def test_reduced_acceptance_needs_a_reason(catalogue: Any, aurora: Any, bob: Any, carol: Any) -> None:
    req = draft(catalogue, aurora, bob)
    request_submit(actor=bob, request=req)
    with pytest.raises(ServiceError) as err:
        request_decide(actor=carol, request=req, accept=True, accepted_normalized_hours=1000)
    assert err.value.field == "reason"
    request_decide(actor=carol, request=req, accept=True, accepted_normalized_hours=1000, reason="Budget")
    req.refresh_from_db()
    assert (req.status, req.accepted_normalized_hours) == (RequestStatus.ACCEPTED, 1000)


def test_rejection_needs_a_reason_and_only_the_committee_decides(
    catalogue: Any, aurora: Any, bob: Any, carol: Any
) -> None:
    req = draft(catalogue, aurora, bob)
    request_submit(actor=bob, request=req)
    with pytest.raises(NotAllowed):
        request_decide(actor=bob, request=req, accept=False, reason="no")
    with pytest.raises(ServiceError) as err:
        request_decide(actor=carol, request=req, accept=False)
    assert err.value.field == "reason"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"demand_gpu_hours": -5}, "demand_gpu_hours"),
        ({"demand_gpu_hours": float("nan")}, "demand_gpu_hours"),
        ({"demand_gpu_hours": 1e12}, "demand_gpu_hours"),  # more than the period holds
        ({"title": "  "}, "title"),
    ],
)
def test_bad_content_names_the_field_and_creates_nothing(
    catalogue: Any, aurora: Any, alice: Any, overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(ServiceError) as err:
        draft(catalogue, aurora, alice, **overrides)
    assert err.value.field == field
    assert AllocationRequest.objects.count() == 0


def test_a_chip_type_the_site_does_not_have_is_refused(catalogue: Any, aurora: Any, alice: Any) -> None:
    with pytest.raises(ServiceError) as err:
        draft(catalogue, aurora, alice, eligible_sites=(catalogue.lux,), eligible_chip_types=(catalogue.b200,))
    assert err.value.field == "eligible_chip_types"
    assert "L-AI Factory" in err.value.message


def test_a_closed_period_takes_no_requests(catalogue: Any, aurora: Any, alice: Any) -> None:
    catalogue.period.status = PeriodStatus.CLOSED
    catalogue.period.save()
    with pytest.raises(ServiceError) as err:
        draft(catalogue, aurora, alice)
    assert err.value.field == "period"


def test_outsiders_cannot_draft_for_a_tenant(catalogue: Any, aurora: Any, mallory: Any) -> None:
    with pytest.raises(NotAllowed):
        draft(catalogue, aurora, mallory)
