"""The committee's pages: review queue, decisions, quota rounds; and the audit trail.

Thin: parse a form, call a service or enqueue its task, redirect with a
message. Review and rounds are committee-only (403 for anyone else: they are
not tenant objects, so nothing leaks by saying so); the audit page shows
whatever ``selectors.audit_visible_to`` lets the user see.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_htmx.middleware import HtmxDetails

from allocation import policies, selectors
from allocation.models import (
    AllocationPeriod,
    AllocationRequest,
    AllocationRound,
    RequestStatus,
    RoundStatus,
    TenantKind,
)
from allocation.services import requests as request_services
from allocation.services import rounds as round_services
from allocation.services.errors import NotAllowed, ServiceError
from allocation.web.forms import AuditFilterForm, DecisionForm, ReviewFilterForm, add_service_error

REVIEW_PAGE_SIZE = 50
AUDIT_PAGE_SIZE = 50
ROUND_TENANTS_SHOWN = 100


class HtmxHttpRequest(HttpRequest):
    """A request that passed ``django_htmx.middleware.HtmxMiddleware``, which sets ``request.htmx``."""

    htmx: HtmxDetails


def committee_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not policies.is_committee(request.user):
            raise PermissionDenied(_("Only allocation committee members may open this page."))
        return view(request, *args, **kwargs)

    return wrapped


@committee_required
def committee_home(request: HttpRequest) -> HttpResponse:
    periods = AllocationPeriod.objects.annotate(
        submitted=Count("requests", filter=Q(requests__status=RequestStatus.SUBMITTED)),
        accepted=Count("requests", filter=Q(requests__status=RequestStatus.ACCEPTED)),
    ).order_by("-starts_at")
    return render(request, "allocation/committee/home.html", {"periods": periods})


# --- review queue and decisions ------------------------------------------------


def _plain(hours: float) -> float | int:
    """10000.0 -> 10000 in an input, so the committee reads the number it would type."""
    rounded = round(hours, 2)
    return int(rounded) if rounded == int(rounded) else rounded


def _review_page(
    request: HttpRequest,
    period: AllocationPeriod,
    *,
    query: QueryDict,
    bound: DecisionForm | None = None,
    bound_req: AllocationRequest | None = None,
    status: int = 200,
) -> HttpResponse:
    """The queue as ``query`` (filters and page) selects it; a refused decision's form stays beside its request."""
    filter_form = ReviewFilterForm(query or None)
    queue = selectors.review_queue(period=period, filters=filter_form.filters())
    page = Paginator(queue, REVIEW_PAGE_SIZE).get_page(query.get("page"))
    requests = list(page)
    if bound_req is not None and all(req.pk != bound_req.pk for req in requests):
        requests.insert(0, bound_req)  # decided meanwhile or moved pages: the error must still show
    rows = [
        (
            req,
            bound
            if bound_req is not None and req.pk == bound_req.pk
            else DecisionForm(
                prefix=f"r{req.pk}",
                initial={
                    "decision": DecisionForm.ACCEPT,
                    "accepted_normalized_hours": _plain(req.demand_normalized_hours),
                },
            ),
        )
        for req in requests
    ]
    demand = selectors.demand_against_capacity(period=period)
    for row in demand:
        wanted = row["submitted"] + row["accepted"]
        row["ratio"] = wanted / row["capacity_normalized_hours"] if row["capacity_normalized_hours"] else None
        row["bar"] = min(100, round(100 * row["ratio"])) if row["ratio"] is not None else 0
    without_page = query.copy()
    without_page.pop("page", None)
    queue_url = reverse("review-queue", args=[period.slug])
    context = {
        "period": period,
        "filter_form": filter_form,
        "page": page,
        "rows": rows,
        "demand": demand,
        "querystring": without_page.urlencode(),
        "queue_url": queue_url,
        "refused": bound_req,
        "back": f"{queue_url}?{query.urlencode()}" if query else queue_url,
    }
    return render(request, "allocation/committee/review.html", context, status=status)


def _back_to_queue(request: HttpRequest, period: AllocationPeriod) -> tuple[str, QueryDict]:
    """Where a decision returns to: the posted ``next`` if it stays on this site, else the plain queue.

    The filters and page are read back from it only when it is this period's
    queue, so a refused decision re-renders the page the committee was on.
    """
    queue_url = reverse("review-queue", args=[period.slug])
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return queue_url, QueryDict()
    parts = urlsplit(back)
    return back, QueryDict(parts.query) if parts.path == queue_url else QueryDict()


@committee_required
def review_queue(request: HttpRequest, slug: str) -> HttpResponse:
    return _review_page(request, get_object_or_404(AllocationPeriod, slug=slug), query=request.GET)


@committee_required
@require_POST
def request_decision(request: HttpRequest, pk: int) -> HttpResponse:
    obj = get_object_or_404(selectors.requests_visible_to(user=request.user), pk=pk)
    back, query = _back_to_queue(request, obj.period)
    form = DecisionForm(request.POST, prefix=f"r{obj.pk}")
    if form.is_valid():
        decision = form.cleaned_data["decision"]
        try:
            request_services.request_decide(
                actor=request.user,
                request=obj,
                accept=decision != DecisionForm.REJECT,
                reason=form.cleaned_data["reason"],
                accepted_normalized_hours=(
                    form.cleaned_data["accepted_normalized_hours"] if decision == DecisionForm.REDUCE else None
                ),
            )
        except NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("Decision on “%(title)s” recorded.") % {"title": obj.title})
            return redirect(back)
    return _review_page(request, obj.period, query=query, bound=form, bound_req=obj, status=400)


# --- quota rounds ----------------------------------------------------------------


@committee_required
def round_period(request: HttpRequest, slug: str) -> HttpResponse:
    period = get_object_or_404(AllocationPeriod, slug=slug)
    rounds = AllocationRound.objects.filter(period=period).select_related("created_by").order_by("-created_at", "-pk")
    return render(request, "allocation/committee/rounds.html", {"period": period, "rounds": rounds})


@committee_required
@require_POST
def round_preview(request: HttpRequest, slug: str) -> HttpResponse:
    period = get_object_or_404(AllocationPeriod, slug=slug)
    try:
        rnd = round_services.round_preview_start(actor=request.user, period=period)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    messages.info(request, _("Preview started: the engine is computing the round."))
    return redirect("round-detail", pk=rnd.pk)


def _share_context(result: dict[str, Any]) -> dict[str, Any]:
    """The public pool's share against its weight (like with like), and the tenant kinds' figure apart."""
    public = next((p for p in result["pools"] if p.get("public")), None)
    granted = result["granted_normalized_hours"] or 0.0
    by_kind = {k["kind"]: k["granted"] for k in result["kinds"]}
    small = sum(by_kind.get(kind, 0.0) for kind in (TenantKind.STARTUP, TenantKind.SME, TenantKind.RESEARCHER))
    return {
        "public_pool": public,
        "public_share_pct": f"{100 * result['public_share']:.1f}",
        "public_target_pct": f"{100 * result['public_target']:.1f}",
        "public_ok": result.get("public_target_met", True),
        "public_below_weight": result["public_share"] < result["public_target"] - round_services.SHARE_TOLERANCE,
        "small_kinds_pct": f"{100 * small / granted:.1f}" if granted else "0.0",
    }


def _round_context(request: HttpRequest, rnd: AllocationRound) -> dict[str, Any]:
    committing = request.GET.get("committing") == "1" and rnd.status == RoundStatus.PREVIEW and not rnd.failure
    waiting = not rnd.failure and ((rnd.result is None and rnd.status == RoundStatus.PREVIEW) or committing)
    context: dict[str, Any] = {
        "rnd": rnd,
        "period": rnd.period,
        "committing": committing,
        "waiting": waiting,
        "q": request.GET.get("q", "").strip(),
        "pulse": selectors.worker_pulse() if waiting else None,
    }
    result = rnd.result
    if result:
        pool_name = {p["id"]: p["name"] for p in result["pools"]}
        granted = result["granted_normalized_hours"] or 0.0
        tenants = sorted(result["tenants"], key=lambda t: (-t["granted"], t["name"]))
        if context["q"]:
            tenants = [t for t in tenants if context["q"].lower() in t["name"].lower()]
        shown = [
            {
                **t,
                "pool_name": pool_name.get(t["pool"], ""),
                "kind_label": TenantKind(t["kind"]).label,
                "ratio": t["granted"] / t["demand"] if t["demand"] else None,
            }
            for t in tenants[:ROUND_TENANTS_SHOWN]
        ]
        context.update(
            {
                "result": result,
                "pools": [{**p, "share": p["granted"] / granted if granted else 0.0} for p in result["pools"]],
                "kinds": [
                    {
                        **k,
                        "share": k["granted"] / granted if granted else 0.0,
                        "ratio": k["granted"] / k["demand"] if k["demand"] else None,
                    }
                    for k in result["kinds"]
                    if k["demand"] or k["granted"]
                ],
                "tenants": shown,
                "tenants_total": len(tenants),
                "tenants_all": len(result["tenants"]),
                **_share_context(result),
            }
        )
    # Grants already booked beyond this round's figure: committing keeps what was booked (overdrawn).
    context["overdrawn"] = (result or {}).get("overdrawn", [])
    return context


@committee_required
def round_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    rnd = get_object_or_404(AllocationRound.objects.select_related("period", "created_by"), pk=pk)
    template = "allocation/committee/_round_body.html" if request.htmx else "allocation/committee/round.html"
    return render(request, template, _round_context(request, rnd))


@committee_required
def round_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The fragment the round page polls every 2 s while the engine or the commit runs."""
    rnd = get_object_or_404(AllocationRound.objects.select_related("period", "created_by"), pk=pk)
    return render(request, "allocation/committee/_round_body.html", _round_context(request, rnd))


@committee_required
@require_POST
def round_commit(request: HttpRequest, pk: int) -> HttpResponse:
    rnd = get_object_or_404(AllocationRound, pk=pk)
    # The page offers a commit only for a fresh preview: not again after the worker refused one
    # (``failure``; the API lets a client retry), and not for a committed round (the API answers 200).
    queued = False
    if rnd.status != RoundStatus.COMMITTED and not rnd.failure:
        try:
            queued = round_services.round_commit_request(actor=request.user, round_id=rnd.pk)
        except ServiceError:
            queued = False
    if not queued:
        messages.error(request, _("Only a computed preview can be committed."))
        return redirect("round-detail", pk=rnd.pk)
    return redirect(f"{reverse('round-detail', args=[rnd.pk])}?committing=1")


@committee_required
@require_POST
def round_discard(request: HttpRequest, pk: int) -> HttpResponse:
    rnd = get_object_or_404(AllocationRound.objects.select_related("period"), pk=pk)
    try:
        round_services.round_discard(actor=request.user, round_id=rnd.pk)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("round-detail", pk=rnd.pk)
    messages.success(request, _("Preview discarded."))
    return redirect("round-period", slug=rnd.period.slug)


# --- audit trail ---------------------------------------------------------------------


def _changes(before: Any, after: Any) -> list[tuple[str, Any, Any]]:
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    keys = list(dict.fromkeys([*before, *after]))
    return [
        (k, before.get(k), after.get(k))
        for k in keys
        if before.get(k) != after.get(k) and not (k not in before and after.get(k) in (None, ""))
    ]


@login_required
def audit_list(request: HttpRequest) -> HttpResponse:
    visible = selectors.audit_visible_to(user=request.user)
    actions = list(visible.order_by("action").values_list("action", flat=True).distinct())
    object_types = list(visible.order_by("object_type").values_list("object_type", flat=True).distinct())
    form = AuditFilterForm(request.GET or None, actions=actions, object_types=object_types)
    events = visible
    if form.is_valid():
        if form.cleaned_data["action"]:
            events = events.filter(action=form.cleaned_data["action"])
        if form.cleaned_data["object_type"]:
            events = events.filter(object_type=form.cleaned_data["object_type"])
    page = Paginator(events.order_by("-at", "-id"), AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [(event, _changes(event.before, event.after)) for event in page]
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "allocation/audit/list.html",
        {
            "form": form,
            "page": page,
            "rows": rows,
            "querystring": query.urlencode(),
            "perms_committee": policies.is_committee(request.user),
        },
    )
