"""Operator pages: announce, change and end maintenance; re-confirm, move or cancel bookings at risk.

Thin like every page here: who may is ``policies.is_operator`` (everyone else
gets a 403), every write is a call to ``allocation.services.maintenance``
(which keeps the ledger and tells the tenants), and a ``ServiceError`` goes
back on the form under the field it names.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from allocation import policies
from allocation.models import Booking, BookingStatus, MaintenanceWindow
from allocation.services import maintenance
from allocation.services.errors import NotAllowed, ServiceError
from allocation.web.forms import add_service_error
from allocation.web.maintenance_forms import MaintenanceForm, MoveForm

PAGE_SIZE = 25


def _operator(request: HttpRequest) -> None:
    if not policies.is_operator(request.user):
        raise PermissionDenied


def _told(request: HttpRequest, displaced: list[Booking]) -> None:
    if displaced:
        messages.warning(
            request,
            _("Put at risk, their organisations told: %(bookings)s.")
            % {"bookings": ", ".join(f"#{b.pk}" for b in displaced)},
        )


def _windows(show_past: bool) -> Any:
    windows = MaintenanceWindow.objects.select_related("inventory__gigafactory", "inventory__chip_type")
    return (windows if show_past else windows.filter(ends_at__gt=timezone.now())).order_by("starts_at", "pk")


@login_required
def maintenance_list(request: HttpRequest) -> HttpResponse:
    """The windows still to come or running (all with ``?past=1``), and the form to announce one."""
    _operator(request)
    form = MaintenanceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            window, displaced = maintenance.maintenance_announce(
                actor=request.user,
                inventory=data["inventory"],
                chips=data["chips"],
                starts_at=data["starts_at"],
                ends_at=data["ends_at"],
                reason=data["reason"],
            )
        except NotAllowed as refused:
            raise PermissionDenied from refused
        except ServiceError as refused:
            add_service_error(form, refused)
        else:
            messages.success(request, _("Maintenance on %(resource)s announced.") % {"resource": window.inventory})
            _told(request, displaced)
            return redirect("maintenance-list")
    show_past = bool(request.GET.get("past"))
    page = Paginator(_windows(show_past), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "allocation/operations/maintenance_list.html",
        {
            "form": form,
            "page": page,
            "show_past": show_past,
            "now": timezone.now(),
            "querystring": "past=1" if show_past else "",
            "at_risk": Booking.objects.filter(status=BookingStatus.AT_RISK).count(),
        },
        status=400 if form.errors else 200,
    )


@login_required
def maintenance_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One window: change its chips, times or reason, or end it."""
    _operator(request)
    window = get_object_or_404(
        MaintenanceWindow.objects.select_related("inventory__gigafactory", "inventory__chip_type"), pk=pk
    )
    initial = {"chips": window.chips, "starts_at": window.starts_at, "ends_at": window.ends_at, "reason": window.reason}
    form = MaintenanceForm(request.POST or None, initial=initial, change=True)
    if request.method == "POST" and form.is_valid():
        try:
            window, displaced = maintenance.maintenance_change(actor=request.user, window=window, **form.cleaned_data)
        except NotAllowed as refused:
            raise PermissionDenied from refused
        except ServiceError as refused:
            add_service_error(form, refused)
        else:
            messages.success(request, _("Maintenance changed."))
            _told(request, displaced)
            return redirect("maintenance-detail", pk=window.pk)
    return render(
        request,
        "allocation/operations/maintenance_detail.html",
        {
            "window": window,
            "form": form,
            "running": window.starts_at <= timezone.now() < window.ends_at,
            "over": window.ends_at <= timezone.now(),
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def maintenance_end_view(request: HttpRequest, pk: int) -> HttpResponse:
    _operator(request)
    window = get_object_or_404(MaintenanceWindow, pk=pk)
    try:
        ended = maintenance.maintenance_end(actor=request.user, window=window)
    except ServiceError as refused:
        messages.error(request, refused.message)
        return redirect("maintenance-detail", pk=pk)
    if ended.pk is None:
        messages.success(request, _("Maintenance cancelled: its chips are back in service."))
    else:
        messages.success(request, _("Maintenance ended: its chips are back in service from now on."))
    messages.info(request, _("Bookings it put at risk stay at risk until you re-confirm, move or cancel them."))
    return redirect("at-risk-list")


@login_required
def at_risk_list(request: HttpRequest) -> HttpResponse:
    """Every booking at risk, oldest start first, each with re-confirm, move and cancel."""
    _operator(request)
    bookings = (
        Booking.objects.filter(status=BookingStatus.AT_RISK)
        .select_related("tenant", "inventory__gigafactory", "inventory__chip_type", "period")
        .order_by("starts_at", "pk")
    )
    page = Paginator(bookings, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [(booking, MoveForm(booking=booking)) for booking in page]
    return render(request, "allocation/operations/at_risk.html", {"page": page, "rows": rows})


def _at_risk_booking(request: HttpRequest, pk: int) -> Booking:
    _operator(request)
    return get_object_or_404(Booking.objects.select_related("inventory__chip_type", "inventory__gigafactory"), pk=pk)


def _refused(request: HttpRequest, booking: Booking, refused: ServiceError) -> HttpResponse:
    messages.error(request, _("Booking %(id)s: %(reason)s") % {"id": booking.pk, "reason": refused.message})
    return redirect("at-risk-list")


@login_required
@require_POST
def at_risk_reconfirm(request: HttpRequest, pk: int) -> HttpResponse:
    booking = _at_risk_booking(request, pk)
    try:
        maintenance.booking_at_risk_resolve(actor=request.user, booking=booking)
    except ServiceError as refused:
        return _refused(request, booking, refused)
    messages.success(request, _("Booking %(id)s is confirmed again; its organisation was told.") % {"id": pk})
    return redirect("at-risk-list")


@login_required
@require_POST
def at_risk_move(request: HttpRequest, pk: int) -> HttpResponse:
    booking = _at_risk_booking(request, pk)
    form = MoveForm(request.POST, booking=booking)
    if not form.is_valid():
        errors = "; ".join(str(e) for field_errors in form.errors.values() for e in field_errors)
        messages.error(request, _("Booking %(id)s: %(reason)s") % {"id": pk, "reason": errors})
        return redirect("at-risk-list")
    try:
        moved = maintenance.booking_at_risk_move(
            actor=request.user, booking=booking, inventory=form.resource(), starts_at=form.cleaned_data["starts_at"]
        )
    except ServiceError as refused:
        return _refused(request, booking, refused)
    messages.success(
        request,
        _("Booking %(id)s moved to %(resource)s from %(start)s UTC and confirmed; its organisation was told.")
        % {"id": pk, "resource": moved.inventory, "start": f"{moved.starts_at:%Y-%m-%d %H:00}"},
    )
    return redirect("at-risk-list")


@login_required
@require_POST
def at_risk_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    booking = _at_risk_booking(request, pk)
    try:
        maintenance.booking_at_risk_cancel(actor=request.user, booking=booking)
    except ServiceError as refused:
        return _refused(request, booking, refused)
    messages.success(request, _("Booking %(id)s cancelled; its organisation was told.") % {"id": pk})
    return redirect("at-risk-list")
