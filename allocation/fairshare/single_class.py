"""The allocation round when every request has the same eligibility set.

Invariants:
- With one class there is no routing choice, so the nested leximin is plain
  recursive weighted water-filling: pools by W_p up to min(C, sum D), each
  pool's total over its tenants by s_i, each tenant's over its requests.
- Produces exactly what the general path produces for such input (same
  figures, same grants order, same sentences); it only skips the flow
  machinery and the per-tenant bookkeeping a million tenants cannot afford.
- Linear apart from one sort per pool; no per-tenant objects beyond the
  result itself.
"""

from __future__ import annotations

import math

from allocation.fairshare.allocation_explain import (
    ASKED_NOTHING,
    NO_REQUEST,
    held_by_pool,
    pool_cap_clause,
    saturated,
)
from allocation.fairshare.types import AllocationInput, AllocationResult, Grant
from allocation.fairshare.waterfill import fill


def shared_class(inp: AllocationInput) -> list[int] | None:
    """Resource indices of the one eligibility set every request names, or
    None when requests differ (or name nothing this round offers)."""
    if not inp.requests:
        return None
    first = inp.requests[0].eligible
    for q in inp.requests:
        if q.eligible != first:
            return None
    index: dict[tuple[str, str], int] = {}
    for i, r in enumerate(inp.resources):
        index.setdefault(r.key, i)
    found = sorted({index[k] for k in first if k in index})
    return found or None


def decimals(scale: float) -> int:
    """Decimal places that keep 12 significant digits of the largest figure:
    enough to drop float dust (499.99999999999994 -> 500.0) and no more."""
    return max(0, 12 - math.ceil(math.log10(max(scale, 1e-300))))


def allocate_single_class(inp: AllocationInput, rs: list[int]) -> AllocationResult:
    pools, tenants, requests = inp.pools, inp.tenants, inp.requests
    cap = [max(inp.resources[r].throughput * inp.resources[r].capacity_gpu_hours, 0.0) for r in rs]
    pool_ix = {p.id: j for j, p in enumerate(pools)}
    t_pool = [pool_ix[t.pool] for t in tenants]
    t_ix = {t.id: i for i, t in enumerate(tenants)}
    q_t = [t_ix[q.tenant] for q in requests]
    q_d = [q.demand if q.demand > 0.0 else 0.0 for q in requests]
    n_t, n_p = len(tenants), len(pools)
    t_d = [0.0] * n_t
    n_req = [0] * n_t
    for i, d in zip(q_t, q_d, strict=True):
        t_d[i] += d
        n_req[i] += 1
    p_d = [0.0] * n_p
    p_tw = [0.0] * n_p
    members: list[list[int]] = [[] for _ in range(n_p)]
    for i, t in enumerate(tenants):
        j = t_pool[i]
        p_d[j] += t_d[i]
        p_tw[j] += t.weight
        members[j].append(i)
    total_w = math.fsum(p.weight for p in pools)
    capacity = math.fsum(cap)
    scale = max(min(capacity, math.fsum(q_d)), 1e-9)
    tol = 1e-9 * scale
    nd = decimals(scale)
    p_val = fill(p_d, [p.weight / total_w for p in pools], min(capacity, math.fsum(p_d)))
    t_val = [0.0] * n_t
    share = [0.0] * n_t
    for j, ts in enumerate(members):
        if not ts:
            continue
        scale_j = pools[j].weight / total_w / p_tw[j]
        ws = [tenants[i].weight * scale_j for i in ts]
        for i, w, v in zip(ts, ws, fill([t_d[i] for i in ts], ws, p_val[j]), strict=True):
            t_val[i] = v
            share[i] = w
    q_val = _requests(q_t, q_d, n_req, t_val, t_d)
    q_clean = [round(v, nd) for v in q_val]
    grants = _grants(inp, rs, cap, q_val, q_clean, nd)
    if max(n_req, default=0) <= 1:
        # One request per tenant: its cleaned figure is the tenant's.
        t_clean = [0.0] * n_t
        for i, v in zip(q_t, q_clean, strict=True):
            t_clean[i] = v
    else:
        t_clean = [0.0] * n_t
        for i, v in zip(q_t, q_clean, strict=True):
            t_clean[i] += v
        t_clean = [round(v, nd) for v in t_clean]
    p_clean = [0.0] * n_p
    for i, v in enumerate(t_clean):
        p_clean[t_pool[i]] += v
    p_clean = [round(v, nd) for v in p_clean]
    names = [f"{inp.resources[r].site}/{inp.resources[r].chip_type}" for r in rs]
    full = names if math.fsum(q_val) >= capacity - tol else []
    clauses = [pool_cap_clause(p.id, p_clean[j], full) for j, p in enumerate(pools)]
    said: dict[float, str] = {}  # demands repeat a lot; format each once

    def saturated_once(d: float) -> str:
        text = said.get(d)
        if text is None:
            text = said[d] = saturated(d)
        return text

    why = [
        (ASKED_NOTHING if n_req[i] else NO_REQUEST)
        if d <= 0.0
        else saturated_once(d)
        if v >= d - tol
        else held_by_pool(v, d, share[i], clauses[t_pool[i]])
        for i, (d, v) in enumerate(zip(t_d, t_clean, strict=True))
    ]
    return AllocationResult(
        pools=dict(zip([p.id for p in pools], p_clean, strict=True)),
        tenants=dict(zip([t.id for t in tenants], t_clean, strict=True)),
        requests=dict(zip([q.id for q in requests], q_clean, strict=True)),
        grants=grants,
        explanations=dict(zip([t.id for t in tenants], why, strict=True)),
    )


def _requests(q_t: list[int], q_d: list[float], n_req: list[int], t_val: list[float], t_d: list[float]) -> list[float]:
    out = [0.0] * len(q_t)
    several: dict[int, list[int]] = {}
    for q, i in enumerate(q_t):
        if n_req[i] == 1:
            out[q] = t_val[i]  # a tenant's only request carries its whole total
        elif t_val[i] >= t_d[i]:
            out[q] = q_d[q]
        else:
            several.setdefault(i, []).append(q)
    for i, qs in several.items():
        for q, v in zip(qs, fill([q_d[q] for q in qs], [1.0] * len(qs), t_val[i]), strict=True):
            out[q] = v
    return out


def _grants(
    inp: AllocationInput,
    rs: list[int],
    cap: list[float],
    q_val: list[float],
    q_clean: list[float],
    nd: int,
) -> tuple[Grant, ...]:
    # North-west corner over the class's resources in input order, exactly as
    # the general path splits a class.
    eps = 10.0 ** (-nd) / 10.0
    res = [inp.resources[r] for r in rs]
    if len(res) == 1:
        one, theta = res[0], res[0].throughput
        hours = q_clean if theta == 1.0 else [round(v / theta, nd) for v in q_val]
        return tuple(
            Grant(q.id, one.site, one.chip_type, g) for q, g in zip(inp.requests, hours, strict=True) if g > 0.0
        )
    left = list(cap)
    j = 0
    out: list[Grant] = []
    for q, want in zip(inp.requests, q_val, strict=True):
        while want > eps and j < len(rs):
            take = min(left[j], want)
            if take > eps:
                gpu = round(take / res[j].throughput, nd)
                if gpu > 0.0:
                    out.append(Grant(q.id, res[j].site, res[j].chip_type, gpu))
            left[j] -= take
            want -= take
            if left[j] <= eps:
                j += 1
    return tuple(out)
