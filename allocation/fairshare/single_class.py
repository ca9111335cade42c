"""The allocation round when every request has the same eligibility set.

Invariants:
- With one class there is no routing choice, so the nested leximin is plain
  recursive weighted water-filling: pools by W_p up to min(C, sum D), each
  pool's total over its tenants by s_i, each tenant's over its requests.
- Produces exactly what the general path produces for such input (same
  figures, same grants order, same sentences); it only skips the flow
  machinery and the per-tenant bookkeeping a million tenants cannot afford.
- Bit-stable: every float is computed by the same operations in the same
  order as the straightforward per-tenant loops would (pool sums in tenant
  order, shares as ``weight * pool_scale``, ``fill`` per pool); the bulk
  passes below only move those loops into C (``map``, ``reduce``,
  ``compress``), they never reassociate a sum.
- Linear in expectation: each pool's level comes from selection, not a
  sort (water_level above SCAN_MAX items); the per-tenant work is a few bulk
  passes over flat lists, and explanations are formatted only when read.
- Request q being tenant q's only request (checked by comparing the two id
  lists) skips every id lookup; otherwise, or when tenant ids repeat,
  requests are matched to tenants through an id -> index dict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import reduce
from itertools import compress, repeat
from operator import add, attrgetter, mul

from allocation.fairshare.allocation_explain import WaterFillExplanations, pool_cap_clause
from allocation.fairshare.limits import capacity_check
from allocation.fairshare.types import AllocationInput, AllocationResult, Grant, Pool, Request
from allocation.fairshare.waterfill import fill, water_level

_ids = attrgetter("id")


def shared_class(inp: AllocationInput) -> list[int] | None:
    """Resource indices of the one eligibility set every request names, or
    None when requests differ (or name nothing this round offers)."""
    if not inp.requests:
        return None
    first = inp.requests[0].eligible
    if not all(map(first.__eq__, map(attrgetter("eligible"), inp.requests))):
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
    t_ids = list(map(_ids, inp.tenants))
    if list(map(attrgetter("tenant"), inp.requests)) == t_ids:
        # The common shape (and the benchmark's): request q is tenant q's only
        # request.  Then no id lookups are needed, provided tenant ids are
        # unique, which the tenants dict built at the end proves.
        result = _allocate(inp, rs, t_ids, in_order=True)
        if len(result.tenants) == len(t_ids):
            return result
    return _allocate(inp, rs, t_ids, in_order=False)


def _allocate(inp: AllocationInput, rs: list[int], t_ids: list[str], *, in_order: bool) -> AllocationResult:
    """Pools, then tenants, then requests by water-filling; then the cleaned figures and grants."""
    pools, tenants, requests = inp.pools, inp.tenants, inp.requests
    cap = [max(inp.resources[r].throughput * inp.resources[r].capacity_gpu_hours, 0.0) for r in rs]
    pool_ix = {p.id: j for j, p in enumerate(pools)}
    t_pool = list(map(pool_ix.__getitem__, map(attrgetter("pool"), tenants)))
    t_w = list(map(attrgetter("weight"), tenants))
    q_d = list(map(attrgetter("demand"), requests))
    if not all(map((0.0).__lt__, q_d)):
        # Negative, zero or NaN demands count as nothing (and -0.0 as 0.0).
        q_d = [d if d > 0.0 else 0.0 for d in q_d]
    n_t = len(tenants)
    q_t: list[int] | None = None
    n_req: list[int] | None = None
    if in_order:
        t_d = q_d  # one request per tenant: its demand is the tenant's
    else:
        q_t, t_d, n_req = _tenant_demands(requests, t_ids, q_d)
    capacity = math.fsum(cap)
    scale = max(min(capacity, math.fsum(q_d)), 1e-9)
    tol = 1e-9 * scale
    nd = decimals(scale)
    t_val, p_scale = _tenant_values(pools, t_pool, t_d, t_w, capacity)
    if q_t is None:
        q_val = t_val  # each tenant's only request carries its whole total
    else:
        assert n_req is not None
        q_val = _requests(q_t, q_d, n_req, t_val, t_d)
    names = [f"{inp.resources[r].site}/{inp.resources[r].chip_type}" for r in rs]
    # The class's resources are filled as one: its requests together within their capacity.
    capacity_check([", ".join(names)], [sum(q_val)], [capacity], tol)
    q_clean = list(map(_Rounded(nd).__getitem__, q_val))
    q_ids = list(map(_ids, requests))
    grants = _grants(inp, rs, cap, q_ids, q_val, q_clean, nd)
    t_clean = q_clean if q_t is None else _tenant_clean(q_t, q_val, q_clean, n_req, n_t, nd)
    p_clean = [0.0] * len(pools)
    for j, v in zip(t_pool, t_clean, strict=True):
        p_clean[j] += v
    p_clean = [round(v, nd) for v in p_clean]
    full = names if math.fsum(q_val) >= capacity - tol else []
    why = WaterFillExplanations(
        ids=t_ids,
        demand=t_d,
        total=t_clean,
        requests=n_req,
        weight=t_w,
        pool=t_pool,
        pool_scale=p_scale,
        clauses=[pool_cap_clause(p.id, p_clean[j], full) for j, p in enumerate(pools)],
        tol=tol,
    )
    return AllocationResult(
        pools=dict(zip([p.id for p in pools], p_clean, strict=True)),
        tenants=dict(zip(t_ids, t_clean, strict=True)),
        requests=dict(zip(q_ids, q_clean, strict=True)),
        grants=grants,
        explanations=why,
    )


def _tenant_demands(
    requests: Sequence[Request], t_ids: list[str], q_d: list[float]
) -> tuple[list[int], list[float], list[int]]:
    """Each request's tenant index, each tenant's demand (its requests' in
    request order) and its number of requests."""
    t_ix = {t: i for i, t in enumerate(t_ids)}
    q_t = [t_ix[q.tenant] for q in requests]
    t_d = [0.0] * len(t_ids)
    n_req = [0] * len(t_ids)
    for i, d in zip(q_t, q_d, strict=True):
        t_d[i] += d
        n_req[i] += 1
    return q_t, t_d, n_req


def _tenant_values(
    pools: Sequence[Pool], t_pool: list[int], t_d: list[float], t_w: list[float], capacity: float
) -> tuple[list[float], list[float]]:
    """Each tenant's total (pools filled by weight up to the capacity, then
    each pool's total over its tenants), and each pool's share per unit of
    tenant weight."""
    n_p = len(pools)
    # Per pool, demands and weights in tenant order (one pass over the
    # tenants), so pool sums add left to right as ``p_d[t_pool[i]] += t_d[i]``
    # over all tenants would.
    m_d: list[list[float]] = [[] for _ in range(n_p)]
    m_w: list[list[float]] = [[] for _ in range(n_p)]
    put_d, put_w = [m.append for m in m_d], [m.append for m in m_w]
    for j, d, w in zip(t_pool, t_d, t_w, strict=True):
        # d * 1.0 is d exactly, as a fresh float next to its pool-mates in
        # memory: the sorts in water_level then read compact lists instead
        # of a million floats scattered over the input (cache misses).
        put_d[j](d * 1.0)
        put_w[j](w)
    p_d = [reduce(add, ds, 0.0) for ds in m_d]
    p_tw = [reduce(add, ws, 0.0) for ws in m_w]
    total_w = math.fsum(p.weight for p in pools)
    p_val = fill(p_d, [p.weight / total_w for p in pools], min(capacity, math.fsum(p_d)))
    # Tenant i's share is t_w[i] * p_scale[t_pool[i]], and it gets
    # min(t_d[i], share * p_level[t_pool[i]]): what fill() per pool returns
    # (min(d, inf) is d), computed in one pass in tenant order.
    p_scale = [p.weight / total_w / tw if ws else 0.0 for p, tw, ws in zip(pools, p_tw, m_w, strict=True)]
    p_level = [
        water_level(ds, list(map(mul, ws, repeat(sc))), v) if ds else 0.0
        for ds, ws, sc, v in zip(m_d, m_w, p_scale, p_val, strict=True)
    ]
    del m_d, m_w
    shares = map(mul, t_w, map(p_scale.__getitem__, t_pool))
    # ``x if x < d else d`` is min(d, x) to the bit (min keeps its first
    # argument unless the second is smaller) without a builtin call per tenant.
    t_val = [x if x < d else d for d, x in zip(t_d, map(mul, shares, map(p_level.__getitem__, t_pool)), strict=True)]
    return t_val, p_scale


def _tenant_clean(
    q_t: list[int], q_val: list[float], q_clean: list[float], n_req: list[int] | None, n_t: int, nd: int
) -> list[float]:
    """Each tenant's cleaned figure when requests are matched to tenants by id."""
    assert n_req is not None
    t_clean = [0.0] * n_t
    if max(n_req, default=0) <= 1:
        # One request per tenant: its cleaned figure is the tenant's.
        for i, v in zip(q_t, q_clean, strict=True):
            t_clean[i] = v
        return t_clean
    # A tenant's figure is its requests' raw values summed exactly, then cleaned, as in
    # the general path: summing cleaned values can land a hair off and flip a printed digit.
    parts: list[list[float]] = [[] for _ in range(n_t)]
    for i, v in zip(q_t, q_val, strict=True):
        parts[i].append(v)
    return [round(math.fsum(vs), nd) + 0.0 for vs in parts]


class _Rounded(dict[float, float]):
    """``round(v, nd)`` looked up per figure, computed once per distinct value.

    round() to a number of decimals is a correctly rounded decimal
    conversion and costs several times a dict lookup; a round's figures
    repeat a lot (saturated tenants carry their demand, held ones one level
    per pool and weight).  Zeros are never stored: 0.0 and -0.0 are one key,
    and round() keeps each one's sign.
    """

    def __init__(self, nd: int) -> None:
        super().__init__()
        self.nd = nd

    def __missing__(self, v: float) -> float:
        r = round(v, self.nd)
        if v != 0.0:
            self[v] = r
        return r


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
    q_ids: Sequence[str],
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
        given = [g > 0.0 for g in hours]
        fields = zip(compress(q_ids, given), repeat(one.site), repeat(one.chip_type), compress(hours, given))
        # tuple.__new__ is what Grant._make does, without a Python-level call per grant.
        return tuple(map(tuple.__new__, repeat(Grant), fields))
    left = list(cap)
    j = 0
    out: list[Grant] = []
    for qid, want in zip(q_ids, q_val, strict=True):
        while want > eps and j < len(rs):
            take = min(left[j], want)
            if take > eps:
                gpu = round(take / res[j].throughput, nd)
                if gpu > 0.0:
                    out.append(Grant(qid, res[j].site, res[j].chip_type, gpu))
            left[j] -= take
            want -= take
            if left[j] <= eps:
                j += 1
    return tuple(out)
