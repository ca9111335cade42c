"""Site operations: every booking at the sites, for site operators.

Thin like every page here: who may look is ``policies.is_operator``, what is
listed and counted comes from selectors, and cancelling goes through the same
view (and service) as a member's cancel. Tenants' people get a 403.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode

from allocation import policies, selectors
from allocation.models import BookingStatus
from allocation.web.booking_forms import OperatorBookingFilterForm, resources
from allocation.web.bookings import PAGE_SIZE


@login_required
def operations_bookings(request: HttpRequest) -> HttpResponse:
    if not policies.is_operator(request.user):
        raise PermissionDenied
    filter_form = OperatorBookingFilterForm(request.GET or None)
    filters: dict[str, Any] = filter_form.filters() if request.GET else {}
    everything = selectors.bookings_visible_to(user=request.user)
    bookings = selectors.bookings_filtered(
        everything, status=filters.get("status"), site=filters.get("site"), tenant_name=filters.get("tenant") or ""
    )
    # The states of what the filters leave, before filtering by state: the counts tell an operator
    # how much is at risk or queued at a site without paging through it.
    counts = selectors.bookings_by_state(
        selectors.bookings_filtered(everything, site=filters.get("site"), tenant_name=filters.get("tenant") or "")
    )
    page = Paginator(
        bookings.prefetch_related(Prefetch("eligible", queryset=resources())).order_by("-submitted_at", "-pk"),
        PAGE_SIZE,
    ).get_page(request.GET.get("page"))
    querystring = urlencode([(k, str(v)) for k, v in request.GET.items() if k != "page" and v])
    show_at_risk = urlencode(
        [
            *((k, str(v)) for k, v in request.GET.items() if k not in ("page", "status") and v),
            ("status", BookingStatus.AT_RISK),
        ]
    )
    states = [(value, label, counts.get(value, 0)) for value, label in BookingStatus.choices]
    return render(
        request,
        "allocation/bookings/operations.html",
        {
            "page": page,
            "filter_form": filter_form,
            "querystring": querystring,
            "states": states,
            "at_risk": counts.get(BookingStatus.AT_RISK, 0),
            "show_at_risk": show_at_risk,
            # An operator may cancel any booking, so a row asks only the state (no query per row).
            "cancellable": policies.BOOKING_CANCELLABLE,
            "next": request.get_full_path(),
        },
    )
