"""One leximin step as progressive filling with exact levels from min cuts.

The step's members (pools, tenants or requests) are raised together: at level
L an unfrozen member is guaranteed ``min(D_e, w_e * L, w_e * L_p)``, where
L_p is the water level at which its parent's fixed total would be used up by
its siblings alone.  The rest of a parent's total is "extra" that the parent
may hand to any unfrozen child up to its demand.

Invariants:
- Network: source -> group (its guaranteed part), source -> parent (the
  parent's extra) -> group (up to the unfrozen members' unmet demand),
  group -> class (the members' demand per class), class -> resource (no
  limit), resource -> sink (its capacity in normalized hours).  Members that
  share a parent and a single class form one group, which is exact because
  such members are interchangeable for the flow.
- Level L is feasible iff the flow saturates every source edge.  Every cut's
  capacity is nonincreasing in L, so the largest feasible L is found exactly
  by Newton steps on min cuts: each step solves the violated cut's
  piecewise-linear equation and lands on a smaller L, and there are finitely
  many cuts.  Feasibility is monotone in L, so no event below is skipped.
- At the largest feasible L a member freezes if it is demand-saturated, if
  its parent's total is used up, or if its group cannot reach its parent in
  the residual graph (it cannot rise without some sibling falling below L).
  At least one member freezes per round, and max-flow runs once per Newton
  step, never once per member.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from allocation.fairshare.maxflow import INF, FlowNetwork
from allocation.fairshare.waterfill import water_level

DEMAND = "demand"
PARENT = "parent"
BLOCKED = "blocked"


@dataclass(frozen=True, slots=True)
class StepProblem:
    resource_capacity: Sequence[float]  # normalized hours
    class_resources: Sequence[Sequence[int]]
    fixed_class_supply: Sequence[float]  # settled flow that must still fit
    demand: Sequence[float]  # per member, > 0
    weight: Sequence[float]  # per member, > 0
    group: Sequence[int]  # per member
    group_parent: Sequence[int]
    group_edges: Sequence[Sequence[tuple[int, float]]]  # (class, cap)
    parent_total: Sequence[float]
    scale: float  # magnitude of the figures, for tolerances


@dataclass(frozen=True, slots=True)
class StepOutcome:
    value: list[float]
    reason: list[str]  # DEMAND | PARENT | BLOCKED
    level: list[float]  # level L at which the member froze
    rounds: int
    max_flows: int


def _guaranteed(
    members: list[int], frozen: list[bool], capped: list[float], weight: Sequence[float], at: float
) -> float:
    return sum(min(capped[e], weight[e] * at) for e in members if not frozen[e])


def solve_step(pb: StepProblem) -> StepOutcome:
    tol = 1e-9 * pb.scale
    n_res, n_cls = len(pb.resource_capacity), len(pb.class_resources)
    n_groups, n_parents = len(pb.group_parent), len(pb.parent_total)
    net = FlowNetwork(2 + n_res + n_cls, 1e-12 * pb.scale)
    s, t = 0, 1
    for r, c in enumerate(pb.resource_capacity):
        net.add_edge(2 + r, t, c)
    for k, rs in enumerate(pb.class_resources):
        for r in rs:
            net.add_edge(2 + n_res + k, 2 + r, INF)
    for k, f in enumerate(pb.fixed_class_supply):
        if f > 0.0:
            net.add_edge(s, 2 + n_res + k, f)
    gnode = [net.add_node() for _ in range(n_groups)]
    pnode = [net.add_node() for _ in range(n_parents)]
    e_src = [net.add_edge(s, gnode[g], 0.0) for g in range(n_groups)]
    e_par = [net.add_edge(s, pnode[p], 0.0) for p in range(n_parents)]
    e_extra = [net.add_edge(pnode[pb.group_parent[g]], gnode[g], 0.0) for g in range(n_groups)]
    for g, edges in enumerate(pb.group_edges):
        for k, c in edges:
            net.add_edge(gnode[g], 2 + n_res + k, c)
    need = sum(pb.fixed_class_supply) + sum(pb.parent_total)

    m = len(pb.demand)
    members: list[list[int]] = [[] for _ in range(n_groups)]
    for e in range(m):
        members[pb.group[e]].append(e)
    groups_of: list[list[int]] = [[] for _ in range(n_parents)]
    for g in range(n_groups):
        groups_of[pb.group_parent[g]].append(g)
    demand, weight = pb.demand, pb.weight
    value = [0.0] * m
    frozen = [False] * m
    reason = [""] * m
    level = [0.0] * m
    frozen_sum = [0.0] * n_groups
    rounds = flows = 0
    while True:
        active = [g for g in range(n_groups) if any(not frozen[e] for e in members[g])]
        if not active:
            break
        rounds += 1
        # Parent water levels, and each member's demand capped by its parent's.
        par_level = [INF] * n_parents
        for p in range(n_parents):
            ds: list[float] = []
            ws: list[float] = []
            fixed = 0.0
            for g in groups_of[p]:
                fixed += frozen_sum[g]
                for e in members[g]:
                    if not frozen[e]:
                        ds.append(demand[e])
                        ws.append(weight[e])
            if ds:
                par_level[p] = water_level(ds, ws, max(pb.parent_total[p] - fixed, 0.0))
        capped = [
            min(demand[e], weight[e] * par_level[pb.group_parent[pb.group[e]]]) for e in range(m)
        ]
        lvl = max(capped[e] / weight[e] for g in active for e in members[g] if not frozen[e])

        while True:
            par_used = [0.0] * n_parents
            for g in range(n_groups):
                u = _guaranteed(members[g], frozen, capped, weight, lvl)
                net.set_capacity(e_src[g], frozen_sum[g] + u)
                unmet = sum(demand[e] for e in members[g] if not frozen[e]) - u
                net.set_capacity(e_extra[g], max(unmet, 0.0))
                par_used[pb.group_parent[g]] += frozen_sum[g] + u
            for p in range(n_parents):
                net.set_capacity(e_par[p], max(pb.parent_total[p] - par_used[p], 0.0))
            deficit = need - net.max_flow(s, t)
            flows += 1
            if deficit <= tol:
                break
            side = net.reachable_from(s)
            tight = [
                g for g in active if side[gnode[g]] and not side[pnode[pb.group_parent[g]]]
            ]
            if not tight:
                break
            budget = sum(_guaranteed(members[g], frozen, capped, weight, lvl) for g in tight) - deficit
            ds = [capped[e] for g in tight for e in members[g] if not frozen[e]]
            ws = [weight[e] for g in tight for e in members[g] if not frozen[e]]
            new = water_level(ds, ws, budget)
            if not new < lvl:
                break
            lvl = new

        comp = net.components(skip=s)
        changed = False
        for g in active:
            p = pb.group_parent[g]
            stuck = net.flow(e_extra[g]) <= tol and comp[gnode[g]] != comp[pnode[p]]
            for e in members[g]:
                if frozen[e]:
                    continue
                v = min(capped[e], weight[e] * lvl)
                if demand[e] - v <= tol:
                    why, v = DEMAND, demand[e]
                elif par_level[p] <= lvl * (1.0 + 1e-12):
                    why = PARENT
                elif stuck:
                    why = BLOCKED
                else:
                    continue
                frozen[e], value[e], reason[e], level[e] = True, v, why, lvl
                frozen_sum[g] += v
                changed = True
        if not changed:
            # Float dust hid the blocking cut: freeze everything still below
            # the level rather than loop; the error is within tolerance.
            for g in active:
                for e in members[g]:
                    if not frozen[e]:
                        v = min(capped[e], weight[e] * lvl)
                        frozen[e], value[e], reason[e], level[e] = True, v, BLOCKED, lvl
                        frozen_sum[g] += v
    return StepOutcome(value, reason, level, rounds, flows)
