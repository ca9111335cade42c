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
- A group whose only class edge is unlimited (every group of the request
  step, every one-class group of the tenant step) is contracted into its
  class: its source edge adds to one source -> class edge per class and its
  parent edge ends at the class.  Exact: with positive supply such a group
  is on the same side of the minimum cut as its class, and in the same
  strongly connected part, so every cut, side and test below reads the
  class node instead; the request step's graph has no group nodes at all.
- Level L is feasible iff the flow saturates every source edge.  Every cut's
  capacity is nonincreasing in L, so the largest feasible L is found exactly
  by Newton steps on min cuts: each step solves the violated cut's
  piecewise-linear equation and lands on a smaller L, and there are finitely
  many cuts.  All minimum cuts at L share its deficit and each bounds the
  level, so a step takes the lower of the smallest and the largest source
  side's levels.  Before a round's first max flow, the recent cuts and one
  Hall cut per class (its resources against everything that can only run
  on them) are evaluated by formula; starting below the lowest is exact
  (every cut is an upper bound) and skips most of the descent.
  Feasibility is monotone in L, so no event below is skipped.
- At the largest feasible L a member freezes if it is demand-saturated, if
  its parent's total is used up, or if its group cannot reach its parent in
  the residual graph (it cannot rise without some sibling falling below L).
  At least one member freezes per round, and max-flow runs once per Newton
  step, never once per member.
- The cut that fixed a round's level stays saturated for every higher level
  (its source side's supply and outflow change in lockstep once its blocked
  members are frozen).  So after a round: sink-side groups lose their edges
  into source-side classes (a member's reachable demand shrinks to what its
  open classes take), and sink-side groups fed by a source-side parent are
  settled at that demand.  Both turn would-be blocking events into plain
  demand or parent water-level events, which need no max-flow; the number of
  rounds then follows the class/resource structure, not the member count.
- Frozen members with one or two open classes move onto a shared node per
  class set (exact: fixed totals over at most two classes add up class by
  class), so the graph shrinks as the filling proceeds.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from itertools import compress
from operator import add, gt

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


class _Rising:
    """The members of one group still rising in a round, as breakpoints:
    their guaranteed total sum(min(c_e, w_e * L)) at any level L in
    O(log n), because a Newton step asks for it at every group."""

    __slots__ = ("done", "rate", "ratios")

    def __init__(self, caps: list[float], weights: list[float]) -> None:
        order = sorted(range(len(caps)), key=lambda i: caps[i] / weights[i])
        self.ratios = [caps[i] / weights[i] for i in order]
        # done[j]: the caps of the j members saturated first; rate[j]: the
        # weight of the rest, which still grow with L.
        self.done = [0.0]
        for i in order:
            self.done.append(self.done[-1] + caps[i])
        self.rate = [0.0] * (len(order) + 1)
        for j in range(len(order) - 1, -1, -1):
            self.rate[j] = self.rate[j + 1] + weights[order[j]]

    def total(self, at: float) -> float:
        j = bisect_right(self.ratios, at)
        return self.done[j] + self.rate[j] * at


class _RisingOne:
    """One rising member (most groups of a tenant step): the same figures as
    ``_Rising`` without the sort and the search."""

    __slots__ = ("cap", "ratio", "weight")

    def __init__(self, cap: float, weight: float) -> None:
        self.cap, self.weight, self.ratio = cap, weight, cap / weight

    def total(self, at: float) -> float:
        # As bisect over one breakpoint: the cap from its ratio on, w * L below.
        return self.cap if at >= self.ratio else self.weight * at


_NOBODY = _Rising([], [])  # a group with no member still rising


def _close_classes(
    side: list[bool],
    gnode: list[int],
    class0: int,
    active: list[int],
    members: list[list[int]],
    frozen: list[bool],
    g_edges: list[list[tuple[int, float, int]]],
    reach: list[float],
    net: FlowNetwork,
) -> None:
    """After a tight cut, sink-side groups can never again send flow into
    source-side classes (those resources are spoken for), so drop the edges
    and cap each member at what its open classes can still take.  This turns
    the many per-tenant "blocked" events that would follow into plain demand
    saturation, which needs no max-flow."""
    for g in active:
        if side[gnode[g]] or not g_edges[g] or all(frozen[e] for e in members[g]):
            continue
        open_cap = 0.0
        for k, _cap, e in g_edges[g]:
            if side[class0 + k]:
                net.drop(e)
            else:
                open_cap += net.base[e]
        for e in members[g]:
            if not frozen[e] and open_cap < reach[e]:
                reach[e] = open_cap


def _cut_capacity(net: FlowNetwork, side: list[bool]) -> float:
    # Forward edge e runs from to[e + 1] to to[e]; it crosses the cut when
    # its tail is on the source side and its head is not (True > False).
    # Summed in edge order from 0.0, as a plain loop would.
    crossing = map(gt, map(side.__getitem__, net.to[1::2]), map(side.__getitem__, net.to[0::2]))
    return reduce(add, compress(net.base[0::2], crossing), 0.0)


def _retire(
    g: int,
    net: FlowNetwork,
    s: int,
    e_src: list[int],
    e_extra: list[int],
    g_edges: list[list[tuple[int, float, int]]],
    frozen_sum: list[float],
    pooled: dict[tuple[int, ...], tuple[int, list[int]]],
    class0: int,
) -> bool:
    """Move a settled group (one member, or one class) onto a node shared by
    all settled groups with the same open classes, so the graph shrinks as
    the filling goes on.  Exact for one or two classes: a fixed total v split over two
    classes with caps d is the segment y1 <= min(v, d1), y2 <= min(v, d2),
    y1 + y2 = v, and such segments add up class by class.  With three or
    more classes only a forced routing (v fills every open class) is exact."""
    v = frozen_sum[g]
    opened = [(k, net.base[e]) for k, _cap, e in g_edges[g] if net.base[e] > 0.0]
    if len(opened) > 2:
        room = sum(cap for _, cap in opened)
        if v < room * (1.0 - 1e-12):
            return False  # three or more classes do not add up like this: keep the node
        # Settled at all its open classes can take: every class edge must be
        # full, so the routing is forced and each class gets its part as
        # plain one-class supply (proportional, so the parts add up to v).
        for k, cap in opened:
            _pool_into(net, s, pooled, class0, (k,), cap * v / room, [cap * v / room])
    else:
        _pool_into(net, s, pooled, class0, tuple(k for k, _ in opened), v, [min(v, cap) for _, cap in opened])
    net.drop(e_src[g])
    net.drop(e_extra[g])
    for _k, _cap, e in g_edges[g]:
        net.drop(e)
    return True


def _pool_into(
    net: FlowNetwork,
    s: int,
    pooled: dict[tuple[int, ...], tuple[int, list[int]]],
    class0: int,
    key: tuple[int, ...],
    v: float,
    caps: list[float],
) -> None:
    if key not in pooled:
        node = net.add_node()
        edges = [net.add_edge(s, node, 0.0)]
        edges += [net.add_edge(node, class0 + k, 0.0) for k in key]
        pooled[key] = (node, edges)
    _, edges = pooled[key]
    net.set_capacity(edges[0], net.base[edges[0]] + v)
    for cap, e in zip(caps, edges[1:], strict=True):
        net.set_capacity(e, net.base[e] + cap)


def _hall_cuts(
    class_resources: Sequence[Sequence[int]], gclass: list[int], g_edges: list[list[tuple[int, float, int]]]
) -> list[tuple[set[int], list[int], list[int]]]:
    """Per class, the cut around its resources: the classes whose resources
    all lie within them, the groups (with nodes of their own) whose classes
    all do, and the resources.  The usual binding cut is one resource set
    oversubscribed by what can only run there; checking these before any
    max flow saves the Newton steps that would descend to it one cut at a time."""
    res_of = [set(rs) for rs in class_resources]
    group_classes = [({k for k, _c, _e in edges}, g) for g, edges in enumerate(g_edges) if gclass[g] < 0 and edges]
    out = []
    for rs in res_of:
        inside = {j for j, other in enumerate(res_of) if other <= rs}
        multi = [g for ks, g in group_classes if ks <= inside]
        out.append((inside, multi, sorted(rs)))
    return out


def _cut_level(
    tight: list[int],
    short: float,
    lvl: float,
    rising: list[_Rising | _RisingOne],
    members: list[list[int]],
    capped: list[float],
    weight: Sequence[float],
) -> tuple[float, float]:
    """The level at which a cut short by ``short`` at ``lvl`` is exactly met
    (its tight groups give up ``short``: one Newton step), and the budget
    that leaves them."""
    budget = sum(rising[g].total(lvl) for g in tight) - short
    ds = [capped[e] for g in tight for e in members[g]]
    ws = [weight[e] for g in tight for e in members[g]]
    return water_level(ds, ws, budget), budget


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
    class0 = 2 + n_res
    # One source edge per class carries its fixed supply plus what its
    # contracted groups take (see the module docstring).
    e_cls = [net.add_edge(s, class0 + k, f) for k, f in enumerate(pb.fixed_class_supply)]
    fixed_cls = list(pb.fixed_class_supply)
    # A group whose one class edge is unlimited has no node of its own: its
    # source edge merges into its class's, its parent edge ends at the class.
    gclass = [edges[0][0] if len(edges) == 1 and edges[0][1] == INF else -1 for edges in pb.group_edges]
    gnode = [class0 + k if k >= 0 else net.add_node() for k in gclass]
    contracted_of: list[list[int]] = [[] for _ in range(n_cls)]
    for g, k in enumerate(gclass):
        if k >= 0:
            contracted_of[k].append(g)
    pnode = [net.add_node() for _ in range(n_parents)]
    e_src = [net.add_edge(s, gnode[g], 0.0) if gclass[g] < 0 else -1 for g in range(n_groups)]
    e_par = [net.add_edge(s, pnode[p], 0.0) for p in range(n_parents)]
    e_extra = [net.add_edge(pnode[pb.group_parent[g]], gnode[g], 0.0) for g in range(n_groups)]
    g_edges = [
        [(k, c, net.add_edge(gnode[g], class0 + k, c)) for k, c in edges] if gclass[g] < 0 else []
        for g, edges in enumerate(pb.group_edges)
    ]
    need = sum(pb.fixed_class_supply) + sum(pb.parent_total)
    hall = _hall_cuts(pb.class_resources, gclass, g_edges)

    m = len(pb.demand)
    members: list[list[int]] = [[] for _ in range(n_groups)]
    for e in range(m):
        members[pb.group[e]].append(e)
    groups_of: list[list[int]] = [[] for _ in range(n_parents)]
    for g in range(n_groups):
        groups_of[pb.group_parent[g]].append(g)
    demand, weight = pb.demand, pb.weight
    # Demand a member can still reach: shrinks when a tight cut closes classes.
    reach = list(demand)
    side: list[bool] | None = None
    value = [0.0] * m
    frozen = [False] * m
    reason = [""] * m
    level = [0.0] * m
    frozen_sum = [0.0] * n_groups
    rounds = flows = 0
    retired = [False] * n_groups
    retired_sum = [0.0] * n_parents
    pooled: dict[tuple[int, ...], tuple[int, list[int]]] = {}
    cuts: list[list[bool]] = []  # source sides of recent violated cuts
    capped = [0.0] * m
    while True:
        # From here on a group's list holds only its members still rising.
        for g in range(n_groups):
            if members[g]:
                members[g] = [e for e in members[g] if not frozen[e]]
        active = [g for g in range(n_groups) if members[g]]
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
                    ds.append(reach[e])
                    ws.append(weight[e])
            if ds:
                par_level[p] = water_level(ds, ws, max(pb.parent_total[p] - fixed, 0.0))
        rising: list[_Rising | _RisingOne] = [_NOBODY] * n_groups
        lvl = 0.0
        for g in active:
            at = par_level[pb.group_parent[g]]
            for e in members[g]:
                capped[e] = c = min(reach[e], weight[e] * at)
                lvl = max(lvl, c / weight[e])
            one = members[g]
            if len(one) == 1:
                rising[g] = _RisingOne(capped[one[0]], weight[one[0]])
            else:
                rising[g] = _Rising([capped[e] for e in one], [weight[e] for e in one])
        open_reach = [
            (reach[ms[0]] if len(ms) == 1 else math.fsum(reach[e] for e in ms)) if ms else 0.0 for ms in members
        ]

        live = [g for g in range(n_groups) if not retired[g]]
        side = None
        converged = False
        recalled = False
        while True:
            par_used = list(retired_sum)
            cls_supply = list(fixed_cls)
            for g in live:
                u = rising[g].total(lvl)
                if gclass[g] < 0:
                    net.set_capacity(e_src[g], frozen_sum[g] + u)
                else:
                    cls_supply[gclass[g]] += frozen_sum[g] + u
                net.set_capacity(e_extra[g], max(open_reach[g] - u, 0.0))
                par_used[pb.group_parent[g]] += frozen_sum[g] + u
            for k, e in enumerate(e_cls):
                net.set_capacity(e, cls_supply[k])
            for p in range(n_parents):
                net.set_capacity(e_par[p], max(pb.parent_total[p] - par_used[p], 0.0))
            if not recalled:
                # Cuts met in earlier rounds still bound this round's level from
                # above (any cut does); starting below them saves the Newton
                # steps that would only rediscover them.
                recalled = True
                bound = lvl
                for old in cuts:
                    cut_side = old + [False] * (net.n - len(old))
                    tight = [g for g in active if cut_side[gnode[g]] and not cut_side[pnode[pb.group_parent[g]]]]
                    short = need - _cut_capacity(net, cut_side)
                    if tight and short > tol:
                        at, budget = _cut_level(tight, short, lvl, rising, members, capped, weight)
                        if at < bound and budget > 0.0:
                            bound, side = at, cut_side
                for inside, multi, rs in hall:
                    # Hall's condition for one class's resources: what must run
                    # on them alone (every group, retired or pooled, whose
                    # classes all lie within them) fits their capacity.
                    keys = [key for key in pooled if all(k in inside for k in key)]
                    supply = math.fsum(
                        [
                            *(net.base[e_cls[k]] for k in inside),
                            *(net.base[e_src[g]] for g in multi),
                            *(net.base[pooled[key][1][0]] for key in keys),
                        ]
                    )
                    short = supply - math.fsum(pb.resource_capacity[r] for r in rs)
                    tight = [g for k in inside for g in contracted_of[k] if members[g]]
                    tight += [g for g in multi if members[g]]
                    if tight and short > tol:
                        at, budget = _cut_level(tight, short, lvl, rising, members, capped, weight)
                        if at < bound and budget > 0.0:
                            bound = at
                            side = [False] * net.n
                            side[s] = True
                            for node in [*(class0 + k for k in inside), *(2 + r for r in rs)]:
                                side[node] = True
                            for node in [*(gnode[g] for g in multi), *(pooled[key][0] for key in keys)]:
                                side[node] = True
                if bound < lvl:
                    lvl = bound
                    continue
            deficit = need - net.max_flow(s, t)
            flows += 1
            if deficit <= tol:
                converged = True
                break
            # Every minimum cut at this level has the same deficit, and each
            # bounds the level from above; the smallest and the largest
            # source side often fix different levels, so step to the lower.
            side = net.reachable_from(s)
            wide = [not x for x in net.reaching(t)]
            steps = []
            for cut_side in (side, wide):
                tight = [g for g in active if cut_side[gnode[g]] and not cut_side[pnode[pb.group_parent[g]]]]
                if tight:
                    at, _budget = _cut_level(tight, deficit, lvl, rising, members, capped, weight)
                    steps.append((at, cut_side is wide))
            new, is_wide = min(steps, default=(lvl, False))
            if is_wide:
                side = wide
            cuts.append(side)
            del cuts[:-8]
            if not new < lvl:
                break
            lvl = new

        comp = net.components(skip=s)
        # The cut that fixed the level is tight there, so its source-side
        # groups under sink-side parents are stuck by construction; asking
        # the residual graph alone would miss them when float dust leaves a
        # hair of capacity across the cut.
        behind: set[int] = set()
        if side is not None:
            cut_side = side + [False] * (net.n - len(side))
            behind = {g for g in active if cut_side[gnode[g]] and not cut_side[pnode[pb.group_parent[g]]]}
        changed = False
        for g in active:
            p = pb.group_parent[g]
            stuck = g in behind or (net.flow(e_extra[g]) <= tol and comp[gnode[g]] != comp[pnode[p]])
            for e in members[g]:
                if frozen[e]:
                    continue
                v = min(capped[e], weight[e] * lvl)
                if reach[e] - v <= tol:
                    why, v = (DEMAND if demand[e] - v <= tol else BLOCKED), reach[e]
                elif par_level[p] <= lvl * (1.0 + 1e-12):
                    why = PARENT
                elif stuck:
                    why = BLOCKED
                else:
                    continue
                frozen[e], value[e], reason[e], level[e] = True, v, why, lvl
                frozen_sum[g] += v
                changed = True
        if side is not None and converged:
            side = side + [False] * (net.n - len(side))
            # The cut that fixed the level stays saturated from here on: a
            # sink-side group fed by a source-side parent keeps getting all it
            # can take, so it is settled now.  Its parent's remaining total
            # then shrinks, which turns what would be one blocking event per
            # parent into a plain parent water level (no max-flow).
            for g in active:
                if side[gnode[g]] or not side[pnode[pb.group_parent[g]]]:
                    continue
                for e in members[g]:
                    if not frozen[e]:
                        v = reach[e]
                        why = DEMAND if demand[e] - v <= tol else BLOCKED
                        frozen[e], value[e], reason[e], level[e] = True, v, why, lvl
                        frozen_sum[g] += v
                        changed = True
            _close_classes(side, gnode, class0, active, members, frozen, g_edges, reach, net)
        if not changed:
            # Float dust hid the blocking cut: freeze everything still below
            # the level rather than loop; the error is within tolerance.
            for g in active:
                for e in members[g]:
                    if not frozen[e]:
                        v = min(capped[e], weight[e] * lvl)
                        frozen[e], value[e], reason[e], level[e] = True, v, BLOCKED, lvl
                        frozen_sum[g] += v
        for g in active:
            settled = all(frozen[e] for e in members[g])
            if settled and gclass[g] >= 0:
                # Its total becomes fixed supply on its class.
                net.drop(e_extra[g])
                fixed_cls[gclass[g]] += frozen_sum[g]
                retired[g] = True
                retired_sum[pb.group_parent[g]] += frozen_sum[g]
                continue
            single = settled and (len(members[g]) == 1 or len(g_edges[g]) == 1)
            if single and _retire(g, net, s, e_src, e_extra, g_edges, frozen_sum, pooled, class0):
                retired[g] = True
                retired_sum[pb.group_parent[g]] += frozen_sum[g]
    return StepOutcome(value, reason, level, rounds, flows)
