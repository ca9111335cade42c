"""Reads. Every query a page, an endpoint or a task needs goes through here.

Invariants: nothing here writes; list selectors return querysets with the
relations a caller shows already joined, so list pages run a bounded number
of queries whatever their length.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Prefetch, QuerySet, Sum

from allocation.models import (
    Contribution,
    Gigafactory,
    GlobalRole,
    Inventory,
    Membership,
    Pool,
    Tenant,
)


def global_roles(*, user: Any) -> set[str]:
    if not getattr(user, "is_authenticated", False):
        return set()
    return set(GlobalRole.objects.filter(user=user).values_list("role", flat=True))


def memberships_of(*, user: Any) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__name")


def pool_weights(*, min_public_share: float | None = None) -> dict[int, float]:
    """Pool id -> weight, as shares summing to 1.

    A pool's raw weight is its partners' contributions in EUR. The public pool
    is then lifted to at least ``PUBLIC_POOL_MIN_SHARE`` and the private pools
    scaled down together, so no mix of private money can push public access
    below its floor.
    """
    floor = settings.PUBLIC_POOL_MIN_SHARE if min_public_share is None else min_public_share
    raw: dict[int, Decimal] = defaultdict(Decimal)
    for pool_id in Pool.objects.values_list("id", flat=True):
        raw[pool_id] = Decimal(0)
    totals = Contribution.objects.values("partner__pool").annotate(total=Sum("amount_eur"))
    for row in totals:
        raw[row["partner__pool"]] += row["total"] or Decimal(0)
    grand = sum(raw.values())
    if not raw:
        return {}
    if grand == 0:
        return {pool_id: 1 / len(raw) for pool_id in raw}
    shares = {pool_id: float(amount / grand) for pool_id, amount in raw.items()}
    public_id = Pool.objects.filter(is_public=True).values_list("id", flat=True).first()
    if public_id is not None and shares.get(public_id, 0.0) < floor:
        rest = 1.0 - shares[public_id]
        scale = (1.0 - floor) / rest if rest > 0 else 0.0
        shares = {pid: (floor if pid == public_id else share * scale) for pid, share in shares.items()}
    return shares


def sites_with_inventory() -> QuerySet[Gigafactory]:
    """Sites with their resources and per-site chip totals, in two queries."""
    return (
        Gigafactory.objects.annotate(
            chips_installed=Sum("inventory__chips_installed"),
            chips_in_service=Sum("inventory__chips_in_service"),
        )
        .prefetch_related(
            Prefetch("inventory", queryset=Inventory.objects.select_related("chip_type"))
        )
        .order_by("kind", "name")
    )


def capacity_totals() -> dict[str, int]:
    totals = Inventory.objects.aggregate(installed=Sum("chips_installed"), in_service=Sum("chips_in_service"))
    return {
        "sites": Gigafactory.objects.count(),
        "chips_installed": totals["installed"] or 0,
        "chips_in_service": totals["in_service"] or 0,
        "tenants": Tenant.objects.count(),
    }
