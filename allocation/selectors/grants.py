"""Grants (quotas of committed rounds): in force, remaining, and as tenants and the committee see them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet, Sum

from allocation import policies
from allocation.models import AllocationPeriod, Inventory, Quota, QuotaBalance, RoundStatus, Tenant, UsageRecord
from allocation.selectors.roles import tenants_of


def quotas_visible_to(*, user: Any) -> QuerySet[Quota]:
    """Quotas in force (committed rounds) of the user's tenants, or all for the committee."""
    qs = Quota.objects.filter(round__status=RoundStatus.COMMITTED).select_related(
        "tenant", "period", "request", "inventory__gigafactory", "inventory__chip_type"
    )
    if policies.is_committee(user) or policies.is_operator(user):
        return qs
    return qs.filter(tenant__memberships__user=user)


def quota_remaining(*, period: AllocationPeriod, tenant_ids: Iterable[int]) -> dict[tuple[int, int], float]:
    """(tenant id, inventory id) -> normalized hours of that grant for the period not yet booked (two queries)."""
    ids = list(tenant_ids)
    granted, used = _granted_and_used(period, ids)
    return {key: max(0.0, hours - used.get(key, 0.0)) for key, hours in granted.items()}


def quota_in_force(*, period_id: int, tenant_ids: Iterable[int]) -> dict[int, float]:
    """Tenant id -> normalized hours granted for the period by its committed round, on all resources (absent: none)."""
    totals: dict[int, float] = defaultdict(float)
    for (tenant_id, _inventory_id), hours in grants_in_force(period_id=period_id, tenant_ids=tenant_ids).items():
        totals[tenant_id] += hours
    return dict(totals)


def grants_in_force(*, period_id: int, tenant_ids: Iterable[int]) -> dict[tuple[int, int], float]:
    """(tenant id, inventory id) -> normalized hours its committed round granted there for the period."""
    rows = Quota.objects.filter(
        period_id=period_id, tenant_id__in=list(tenant_ids), round__status=RoundStatus.COMMITTED
    ).order_by()
    return {
        (t, i): float(total or 0.0)
        for t, i, total in rows.values("tenant_id", "inventory_id")
        .annotate(total=Sum("normalized_hours"))
        .values_list("tenant_id", "inventory_id", "total")
    }


def _granted_and_used(
    period: AllocationPeriod, ids: list[int]
) -> tuple[dict[tuple[int, int], float], dict[tuple[int, int], float]]:
    """Per grant (tenant, inventory): granted (the ledger's figure, which an overdrawn grant raises to what
    was booked; the committed round's where the ledger has no row yet) and booked."""
    granted = grants_in_force(period_id=period.pk, tenant_ids=ids)
    used: dict[tuple[int, int], float] = {}
    for t, i, g, u in QuotaBalance.objects.filter(period=period, tenant_id__in=ids).values_list(
        "tenant_id", "inventory_id", "granted", "used"
    ):
        granted[(t, i)], used[(t, i)] = g, u
    return granted, used


def quota_summary(*, tenant_id: int, period: AllocationPeriod, inventory_id: int) -> dict[str, float]:
    """Granted, booked and remaining normalized hours of a tenant's grant on one resource for the period."""
    granted, used = _granted_and_used(period, [tenant_id])
    g, u = float(granted.get((tenant_id, inventory_id), 0.0)), float(used.get((tenant_id, inventory_id), 0.0))
    return {"granted": g, "used": u, "booked": u, "remaining": max(0.0, g - u)}


@dataclass(frozen=True)
class GrantRow:
    """One grant as tenants and the committee see it: where, how much, how much booked and used."""

    tenant: Tenant
    period: AllocationPeriod
    inventory: Inventory
    round_granted: float  # what the committed round granted
    granted: float  # what may be booked: higher than round_granted only when overdrawn
    booked: float  # normalized hours of bookings placed on it
    used: float  # normalized hours the site reported for those bookings

    @property
    def remaining(self) -> float:
        return max(0.0, self.granted - self.booked)

    @property
    def overdrawn(self) -> bool:
        return self.granted > self.round_granted + 1e-6


def grants_visible_to(*, user: Any, period: AllocationPeriod | None = None) -> list[GrantRow]:
    """The grants of the user's tenants (all, for the committee and operators): see ``grants_of``."""
    tenant_ids = None
    if not (policies.is_committee(user) or policies.is_operator(user)):
        tenant_ids = list(tenants_of(user=user).values_list("pk", flat=True))
    return grants_of(tenant_ids=tenant_ids, period=period)


def grants_of(*, tenant_ids: Iterable[int] | None, period: AllocationPeriod | None = None) -> list[GrantRow]:
    """The grants of these tenants (None: every tenant), by period, tenant, resource: every grant of a
    committed round, and every resource a tenant has booked on (an overdrawn grant).

    Six queries whatever the number of grants."""
    quotas = Quota.objects.filter(round__status=RoundStatus.COMMITTED)
    balances = QuotaBalance.objects.filter(Q(used__gt=0) | Q(granted__gt=0))
    if tenant_ids is not None:
        ids = list(tenant_ids)
        quotas, balances = quotas.filter(tenant_id__in=ids), balances.filter(tenant_id__in=ids)
    if period is not None:
        quotas, balances = quotas.filter(period=period), balances.filter(period=period)
    round_granted = {
        (t, p, i): float(total or 0.0)
        for t, p, i, total in quotas.order_by()
        .values("tenant_id", "period_id", "inventory_id")
        .annotate(total=Sum("normalized_hours"))
        .values_list("tenant_id", "period_id", "inventory_id", "total")
    }
    ledger = {
        (t, p, i): (g, u)
        for t, p, i, g, u in balances.values_list("tenant_id", "period_id", "inventory_id", "granted", "used")
    }
    keys = set(round_granted) | set(ledger)
    if not keys:
        return []
    who, when = {k[0] for k in keys}, {k[1] for k in keys}
    used = {
        (t, p, i): float(total or 0.0)
        for t, p, i, total in UsageRecord.objects.filter(tenant_id__in=who, booking__period_id__in=when)
        .order_by()
        .values("tenant_id", "booking__period_id", "booking__inventory_id")
        .annotate(total=Sum("normalized_hours"))
        .values_list("tenant_id", "booking__period_id", "booking__inventory_id", "total")
    }
    tenants = Tenant.objects.in_bulk(who)
    periods = AllocationPeriod.objects.in_bulk(when)
    inventories = Inventory.objects.select_related("gigafactory", "chip_type").in_bulk({k[2] for k in keys})
    rows = []
    for key in keys:
        granted, booked = ledger.get(key, (round_granted.get(key, 0.0), 0.0))
        rows.append(
            GrantRow(
                tenant=tenants[key[0]],
                period=periods[key[1]],
                inventory=inventories[key[2]],
                round_granted=round_granted.get(key, 0.0),
                granted=granted,
                booked=booked,
                used=used.get(key, 0.0),
            )
        )
    return sorted(rows, key=lambda r: (r.period.starts_at, r.tenant.name, str(r.inventory), r.tenant.pk))
