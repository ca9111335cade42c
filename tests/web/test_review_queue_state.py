"""The review queue keeps its filters and page across a decision (issue 11, item 14).

The queue holds 52 SME requests and 3 from a research lab; filtered to SMEs
it has two pages of 50, and the committee works on page 2. A decision the
form refuses re-renders that page with the error beside the request and
decides nothing; a valid one returns to the same filters and page.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from allocation.models import AllocationRequest, AuditEvent, RequestStatus
from allocation.services.requests import content_from_ids, request_create, request_submit
from tests.factories import TenantFactory, member

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]

SMES = 52


def submitted(catalogue: Any, tenant: Any, pi: Any, title: str) -> AllocationRequest:
    req = request_create(
        actor=pi,
        tenant=tenant,
        period=catalogue.period,
        content=content_from_ids(title=title, chip_type_id=catalogue.h100.pk, demand_gpu_hours=1_000.0),
    )
    return request_submit(actor=pi, request=req)


@pytest.fixture
def queue(catalogue: Any, aurora: Any, bob: Any) -> dict[str, Any]:
    """The SME requests in queue order, and the URL of the SMEs' second page."""
    sme = TenantFactory(name="Delta SME", kind="sme", pool=catalogue.public_pool)
    pi = member("delta-pi", sme, role="pi")
    smes = [submitted(catalogue, sme, pi, f"SME request {i:02}") for i in range(SMES)]
    for i in range(3):
        submitted(catalogue, aurora, bob, f"Lab request {i}")
    url = reverse("review-queue", args=[catalogue.period.slug])
    return {"smes": smes, "url": url, "page2": f"{url}?kind=sme&page=2"}


def card(html: str, pk: int) -> str:
    """The request's card on the page: its title, its decision form and that form's errors."""
    found = re.search(rf'<article class="card review" id="request-{pk}">(.*?)</article>', html, re.S)
    assert found, f"request {pk} is not on the page"
    return found.group(1)


def decide(pk: int, decision: str, amount: str = "", reason: str = "", **extra: str) -> dict[str, str]:
    return {f"r{pk}-decision": decision, f"r{pk}-accepted_normalized_hours": amount, f"r{pk}-reason": reason, **extra}


def test_the_queues_page_posts_its_filters_and_page_with_each_decision(client, queue, carol):
    client.force_login(carol)

    html = client.get(queue["page2"]).content.decode()

    target = queue["smes"][50]
    assert f'name="next" value="{queue["url"]}?kind=sme&amp;page=2"' in card(html, target.pk)
    assert f'action="{reverse("request-decide", args=[target.pk])}#request-{target.pk}"' in html


def test_a_refused_decision_returns_the_same_filtered_page_with_the_error_beside_the_request(client, queue, carol):
    target = queue["smes"][51]  # on page 2 of the SMEs
    client.force_login(carol)

    response = client.post(
        reverse("request-decide", args=[target.pk]),
        decide(target.pk, "reduce", "", "Too big for the pilot.", next=queue["page2"]),
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert response.context["page"].number == 2
    assert response.context["filter_form"].cleaned_data["kind"] == "sme"
    assert [req.pk for req, _ in response.context["rows"]] == [r.pk for r in queue["smes"][50:]]
    assert "Give the reduced amount." in card(html, target.pk)
    assert "Give the reduced amount." not in card(html, queue["smes"][50].pk)
    assert "Too big for the pilot." in card(html, target.pk)  # what was typed is kept
    assert "The decision on “SME request 51” was not recorded" in html
    # The links on the page lead back to the queue with the filter, not to the decide URL.
    assert f'action="{queue["url"]}" class="card filters"' in html
    assert f'href="{queue["url"]}?kind=sme&amp;page=1" rel="prev"' in html
    assert f'name="next" value="{queue["url"]}?kind=sme&amp;page=2"' in html
    target.refresh_from_db()
    assert target.status == RequestStatus.SUBMITTED
    assert not AuditEvent.objects.filter(action__in=["request.accepted", "request.rejected"]).exists()


def test_a_valid_decision_returns_to_the_same_filters_and_page(client, queue, carol):
    target = queue["smes"][50]
    client.force_login(carol)

    response = client.post(
        reverse("request-decide", args=[target.pk]),
        decide(target.pk, "reduce", "500", "Scaled to the pilot.", next=queue["page2"]),
    )
    followed = client.get(response["Location"])

    assert response.status_code == 302 and response["Location"] == queue["page2"]
    target.refresh_from_db()
    assert target.status == RequestStatus.ACCEPTED and target.accepted_normalized_hours == pytest.approx(500)
    assert followed.context["page"].number == 2
    assert [req.pk for req, _ in followed.context["rows"]] == [queue["smes"][51].pk]
    assert "Decision on “SME request 50” recorded." in followed.content.decode()


def test_a_request_decided_meanwhile_still_shows_its_error(client, queue, carol):
    target = queue["smes"][0]
    client.force_login(carol)
    client.post(reverse("request-decide", args=[target.pk]), decide(target.pk, "accept", next=queue["page2"]))

    again = client.post(
        reverse("request-decide", args=[target.pk]),
        decide(target.pk, "reject", "", "Changed our mind.", next=queue["page2"]),
    )

    assert again.status_code == 400
    assert again.context["page"].number == 2
    assert "cannot become rejected" in card(again.content.decode(), target.pk)
    target.refresh_from_db()
    assert target.status == RequestStatus.ACCEPTED


@pytest.mark.parametrize("next_url", ["https://evil.example/review/?kind=sme&page=2", "//evil.example/", ""])
def test_a_next_off_this_site_falls_back_to_the_plain_queue(client, queue, carol, next_url):
    refused, accepted = queue["smes"][51], queue["smes"][50]
    client.force_login(carol)

    bad = client.post(reverse("request-decide", args=[refused.pk]), decide(refused.pk, "reduce", next=next_url))
    good = client.post(reverse("request-decide", args=[accepted.pk]), decide(accepted.pk, "accept", next=next_url))

    assert bad.status_code == 400 and bad.context["page"].number == 1
    assert "Give the reduced amount." in card(bad.content.decode(), refused.pk)  # shown although not on page 1
    assert "evil.example" not in bad.content.decode()
    assert good.status_code == 302 and good["Location"] == queue["url"]
