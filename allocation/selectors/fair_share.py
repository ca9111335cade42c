"""Pool weights and the fair-share factor from decayed usage, as the engine and the booking round see them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Sum

from allocation import fairshare
from allocation.models import Contribution, Pool, Tenant, UsageRecord
from allocation.selectors.roles import tenants_of


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


def _recent_usage(*, now: datetime, tenant_ids: Iterable[int] | None = None) -> list[fairshare.Usage]:
    """Usage records that still weigh: older than 20 half-lives is less than a millionth."""
    half_life = settings.FAIR_SHARE_HALF_LIFE_HOURS
    records = UsageRecord.objects.filter(at__gt=now - timedelta(hours=20 * half_life), at__lte=now)
    if tenant_ids is not None:
        records = records.filter(tenant_id__in=list(tenant_ids))
    # An adjustment is dated as the record it corrects: summed per moment, a record and its
    # corrections weigh what they net to, never less than nothing (max() absorbs float rounding).
    netted = records.values("tenant_id", "at").annotate(hours=Sum("normalized_hours")).order_by()
    return [
        fairshare.Usage(tenant=str(tenant_id), at=at, normalized_hours=max(hours, 0.0))
        for tenant_id, at, hours in netted.values_list("tenant_id", "at", "hours")
    ]


def fair_share_exponents_by_tenant(*, now: datetime) -> dict[int, float]:
    """Tenant id -> x with F = 2^-x (effective usage over share): lowest served first, exact where F underflows."""
    from allocation.fairshare.factor import fair_share_exponents

    tenants = [
        fairshare.Tenant(id=str(pk), pool=str(pool_id), weight=weight)
        for pk, pool_id, weight in Tenant.objects.values_list("id", "pool_id", "weight")
    ]
    pools = [fairshare.Pool(id=str(pid), weight=max(w, 1e-6)) for pid, w in pool_weights().items()]
    exponents = fair_share_exponents(
        pools=pools,
        tenants=tenants,
        usage=_recent_usage(now=now),
        now=now,
        half_life_hours=settings.FAIR_SHARE_HALF_LIFE_HOURS,
    )
    return {int(tenant_id): x for tenant_id, x in exponents.items()}


def fair_share_by_tenant(*, now: datetime) -> dict[int, float]:
    """Tenant id -> Slurm-style fair-share factor F in (0, 1] from decayed usage (never 0.0: see
    ``fair_share_exponents_by_tenant`` to order tenants whose F is below the smallest float)."""
    from allocation.fairshare.factor import factor_of

    return {tenant_id: factor_of(x) for tenant_id, x in fair_share_exponents_by_tenant(now=now).items()}


def fair_share_of(*, user: Any, now: datetime) -> list[dict[str, Any]]:
    """The user's tenants with their factor F (as a float, as 6 significant digits that hold below the
    smallest float, and as the exponent x of F = 2^-x that orders exactly) and decayed usage, as the
    booking round sees them."""
    from allocation.fairshare.factor import decayed_usage, factor_of, factor_text

    tenants = list(tenants_of(user=user).order_by("name"))
    exponents = fair_share_exponents_by_tenant(now=now)
    decayed = decayed_usage(
        tenants=[fairshare.Tenant(id=str(t.pk), pool=str(t.pool_id), weight=t.weight) for t in tenants],
        usage=_recent_usage(now=now, tenant_ids=[t.pk for t in tenants]),
        now=now,
        half_life_hours=settings.FAIR_SHARE_HALF_LIFE_HOURS,
    )
    rows = []
    for t in tenants:
        x = exponents.get(t.pk, 0.0)
        rows.append(
            {
                "tenant": t,
                "factor": factor_of(x),
                "factor_text": factor_text(x),
                "exponent": x,
                "decayed_usage_normalized_hours": decayed[str(t.pk)],
            }
        )
    return rows
