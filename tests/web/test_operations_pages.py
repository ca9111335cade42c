"""Site bookings: the operators' page of every organisation's bookings.

oscar is a site operator; alice (Aurora Lab) and mallory (Nimbus AI) are
tenants' people, for whom the page is a 403 and the menu has no link.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from allocation.models import BookingStatus
from tests.web.test_booking_pages import make_bookings

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
URL = reverse("operations-bookings")


@pytest.mark.parametrize("persona", ["alice", "mallory"])
def test_site_bookings_are_403_for_tenants_people_and_not_in_their_menu(client, funded, request, persona):
    client.force_login(request.getfixturevalue(persona))

    assert client.get(URL).status_code == 403
    assert URL not in client.get(reverse("booking-list")).content.decode()


def test_an_operator_sees_every_organisations_bookings_with_counts_per_state(
    client, funded, aurora, alice, nimbus, mallory, oscar
):
    make_bookings(funded, aurora, alice, 7)
    make_bookings(funded, nimbus, mallory, 7)
    client.force_login(oscar)

    response = client.get(URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert {b.tenant for b in response.context["page"]} == {aurora, nimbus}
    assert len(response.context["page"]) == 14
    assert f'href="{URL}"' in html  # the menu links here
    counts = {value: n for value, _label, n in response.context["states"]}
    assert counts[BookingStatus.AT_RISK] == 2 and sum(counts.values()) == 14
    assert "2 bookings are at risk: maintenance took chips they hold." in html
    assert '<a href="?status=at_risk">Show them</a>' in html


def test_site_bookings_filter_by_organisation_state_and_site(client, funded, aurora, alice, nimbus, mallory, oscar):
    make_bookings(funded, aurora, alice, 14)
    make_bookings(funded, nimbus, mallory, 7)
    client.force_login(oscar)

    nimbus_only = client.get(URL, {"tenant": "nimbus"})
    at_risk = client.get(URL, {"status": "at_risk"}).context["page"]
    at_lux = client.get(URL, {"site": funded.lux.pk, "tenant": "Aurora"}).context["page"]

    assert {b.tenant for b in nimbus_only.context["page"]} == {nimbus}
    assert (
        '<a href="?tenant=nimbus&amp;status=at_risk">Show them</a>'
        in client.get(URL, {"tenant": "nimbus", "status": "confirmed"}).content.decode()
    )  # keeps the other filters, once
    assert sum(n for _v, _l, n in nimbus_only.context["states"]) == 7  # the counts follow the filters
    assert {b.status for b in at_risk} == {BookingStatus.AT_RISK} and len(at_risk) == 3
    assert at_lux.object_list and {b.tenant for b in at_lux} == {aurora}
    for b in at_lux:
        assert (b.inventory == funded.lux_h100) or (b.inventory is None and funded.lux_h100 in b.eligible.all())


def test_a_bad_filter_is_a_form_error_not_a_500(client, funded, oscar):
    client.force_login(oscar)

    response = client.get(URL, {"status": "exploded", "site": "not-a-site"})

    assert response.status_code == 200
    assert set(response.context["filter_form"].errors) == {"status", "site"}


@pytest.mark.parametrize("n", [5, 60])
def test_site_bookings_run_a_bounded_number_of_queries(
    client, funded, aurora, alice, oscar, django_assert_max_num_queries, n
):
    make_bookings(funded, aurora, alice, n)
    client.force_login(oscar)

    with django_assert_max_num_queries(11):  # session, user, role, nav, filters, counts, count, page, prefetch
        response = client.get(URL)

    assert len(response.context["page"]) == min(n, 25)
