"""The tenant's pages: my requests, a new or edited draft, one request, my settings.

Thin: parse a form, call a service, redirect with a message. A request
outside ``selectors.requests_visible_to`` is a 404 (ids never leak); a
service's ``NotAllowed`` is a 403; a ``ServiceError`` goes back on the form.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from rest_framework.authtoken.models import Token

from allocation import policies, selectors
from allocation.models import AllocationRequest, AuditEvent, NotificationSettings, RequestStatus
from allocation.services import notifications, tokens
from allocation.services import requests as request_services
from allocation.services.errors import NotAllowed, ServiceError
from allocation.web.forms import NotificationForm, RequestContentForm, RequestCreateForm, add_service_error

PAGE_SIZE = 25
TIMELINE_LABELS = {
    "request.created": gettext_lazy("Drafted"),
    "request.updated": gettext_lazy("Draft edited"),
    "request.submitted": gettext_lazy("Submitted to the committee"),
    "request.accepted": gettext_lazy("Accepted"),
    "request.rejected": gettext_lazy("Rejected"),
    "request.withdrawn": gettext_lazy("Withdrawn"),
}


class AuthenticatedHttpRequest(HttpRequest):
    """The request of a ``login_required`` view: its user is signed in, never ``AnonymousUser``."""

    user: User


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a request's timeline: what the page shows of an audit event, with a readable label."""

    at: datetime
    action: str
    label: str | Promise
    actor: User | None
    after: Any

    @classmethod
    def of(cls, event: AuditEvent) -> TimelineEntry:
        return cls(
            at=event.at,
            action=event.action,
            label=TIMELINE_LABELS.get(event.action, event.action),
            actor=event.actor,
            after=event.after,
        )


def _visible(request: HttpRequest, pk: int) -> AllocationRequest:
    return get_object_or_404(selectors.requests_visible_to(user=request.user), pk=pk)


@login_required
def request_list(request: HttpRequest) -> HttpResponse:
    mine = selectors.requests_visible_to(user=request.user).filter(
        tenant__in=selectors.tenants_of(user=request.user).values("pk")
    )
    page = Paginator(mine.order_by("-created_at", "-pk"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "allocation/requests/list.html", {"page": page})


@login_required
def request_create(request: HttpRequest) -> HttpResponse:
    form = RequestCreateForm(request.POST if request.method == "POST" else None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            created = request_services.request_create(
                actor=request.user,
                tenant=form.cleaned_data["tenant"],
                period=form.cleaned_data["period"],
                content=form.content(),
            )
        except NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("Draft saved. Your PI can submit it when it is ready."))
            return redirect("request-detail", pk=created.pk)
    return render(request, "allocation/requests/form.html", {"form": form, "editing": None})


@login_required
def request_edit(request: HttpRequest, pk: int) -> HttpResponse:
    obj = _visible(request, pk)
    if not policies.is_member(request.user, obj.tenant_id):
        raise PermissionDenied(_("Only members of the tenant may edit its requests."))
    if obj.status != RequestStatus.DRAFT:
        messages.error(request, _("A request is read-only once it has been submitted."))
        return redirect("request-detail", pk=obj.pk)
    form = RequestContentForm(
        request.POST if request.method == "POST" else None, initial=RequestContentForm.initial_from(obj)
    )
    if request.method == "POST" and form.is_valid():
        try:
            request_services.request_update(actor=request.user, request=obj, content=form.content())
        except NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("Draft updated."))
            return redirect("request-detail", pk=obj.pk)
    return render(request, "allocation/requests/form.html", {"form": form, "editing": obj})


@login_required
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    obj = _visible(request, pk)
    is_member = policies.is_member(request.user, obj.tenant_id)
    timeline = [
        TimelineEntry.of(event)
        for event in selectors.audit_visible_to(user=request.user)
        .filter(object_type="allocationrequest", object_id=str(obj.pk))
        .order_by("at", "id")
    ]
    context = {
        "req": obj,
        "sites": obj.eligible_sites.all(),
        "chip_types": obj.eligible_chip_types.all(),
        "timeline": timeline,
        "quotas": selectors.quotas_visible_to(user=request.user)
        .filter(request=obj)
        .order_by("inventory__gigafactory__slug", "inventory__chip_type__slug"),
        "can_edit": policies.can_edit_request(request.user, obj),
        "can_submit": policies.can_submit_request(request.user, obj),
        # Why the buttons are missing, for the tenant's own members.
        "tenant_refusal": policies.tenant_refusal(obj.tenant)
        if is_member and obj.status == RequestStatus.DRAFT and not policies.tenant_may_commit(obj.tenant)
        else "",
        "can_withdraw": policies.can_withdraw_request(request.user, obj),
    }
    return render(request, "allocation/requests/detail.html", context)


def _transition(request: HttpRequest, pk: int, service: object, done: str) -> HttpResponse:
    obj = _visible(request, pk)
    try:
        service(actor=request.user, request=obj)  # type: ignore[operator]
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect("request-detail", pk=obj.pk)


@login_required
@require_POST
def request_submit(request: HttpRequest, pk: int) -> HttpResponse:
    return _transition(
        request, pk, request_services.request_submit, _("Submitted. The allocation committee will review it.")
    )


@login_required
@require_POST
def request_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    return _transition(request, pk, request_services.request_withdraw, _("Withdrawn."))


@login_required
def settings_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.method == "POST" and "revoke_api_tokens" in request.POST:
        revoked = tokens.api_tokens_revoke(actor=request.user)
        messages.success(
            request,
            _("Your API tokens are revoked; your clients must log in again.")
            if revoked
            else _("You had no API token."),
        )
        return redirect("settings")
    current = NotificationSettings.objects.filter(user=request.user).values_list("email_enabled", flat=True).first()
    form = NotificationForm(
        request.POST if request.method == "POST" else None, initial={"email_enabled": current is not False}
    )
    if request.method == "POST" and form.is_valid():
        enabled = form.cleaned_data["email_enabled"]
        notifications.email_preference_set(user=request.user, enabled=enabled)
        messages.success(request, _("E-mail notifications are on.") if enabled else _("E-mail notifications are off."))
        return redirect("settings")
    token = Token.objects.filter(user=request.user).first()
    return render(
        request,
        "allocation/settings.html",
        {
            "form": form,
            "api_token": token,
            "api_token_expires_at": tokens.token_expires_at(token) if token else None,
            "api_token_expired": token is not None and tokens.token_is_expired(token),
        },
    )
