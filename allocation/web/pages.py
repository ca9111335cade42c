"""The landing pages: a user's dashboard and the public map of sites.

Thin: each view asks a selector and renders a template.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from allocation import selectors


@login_required
def home(request: HttpRequest) -> HttpResponse:
    context = {
        "memberships": selectors.memberships_of(user=request.user),
        "roles": selectors.global_roles(user=request.user),
        "totals": selectors.capacity_totals(),
    }
    return render(request, "allocation/home.html", context)


@login_required
def site_list(request: HttpRequest) -> HttpResponse:
    return render(request, "allocation/site_list.html", {"sites": selectors.sites_with_inventory()})
