"""Test-only reference for the allocation round: the spec's definition solved
literally as a sequence of linear programs (scipy's HiGHS).

Invariants:
- Variables are x_{q,r} in GPU-hours for eligible pairs; g_q is
  sum_r theta_r x_{q,r}.  Constraints: capacity, demand, x >= 0, plus every
  equality fixed by earlier steps and by frozen entities of the current step.
- Each step repeats: maximise t with every unfrozen entity's value/weight >= t,
  then maximise each unfrozen entity alone (others held at >= weight * t);
  those that cannot rise above weight * t freeze there.  Simple and slow on
  purpose: it is the yardstick, not the engine.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import linprog

from allocation.fairshare.types import AllocationInput, AllocationResult, Grant

_TOL = 1e-7


class _LP:
    def __init__(self, inp: AllocationInput) -> None:
        self.inp = inp
        index = {r.key: i for i, r in enumerate(inp.resources)}
        self.pairs: list[tuple[int, int]] = []
        for q, req in enumerate(inp.requests):
            for r in sorted({index[k] for k in req.eligible if k in index}):
                self.pairs.append((q, r))
        n = len(self.pairs)
        theta = [r.throughput for r in inp.resources]
        self.g = np.zeros((len(inp.requests), n))
        for j, (q, r) in enumerate(self.pairs):
            self.g[q, j] = theta[r]
        cap = np.zeros((len(inp.resources), n))
        for j, (_, r) in enumerate(self.pairs):
            cap[r, j] = 1.0
        self.a_ub = [cap, self.g]
        # HiGHS tolerances are absolute, so the LPs run in units that put the
        # total capacity near 1000; figures are scaled back at the end.
        total = sum(r.capacity_gpu_hours * r.throughput for r in inp.resources)
        self.unit = max(1.0, total / 1000.0)
        self.b_ub = [
            np.array([r.capacity_gpu_hours for r in inp.resources], dtype=float) / self.unit,
            np.array([max(q.demand, 0.0) for q in inp.requests], dtype=float) / self.unit,
        ]
        self.a_eq: list[np.ndarray] = []
        self.b_eq: list[float] = []
        self.scale = max(1.0, total / self.unit)

    def solve(self, c: np.ndarray, extra_ub: list[tuple[np.ndarray, float]]) -> tuple[float, np.ndarray]:
        """Minimise c.z over z = (x, t); returns (objective, z)."""
        try:
            return self._solve(c, extra_ub, 0.0)
        except RuntimeError:
            # Values fixed by earlier LPs can be a rounding error off the
            # feasible set; give every fixed value and floor a hair of room.
            return self._solve(c, extra_ub, 1e-7 * self.scale)

    def _solve(self, c: np.ndarray, extra_ub: list[tuple[np.ndarray, float]], relax: float) -> tuple[float, np.ndarray]:
        n = len(self.pairs)
        if relax > 0.0:
            extra_ub = [(row, v + relax) for row, v in extra_ub]
            for row, v in zip(self.a_eq, self.b_eq, strict=True):
                extra_ub.append((np.append(row, 0.0), v + relax))
                extra_ub.append((np.append(-row, 0.0), -v + relax))
        rows = [np.hstack([a, np.zeros((a.shape[0], 1))]) for a in self.a_ub]
        b = list(np.concatenate(self.b_ub))
        a_ub = np.vstack(rows + [row.reshape(1, -1) for row, _ in extra_ub]) if rows else None
        b_ub = np.array(b + [v for _, v in extra_ub])
        exact = self.a_eq and relax == 0.0
        a_eq = np.vstack([np.append(row, 0.0).reshape(1, -1) for row in self.a_eq]) if exact else None
        b_eq = np.array(self.b_eq) if exact else None
        bounds = [(0, None)] * n + [(None, None)]
        res = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        if res.status != 0:
            raise RuntimeError(res.message)
        return float(res.fun), res.x

    def leximin(self, rows: list[np.ndarray], weights: list[float]) -> list[float]:
        """Leximin of (rows[e] . x / weights[e]); fixes the result as equalities."""
        n = len(self.pairs)
        value = [0.0] * len(rows)
        unfrozen = [e for e in range(len(rows)) if rows[e].any()]
        for e in range(len(rows)):
            if not rows[e].any():
                self.a_eq.append(rows[e])
                self.b_eq.append(0.0)
        while unfrozen:
            # maximise t: -(row.x) + w t <= 0 for every unfrozen entity
            cons = [(np.append(-rows[e], weights[e]), 0.0) for e in unfrozen]
            c = np.zeros(n + 1)
            c[-1] = -1.0
            t_star = -self.solve(c, cons)[0]
            floor = [(np.append(-rows[e], 0.0), -weights[e] * t_star) for e in unfrozen]
            stuck = []
            for e in unfrozen:
                c = np.append(-rows[e], 0.0)
                best = -self.solve(c, [f for f, o in zip(floor, unfrozen, strict=True) if o != e])[0]
                if best <= weights[e] * t_star + _TOL * self.scale:
                    stuck.append(e)
            if not stuck:  # numerical safety: the smallest riser is stuck
                stuck = unfrozen[:1]
            for e in stuck:
                value[e] = weights[e] * t_star
                self.a_eq.append(rows[e])
                self.b_eq.append(value[e])
            unfrozen = [e for e in unfrozen if e not in stuck]
        return value


def reference_allocate(inp: AllocationInput) -> AllocationResult:
    lp = _LP(inp)
    pool_ix = {p.id: i for i, p in enumerate(inp.pools)}
    tenant_ix = {t.id: i for i, t in enumerate(inp.tenants)}
    total_w = math.fsum(p.weight for p in inp.pools)
    pool_tw = [0.0] * len(inp.pools)
    for t in inp.tenants:
        pool_tw[pool_ix[t.pool]] += t.weight
    n = len(lp.pairs)
    t_rows = [np.zeros(n) for _ in inp.tenants]
    for q, req in enumerate(inp.requests):
        t_rows[tenant_ix[req.tenant]] += lp.g[q]
    p_rows = [np.zeros(n) for _ in inp.pools]
    for i, t in enumerate(inp.tenants):
        p_rows[pool_ix[t.pool]] += t_rows[i]
    u = lp.unit
    pools = [v * u for v in lp.leximin(p_rows, [p.weight / total_w for p in inp.pools])]
    shares = [inp.pools[pool_ix[t.pool]].weight / total_w * t.weight / pool_tw[pool_ix[t.pool]] for t in inp.tenants]
    tenants = [v * u for v in lp.leximin(t_rows, shares)]
    n_q = len(inp.requests)
    reqs = [v * u for v in lp.leximin([lp.g[q] for q in range(n_q)], [1.0] * n_q)]
    _, z = lp.solve(np.zeros(n + 1), [])
    grants = []
    for j, (q, r) in enumerate(lp.pairs):
        if z[j] > 1e-9 * lp.scale:
            res = inp.resources[r]
            grants.append(Grant(inp.requests[q].id, res.site, res.chip_type, float(z[j]) * u))
    return AllocationResult(
        pools={p.id: v for p, v in zip(inp.pools, pools, strict=True)},
        tenants={t.id: v for t, v in zip(inp.tenants, tenants, strict=True)},
        requests={q.id: v for q, v in zip(inp.requests, reqs, strict=True)},
        grants=tuple(grants),
    )
