"""The booking pages: book chips (fixed or flexible), the live availability
preview, my bookings, one booking, cancel, and a resource's timeline.

Thin: parse a form, call a booking service, redirect with a message. A
booking outside the user's tenants is a 404 (ids never leak); a service's
``NotAllowed`` is a 403; a ``ServiceError`` goes back on the form under the
field it is about (a capacity refusal under the start, with the earliest
start that fits). The ledger and quota figures shown are read through
``allocation.selectors`` (its ``ledger`` module); nothing here decides whether a booking fits.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from allocation import policies, selectors, validators
from allocation.fairshare.factor import factor_text
from allocation.models import (
    Booking,
    BookingStatus,
    Inventory,
    TenantKind,
)
from allocation.services import ledger
from allocation.services.bookings import MAX_HOURS, booking_cancel, booking_fixed_create, booking_flexible_create
from allocation.services.errors import Conflict, NotAllowed, ServiceError
from allocation.services.maintenance import booking_at_risk_cancel
from allocation.web import timeline
from allocation.web.booking_forms import (
    AvailabilityForm,
    BookingFilterForm,
    FixedBookingForm,
    FlexibleBookingForm,
    resources,
)

PAGE_SIZE = 25
HISTORY_LABELS = {
    "booking.confirmed": gettext_lazy("Booked and confirmed"),
    "booking.queued": gettext_lazy("Queued for the booking round"),
    "booking.placed": gettext_lazy("Placed by the booking round"),
    "booking.active": gettext_lazy("Started"),
    "booking.completed": gettext_lazy("Completed"),
    "booking.expired": gettext_lazy("Expired: its window ended before it could be placed"),
    "booking.cancelled": gettext_lazy("Cancelled"),
    "booking.at_risk": gettext_lazy("At risk: maintenance took chips it holds"),
    "booking.resolved": gettext_lazy("Confirmed again: its chips are back in service"),
    "booking.moved": gettext_lazy("Moved by a site operator and confirmed"),
}
TIMELINE_DAYS = 7
TIMELINE_MAX_DAYS = 92
OWN_BOOKINGS_SHOWN = 12


def _get_visible(request: HttpRequest, pk: int) -> Booking:
    return get_object_or_404(selectors.bookings_visible_to(user=request.user), pk=pk)


# --- book chips -------------------------------------------------------------------


def _fixed_error(form: FixedBookingForm, error: ServiceError) -> str | None:
    """Put a refusal under its field; returns the earliest start that fits, for a capacity refusal."""
    if isinstance(error, Conflict) and error.field == "capacity":
        data = form.cleaned_data
        free = selectors.free_chips(inventory=data["inventory"], start=data["starts_at"], hours=data["hours"])
        earliest = error.extra.get("earliest_start")
        when = datetime.fromisoformat(earliest) if isinstance(earliest, str) else None
        if when is not None:
            message = _(
                "Only %(free)s chips are free in some hour of that slot; the earliest start that fits is %(when)s UTC."
            ) % {"free": f"{min(free):,}", "when": f"{when:%Y-%m-%d %H:00}"}
        else:
            message = _(
                "Only %(free)s chips are free in some hour of that slot, and no start in the next 90 days fits."
            ) % {"free": f"{min(free):,}"}
        form.add_error("starts_at", message)
        return f"{when:%Y-%m-%dT%H:%M}" if when else None
    form.add_error(error.field if error.field in form.fields else None, error.message)
    return None


def _book_page(
    request: HttpRequest, form: Any, mode: str, *, fresh_key: str, earliest: str | None = None, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "allocation/bookings/book.html",
        {
            "form": form,
            "mode": mode,
            "fresh_key": fresh_key,
            "earliest": earliest,
            "max_hours": MAX_HOURS,
        },
        status=status,
    )


@login_required
def booking_new(request: HttpRequest) -> HttpResponse:
    """A fixed booking: confirmed at once or refused with the reason."""
    if request.method != "POST":
        initial = {"starts_at": ledger.floor_hour(timezone.now()) + timedelta(hours=1), "hours": 8, "chips": 8}
        resource = request.GET.get("resource", "")
        if resource.isascii() and resource.isdigit():  # isdigit() alone also takes "¹3", which int() refuses
            initial["inventory"] = int(resource)
        form = FixedBookingForm(user=request.user, initial=initial)
        return _book_page(request, form, "fixed", fresh_key=form.initial["idempotency_key"])
    form = FixedBookingForm(request.POST, user=request.user)
    earliest = None
    if form.is_valid():
        data = form.cleaned_data
        try:
            booking, created = booking_fixed_create(
                actor=request.user,
                tenant=data["tenant"],
                inventory=data["inventory"],
                starts_at=data["starts_at"],
                hours=data["hours"],
                chips=data["chips"],
                idempotency_key=data["idempotency_key"] or None,
            )
        except NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc
        except ServiceError as exc:
            earliest = _fixed_error(form, exc)
        else:
            if created:
                messages.success(
                    request,
                    _("Booked: %(chips)s chips for %(hours)s hours from %(start)s UTC.")
                    % {
                        "chips": f"{booking.chips:,}",
                        "hours": booking.hours,
                        "start": f"{booking.starts_at:%Y-%m-%d %H:00}",
                    },
                )
            return redirect("booking-detail", pk=booking.pk)
    # Nothing was stored under the old key; a fresh one keeps a retry with other values from clashing.
    return _book_page(request, form, "fixed", fresh_key=uuid.uuid4().hex, earliest=earliest)


@login_required
def booking_new_flexible(request: HttpRequest) -> HttpResponse:
    """A flexible booking: queued as pending for the booking round."""
    if request.method != "POST":
        now = ledger.floor_hour(timezone.now())
        form = FlexibleBookingForm(
            user=request.user,
            initial={
                "earliest_start": now + timedelta(hours=1),
                "latest_end": now + timedelta(days=7, hours=1),
                "hours": 8,
                "chips": 8,
            },
        )
        return _book_page(request, form, "flexible", fresh_key=form.initial["idempotency_key"])
    form = FlexibleBookingForm(request.POST, user=request.user)
    if form.is_valid():
        data = form.cleaned_data
        try:
            booking, created = booking_flexible_create(
                actor=request.user,
                tenant=data["tenant"],
                eligible=list(data["eligible"]),
                earliest_start=data["earliest_start"],
                latest_end=data["latest_end"],
                hours=data["hours"],
                chips=data["chips"],
                idempotency_key=data["idempotency_key"] or None,
            )
        except NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            if created:
                messages.success(
                    request,
                    _(
                        "Queued. The booking round places flexible bookings every few minutes, "
                        "fairest-first; this page shows where and when once it is placed."
                    ),
                )
            return redirect("booking-detail", pk=booking.pk)
    return _book_page(request, form, "flexible", fresh_key=uuid.uuid4().hex)


@login_required
@require_GET
def booking_availability(request: HttpRequest) -> HttpResponse:
    """The htmx fragment under the fixed form: free chips per hour, cost against quota."""
    form = AvailabilityForm(request.GET)
    data = form.cleaned_data if form.is_valid() else {}
    # A start outside the calendar is said, not drawn; other half-typed values just wait for more input.
    context: dict[str, Any] = {"ready": False, "errors": form.errors.get("starts_at", [])}
    inventory, starts_at, hours = data.get("inventory"), data.get("starts_at"), data.get("hours")
    chips = data.get("chips")
    if inventory is not None and starts_at is not None and hours:
        start = ledger.floor_hour(starts_at)
        shown = min(hours, MAX_HOURS)
        free = selectors.free_chips(inventory=inventory, start=start, hours=shown)
        bars = timeline.strip_bars(free, start=start)
        short = sum(1 for f in free if chips and f < chips)
        context.update(
            {
                "ready": True,
                "inventory": inventory,
                "start": start,
                "end": start + shown * ledger.HOUR,
                "hours": shown,
                "chips": chips,
                "min_free": min(free),
                "max_free": max(free),
                "short_hours": short,
                "bar_hours": bars[0].hours if bars else 1,
                "off_the_hour": start != starts_at,
                "strip": timeline.render_strip_svg(
                    bars,
                    chips=chips,
                    ceiling=inventory.chips_in_service,
                    title=_("Free chips per hour on %(resource)s")
                    % {"resource": f"{inventory.gigafactory.name} · {inventory.chip_type}"},
                    tip=_("{when}: {free} free"),
                ),
                "timeline_url": reverse(
                    "resource-timeline", args=[inventory.gigafactory.slug, inventory.chip_type.slug]
                )
                + "?"
                + urlencode(
                    {"start": f"{start:%Y-%m-%d}", "days": str(max(1, min(TIMELINE_MAX_DAYS, shown // 24 + 2)))}
                ),
            }
        )
        if chips and short and chips <= inventory.chips_in_service:
            context["earliest"] = selectors.earliest_fit(inventory=inventory, chips=chips, hours=shown, after=start)
        if chips:
            context["cost"] = chips * shown * inventory.chip_type.throughput
            tenant_id = data.get("tenant")
            if tenant_id and selectors.tenants_of(user=request.user).filter(pk=tenant_id).exists():
                period = selectors.period_at(start)
                context["period"], context["checked_period"] = period, True
                if period is not None:
                    context["quota"] = selectors.quota_summary(
                        tenant_id=tenant_id, period=period, inventory_id=inventory.pk
                    )
    return render(request, "allocation/bookings/_availability.html", context)


# --- my bookings --------------------------------------------------------------------


@login_required
def booking_list(request: HttpRequest) -> HttpResponse:
    filter_form = BookingFilterForm(request.GET or None)
    filters = filter_form.filters() if request.GET else {}
    # "My bookings": the user's own tenants' bookings, even for an operator who may see all.
    bookings = (
        selectors.bookings_visible_to(user=request.user)
        .filter(tenant__in=selectors.tenants_of(user=request.user).values("pk"))
        .prefetch_related(Prefetch("eligible", queryset=resources()))
    )
    bookings = selectors.bookings_filtered(bookings, status=filters.get("status"), site=filters.get("site"))
    page = Paginator(bookings.order_by("-submitted_at", "-pk"), PAGE_SIZE).get_page(request.GET.get("page"))
    tenants = list(selectors.tenants_of(user=request.user).order_by("name"))
    exponents = selectors.fair_share_exponents_by_tenant(now=timezone.now()) if tenants else {}
    for tenant in tenants:
        # Six significant digits, also for an F below the smallest float (a plain 2-decimal F read 0.00).
        x = exponents.get(tenant.pk)
        tenant.fair_share = None if x is None else factor_text(x)  # type: ignore[attr-defined]
    querystring = urlencode([(k, str(v)) for k, v in request.GET.items() if k != "page" and v])
    grants = selectors.grants_of(tenant_ids=[t.pk for t in tenants]) if tenants else []
    return render(
        request,
        "allocation/bookings/list.html",
        {
            "page": page,
            "filter_form": filter_form,
            "querystring": querystring,
            "tenants": tenants,
            "grants": grants,
            # Only the user's own tenants' bookings are listed, so a row asks only the state (no query per row).
            "cancellable": policies.BOOKING_CANCELLABLE,
            "next": request.get_full_path(),
        },
    )


@login_required
def booking_detail(request: HttpRequest, pk: int) -> HttpResponse:
    booking = _get_visible(request, pk)
    history = list(
        selectors.audit_visible_to(user=request.user)
        .filter(object_type="booking", object_id=str(booking.pk))
        .order_by("at", "id")
    )
    for event in history:
        event.label = HISTORY_LABELS.get(event.action, event.action)  # type: ignore[attr-defined]
    timeline_url = None
    if booking.inventory is not None and booking.starts_at is not None:
        days = max(1, min(TIMELINE_MAX_DAYS, booking.hours // 24 + 2))
        timeline_url = (
            reverse("resource-timeline", args=[booking.inventory.gigafactory.slug, booking.inventory.chip_type.slug])
            + "?"
            + urlencode(
                {"start": f"{booking.starts_at - timedelta(days=1 if days > 2 else 0):%Y-%m-%d}", "days": str(days)}
            )
        )
    return render(
        request,
        "allocation/bookings/detail.html",
        {
            "booking": booking,
            "history": history,
            "timeline_url": timeline_url,
            "eligible": booking.eligible.select_related("gigafactory", "chip_type").order_by(
                "gigafactory__name", "chip_type__slug"
            ),
            "can_cancel": policies.can_cancel_booking(request.user, booking),
        },
    )


@login_required
@require_POST
def booking_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    booking = _get_visible(request, pk)
    try:
        if booking.status == BookingStatus.AT_RISK and not policies.is_member(request.user, booking.tenant_id):
            booking_at_risk_cancel(actor=request.user, booking=booking)  # an operator's: its tenant is told
        else:
            booking_cancel(actor=request.user, booking=booking)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("Booking %(number)s cancelled; its unused hours went back to your quota.") % {"number": booking.pk},
        )
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("booking-detail", pk=booking.pk)


# --- a resource's timeline ----------------------------------------------------------


def _timeline_window(params: Any) -> tuple[datetime, int, str | None]:
    """``start`` (a UTC date or hour; default today) and ``days`` (1 to 92; default 7), and what was wrong.

    A start outside the platform's calendar (``allocation.validators``) is refused with the reason;
    the page then shows today's window under the message.
    """
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    start = today
    raw = params.get("start", "")
    for pattern in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H"):
        try:
            start = datetime.strptime(raw, pattern).replace(tzinfo=UTC)
            break
        except ValueError:
            continue
    if (error := validators.moment_error(start)) is not None:
        start = today
    try:
        days = int(params.get("days", TIMELINE_DAYS))
    except ValueError:
        days = TIMELINE_DAYS
    return start, max(1, min(TIMELINE_MAX_DAYS, days)), error


def timeline_chart(
    *, inventory: Inventory, start: datetime, days: int, own_tenant_ids: set[int], now: datetime | None = None
) -> tuple[timeline.Chart, list[Booking]]:
    """The chart of one resource (from the ledger, maintenance and placed bookings) and the viewer's bookings."""
    hours = days * 24
    rows = selectors.resource_timeline(inventory=inventory, start=start, hours=hours)
    spans = [
        timeline.Span(s, e, chips, "own" if tenant_id in own_tenant_ids else kind)
        for tenant_id, kind, chips, s, e in rows.spans
    ]
    order = [
        ("own", _("Your bookings")),
        *((kind, _("Others · %(kind)s") % {"kind": label}) for kind, label in TenantKind.choices),
    ]
    layers = timeline.hourly_layers(spans, start=start, hours=hours, order=order)
    windows = [timeline.Window(s, e, chips, reason) for chips, s, e, reason in rows.windows]
    chart = timeline.Chart(
        title=_("%(resource)s from %(start)s UTC, %(days)s days")
        % {
            "resource": f"{inventory.gigafactory.name} · {inventory.chip_type}",
            "start": f"{start:%Y-%m-%d %H:00}",
            "days": days,
        },
        start=start,
        hours=hours,
        in_service=inventory.chips_in_service,
        capacity=rows.capacity,
        layers=layers,
        maintenance=windows,
        now=now,
        labels={"capacity": _("Capacity"), "maintenance": _("Maintenance"), "now": _("Now"), "chips": _("chips")},
    )
    own = list(
        rows.placed.filter(tenant_id__in=own_tenant_ids)
        .select_related("tenant")
        .order_by("starts_at", "pk")[: OWN_BOOKINGS_SHOWN + 1]
    )
    return chart, own


@login_required
def resource_timeline(request: HttpRequest, site: str, chip: str, fmt: str = "html") -> HttpResponse:
    inventory = get_object_or_404(
        Inventory.objects.select_related("gigafactory", "chip_type"), gigafactory__slug=site, chip_type__slug=chip
    )
    start, days, error = _timeline_window(request.GET)
    if error is not None and fmt == "svg":
        return HttpResponse(error, status=400, content_type="text/plain; charset=utf-8")
    own_ids = set(selectors.tenants_of(user=request.user).values_list("pk", flat=True))
    chart, own = timeline_chart(inventory=inventory, start=start, days=days, own_tenant_ids=own_ids, now=timezone.now())
    svg = timeline.render_timeline_svg(chart)
    if fmt == "svg":
        return HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
    base = reverse("resource-timeline", args=[site, chip])

    def link(moved: datetime, span: int) -> str:
        return base + "?" + urlencode({"start": f"{moved:%Y-%m-%d}", "days": str(span)})

    return render(
        request,
        "allocation/bookings/timeline.html",
        {
            "inventory": inventory,
            "svg": svg,
            "start": start,
            "days": days,
            "own": own[:OWN_BOOKINGS_SHOWN],
            "more_own": len(own) > OWN_BOOKINGS_SHOWN,
            "end": start + timedelta(days=days),
            "last_day": start + timedelta(days=days) - ledger.HOUR,
            "earlier": link(start - timedelta(days=days), days),
            "later": link(start + timedelta(days=days), days),
            "spans": [(n, link(start, n)) for n in (1, 7, 30, 90)],
            "svg_url": reverse("resource-timeline-svg", args=[site, chip])
            + "?"
            + urlencode({"start": f"{start:%Y-%m-%d}", "days": str(days)}),
            "book_url": reverse("booking-new") + "?" + urlencode({"resource": str(inventory.pk)}),
            "resources": resources(),
            "error": error,
        },
        status=400 if error else 200,
    )
