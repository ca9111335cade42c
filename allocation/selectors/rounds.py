"""Quota rounds: what a round sees of the database, and who sees rounds."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from allocation import fairshare, policies
from allocation.models import AllocationPeriod, AllocationRequest, AllocationRound, Inventory, RequestStatus, Tenant
from allocation.selectors.fair_share import pool_weights
from allocation.selectors.sites import period_capacity


@dataclass(frozen=True)
class AllocationSnapshot:
    """What an allocation round sees of the database, ready for the engine."""

    engine_input: fairshare.AllocationInput
    capacity: dict[int, float]  # inventory id -> GPU-hours
    inventory: dict[str, Inventory]  # "site/chip" -> row
    pool_weight: dict[int, float]
    tenants: dict[int, Tenant]
    requests: dict[int, AllocationRequest]

    def fingerprint(self) -> str:
        """Changes whenever a decision, capacity or weight the round used changes."""
        material = repr(
            (
                sorted(self.capacity.items()),
                sorted(self.pool_weight.items()),
                sorted((r.pk, r.accepted_normalized_hours) for r in self.requests.values()),
            )
        )
        return hashlib.sha256(material.encode()).hexdigest()


def allocation_snapshot(*, period: AllocationPeriod) -> AllocationSnapshot:
    """Accepted requests of the period with current capacity and pool weights.

    A bounded number of queries whatever the number of requests: the
    eligibility many-to-many tables are read in one query each.
    """
    capacity = period_capacity(period=period)
    inventory = {
        f"{inv.gigafactory.slug}/{inv.chip_type.slug}": inv
        for inv in Inventory.objects.select_related("gigafactory", "chip_type")
    }
    resources = tuple(
        fairshare.Resource(
            site=inv.gigafactory.slug,
            chip_type=inv.chip_type.slug,
            throughput=inv.chip_type.throughput,
            capacity_gpu_hours=capacity.get(inv.pk, 0.0),
            chips=inv.chips_in_service,
        )
        for inv in sorted(inventory.values(), key=lambda i: (i.gigafactory.slug, i.chip_type.slug))
    )
    weights = pool_weights()
    requests = {
        r.pk: r
        for r in AllocationRequest.objects.filter(period=period, status=RequestStatus.ACCEPTED).select_related("tenant")
    }
    sites_of: dict[int, set[int]] = defaultdict(set)
    chips_of: dict[int, set[int]] = defaultdict(set)
    through_sites = AllocationRequest.eligible_sites.through.objects.filter(allocationrequest_id__in=requests)
    for req_id, site_id in through_sites.values_list("allocationrequest_id", "gigafactory_id"):
        sites_of[req_id].add(site_id)
    through_chips = AllocationRequest.eligible_chip_types.through.objects.filter(allocationrequest_id__in=requests)
    for req_id, chip_id in through_chips.values_list("allocationrequest_id", "chiptype_id"):
        chips_of[req_id].add(chip_id)
    tenants = {r.tenant_id: r.tenant for r in requests.values()}
    engine_requests = []
    for req in requests.values():
        eligible = tuple(
            (inv.gigafactory.slug, inv.chip_type.slug)
            for inv in inventory.values()
            if (not sites_of[req.pk] or inv.gigafactory_id in sites_of[req.pk])
            and (not chips_of[req.pk] or inv.chip_type_id in chips_of[req.pk])
        )
        engine_requests.append(
            fairshare.Request(
                id=str(req.pk),
                tenant=str(req.tenant_id),
                demand=req.accepted_normalized_hours or 0.0,
                eligible=eligible,
            )
        )
    engine_input = fairshare.AllocationInput(
        resources=resources,
        # A pool nobody pays for still exists; it only gets what the others leave.
        pools=tuple(fairshare.Pool(id=str(pid), weight=max(w, 1e-6)) for pid, w in sorted(weights.items())),
        tenants=tuple(
            fairshare.Tenant(id=str(t.pk), pool=str(t.pool_id), weight=t.weight)
            for t in sorted(tenants.values(), key=lambda t: t.pk)
        ),
        requests=tuple(sorted(engine_requests, key=lambda r: int(r.id))),
    )
    return AllocationSnapshot(
        engine_input=engine_input,
        capacity=capacity,
        inventory=inventory,
        pool_weight=weights,
        tenants=tenants,
        requests=requests,
    )


def rounds_visible_to(*, user: Any) -> QuerySet[AllocationRound]:
    """Every round for the committee (and platform admins), none for anyone else."""
    if not policies.is_committee(user):
        return AllocationRound.objects.none()
    return AllocationRound.objects.select_related("period", "created_by")
