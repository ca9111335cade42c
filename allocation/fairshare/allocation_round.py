"""The allocation round: nested leximin over pools, tenants and requests.

Invariants:
- Works in normalized hours throughout: resource r offers theta_r * C_r, so
  the round is an ordinary bipartite flow; grants are converted back to
  GPU-hours (x = normalized / theta) only at the end.
- Requests with the same eligibility set form a class; every flow graph runs
  member -> class -> resource, so its size follows pools and classes, not
  requests.  Requests with no eligible resource get 0.
- Step 1 fixes pool totals, step 2 tenant totals with pool totals fixed,
  step 3 request totals with tenant totals fixed (``leximin.solve_step``).
  Members already settled (saturated, zero, or alone in one class) never
  enter a flow graph; they become fixed supply on their classes.
- With a single class there is no routing choice at all and every step is
  plain weighted water-filling: ``single_class`` handles that (the
  million-tenant path) and must agree with ``allocate_general``.
- Deterministic: iteration follows input order everywhere; figures are
  cleaned of float dust relative to the scenario's scale.
"""

from __future__ import annotations

import gc
import math
from collections import defaultdict

from allocation.fairshare.allocation_explain import LazyExplanations, PoolFacts, TenantFacts, explain
from allocation.fairshare.leximin import DEMAND, PARENT, StepProblem, solve_step
from allocation.fairshare.limits import EngineError, capacity_check
from allocation.fairshare.maxflow import INF, FlowNetwork
from allocation.fairshare.single_class import allocate_single_class, decimals, shared_class
from allocation.fairshare.split import split_grants
from allocation.fairshare.types import AllocationInput, AllocationResult, Grant, ResourceKey
from allocation.fairshare.waterfill import fill


class _Model:
    """The input indexed once: classes, per-class demands, shares."""

    def __init__(self, inp: AllocationInput) -> None:
        self.inp = inp
        res_index: dict[tuple[str, str], int] = {}
        for i, r in enumerate(inp.resources):
            res_index.setdefault(r.key, i)
        self.theta = [r.throughput for r in inp.resources]
        self.cap = [max(r.throughput * r.capacity_gpu_hours, 0.0) for r in inp.resources]
        pool_index = {p.id: i for i, p in enumerate(inp.pools)}
        tenant_index = {t.id: i for i, t in enumerate(inp.tenants)}
        self.tenant_pool = [pool_index[t.pool] for t in inp.tenants]
        class_index: dict[tuple[int, ...], int] = {}
        self.class_resources: list[tuple[int, ...]] = []
        self.req_class: list[int] = []
        self.req_tenant: list[int] = []
        self.req_demand: list[float] = []
        # Few distinct eligibility tuples recur across many requests: resolve each once.
        class_of: dict[tuple[ResourceKey, ...], int] = {}
        for req in inp.requests:
            k = class_of.get(req.eligible, -2)
            if k == -2:
                key = tuple(sorted({res_index[r] for r in req.eligible if r in res_index}))
                k = -1
                if key:
                    k = class_index.setdefault(key, len(class_index))
                    if k == len(self.class_resources):
                        self.class_resources.append(key)
                class_of[req.eligible] = k
            self.req_class.append(k)
            self.req_tenant.append(tenant_index[req.tenant])
            self.req_demand.append(max(req.demand, 0.0) if k >= 0 else 0.0)
        n_t = len(inp.tenants)
        self.tenant_reqs: list[list[int]] = [[] for _ in range(n_t)]
        for q, i in enumerate(self.req_tenant):
            self.tenant_reqs[i].append(q)
        self.tenant_class: list[dict[int, float]] = [defaultdict(float) for _ in range(n_t)]
        for q, i in enumerate(self.req_tenant):
            if self.req_demand[q] > 0.0:
                self.tenant_class[i][self.req_class[q]] += self.req_demand[q]
        self.tenant_demand = [math.fsum(d.values()) for d in self.tenant_class]
        self.pool_demand = [0.0] * len(inp.pools)
        for i, d in enumerate(self.tenant_demand):
            self.pool_demand[self.tenant_pool[i]] += d
        total_w = math.fsum(p.weight for p in inp.pools)
        pool_tw = [0.0] * len(inp.pools)
        for i, t in enumerate(inp.tenants):
            pool_tw[self.tenant_pool[i]] += t.weight
        self.pool_share = [p.weight / total_w for p in inp.pools] if inp.pools else []
        # w * (W_p / sum W / sum w): the same float operations as the single-class path, so
        # both print the same "per unit of share" to the last digit.
        self.tenant_share = [
            t.weight * (self.pool_share[p] / pool_tw[p]) for t, p in zip(inp.tenants, self.tenant_pool, strict=True)
        ]
        total_d = math.fsum(self.req_demand)
        self.scale = max(min(math.fsum(self.cap), total_d), 1e-9)
        self.tol = 1e-9 * self.scale

    def problem(self, **kw: object) -> StepProblem:
        return StepProblem(
            resource_capacity=self.cap,
            class_resources=self.class_resources,
            scale=self.scale,
            **kw,  # type: ignore[arg-type]
        )


def _reachable_total(m: _Model) -> float:
    """Step 1's root total: the most any feasible x can hand out."""
    n_res, n_cls = len(m.cap), len(m.class_resources)
    net = FlowNetwork(2 + n_res + n_cls, 1e-12 * m.scale)
    for r, c in enumerate(m.cap):
        net.add_edge(2 + r, 1, c)
    supply = [0.0] * n_cls
    for q, k in enumerate(m.req_class):
        if k >= 0:
            supply[k] += m.req_demand[q]
    for k, rs in enumerate(m.class_resources):
        net.add_edge(0, 2 + n_res + k, supply[k])
        for r in rs:
            net.add_edge(2 + n_res + k, 2 + r, INF)
    return net.max_flow(0, 1)


def _pools(m: _Model) -> tuple[list[float], list[str]]:
    n_p = len(m.inp.pools)
    total = [0.0] * n_p
    reason = [""] * n_p
    members = [p for p in range(n_p) if m.pool_demand[p] > 0.0]
    if not members:
        return total, reason
    per_class: list[dict[int, float]] = [defaultdict(float) for _ in range(n_p)]
    for i, d in enumerate(m.tenant_class):
        for k, v in d.items():
            per_class[m.tenant_pool[i]][k] += v
    out = solve_step(
        m.problem(
            fixed_class_supply=[0.0] * len(m.class_resources),
            demand=[m.pool_demand[p] for p in members],
            weight=[m.pool_share[p] for p in members],
            group=list(range(len(members))),
            group_parent=[0] * len(members),
            group_edges=[sorted(per_class[p].items()) for p in members],
            parent_total=[_reachable_total(m)],
        )
    )
    for j, p in enumerate(members):
        total[p], reason[p] = out.value[j], out.reason[j]
    return total, reason


def _tenants(m: _Model, pool_total: list[float]) -> tuple[list[float], list[str]]:
    n_t = len(m.inp.tenants)
    total = [0.0] * n_t
    reason = [""] * n_t
    fixed = [0.0] * len(m.class_resources)
    demand: list[float] = []
    weight: list[float] = []
    group: list[int] = []
    who: list[int] = []
    group_parent: list[int] = []
    group_edges: list[list[tuple[int, float]]] = []
    parent_total: list[float] = []
    parent_of: dict[int, int] = {}
    shared: dict[tuple[int, int], int] = {}
    for i in range(n_t):
        d, p = m.tenant_demand[i], m.tenant_pool[i]
        if d <= 0.0:
            continue
        if pool_total[p] >= m.pool_demand[p] - m.tol:
            total[i], reason[i] = d, DEMAND
            for k, v in m.tenant_class[i].items():
                fixed[k] += v
            continue
        if pool_total[p] <= m.tol:
            reason[i] = PARENT
            continue
        if p not in parent_of:
            parent_of[p] = len(parent_total)
            parent_total.append(pool_total[p])
        par = parent_of[p]
        classes = m.tenant_class[i]
        if len(classes) == 1:
            (k,) = classes
            g = shared.get((par, k))
            if g is None:
                g = shared[(par, k)] = len(group_parent)
                group_parent.append(par)
                group_edges.append([(k, INF)])
        else:
            g = len(group_parent)
            group_parent.append(par)
            group_edges.append(sorted(classes.items()))
        demand.append(d)
        weight.append(m.tenant_share[i])
        group.append(g)
        who.append(i)
    if who:
        if len(m.class_resources) == 1:
            _fill_by_parent(m, who, pool_total, total, reason)
        else:
            out = solve_step(
                m.problem(
                    fixed_class_supply=fixed,
                    demand=demand,
                    weight=weight,
                    group=group,
                    group_parent=group_parent,
                    group_edges=group_edges,
                    parent_total=parent_total,
                )
            )
            for j, i in enumerate(who):
                total[i], reason[i] = out.value[j], out.reason[j]
    return total, reason


def _fill_by_parent(m: _Model, who: list[int], pool_total: list[float], total: list[float], reason: list[str]) -> None:
    """One class: no routing choice, so each pool is water-filled by share."""
    by_pool: dict[int, list[int]] = defaultdict(list)
    for i in who:
        by_pool[m.tenant_pool[i]].append(i)
    for p, ts in by_pool.items():
        vals = fill([m.tenant_demand[i] for i in ts], [m.tenant_share[i] for i in ts], pool_total[p])
        for i, v in zip(ts, vals, strict=True):
            total[i] = v
            reason[i] = DEMAND if v >= m.tenant_demand[i] - m.tol else PARENT


def _requests(m: _Model, tenant_total: list[float]) -> list[float]:
    n_q = len(m.req_demand)
    value = [0.0] * n_q
    fixed = [0.0] * len(m.class_resources)
    demand: list[float] = []
    group: list[int] = []
    who: list[int] = []
    group_parent: list[int] = []
    group_edges: list[list[tuple[int, float]]] = []
    parent_total: list[float] = []
    for i, qs in enumerate(m.tenant_reqs):
        live = [q for q in qs if m.req_demand[q] > 0.0]
        if not live:
            continue
        got = tenant_total[i]
        if len(m.tenant_class[i]) == 1 or got >= m.tenant_demand[i] - m.tol or got <= m.tol:
            # No routing freedom left: water-fill the tenant's total over its
            # requests (equal weights), which is leximin within the tenant.
            vals = fill([m.req_demand[q] for q in live], [1.0] * len(live), got)
            for q, v in zip(live, vals, strict=True):
                value[q] = v
                fixed[m.req_class[q]] += v
            continue
        par = len(parent_total)
        parent_total.append(got)
        groups: dict[int, int] = {}
        for q in live:
            k = m.req_class[q]
            if k not in groups:
                groups[k] = len(group_parent)
                group_parent.append(par)
                group_edges.append([(k, INF)])
            demand.append(m.req_demand[q])
            group.append(groups[k])
            who.append(q)
    if who:
        out = solve_step(
            m.problem(
                fixed_class_supply=fixed,
                demand=demand,
                weight=[1.0] * len(who),
                group=group,
                group_parent=group_parent,
                group_edges=group_edges,
                parent_total=parent_total,
            )
        )
        for j, q in enumerate(who):
            value[q] = out.value[j]
    return value


def allocate(inp: AllocationInput) -> AllocationResult:
    """The allocation round of spec section 1 (see the module docstring)."""
    # The round allocates millions of small acyclic objects (floats, strings,
    # grants); the cyclic collector would rescan them again and again for
    # nothing: each full pass costs in proportion to the live objects, so with
    # it on the round's time grows faster than its input.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        rs = shared_class(inp)
        if rs is not None:
            return allocate_single_class(inp, rs)
        return allocate_general(inp)
    except OverflowError as exc:  # math.fsum of figures near 1e308
        raise EngineError(f"{_largest_figure(inp)} is too large to add up with the others ({exc})") from exc
    finally:
        if was_enabled:
            gc.enable()


def _largest_figure(inp: AllocationInput) -> str:
    """The request or resource with the largest figure, to name in a refusal."""
    figures = [(q.demand, f"request {q.id!r}: demand {q.demand!r}") for q in inp.requests]
    figures += [
        (r.capacity_gpu_hours * r.throughput, f"resource {r.site}/{r.chip_type}: capacity {r.capacity_gpu_hours!r}")
        for r in inp.resources
    ]
    return max(figures, key=lambda pair: pair[0], default=(0.0, "a figure"))[1]


def allocate_general(inp: AllocationInput) -> AllocationResult:
    """The flow-based path; ``allocate`` skips it when there is one class."""
    m = _Model(inp)
    nd = decimals(m.scale)

    def _clean(v: float, _tol: float) -> float:
        # Adding 0.0 turns a rounded -0.0 into 0.0.
        return round(v, nd) + 0.0

    pool_raw, pool_reason = _pools(m)
    tenant_raw, tenant_reason = _tenants(m, pool_raw)
    req_raw = _requests(m, tenant_raw)
    pieces = split_grants(m.class_resources, m.cap, m.req_class, req_raw, 1e-12 * m.scale)
    tol = m.tol
    used = [0.0] * len(m.cap)
    pools_on: list[set[int]] = [set() for _ in m.cap]
    grants: list[Grant] = []
    for q, parts in enumerate(pieces):
        for r, amount in parts:
            used[r] += amount
            gpu = _clean(amount / m.theta[r], tol)
            if gpu > 0.0:
                res = inp.resources[r]
                grants.append(Grant(inp.requests[q].id, res.site, res.chip_type, gpu))
                pools_on[r].add(m.tenant_pool[m.req_tenant[q]])
    req_val = [_clean(v, tol) for v in req_raw]
    tenant_val = [_clean(math.fsum(req_raw[q] for q in qs), tol) for qs in m.tenant_reqs]
    pool_sum = [0.0] * len(inp.pools)
    for i, v in enumerate(tenant_val):
        pool_sum[m.tenant_pool[i]] += v
    pool_val = [_clean(v, tol) for v in pool_sum]
    names = [f"{r.site}/{r.chip_type}" for r in inp.resources]
    _delivered_check(names, used, m.cap, req_raw, tol)
    full = [used[r] >= m.cap[r] - tol for r in range(len(m.cap))]
    # A tenant's unmet demand can only wait on its unsatisfied requests' classes.
    wanting: list[set[int]] = [set() for _ in inp.tenants]
    for q, k in enumerate(m.req_class):
        if k >= 0 and req_raw[q] < m.req_demand[q] - tol:
            wanting[m.req_tenant[q]].add(k)
    explanations = _explain(m, pool_val, pool_reason, tenant_val, tenant_reason, full, names, pools_on, wanting)
    return AllocationResult(
        pools={p.id: v for p, v in zip(inp.pools, pool_val, strict=True)},
        tenants={t.id: v for t, v in zip(inp.tenants, tenant_val, strict=True)},
        requests={q.id: v for q, v in zip(inp.requests, req_val, strict=True)},
        grants=tuple(grants),
        explanations=explanations,
    )


def _delivered_check(names: list[str], used: list[float], cap: list[float], req_raw: list[float], tol: float) -> None:
    """No resource above its capacity, and the request figures are what the grants deliver."""
    capacity_check(names, used, cap, tol)
    promised, delivered = math.fsum(req_raw), math.fsum(used)
    if not promised <= delivered + tol:
        raise EngineError(
            f"requests: the round's figures add up to {promised!r} normalized hours but its grants to "
            f"{delivered!r}; refused (the weights or figures are beyond what the engine computes exactly)"
        )


def _explain(
    m: _Model,
    pool_val: list[float],
    pool_reason: list[str],
    tenant_val: list[float],
    tenant_reason: list[str],
    full: list[bool],
    names: list[str],
    pools_on: list[set[int]],
    wanting: list[set[int]],
) -> LazyExplanations:
    def exhausted(classes: object) -> list[int]:
        rs = sorted({r for k in classes for r in m.class_resources[k]})  # type: ignore[attr-defined]
        return [r for r in rs if full[r]]

    pool_classes: list[set[int]] = [set() for _ in m.inp.pools]
    for i, d in enumerate(m.tenant_class):
        pool_classes[m.tenant_pool[i]].update(d)
    pools = [
        PoolFacts(p.id, m.pool_demand[j], pool_val[j], pool_reason[j], [names[r] for r in exhausted(pool_classes[j])])
        for j, p in enumerate(m.inp.pools)
    ]

    def sentence(i: int) -> str:
        p = m.tenant_pool[i]
        rs = exhausted(wanting[i]) if tenant_reason[i] not in ("", DEMAND) else []
        rivals = sorted({o for r in rs for o in pools_on[r] if o != p})
        facts = TenantFacts(
            id=m.inp.tenants[i].id,
            demand=m.tenant_demand[i],
            total=tenant_val[i],
            share=m.tenant_share[i],
            reason=tenant_reason[i],
            has_requests=bool(m.tenant_reqs[i]),
            exhausted=[names[r] for r in rs],
            rivals=[m.inp.pools[o].id for o in rivals],
            pool_level=pool_val[p] / m.pool_share[p],
        )
        return explain(facts, pools[p], m.tol)

    return LazyExplanations([t.id for t in m.inp.tenants], sentence)
