"""Fair-share factor: Slurm's classic algorithm with pools as accounts.

Invariants (section 2 of docs ``fair-share.md``):
- Decayed usage ``R_i = sum h_k * 2^(-(now - t_k) / H)`` over tenant i's records.
- ``u_i = R_i / sum_j R_j``; a pool's usage ``u_p`` is the sum over its tenants.
- Effective usage ``e_i = u_i + (u_p - u_i) * w_i / sum_{j in p} w_j`` and
  ``F_i = 2^(-e_i / s_i)`` with the global share
  ``s_i = (W_p / sum W) * (w_i / sum_{j in p} w_j)``.
- When the total decayed usage is zero every factor is exactly 1.0, so the
  result is in (0, 1] for usage that is not in the future.
- Order is exact for any usage: ``fair_share_exponents`` gives
  ``x_i = e_i / s_i`` (so ``F_i = 2^-x_i``; lower is served first), which
  stays distinct where ``2^-x`` underflows (``x`` above 1074, e.g. a tenant
  holding 75% of the usage among 1,500 equal tenants).  ``F`` itself is
  never 0.0: below the smallest positive float it is that float,
  ``SMALLEST_FACTOR``; ``factor_text`` writes it in decimal with 6
  significant digits at any size.
- Never NaN or infinite: decayed usage too large to add up (records of
  1e308) is normalised through powers of two instead; a usage record more
  than ``USAGE_AHEAD_MAX_HALF_LIVES`` half-lives after ``now`` is refused
  (``EngineError``), it would weigh more than 2^64 times its hours.
- Pure function of its arguments: no Django, no clock, no randomness; the
  result lists every tenant in the order given.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime

from allocation.fairshare.limits import USAGE_AHEAD_MAX_HALF_LIVES, EngineError
from allocation.fairshare.types import Pool, Tenant, Usage

_SECONDS_PER_HOUR = 3600.0
SMALLEST_FACTOR = math.ulp(0.0)  # 2^-1074, the smallest positive float
_LOG10_2 = math.log10(2.0)


def decayed_usage(
    *, tenants: Sequence[Tenant], usage: Iterable[Usage], now: datetime, half_life_hours: float
) -> dict[str, float]:
    """Decayed normalized hours per tenant (0.0 for a tenant without records)."""
    if half_life_hours <= 0:
        raise ValueError(f"half_life_hours must be positive, got {half_life_hours!r}")
    decayed = {tenant.id: 0.0 for tenant in tenants}
    for record in usage:
        decayed[_known(decayed, record)] += record.normalized_hours * 2.0 ** _halvings(record, now, half_life_hours)
    return decayed


def _known(decayed: dict[str, float], record: Usage) -> str:
    if record.tenant not in decayed:
        raise ValueError(f"usage for unknown tenant {record.tenant!r}")
    return record.tenant


def _halvings(record: Usage, now: datetime, half_life_hours: float) -> float:
    """``-(now - at) / H``: minus the half-lives the record has decayed (positive ahead of ``now``)."""
    ahead = (record.at - now).total_seconds() / _SECONDS_PER_HOUR / half_life_hours
    if ahead > USAGE_AHEAD_MAX_HALF_LIVES:
        raise EngineError(
            f"usage of tenant {record.tenant!r} at {record.at.isoformat()}: {ahead:.6g} half-lives after now "
            f"(at most {USAGE_AHEAD_MAX_HALF_LIVES})"
        )
    return ahead


def _normalized_usage(
    tenants: Sequence[Tenant], usage: Sequence[Usage], now: datetime, half_life_hours: float
) -> dict[str, float] | None:
    """``u_i = R_i / sum R``, or None when nobody has usage."""
    decayed = decayed_usage(tenants=tenants, usage=usage, now=now, half_life_hours=half_life_hours)
    total = sum(decayed.values())
    if not math.isfinite(total):
        # Too large to add up as floats: each record as a power of two relative
        # to the largest, which the ratios u_i do not depend on.
        decayed = _relative_usage(tenants, usage, now, half_life_hours)
        total = sum(decayed.values())
    if total <= 0.0:
        return None
    return {tenant_id: r / total for tenant_id, r in decayed.items()}


def _relative_usage(
    tenants: Sequence[Tenant], usage: Sequence[Usage], now: datetime, half_life_hours: float
) -> dict[str, float]:
    logs = [
        (record.tenant, math.log2(record.normalized_hours) + _halvings(record, now, half_life_hours))
        for record in usage
        if record.normalized_hours > 0.0
    ]
    top = max(value for _, value in logs)
    relative = {tenant.id: 0.0 for tenant in tenants}
    for tenant_id, value in logs:
        relative[tenant_id] += 2.0 ** (value - top)
    return relative


def global_shares(*, pools: Sequence[Pool], tenants: Sequence[Tenant]) -> dict[str, float]:
    """``s_i`` for every tenant, over all pools and tenants given."""
    pool_weight = {pool.id: pool.weight for pool in pools}
    total_pool_weight = sum(pool_weight.values())
    tenant_weight_in_pool = _tenant_weight_per_pool(pool_weight, tenants)
    return {
        tenant.id: (pool_weight[tenant.pool] / total_pool_weight) * (tenant.weight / tenant_weight_in_pool[tenant.pool])
        for tenant in tenants
    }


def fair_share_exponents(
    *,
    pools: Sequence[Pool],
    tenants: Sequence[Tenant],
    usage: Iterable[Usage],
    now: datetime,
    half_life_hours: float = 168.0,
) -> dict[str, float]:
    """Tenant id -> ``x_i = e_i / s_i`` >= 0, so that ``F_i = 2^-x_i``; lower is served first."""
    pool_weight = {pool.id: pool.weight for pool in pools}
    tenant_weight_in_pool = _tenant_weight_per_pool(pool_weight, tenants)
    normalized = _normalized_usage(tenants, tuple(usage), now, half_life_hours)
    if normalized is None:
        # Slurm's convention: without any usage nobody is behind anybody.
        return {tenant.id: 0.0 for tenant in tenants}
    pool_usage = dict.fromkeys(pool_weight, 0.0)
    for tenant in tenants:
        pool_usage[tenant.pool] += normalized[tenant.id]
    total_pool_weight = sum(pool_weight.values())
    exponents: dict[str, float] = {}
    for tenant in tenants:
        u_i = normalized[tenant.id]
        sibling_fraction = tenant.weight / tenant_weight_in_pool[tenant.pool]
        # The pool's usage leaks into each member by its weight, which is what
        # holds a tenant back when its siblings overused the pool.
        effective = u_i + (pool_usage[tenant.pool] - u_i) * sibling_fraction
        pool_fraction = pool_weight[tenant.pool] / total_pool_weight
        exponents[tenant.id] = _over_share(effective, pool_fraction, sibling_fraction)
    return exponents


def _over_share(effective: float, pool_fraction: float, sibling_fraction: float) -> float:
    """``e / s`` with ``s = pool_fraction * sibling_fraction``, finite whatever the weights."""
    if effective <= 0.0:
        return 0.0  # also a hair below 0 from rounding, which would make F exceed 1
    share = pool_fraction * sibling_fraction
    # A share a float barely holds (or underflows to 0.0) is divided out in two steps.
    x = effective / share if share > 1e-300 else effective / pool_fraction / sibling_fraction
    return x if x <= sys.float_info.max else sys.float_info.max


def factor_of(exponent: float) -> float:
    """``F = 2^-x``, never below ``SMALLEST_FACTOR`` (F is in (0, 1])."""
    factor = 2.0**-exponent if exponent < 1100.0 else 0.0
    return factor if factor > 0.0 else SMALLEST_FACTOR


def factor_text(exponent: float) -> str:
    """F in decimal with 6 significant digits, also below the smallest float (``1.23457e-400``)."""
    if exponent < 1000.0:
        return f"{2.0**-exponent:#.6g}"
    digits = -exponent * _LOG10_2
    power = math.floor(digits)
    mantissa = 10.0 ** (digits - power)
    if f"{mantissa:.5f}" == "10.00000":
        mantissa, power = 1.0, power + 1
    return f"{mantissa:.5f}e{power}"


def fair_share_factors(
    *,
    pools: Sequence[Pool],
    tenants: Sequence[Tenant],
    usage: Iterable[Usage],
    now: datetime,
    half_life_hours: float = 168.0,
) -> dict[str, float]:
    """Tenant id -> F in (0, 1]; higher is served first by the booking round (ties: compare the exponents)."""
    exponents = fair_share_exponents(
        pools=pools, tenants=tenants, usage=usage, now=now, half_life_hours=half_life_hours
    )
    return {tenant_id: factor_of(x) for tenant_id, x in exponents.items()}


def _tenant_weight_per_pool(pool_weight: dict[str, float], tenants: Sequence[Tenant]) -> dict[str, float]:
    totals = dict.fromkeys(pool_weight, 0.0)
    for tenant in tenants:
        if tenant.pool not in totals:
            raise ValueError(f"tenant {tenant.id!r} is in unknown pool {tenant.pool!r}")
        totals[tenant.pool] += tenant.weight
    return totals
