"""The tenant's pages through Django's test client: my requests, a draft, one request, settings.

Personas (tests/conftest.py): alice is a member of Aurora Lab, bob its PI,
mallory the PI of Nimbus AI, who must never see Aurora's requests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse

from allocation.models import AllocationPeriod, AllocationRequest, NotificationSettings, RequestStatus
from allocation.services.requests import content_from_ids, request_create, request_submit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]


def draft(catalogue: Any, tenant: Any, actor: Any, **overrides: Any) -> AllocationRequest:
    fields = {
        "title": "Protein folding at scale",
        "chip_type_id": catalogue.h100.pk,
        "demand_gpu_hours": 10_000.0,
        "site_ids": [catalogue.muc.pk],
        "chip_type_ids": [],
        "abstract": "Folding proteins.",
        "justification": "Because.",
        "expected_outputs": "A paper.",
    }
    fields.update(overrides)
    return request_create(actor=actor, tenant=tenant, period=catalogue.period, content=content_from_ids(**fields))


def form_data(catalogue: Any, tenant: Any, **overrides: Any) -> dict[str, Any]:
    data = {
        "tenant": tenant.pk,
        "period": catalogue.period.pk,
        "title": "LLM pretraining",
        "abstract": "A 7B model for EU languages.",
        "chip_type": catalogue.b200.pk,
        "demand_gpu_hours": "4000",
        "eligible_sites": [catalogue.muc.pk],
        "eligible_chip_types": [catalogue.b200.pk],
        "justification": "Open weights.",
        "expected_outputs": "A model.",
    }
    data.update(overrides)
    return data


# --- my requests ---------------------------------------------------------------


def test_my_requests_lists_the_tenants_requests_with_status_badges(
    client, catalogue, aurora, alice, bob, nimbus, mallory
):
    submitted = draft(catalogue, aurora, bob, title="Submitted one")
    request_submit(actor=bob, request=submitted)
    draft(catalogue, aurora, alice, title="Alice's draft")
    draft(catalogue, nimbus, mallory, title="Nimbus secret")
    client.force_login(alice)

    response = client.get(reverse("request-list"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Alice&#x27;s draft" in html and "Submitted one" in html
    assert "Nimbus secret" not in html
    assert '<span class="badge status-submitted">Submitted</span>' in html
    assert '<span class="badge status-draft">Draft</span>' in html


def test_my_requests_is_paginated_by_25(client, catalogue, aurora, alice):
    first = draft(catalogue, aurora, alice, title="Template")
    AllocationRequest.objects.bulk_create(
        [
            AllocationRequest(
                period=catalogue.period,
                tenant=aurora,
                created_by=alice,
                title=f"Bulk {i}",
                chip_type=catalogue.h100,
                demand_gpu_hours=1,
                demand_normalized_hours=1,
            )
            for i in range(29)
        ]
    )
    client.force_login(alice)

    one = client.get(reverse("request-list"))
    two = client.get(reverse("request-list"), {"page": 2})

    assert len(one.context["page"].object_list) == 25
    assert len(two.context["page"].object_list) == 5
    assert "Page 2 of 2" in two.content.decode()
    assert first.title in two.content.decode()


def test_my_requests_needs_a_login(client, catalogue):
    response = client.get(reverse("request-list"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- a new draft ---------------------------------------------------------------------


def test_new_request_form_offers_only_the_users_tenants_and_open_periods(client, catalogue, aurora, alice, nimbus):
    AllocationPeriod.objects.create(
        name="2026 Q4",
        slug="2026-q4",
        status="closed",
        starts_at=datetime(2026, 10, 1, tzinfo=UTC),
        ends_at=datetime(2026, 12, 31, tzinfo=UTC),
        request_deadline=datetime(2026, 9, 1, tzinfo=UTC),
    )
    client.force_login(alice)

    response = client.get(reverse("request-create"))

    form = response.context["form"]
    assert response.status_code == 200
    assert list(form.fields["tenant"].queryset) == [aurora]
    assert list(form.fields["period"].queryset) == [catalogue.period]
    html = response.content.decode()
    # The live "= N normalized hours" reads each chip's throughput from its option.
    assert f'<option value="{catalogue.b200.pk}" data-throughput="2.5">' in html
    assert 'id="normalized"' in html


def test_new_request_saves_a_draft_with_normalized_demand(client, catalogue, aurora, alice):
    client.force_login(alice)

    response = client.post(reverse("request-create"), form_data(catalogue, aurora))

    created = AllocationRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("request-detail", args=[created.pk])
    assert created.status == RequestStatus.DRAFT
    assert created.tenant == aurora and created.created_by == alice
    assert created.demand_normalized_hours == pytest.approx(10_000.0)  # 4000 GPU-h x 2.5
    assert list(created.eligible_sites.all()) == [catalogue.muc]
    assert list(created.eligible_chip_types.all()) == [catalogue.b200]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"demand_gpu_hours": "-5"}, "demand_gpu_hours", "positive number of GPU-hours"),
        ({"demand_gpu_hours": "0"}, "demand_gpu_hours", "positive number of GPU-hours"),
        ({"demand_gpu_hours": "lots"}, "demand_gpu_hours", "Enter a number"),
        ({"demand_gpu_hours": "1e12"}, "demand_gpu_hours", "more than the acceptable resources can deliver"),
        # L-AI Factory has only H100s.
        (
            {"eligible_sites": ["lux"], "eligible_chip_types": ["b200"]},
            "eligible_chip_types",
            "is not installed at L-AI Factory",
        ),
        (
            {"eligible_sites": ["lux"], "eligible_chip_types": [], "chip_type": "b200"},
            "chip_type",
            "is not among the acceptable sites",
        ),
        ({"title": "   "}, "title", "This field is required"),
    ],
)
def test_bad_input_names_the_field_and_creates_nothing(client, catalogue, aurora, alice, overrides, field, message):
    ids = {"lux": catalogue.lux.pk, "b200": catalogue.b200.pk}
    resolved = {k: ([ids[x] for x in v] if isinstance(v, list) else ids.get(v, v)) for k, v in overrides.items()}
    client.force_login(alice)

    response = client.post(reverse("request-create"), form_data(catalogue, aurora, **resolved))

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field], errors
    assert message in " ".join(errors[field])
    assert message.split(" ")[0] in response.content.decode()
    assert AllocationRequest.objects.count() == 0


def test_a_closed_period_is_refused_on_the_period_field(client, catalogue, aurora, alice):
    closed = AllocationPeriod.objects.create(
        name="2026 Q4",
        slug="2026-q4",
        status="closed",
        starts_at=datetime(2026, 10, 1, tzinfo=UTC),
        ends_at=datetime(2026, 12, 31, tzinfo=UTC),
        request_deadline=datetime(2026, 9, 1, tzinfo=UTC),
    )
    client.force_login(alice)

    response = client.post(reverse("request-create"), form_data(catalogue, aurora, period=closed.pk))

    assert list(response.context["form"].errors) == ["period"]
    assert AllocationRequest.objects.count() == 0


def test_a_period_past_its_deadline_is_refused_on_the_period_field(client, catalogue, aurora, alice):
    late = catalogue.period
    late.request_deadline = datetime.now(UTC) - timedelta(days=1)
    late.save()
    client.force_login(alice)

    response = client.post(reverse("request-create"), form_data(catalogue, aurora))

    assert list(response.context["form"].errors) == ["period"]
    assert AllocationRequest.objects.count() == 0


def test_another_tenant_cannot_be_chosen(client, catalogue, aurora, nimbus, alice):
    client.force_login(alice)

    response = client.post(reverse("request-create"), form_data(catalogue, nimbus))

    assert list(response.context["form"].errors) == ["tenant"]
    assert AllocationRequest.objects.count() == 0


# --- one request -------------------------------------------------------------------------


def test_request_page_shows_state_and_the_right_buttons(client, catalogue, aurora, alice, bob):
    req = draft(catalogue, aurora, alice)
    client.force_login(alice)

    as_alice = client.get(reverse("request-detail", args=[req.pk]))
    client.force_login(bob)
    as_bob = client.get(reverse("request-detail", args=[req.pk]))

    assert as_alice.status_code == as_bob.status_code == 200
    assert as_alice.context["can_edit"] and not as_alice.context["can_submit"] and as_alice.context["can_withdraw"]
    assert as_bob.context["can_submit"]
    assert reverse("request-submit", args=[req.pk]) not in as_alice.content.decode()
    assert reverse("request-submit", args=[req.pk]) in as_bob.content.decode()
    html = as_bob.content.decode()
    assert "Protein folding at scale" in html and "Drafted" in html and "10,000" in html


def test_mallory_gets_404_on_aurora_request_and_its_actions(client, catalogue, aurora, alice, mallory):
    req = draft(catalogue, aurora, alice)
    client.force_login(mallory)

    assert client.get(reverse("request-detail", args=[req.pk])).status_code == 404
    assert client.get(reverse("request-edit", args=[req.pk])).status_code == 404
    assert client.post(reverse("request-edit", args=[req.pk]), {"title": "pwned"}).status_code == 404
    assert client.post(reverse("request-submit", args=[req.pk])).status_code == 404
    assert client.post(reverse("request-withdraw", args=[req.pk])).status_code == 404
    req.refresh_from_db()
    assert req.status == RequestStatus.DRAFT and req.title == "Protein folding at scale"


def test_a_missing_request_is_the_same_404(client, catalogue, mallory):
    client.force_login(mallory)

    assert client.get(reverse("request-detail", args=[987654])).status_code == 404


def test_alice_cannot_submit(client, catalogue, aurora, alice):
    req = draft(catalogue, aurora, alice)
    client.force_login(alice)

    response = client.post(reverse("request-submit", args=[req.pk]))

    assert response.status_code == 403
    req.refresh_from_db()
    assert req.status == RequestStatus.DRAFT


def test_the_pi_submits_and_the_request_becomes_read_only(
    client, catalogue, aurora, alice, bob, mailoutbox, django_capture_on_commit_callbacks
):
    req = draft(catalogue, aurora, alice)
    client.force_login(bob)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("request-submit", args=[req.pk]), follow=True)

    req.refresh_from_db()
    assert req.status == RequestStatus.SUBMITTED
    html = response.content.decode()
    assert "Submitted. The allocation committee will review it." in html
    assert "Submitted requests are read-only." in html
    assert reverse("request-edit", args=[req.pk]) not in html
    assert "Submitted to the committee" in html
    assert {m.to[0] for m in mailoutbox} == {"alice@example.eu", "bob@example.eu"}
    # Editing afterwards is refused and changes nothing.
    client.force_login(alice)
    edit = client.post(reverse("request-edit", args=[req.pk]), {"title": "Changed"}, follow=True)
    assert "read-only once it has been submitted" in edit.content.decode()
    req.refresh_from_db()
    assert req.title == "Protein folding at scale"


def test_submitting_twice_shows_the_refusal(client, catalogue, aurora, bob):
    req = draft(catalogue, aurora, bob)
    request_submit(actor=bob, request=req)
    client.force_login(bob)

    response = client.post(reverse("request-submit", args=[req.pk]), follow=True)

    assert "A submitted request cannot become submitted." in response.content.decode()


def test_a_member_edits_a_draft(client, catalogue, aurora, alice):
    req = draft(catalogue, aurora, alice)
    client.force_login(alice)

    page = client.get(reverse("request-edit", args=[req.pk]))
    data = {**form_data(catalogue, aurora), "title": "Protein folding, revised", "demand_gpu_hours": "2000"}
    response = client.post(reverse("request-edit", args=[req.pk]), data)

    assert page.status_code == 200
    assert page.context["form"].initial["title"] == "Protein folding at scale"
    assert response.status_code == 302
    req.refresh_from_db()
    assert req.title == "Protein folding, revised"
    assert req.demand_normalized_hours == pytest.approx(5000.0)


def test_an_edit_with_bad_input_keeps_the_draft(client, catalogue, aurora, alice):
    req = draft(catalogue, aurora, alice)
    client.force_login(alice)

    response = client.post(
        reverse("request-edit", args=[req.pk]), {**form_data(catalogue, aurora), "demand_gpu_hours": "-1"}
    )

    assert list(response.context["form"].errors) == ["demand_gpu_hours"]
    req.refresh_from_db()
    assert req.demand_gpu_hours == 10_000.0


def test_a_member_withdraws(client, catalogue, aurora, alice):
    req = draft(catalogue, aurora, alice)
    client.force_login(alice)

    response = client.post(reverse("request-withdraw", args=[req.pk]), follow=True)

    req.refresh_from_db()
    assert req.status == RequestStatus.WITHDRAWN
    assert "Withdrawn." in response.content.decode()
    assert response.context["can_withdraw"] is False


def test_actions_only_accept_post(client, catalogue, aurora, bob):
    req = draft(catalogue, aurora, bob)
    client.force_login(bob)

    assert client.get(reverse("request-submit", args=[req.pk])).status_code == 405
    assert client.get(reverse("request-withdraw", args=[req.pk])).status_code == 405


# --- settings -------------------------------------------------------------------------------


def test_settings_switch_email_off_and_on(client, alice):
    client.force_login(alice)

    page = client.get(reverse("settings"))
    off = client.post(reverse("settings"), {}, follow=True)
    stored_off = NotificationSettings.objects.get(user=alice).email_enabled
    on = client.post(reverse("settings"), {"email_enabled": "on"}, follow=True)

    assert page.status_code == 200 and page.context["form"].initial["email_enabled"] is True
    assert stored_off is False
    assert "E-mail notifications are off." in off.content.decode()
    assert off.context["form"].initial["email_enabled"] is False
    assert NotificationSettings.objects.get(user=alice).email_enabled is True
    assert "E-mail notifications are on." in on.content.decode()


def test_nav_links_reach_the_new_pages(client, alice, carol):
    client.force_login(alice)
    html = client.get(reverse("home")).content.decode()
    assert reverse("request-list") in html and reverse("settings") in html
    assert reverse("committee-home") not in html

    client.force_login(carol)
    assert client.get(reverse("home")).content.decode().count(f'href="{reverse("committee-home")}"') == 1
