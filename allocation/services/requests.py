"""Allocation requests: draft, submit, withdraw, decide.

Invariants:
- status changes only in ``request_transition`` and only along
  draft -> submitted -> accepted | rejected, draft | submitted -> withdrawn;
- after submission a request's content is read-only;
- a request is created and submitted only while its period is open and
  before its deadline; its demand is positive, finite and no more than its
  acceptable resources can deliver in the period;
- transitions lock the request row, so a decision racing a withdrawal sees
  the withdrawal and is refused instead of overwriting it;
- every change writes one audit event and, after commit, notifies members.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from allocation import policies, selectors
from allocation.models import (
    AllocationPeriod,
    AllocationRequest,
    ChipType,
    Gigafactory,
    PeriodStatus,
    RequestStatus,
    Tenant,
)
from allocation.services.audit import audit_record, snapshot
from allocation.services.errors import NotAllowed, ServiceError
from allocation.services.notifications import tenant_notify
from allocation.services.tenants import tenant_require_commit, tenant_require_draft

TRANSITIONS: dict[str, set[str]] = {
    RequestStatus.DRAFT: {RequestStatus.SUBMITTED, RequestStatus.WITHDRAWN},
    RequestStatus.SUBMITTED: {RequestStatus.ACCEPTED, RequestStatus.REJECTED, RequestStatus.WITHDRAWN},
}
AUDITED = ["status", "accepted_normalized_hours", "decision_reason", "demand_gpu_hours", "demand_normalized_hours"]


@dataclass(frozen=True)
class RequestContent:
    """What a tenant writes in a request; validated by ``_validated``."""

    title: str
    chip_type: ChipType
    demand_gpu_hours: float
    abstract: str = ""
    eligible_sites: tuple[Gigafactory, ...] = field(default_factory=tuple)
    eligible_chip_types: tuple[ChipType, ...] = field(default_factory=tuple)
    justification: str = ""
    expected_outputs: str = ""


def request_transition(request: AllocationRequest, to: str) -> None:
    """The one place a request's status changes."""
    if to not in TRANSITIONS.get(request.status, set()):
        raise ServiceError(
            "status",
            _("A %(was)s request cannot become %(to)s.")
            % {"was": request.get_status_display().lower(), "to": RequestStatus(to).label.lower()},
            code="invalid_transition",
        )
    request.status = to


def _period_open(period: AllocationPeriod) -> None:
    if period.status != PeriodStatus.OPEN:
        raise ServiceError(
            "period",
            _("The period %(period)s is not open for requests.") % {"period": period.name},
            code="period_closed",
        )
    if timezone.now() > period.request_deadline:
        raise ServiceError(
            "period", _("The deadline of %(period)s has passed.") % {"period": period.name}, code="period_closed"
        )


def _validated(content: RequestContent, period: AllocationPeriod) -> float:
    """Check the content; return its demand in normalized hours."""
    if not content.title.strip():
        raise ServiceError("title", _("Give the request a title."))
    demand = content.demand_gpu_hours
    if not isinstance(demand, int | float) or not math.isfinite(demand) or demand <= 0:
        raise ServiceError("demand_gpu_hours", _("The demand must be a positive number of GPU-hours."))
    sites = {s.pk: s for s in content.eligible_sites}
    chips = {c.pk: c for c in content.eligible_chip_types}
    resources = list(selectors.resources_matching(site_ids=sites, chip_type_ids=chips))
    present = {(inv.gigafactory_id, inv.chip_type_id) for inv in resources}
    for chip in chips.values():
        if not any(chip_id == chip.pk for _, chip_id in present):
            where = ", ".join(s.name for s in sites.values()) or _("any site")
            raise ServiceError(
                "eligible_chip_types", _("%(chip)s is not installed at %(where)s.") % {"chip": chip, "where": where}
            )
    if not any(inv.chip_type_id == content.chip_type.pk for inv in resources):
        raise ServiceError(
            "chip_type", _("%(chip)s is not among the acceptable sites' chips.") % {"chip": content.chip_type}
        )
    normalized = demand * content.chip_type.throughput
    capacity = selectors.period_capacity(period=period)
    deliverable = sum(capacity.get(inv.pk, 0.0) * inv.chip_type.throughput for inv in resources)
    if normalized > deliverable:
        raise ServiceError(
            "demand_gpu_hours",
            _(
                "%(demand)s GPU-hours of %(chip)s is %(normalized)s normalized hours, more than the acceptable "
                "resources can deliver in %(period)s (%(deliverable)s)."
            )
            % {
                "demand": f"{demand:,.0f}",
                "chip": content.chip_type,
                "normalized": f"{normalized:,.0f}",
                "period": period.name,
                "deliverable": f"{deliverable:,.0f}",
            },
        )
    return normalized


def _apply(request: AllocationRequest, content: RequestContent, normalized: float) -> None:
    request.title = content.title.strip()
    request.abstract = content.abstract
    request.chip_type = content.chip_type
    request.demand_gpu_hours = float(content.demand_gpu_hours)
    request.demand_normalized_hours = normalized
    request.justification = content.justification
    request.expected_outputs = content.expected_outputs


@transaction.atomic
def request_create(
    *, actor: Any, tenant: Tenant, period: AllocationPeriod, content: RequestContent
) -> AllocationRequest:
    if not policies.is_member(actor, tenant.pk):
        raise NotAllowed(_("Only members of the tenant may draft its requests."))
    tenant_require_draft(tenant)
    _period_open(period)
    normalized = _validated(content, period)
    request = AllocationRequest(period=period, tenant=tenant, created_by=actor)
    _apply(request, content, normalized)
    request.save()
    request.eligible_sites.set(content.eligible_sites)
    request.eligible_chip_types.set(content.eligible_chip_types)
    audit_record(
        actor=actor, action="request.created", obj=request, tenant=tenant, after=snapshot(request, ["title", *AUDITED])
    )
    return request


def _locked(request: AllocationRequest) -> AllocationRequest:
    return AllocationRequest.objects.select_for_update().select_related("period", "tenant").get(pk=request.pk)


@transaction.atomic
def request_update(*, actor: Any, request: AllocationRequest, content: RequestContent) -> AllocationRequest:
    request = _locked(request)
    if not policies.is_member(actor, request.tenant_id):
        raise NotAllowed(_("Only members of the tenant may edit its requests."))
    tenant_require_draft(request.tenant)
    if request.status != RequestStatus.DRAFT:
        raise ServiceError("status", _("A request is read-only once it has been submitted."), code="read_only")
    before = snapshot(request, ["title", *AUDITED])
    normalized = _validated(content, request.period)
    _apply(request, content, normalized)
    request.save()
    request.eligible_sites.set(content.eligible_sites)
    request.eligible_chip_types.set(content.eligible_chip_types)
    audit_record(
        actor=actor,
        action="request.updated",
        obj=request,
        tenant=request.tenant,
        before=before,
        after=snapshot(request, ["title", *AUDITED]),
    )
    return request


@transaction.atomic
def request_submit(*, actor: Any, request: AllocationRequest) -> AllocationRequest:
    request = _locked(request)
    if not policies.is_pi(actor, request.tenant_id):
        raise NotAllowed(_("Only the tenant's PI may submit its requests."))
    tenant_require_commit(request.tenant)
    before = snapshot(request, AUDITED)
    request_transition(request, RequestStatus.SUBMITTED)
    _period_open(request.period)
    request.submitted_at = timezone.now()
    request.save(update_fields=["status", "submitted_at"])
    audit_record(
        actor=actor,
        action="request.submitted",
        obj=request,
        tenant=request.tenant,
        before=before,
        after=snapshot(request, AUDITED),
    )
    tenant_notify(
        tenant_id=request.tenant_id,
        subject=_("Request submitted: %(title)s") % {"title": request.title},
        body=_('%(actor)s submitted "%(title)s" for %(period)s.')
        % {"actor": actor, "title": request.title, "period": request.period.name},
    )
    return request


@transaction.atomic
def request_withdraw(*, actor: Any, request: AllocationRequest) -> AllocationRequest:
    request = _locked(request)
    if not policies.is_member(actor, request.tenant_id):
        raise NotAllowed(_("Only members of the tenant may withdraw its requests."))
    before = snapshot(request, AUDITED)
    request_transition(request, RequestStatus.WITHDRAWN)
    request.save(update_fields=["status"])
    audit_record(
        actor=actor,
        action="request.withdrawn",
        obj=request,
        tenant=request.tenant,
        before=before,
        after=snapshot(request, AUDITED),
    )
    return request


@transaction.atomic
def request_decide(
    *,
    actor: Any,
    request: AllocationRequest,
    accept: bool,
    reason: str = "",
    accepted_normalized_hours: float | None = None,
) -> AllocationRequest:
    if not policies.is_committee(actor):
        raise NotAllowed(_("Only allocation committee members may decide requests."))
    request = _locked(request)
    before = snapshot(request, AUDITED)
    reason = reason.strip()
    if accept:
        granted = request.demand_normalized_hours if accepted_normalized_hours is None else accepted_normalized_hours
        if not isinstance(granted, int | float) or not math.isfinite(granted) or granted <= 0:
            raise ServiceError("accepted_normalized_hours", _("An accepted amount must be a positive number."))
        if granted > request.demand_normalized_hours * (1 + 1e-9):
            raise ServiceError(
                "accepted_normalized_hours",
                _("Cannot accept more than the demand of %(demand)s normalized hours.")
                % {"demand": f"{request.demand_normalized_hours:,.0f}"},
            )
        if granted < request.demand_normalized_hours * (1 - 1e-9) and not reason:
            raise ServiceError("reason", _("Say why the demand is reduced."))
        request_transition(request, RequestStatus.ACCEPTED)
        request.accepted_normalized_hours = float(granted)
    else:
        if not reason:
            raise ServiceError("reason", _("Give the reason for rejecting the request."))
        request_transition(request, RequestStatus.REJECTED)
        request.accepted_normalized_hours = None
    request.decision_reason = reason
    request.decided_by = actor
    request.decided_at = timezone.now()
    request.save(update_fields=["status", "accepted_normalized_hours", "decision_reason", "decided_by", "decided_at"])
    audit_record(
        actor=actor,
        action=f"request.{request.status}",
        obj=request,
        tenant=request.tenant,
        before=before,
        after=snapshot(request, AUDITED),
    )
    verdict = (
        _("The allocation committee accepted with %(hours)s normalized hours.")
        % {"hours": f"{request.accepted_normalized_hours:,.0f}"}
        if accept
        else _("The allocation committee rejected.")
    )
    tenant_notify(
        tenant_id=request.tenant_id,
        subject=_("Decision on %(title)s: %(status)s") % {"title": request.title, "status": request.status},
        body=verdict + ("\n" + _("Reason: %(reason)s") % {"reason": reason} if reason else ""),
    )
    return request


def content_from_ids(
    *,
    title: str,
    chip_type_id: int,
    demand_gpu_hours: float,
    site_ids: Iterable[int] = (),
    chip_type_ids: Iterable[int] = (),
    **text: str,
) -> RequestContent:
    """Build content from primary keys (the API's and forms' shape)."""
    try:
        chip_type = ChipType.objects.get(pk=chip_type_id)
    except ChipType.DoesNotExist:
        raise ServiceError("chip_type", _("No chip type with id %(id)s.") % {"id": chip_type_id}) from None
    sites = tuple(Gigafactory.objects.filter(pk__in=list(site_ids)))
    chips = tuple(ChipType.objects.filter(pk__in=list(chip_type_ids)))
    return RequestContent(
        title=title,
        chip_type=chip_type,
        demand_gpu_hours=demand_gpu_hours,
        eligible_sites=sites,
        eligible_chip_types=chips,
        **text,
    )
