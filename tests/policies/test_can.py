"""The ``policies.can_*`` answers the pages show buttons by: who may cancel a booking, and edit,
submit or withdraw a request. The services enforce the same rules; these tests hold the answers
to what the services allow."""

from __future__ import annotations

from typing import Any

import pytest

from allocation import policies
from allocation.models import Booking, BookingStatus, RequestStatus, Verification
from allocation.services.bookings import TRANSITIONS as BOOKING_TRANSITIONS
from allocation.services.requests import RequestContent, request_create

pytestmark = pytest.mark.django_db


def test_cancellable_states_are_those_the_booking_transitions_allow_to_cancel() -> None:
    reach_cancelled = {state for state, targets in BOOKING_TRANSITIONS.items() if BookingStatus.CANCELLED in targets}
    assert reach_cancelled == policies.BOOKING_CANCELLABLE


@pytest.mark.parametrize("status", list(BookingStatus))
def test_a_booking_is_cancelled_by_its_members_and_operators_while_it_runs_or_is_to_come(
    catalogue: Any,
    aurora: Any,
    alice: Any,
    mallory: Any,
    carol: Any,
    oscar: Any,
    status: str,
) -> None:
    booking = Booking(tenant=aurora, status=status)
    open_ = status in (BookingStatus.PENDING, BookingStatus.CONFIRMED, BookingStatus.ACTIVE, BookingStatus.AT_RISK)
    assert policies.can_cancel_booking(alice, booking) is open_
    assert policies.can_cancel_booking(oscar, booking) is open_
    assert policies.can_cancel_booking(mallory, booking) is False  # another tenant's PI
    assert policies.can_cancel_booking(carol, booking) is False  # the committee does not cancel bookings


def test_a_draft_is_edited_by_members_submitted_by_the_pi_and_withdrawn_by_members(
    catalogue: Any,
    aurora: Any,
    alice: Any,
    bob: Any,
    mallory: Any,
) -> None:
    req = request_create(
        actor=alice,
        tenant=aurora,
        period=catalogue.period,
        content=RequestContent(title="Aurora run", chip_type=catalogue.h100, demand_gpu_hours=100),
    )
    assert [policies.can_edit_request(u, req) for u in (alice, bob, mallory)] == [True, True, False]
    assert [policies.can_submit_request(u, req) for u in (alice, bob, mallory)] == [False, True, False]
    assert [policies.can_withdraw_request(u, req) for u in (alice, bob, mallory)] == [True, True, False]

    req.status = RequestStatus.SUBMITTED
    assert not policies.can_edit_request(bob, req) and not policies.can_submit_request(bob, req)
    assert policies.can_withdraw_request(alice, req)
    req.status = RequestStatus.ACCEPTED
    assert not policies.can_withdraw_request(alice, req)


def test_the_tenants_status_limits_drafting_and_submitting(catalogue: Any, aurora: Any, bob: Any) -> None:
    req = request_create(
        actor=bob,
        tenant=aurora,
        period=catalogue.period,
        content=RequestContent(title="Aurora run", chip_type=catalogue.h100, demand_gpu_hours=100),
    )
    req.tenant.verification = Verification.PENDING
    assert policies.can_edit_request(bob, req) and not policies.can_submit_request(bob, req)
    req.tenant.verification = Verification.SUSPENDED
    assert not policies.can_edit_request(bob, req) and not policies.can_submit_request(bob, req)
    assert policies.can_withdraw_request(bob, req)  # withdrawing only gives back
