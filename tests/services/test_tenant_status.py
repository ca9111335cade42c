"""A tenant's verification status holds on every write: suspended tenants write nothing, pending ones only
draft, over the API, the pages and the services alike; the status changes only through the service.

Issue 11, item 3: a suspended tenant booked (201) and created requests (201).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse

from allocation.models import AuditEvent, Notification, RequestStatus, Tenant, UsageRecord, Verification
from allocation.services.bookings import booking_fixed_create
from allocation.services.errors import NotAllowed, ServiceError
from allocation.services.requests import content_from_ids, request_create
from allocation.services.tenants import tenant_verification_change
from tests.api import client_for, request_body
from tests.factories import with_role

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
START = datetime(2027, 1, 8, tzinfo=UTC)
SUSPENDED = "Aurora Lab is suspended: it cannot request compute, book or have usage recorded."
PENDING = "Aurora Lab is not verified yet"


@pytest.fixture
def adam(db: Any) -> Any:
    return with_role("adam", "admin")


def set_status(tenant: Tenant, to: str) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(verification=to)  # the precondition, not the change under test
    tenant.refresh_from_db()


def a_draft(catalogue: Any, tenant: Any, actor: Any) -> Any:
    return request_create(
        actor=actor,
        tenant=tenant,
        period=catalogue.period,
        content=content_from_ids(
            title="Protein folding",
            chip_type_id=catalogue.h100.pk,
            demand_gpu_hours=1000.0,
            site_ids=[catalogue.muc.pk],
        ),
    )


def fixed(**overrides: Any) -> dict[str, Any]:
    return {
        "tenant": "aurora-lab",
        "resource": "lux/h100",
        "starts_at": "2027-01-08T00:00:00Z",
        "hours": 10,
        "chips": 6,
        **overrides,
    }


FLEXIBLE = {
    "kind": "flexible",
    "tenant": "aurora-lab",
    "eligible": ["lux/h100"],
    "hours": 2,
    "chips": 5,
    "earliest_start": "2027-01-08T00:00:00Z",
    "latest_end": "2027-01-09T00:00:00Z",
}


def refused_with(response: Any, reason: str) -> bool:
    body = response.json()
    return (
        response.status_code == 403
        and body["error"]["code"] == "permission_denied"
        and reason in body["error"]["message"]
    )


# --- the one transition function --------------------------------------------------


def test_an_admin_suspends_and_reinstates_audited_and_members_told(
    aurora: Any, alice: Any, bob: Any, adam: Any
) -> None:
    tenant_verification_change(actor=adam, tenant=aurora, to=Verification.SUSPENDED, reason="Sanctions check")
    aurora.refresh_from_db()
    assert aurora.verification == Verification.SUSPENDED
    event = AuditEvent.objects.get(action="tenant.suspended")
    assert (event.actor, event.tenant, event.before, event.after) == (
        adam,
        aurora,
        {"verification": "verified"},
        {"verification": "suspended", "reason": "Sanctions check"},
    )
    told = Notification.objects.filter(tenant=aurora, subject="Aurora Lab is suspended")
    assert {n.user for n in told} == {alice, bob} and "Reason: Sanctions check" in told[0].body
    tenant_verification_change(actor=adam, tenant=aurora, to=Verification.VERIFIED)
    aurora.refresh_from_db()
    assert aurora.verification == Verification.VERIFIED
    assert AuditEvent.objects.filter(action="tenant.verified").count() == 1


def test_only_admins_change_it_along_the_lifecycle_and_a_suspension_says_why(
    aurora: Any, bob: Any, carol: Any, oscar: Any, adam: Any
) -> None:
    for user in (bob, carol, oscar):
        with pytest.raises(NotAllowed):
            tenant_verification_change(actor=user, tenant=aurora, to=Verification.SUSPENDED, reason="x")
    with pytest.raises(ServiceError) as no_reason:
        tenant_verification_change(actor=adam, tenant=aurora, to=Verification.SUSPENDED)
    assert no_reason.value.field == "reason"
    for to in (Verification.VERIFIED, Verification.PENDING):
        with pytest.raises(ServiceError) as wrong:
            tenant_verification_change(actor=adam, tenant=aurora, to=to, reason="x")
        assert wrong.value.code == "invalid_transition"
    aurora.refresh_from_db()
    assert (
        aurora.verification == Verification.VERIFIED
        and not AuditEvent.objects.filter(action__startswith="tenant.").exists()
    )


# --- a suspended tenant, over the API -----------------------------------------------


def test_a_suspended_tenant_cannot_book_over_the_api(funded: Any, aurora: Any, alice: Any) -> None:
    set_status(aurora, Verification.SUSPENDED)
    client = client_for(alice)
    for body in (fixed(), {**fixed(resource=None), "site": "lux", "chip_type": "h100"}, FLEXIBLE):
        body = {k: v for k, v in body.items() if v is not None}
        response = client.post("/api/v1/bookings/", body, format="json")
        assert refused_with(response, SUSPENDED), (body, response.json())
    assert not aurora.bookings.exists()


def test_a_suspended_tenant_cannot_create_edit_or_submit_requests(
    catalogue: Any, aurora: Any, alice: Any, bob: Any
) -> None:
    draft = a_draft(catalogue, aurora, alice)
    set_status(aurora, Verification.SUSPENDED)
    url = "/api/v1/allocation-requests/"
    assert refused_with(client_for(alice).post(url, request_body()), SUSPENDED)
    assert refused_with(client_for(alice).patch(f"{url}{draft.pk}/", {"title": "Renamed"}, format="json"), SUSPENDED)
    assert refused_with(client_for(bob).post(f"{url}{draft.pk}/submit/"), SUSPENDED)
    draft.refresh_from_db()
    assert (draft.status, draft.title) == (RequestStatus.DRAFT, "Protein folding")
    assert aurora.requests.count() == 1
    # Giving back stays open: the draft can be withdrawn.
    assert client_for(bob).post(f"{url}{draft.pk}/withdraw/").status_code == 200


def test_a_suspended_tenants_bookings_get_no_usage(
    funded: Any, aurora: Any, alice: Any, nimbus: Any, mallory: Any, oscar: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, _ = booking_fixed_create(
        actor=alice, tenant=aurora, inventory=funded.lux_h100, starts_at=START, hours=2, chips=5
    )
    theirs, _ = booking_fixed_create(
        actor=mallory, tenant=nimbus, inventory=funded.lux_h100, starts_at=START, hours=2, chips=5
    )
    set_status(aurora, Verification.SUSPENDED)
    monkeypatch.setattr("django.utils.timezone.now", lambda: START + timedelta(days=1))
    url, at = "/api/v1/usage-records/", "2027-01-08T01:00:00Z"
    alone = client_for(oscar).post(
        url, {"records": [{"record_id": "a", "booking": mine.pk, "at": at, "gpu_hours": 5}]}, format="json"
    )
    assert refused_with(alone, SUSPENDED) and alone.json()["error"]["refused"][0]["code"] == "tenant_status"
    mixed = client_for(oscar).post(
        url,
        {
            "records": [
                {"record_id": "a", "booking": mine.pk, "at": at, "gpu_hours": 5},
                {"record_id": "n", "booking": theirs.pk, "at": at, "gpu_hours": 5},
            ]
        },
        format="json",
    )
    assert mixed.status_code == 201 and [(r["index"], r["field"]) for r in mixed.json()["refused"]] == [(0, "booking")]
    assert list(UsageRecord.objects.values_list("record_id", flat=True)) == ["n"]


def test_the_refusal_is_in_german_for_a_german_client(funded: Any, aurora: Any, alice: Any) -> None:
    set_status(aurora, Verification.SUSPENDED)
    response = client_for(alice).post("/api/v1/bookings/", fixed(), format="json", HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 403 and "ist gesperrt" in response.json()["error"]["message"]


# --- a pending tenant -----------------------------------------------------------------


def test_a_pending_tenant_drafts_but_neither_submits_nor_books(funded: Any, aurora: Any, alice: Any, bob: Any) -> None:
    set_status(aurora, Verification.PENDING)
    url = "/api/v1/allocation-requests/"
    created = client_for(alice).post(url, request_body())
    assert created.status_code == 201, created.json()
    request_id = created.json()["id"]
    assert client_for(alice).patch(f"{url}{request_id}/", {"title": "Renamed"}, format="json").status_code == 200
    assert refused_with(client_for(bob).post(f"{url}{request_id}/submit/"), PENDING)
    assert refused_with(client_for(alice).post("/api/v1/bookings/", fixed(), format="json"), PENDING)
    assert refused_with(client_for(alice).post("/api/v1/bookings/", FLEXIBLE, format="json"), PENDING)


# --- the pages ------------------------------------------------------------------------------


def test_the_pages_refuse_a_suspended_tenant_with_the_reason(
    client: Any, funded: Any, aurora: Any, alice: Any, bob: Any
) -> None:
    draft = a_draft(funded, aurora, bob)
    set_status(aurora, Verification.SUSPENDED)
    client.force_login(alice)
    posts = [
        (
            reverse("booking-new"),
            {
                "tenant": aurora.pk,
                "inventory": funded.lux_h100.pk,
                "starts_at": "2027-01-08T09:00",
                "hours": "10",
                "chips": "20",
                "idempotency_key": "k1",
            },
        ),
        (
            reverse("booking-new-flexible"),
            {
                "tenant": aurora.pk,
                "eligible": [funded.lux_h100.pk],
                "earliest_start": "2027-01-08T00:00",
                "latest_end": "2027-01-10T00:00",
                "hours": "6",
                "chips": "10",
                "idempotency_key": "f1",
            },
        ),
        (
            reverse("request-create"),
            {
                "tenant": aurora.pk,
                "period": funded.period.pk,
                "title": "LLM",
                "chip_type": funded.h100.pk,
                "demand_gpu_hours": "4000",
                "eligible_sites": [funded.muc.pk],
                "eligible_chip_types": [funded.h100.pk],
            },
        ),
        (
            reverse("request-edit", args=[draft.pk]),
            {
                "title": "Renamed",
                "chip_type": funded.h100.pk,
                "demand_gpu_hours": "4000",
                "eligible_sites": [funded.muc.pk],
            },
        ),
    ]
    for url, data in posts:
        response = client.post(url, data)
        assert response.status_code == 403, url
        assert SUSPENDED in response.content.decode(), url
    client.force_login(bob)
    response = client.post(reverse("request-submit", args=[draft.pk]))
    assert response.status_code == 403 and SUSPENDED in response.content.decode()
    draft.refresh_from_db()
    assert (draft.status, draft.title) == (RequestStatus.DRAFT, "Protein folding")
    assert not aurora.bookings.exists() and not aurora.requests.filter(title="LLM").exists()


# --- the admin ---------------------------------------------------------------------------------


def test_the_admin_shows_verification_read_only_and_changes_it_through_the_service(
    client: Any, aurora: Any, alice: Any, adam: Any
) -> None:
    adam.is_staff = adam.is_superuser = True
    adam.save()
    client.force_login(adam)
    change = reverse("admin:allocation_tenant_change", args=[aurora.pk])
    form = client.get(change)
    assert form.status_code == 200 and 'name="verification"' not in form.content.decode()
    changelist = reverse("admin:allocation_tenant_changelist")
    asked = client.post(changelist, {"action": "suspend", "_selected_action": [aurora.pk]})
    assert asked.status_code == 200 and 'name="reason"' in asked.content.decode()
    aurora.refresh_from_db()
    assert aurora.verification == Verification.VERIFIED  # nothing until confirmed
    done = client.post(
        changelist,
        {"action": "suspend", "_selected_action": [aurora.pk], "apply": "1", "reason": "Unpaid invoices"},
        follow=True,
    )
    assert done.status_code == 200
    aurora.refresh_from_db()
    assert aurora.verification == Verification.SUSPENDED
    assert AuditEvent.objects.get(action="tenant.suspended").after["reason"] == "Unpaid invoices"
    # Without a reason the service refuses, and the admin says why.
    client.post(changelist, {"action": "verify", "_selected_action": [aurora.pk], "apply": "1"})
    aurora.refresh_from_db()
    assert aurora.verification == Verification.VERIFIED
    again = client.post(changelist, {"action": "suspend", "_selected_action": [aurora.pk], "apply": "1"}, follow=True)
    assert "Say why the tenant is suspended." in again.content.decode()
    aurora.refresh_from_db()
    assert aurora.verification == Verification.VERIFIED


def test_the_booking_round_does_not_place_a_suspended_tenants_queued_booking(
    funded: Any, aurora: Any, alice: Any, nimbus: Any, mallory: Any
) -> None:
    from allocation.services.booking_round import booking_round_run, booking_round_shards
    from allocation.services.bookings import booking_flexible_create

    window = {
        "eligible": [funded.lux_h100],
        "earliest_start": START,
        "latest_end": START + timedelta(days=1),
        "hours": 2,
        "chips": 5,
    }
    queued, _ = booking_flexible_create(actor=alice, tenant=aurora, **window)
    other, _ = booking_flexible_create(actor=mallory, tenant=nimbus, **window)
    set_status(aurora, Verification.SUSPENDED)  # after it queued
    now = START - timedelta(hours=1)
    booking_round_run(inventory_ids=booking_round_shards(now=now)[0], now=now)
    queued.refresh_from_db()
    other.refresh_from_db()
    assert (queued.status, other.status) == ("pending", "confirmed")


def test_a_draft_page_says_why_a_pending_tenant_cannot_submit(
    client: Any, catalogue: Any, aurora: Any, bob: Any
) -> None:
    draft = a_draft(catalogue, aurora, bob)
    set_status(aurora, Verification.PENDING)
    client.force_login(bob)
    html = client.get(reverse("request-detail", args=[draft.pk])).content.decode()
    assert PENDING in html and reverse("request-submit", args=[draft.pk]) not in html
    assert reverse("request-edit", args=[draft.pk]) in html  # a pending tenant still drafts
    set_status(aurora, Verification.VERIFIED)
    html = client.get(reverse("request-detail", args=[draft.pk])).content.decode()
    assert PENDING not in html and reverse("request-submit", args=[draft.pk]) in html
