"""Fair-share factor: Slurm's classic algorithm with pools as accounts.

Invariants (section 2 of docs ``fair-share.md``):
- Decayed usage ``R_i = sum h_k * 2^(-(now - t_k) / H)`` over tenant i's records.
- ``u_i = R_i / sum_j R_j``; a pool's usage ``u_p`` is the sum over its tenants.
- Effective usage ``e_i = u_i + (u_p - u_i) * w_i / sum_{j in p} w_j`` and
  ``F_i = 2^(-e_i / s_i)`` with the global share
  ``s_i = (W_p / sum W) * (w_i / sum_{j in p} w_j)``.
- When the total decayed usage is zero every factor is exactly 1.0, so the
  result is in (0, 1] for usage that is not in the future.
- Pure function of its arguments: no Django, no clock, no randomness; the
  result lists every tenant in the order given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from allocation.fairshare.types import Pool, Tenant, Usage

_SECONDS_PER_HOUR = 3600.0


def decayed_usage(
    *, tenants: Sequence[Tenant], usage: Iterable[Usage], now: datetime, half_life_hours: float
) -> dict[str, float]:
    """Decayed normalized hours per tenant (0.0 for a tenant without records)."""
    if half_life_hours <= 0:
        raise ValueError(f"half_life_hours must be positive, got {half_life_hours!r}")
    decayed = {tenant.id: 0.0 for tenant in tenants}
    for record in usage:
        if record.tenant not in decayed:
            raise ValueError(f"usage for unknown tenant {record.tenant!r}")
        age_hours = (now - record.at).total_seconds() / _SECONDS_PER_HOUR
        decayed[record.tenant] += record.normalized_hours * 2.0 ** (-age_hours / half_life_hours)
    return decayed


def global_shares(*, pools: Sequence[Pool], tenants: Sequence[Tenant]) -> dict[str, float]:
    """``s_i`` for every tenant, over all pools and tenants given."""
    pool_weight = {pool.id: pool.weight for pool in pools}
    total_pool_weight = sum(pool_weight.values())
    tenant_weight_in_pool = _tenant_weight_per_pool(pool_weight, tenants)
    return {
        tenant.id: (pool_weight[tenant.pool] / total_pool_weight) * (tenant.weight / tenant_weight_in_pool[tenant.pool])
        for tenant in tenants
    }


def fair_share_factors(
    *,
    pools: Sequence[Pool],
    tenants: Sequence[Tenant],
    usage: Iterable[Usage],
    now: datetime,
    half_life_hours: float = 168.0,
) -> dict[str, float]:
    """Tenant id -> F in (0, 1]; higher is served first by the booking round."""
    pool_weight = {pool.id: pool.weight for pool in pools}
    tenant_weight_in_pool = _tenant_weight_per_pool(pool_weight, tenants)
    decayed = decayed_usage(tenants=tenants, usage=usage, now=now, half_life_hours=half_life_hours)
    total = sum(decayed.values())
    if total <= 0.0:
        # Slurm's convention: without any usage nobody is behind anybody.
        return {tenant.id: 1.0 for tenant in tenants}
    normalized = {tenant_id: r / total for tenant_id, r in decayed.items()}
    pool_usage = dict.fromkeys(pool_weight, 0.0)
    for tenant in tenants:
        pool_usage[tenant.pool] += normalized[tenant.id]
    shares = global_shares(pools=pools, tenants=tenants)
    factors: dict[str, float] = {}
    for tenant in tenants:
        u_i = normalized[tenant.id]
        sibling_fraction = tenant.weight / tenant_weight_in_pool[tenant.pool]
        # The pool's usage leaks into each member by its weight, which is what
        # holds a tenant back when its siblings overused the pool.
        effective = u_i + (pool_usage[tenant.pool] - u_i) * sibling_fraction
        factors[tenant.id] = 2.0 ** (-effective / shares[tenant.id])
    return factors


def _tenant_weight_per_pool(pool_weight: dict[str, float], tenants: Sequence[Tenant]) -> dict[str, float]:
    totals = dict.fromkeys(pool_weight, 0.0)
    for tenant in tenants:
        if tenant.pool not in totals:
            raise ValueError(f"tenant {tenant.id!r} is in unknown pool {tenant.pool!r}")
        totals[tenant.pool] += tenant.weight
    return totals
