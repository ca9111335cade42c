"""Allocation requests: who sees which, the committee's review queue and demand against capacity."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Q, QuerySet

from allocation import policies
from allocation.models import AllocationPeriod, AllocationRequest, Inventory, RequestStatus
from allocation.selectors.sites import period_capacity


def requests_visible_to(*, user: Any) -> QuerySet[AllocationRequest]:
    """Members see their tenants' requests; the committee sees every submitted one."""
    qs = AllocationRequest.objects.select_related("tenant", "period", "chip_type", "decided_by")
    own = Q(tenant__memberships__user=user)
    if policies.is_committee(user):
        return qs.filter(own | ~Q(status=RequestStatus.DRAFT)).distinct()
    return qs.filter(own)


def review_queue(*, period: AllocationPeriod, filters: dict[str, Any] | None = None) -> QuerySet[AllocationRequest]:
    """Submitted requests of a period, optionally by tenant kind, pool, chip type, site."""
    f = filters or {}
    qs = (
        AllocationRequest.objects.filter(period=period, status=RequestStatus.SUBMITTED)
        .select_related("tenant__pool", "chip_type")
        .prefetch_related("eligible_sites", "eligible_chip_types")
    )
    if f.get("kind"):
        qs = qs.filter(tenant__kind=f["kind"])
    if f.get("pool"):
        qs = qs.filter(tenant__pool_id=f["pool"])
    if f.get("chip_type"):
        qs = qs.filter(Q(chip_type_id=f["chip_type"]) | Q(eligible_chip_types=f["chip_type"])).distinct()
    if f.get("site"):
        qs = qs.filter(Q(eligible_sites=f["site"]) | Q(eligible_sites__isnull=True)).distinct()
    return qs.order_by("submitted_at", "pk")


def demand_against_capacity(*, period: AllocationPeriod) -> list[dict[str, Any]]:
    """Per resource: capacity, and the submitted and accepted demand that could use it.

    A request that accepts several resources counts against each of them, so
    the figures show contention, not a partition.
    """
    capacity = period_capacity(period=period)
    inventory = list(
        Inventory.objects.select_related("gigafactory", "chip_type").order_by("gigafactory__slug", "chip_type__slug")
    )
    rows: dict[int, dict[str, Any]] = {
        inv.pk: {
            "inventory": inv,
            "submitted": 0.0,
            "accepted": 0.0,
            "capacity_normalized_hours": capacity.get(inv.pk, 0.0) * inv.chip_type.throughput,
        }
        for inv in inventory
    }
    live = AllocationRequest.objects.filter(period=period, status__in=[RequestStatus.SUBMITTED, RequestStatus.ACCEPTED])
    sites_of: dict[int, set[int]] = defaultdict(set)
    chips_of: dict[int, set[int]] = defaultdict(set)
    for req_id, site_id in AllocationRequest.eligible_sites.through.objects.filter(
        allocationrequest__in=live
    ).values_list("allocationrequest_id", "gigafactory_id"):
        sites_of[req_id].add(site_id)
    for req_id, chip_id in AllocationRequest.eligible_chip_types.through.objects.filter(
        allocationrequest__in=live
    ).values_list("allocationrequest_id", "chiptype_id"):
        chips_of[req_id].add(chip_id)
    for req_id, state, demand, accepted in live.values_list(
        "id", "status", "demand_normalized_hours", "accepted_normalized_hours"
    ):
        for inv in inventory:
            if (sites_of[req_id] and inv.gigafactory_id not in sites_of[req_id]) or (
                chips_of[req_id] and inv.chip_type_id not in chips_of[req_id]
            ):
                continue
            if state == RequestStatus.SUBMITTED:
                rows[inv.pk]["submitted"] += demand
            else:
                rows[inv.pk]["accepted"] += accepted or 0.0
    return list(rows.values())
