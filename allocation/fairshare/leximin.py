"""One leximin step as progressive filling with exact levels from min cuts.

Algorithm (``solve_step``; each phase below is one function, its invariant
in its docstring):

1. Build the flow network (``_build_filling``): source -> groups and
   parents, groups -> classes -> resources -> sink.  Every member rises.
2. Start a round (``_start_round``): keep only the rising members, give
   each parent its water level (where its remaining total runs out) and cap
   each member at min(reachable demand, w * parent level).  Stop when no
   member is rising.
3. Find the round's level L (``_find_level``): the largest L at which the
   network routes every source edge in full.  Start below the recent cuts'
   and the Hall cuts' bounds (by formula, no max flow), then repeat: max
   flow; if short, take a minimum cut and solve its equation for L (one
   Newton step, ``_newton_step``).
4. Freeze at L (``_freeze_at_level``) every member that cannot rise past
   it: demand met, parent used up, or cut off from its parent.
5. If a cut fixed L, settle the groups it serves in full and close its
   classes to the rest (``_settle_behind_cut``).
6. Retire groups whose members are all frozen onto shared nodes
   (``_retire_settled``), and go to 2.

Complexity: every round freezes at least one member, so there are at most
m rounds for m members; in practice their number follows the class and
resource structure (step 5), not m.  A round costs one Newton descent: at
most one max flow per distinct minimum cut, a few in practice, each warm
started from the last flow (``maxflow``: Dinic, O(V^2 E) worst case), plus
O(G log n) per step for the groups' guaranteed totals (G groups, sorted
breakpoints) and O(m) per round for water levels and freezing.

References:
- N. Megiddo, "Optimal flows in networks with multiple sources and sinks",
  Mathematical Programming 7 (1974) 97-107: the lexicographically optimal
  (max-min fair) flow from several sources, found by raising the sources
  together and fixing those a minimum cut blocks.
- D. Bertsekas, R. Gallager, "Data Networks", 2nd ed., Prentice Hall 1992,
  section 6.5.2: max-min fairness by progressive filling, the frame of
  steps 2-6.
- G. Gallo, M. D. Grigoriadis, R. E. Tarjan, "A fast parametric maximum
  flow algorithm and applications", SIAM J. Comput. 18 (1989) 30-55: the
  parametric max flow step 3 resembles.  Here the parent edges shrink as
  the source edges grow with L, which leaves their monotone form, so L is
  found by Newton steps on cut capacities with warm-started flows instead.

The step's members (pools, tenants or requests) are raised together: at level
L an unfrozen member is guaranteed ``min(D_i, w_i * L, w_i * L_p)``, where
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
    their guaranteed total sum(min(c_i, w_i * L)) at any level L in
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


# Nodes every step's network starts with; resource r is FIRST_RESOURCE + r,
# class k is ``class0 + k`` right after the resources.
SOURCE, SINK, FIRST_RESOURCE = 0, 1, 2

# A class edge of a group with a node of its own: (class, cap, edge id).
ClassEdge = tuple[int, float, int]
# A pooled node per class set: (node, [source edge, class edges...]).
Pooled = dict[tuple[int, ...], tuple[int, list[int]]]
# One Hall cut: the classes inside, the groups with nodes inside, the resources.
HallCut = tuple[set[int], list[int], list[int]]


@dataclass(slots=True, eq=False, repr=False)  # internal state, never compared or printed
class _Filling:
    """One step's flow network and members while the filling proceeds.

    Invariants: ``members[g]`` lists group g's members not yet frozen (pruned
    at the start of each round); a frozen member's ``value`` never changes and
    ``group_frozen[g]`` is the sum over group g's frozen members; a retired
    group has no edge of its own left (its total sits in ``class_fixed`` or on
    a pooled node) and counts in ``parent_retired``."""

    pb: StepProblem
    tol: float  # figures closer than this are equal
    net: FlowNetwork
    class0: int  # node of class 0
    class_src: list[int]  # edge source -> class, per class
    class_fixed: list[float]  # fixed supply per class, grows as contracted groups retire
    group_class: list[int]  # the class a contracted group lives in, else -1
    group_node: list[int]  # its own node, or its class's when contracted
    contracted_of: list[list[int]]  # per class, its contracted groups
    parent_node: list[int]
    group_src: list[int]  # edge source -> group (-1 when contracted)
    parent_src: list[int]  # edge source -> parent (the parent's extra)
    group_extra: list[int]  # edge parent -> group
    group_class_edges: list[list[ClassEdge]]  # empty when contracted
    need: float  # supply every feasible level routes in full
    hall: list[HallCut]
    groups_of: list[list[int]]  # per parent
    members: list[list[int]]  # per group, the members still rising
    reach: list[float]  # demand a member can still reach
    capped: list[float]  # this round: min(reach, w * parent level)
    value: list[float]
    frozen: list[bool]
    reason: list[str]
    froze_at: list[float]  # the level at which a member froze
    group_frozen: list[float]
    retired: list[bool]
    parent_retired: list[float]  # per parent, the totals of its retired groups
    pooled: Pooled
    recent_cuts: list[list[bool]]  # source sides of the last violated cuts
    rounds: int = 0
    max_flows: int = 0


@dataclass(slots=True, eq=False, repr=False)  # internal state, never compared or printed
class _Round:
    """One round of the filling: the members still rising and the level L.

    Invariant: ``level`` only decreases within a round, and every cut seen
    bounds it from above (see the module docstring)."""

    active: list[int]  # groups with a member still rising
    live: list[int]  # groups not retired: their edges take capacity
    parent_level: list[float]  # the water level that uses up each parent's total
    guaranteed: list[_Rising | _RisingOne]  # per group, its rising members' total at L
    open_reach: list[float]  # per group, its rising members' reachable demand
    level: float


def solve_step(pb: StepProblem) -> StepOutcome:
    """One leximin step, outline steps 1-6 of the module docstring."""
    st = _build_filling(pb)
    while (rnd := _start_round(st)) is not None:
        st.rounds += 1
        side, converged = _find_level(st, rnd)
        changed = _freeze_at_level(st, rnd, side)
        if side is not None and converged:
            changed = _settle_behind_cut(st, rnd, side) or changed
        if not changed:
            _freeze_below_level(st, rnd)
        _retire_settled(st, rnd)
    return StepOutcome(st.value, st.reason, st.froze_at, st.rounds, st.max_flows)


# -- 1. the network --------------------------------------------------------------------------


def _build_filling(pb: StepProblem) -> _Filling:
    """Step 1: the network of the module docstring at zero supply, every
    member rising.  Edges are added in a fixed order (determinism)."""
    n_res, n_cls = len(pb.resource_capacity), len(pb.class_resources)
    n_groups, n_parents = len(pb.group_parent), len(pb.parent_total)
    net = FlowNetwork(FIRST_RESOURCE + n_res + n_cls, 1e-12 * pb.scale)
    for r, c in enumerate(pb.resource_capacity):
        net.add_edge(FIRST_RESOURCE + r, SINK, c)
    class0 = FIRST_RESOURCE + n_res
    for k, rs in enumerate(pb.class_resources):
        for r in rs:
            net.add_edge(class0 + k, FIRST_RESOURCE + r, INF)
    # One source edge per class carries its fixed supply plus what its
    # contracted groups take (see the module docstring).
    class_src = [net.add_edge(SOURCE, class0 + k, f) for k, f in enumerate(pb.fixed_class_supply)]
    # A group whose one class edge is unlimited has no node of its own: its
    # source edge merges into its class's, its parent edge ends at the class.
    group_class = [edges[0][0] if len(edges) == 1 and edges[0][1] == INF else -1 for edges in pb.group_edges]
    group_node = [class0 + k if k >= 0 else net.add_node() for k in group_class]
    contracted_of: list[list[int]] = [[] for _ in range(n_cls)]
    for g, k in enumerate(group_class):
        if k >= 0:
            contracted_of[k].append(g)
    parent_node = [net.add_node() for _ in range(n_parents)]
    group_src = [net.add_edge(SOURCE, group_node[g], 0.0) if group_class[g] < 0 else -1 for g in range(n_groups)]
    parent_src = [net.add_edge(SOURCE, parent_node[p], 0.0) for p in range(n_parents)]
    group_extra = [net.add_edge(parent_node[pb.group_parent[g]], group_node[g], 0.0) for g in range(n_groups)]
    group_class_edges = [
        [(k, c, net.add_edge(group_node[g], class0 + k, c)) for k, c in edges] if group_class[g] < 0 else []
        for g, edges in enumerate(pb.group_edges)
    ]
    m = len(pb.demand)
    members: list[list[int]] = [[] for _ in range(n_groups)]
    for i in range(m):
        members[pb.group[i]].append(i)
    groups_of: list[list[int]] = [[] for _ in range(n_parents)]
    for g in range(n_groups):
        groups_of[pb.group_parent[g]].append(g)
    return _Filling(
        pb=pb, tol=1e-9 * pb.scale, net=net, class0=class0,
        class_src=class_src, class_fixed=list(pb.fixed_class_supply),
        group_class=group_class, group_node=group_node, contracted_of=contracted_of,
        parent_node=parent_node, group_src=group_src, parent_src=parent_src,
        group_extra=group_extra, group_class_edges=group_class_edges,
        need=sum(pb.fixed_class_supply) + sum(pb.parent_total),
        hall=_hall_cuts(pb.class_resources, group_class, group_class_edges),
        groups_of=groups_of, members=members, reach=list(pb.demand), capped=[0.0] * m,
        value=[0.0] * m, frozen=[False] * m, reason=[""] * m, froze_at=[0.0] * m,
        group_frozen=[0.0] * n_groups, retired=[False] * n_groups,
        parent_retired=[0.0] * n_parents, pooled={}, recent_cuts=[],
    )  # fmt: skip


def _hall_cuts(
    class_resources: Sequence[Sequence[int]], group_class: list[int], group_class_edges: list[list[ClassEdge]]
) -> list[HallCut]:
    """Per class, the cut around its resources: the classes whose resources
    all lie within them, the groups (with nodes of their own) whose classes
    all do, and the resources.  The usual binding cut is one resource set
    oversubscribed by what can only run there; checking these before any
    max flow saves the Newton steps that would descend to it one cut at a time."""
    res_of = [set(rs) for rs in class_resources]
    group_classes = [
        ({k for k, _c, _e in edges}, g) for g, edges in enumerate(group_class_edges) if group_class[g] < 0 and edges
    ]
    out = []
    for rs in res_of:
        inside = {j for j, other in enumerate(res_of) if other <= rs}
        multi = [g for ks, g in group_classes if ks <= inside]
        out.append((inside, multi, sorted(rs)))
    return out


# -- 2. a round's start: parent water levels and caps ----------------------------------------


def _start_round(st: _Filling) -> _Round | None:
    """Step 2: keep only rising members in each group's list, then cap every
    rising member at min(reach, w * its parent's water level); the round's
    level starts at the highest such cap (no member can rise beyond it).
    None once every member is frozen: the step is done."""
    members, frozen = st.members, st.frozen
    for g in range(len(members)):
        if members[g]:
            members[g] = [i for i in members[g] if not frozen[i]]
    active = [g for g in range(len(members)) if members[g]]
    if not active:
        return None
    parent_level = _parent_levels(st)
    guaranteed, level = _cap_members(st, active, parent_level)
    reach = st.reach
    open_reach = [(reach[ms[0]] if len(ms) == 1 else math.fsum(reach[i] for i in ms)) if ms else 0.0 for ms in members]
    retired = st.retired
    live = [g for g in range(len(members)) if not retired[g]]
    return _Round(active, live, parent_level, guaranteed, open_reach, level)


def _parent_levels(st: _Filling) -> list[float]:
    """The water level at which each parent's remaining total (its fixed
    total less what its frozen members hold) is used up by its rising
    members alone; INF for a parent with none."""
    pb, members, reach, weight, group_frozen = st.pb, st.members, st.reach, st.pb.weight, st.group_frozen
    parent_level = [INF] * len(pb.parent_total)
    for p, groups in enumerate(st.groups_of):
        ds: list[float] = []
        ws: list[float] = []
        fixed = 0.0
        for g in groups:
            fixed += group_frozen[g]
            for i in members[g]:
                ds.append(reach[i])
                ws.append(weight[i])
        if ds:
            parent_level[p] = water_level(ds, ws, max(pb.parent_total[p] - fixed, 0.0))
    return parent_level


def _cap_members(
    st: _Filling, active: list[int], parent_level: list[float]
) -> tuple[list[_Rising | _RisingOne], float]:
    """Each rising member's cap this round, its group's guaranteed-total
    breakpoints, and the highest level any member can still use."""
    members, reach, weight, capped, group_parent = st.members, st.reach, st.pb.weight, st.capped, st.pb.group_parent
    guaranteed: list[_Rising | _RisingOne] = [_NOBODY] * len(members)
    level = 0.0
    for g in active:
        at = parent_level[group_parent[g]]
        for i in members[g]:
            capped[i] = c = min(reach[i], weight[i] * at)
            level = max(level, c / weight[i])
        ms = members[g]
        if len(ms) == 1:
            guaranteed[g] = _RisingOne(capped[ms[0]], weight[ms[0]])
        else:
            guaranteed[g] = _Rising([capped[i] for i in ms], [weight[i] for i in ms])
    return guaranteed, level


# -- 3. the level: Newton steps on minimum cuts ----------------------------------------------


def _find_level(st: _Filling, rnd: _Round) -> tuple[list[bool] | None, bool]:
    """Step 3: lower ``rnd.level`` to the largest feasible level.  Returns
    the source side of the cut that fixed it (None if no cut did) and
    whether the level is feasible (False: the last step could not descend,
    which float dust can cause; the freeze phases then stop the round)."""
    _set_capacities(st, rnd)
    # Cuts met in earlier rounds, and the Hall cuts, bound this round's level
    # from above (any cut does); starting below them saves the Newton steps
    # that would only rediscover them.
    bound, side = _recent_cuts_bound(st, rnd)
    bound, side = _hall_bound(st, rnd, bound, side)
    if bound < rnd.level:
        rnd.level = bound
        _set_capacities(st, rnd)
    net, cuts = st.net, st.recent_cuts
    while True:
        deficit = st.need - net.max_flow(SOURCE, SINK)
        st.max_flows += 1
        if deficit <= st.tol:
            return side, True
        lower, side = _newton_step(st, rnd, deficit)
        cuts.append(side)
        del cuts[:-8]
        if not lower < rnd.level:
            return side, False
        rnd.level = lower
        _set_capacities(st, rnd)


def _set_capacities(st: _Filling, rnd: _Round) -> None:
    """The network at level L: each live group's source edge carries its
    frozen total plus its rising members' guaranteed total at L (contracted
    groups' on their class's source edge), its parent edge the rest of its
    reachable demand, and each parent's source edge what its total has left."""
    level, guaranteed, open_reach = rnd.level, rnd.guaranteed, rnd.open_reach
    group_class, group_frozen, group_src = st.group_class, st.group_frozen, st.group_src
    group_extra, group_parent, parent_total = st.group_extra, st.pb.group_parent, st.pb.parent_total
    set_capacity = st.net.set_capacity
    parent_used = list(st.parent_retired)
    class_supply = list(st.class_fixed)
    for g in rnd.live:
        u = guaranteed[g].total(level)
        if group_class[g] < 0:
            set_capacity(group_src[g], group_frozen[g] + u)
        else:
            class_supply[group_class[g]] += group_frozen[g] + u
        set_capacity(group_extra[g], max(open_reach[g] - u, 0.0))
        parent_used[group_parent[g]] += group_frozen[g] + u
    for k, edge in enumerate(st.class_src):
        set_capacity(edge, class_supply[k])
    for p, edge in enumerate(st.parent_src):
        set_capacity(edge, max(parent_total[p] - parent_used[p], 0.0))


def _tight_groups(st: _Filling, active: list[int], side: list[bool]) -> list[int]:
    """The rising groups a cut holds back: on its source side, their parent not."""
    group_node, parent_node, group_parent = st.group_node, st.parent_node, st.pb.group_parent
    return [g for g in active if side[group_node[g]] and not side[parent_node[group_parent[g]]]]


def _cut_level(st: _Filling, rnd: _Round, tight: list[int], short: float) -> tuple[float, float]:
    """The level at which a cut short by ``short`` at the round's level is
    exactly met (its tight groups give up ``short``: one Newton step), and
    the budget that leaves them."""
    level, guaranteed, members, capped, weight = rnd.level, rnd.guaranteed, st.members, st.capped, st.pb.weight
    budget = sum(guaranteed[g].total(level) for g in tight) - short
    ds = [capped[i] for g in tight for i in members[g]]
    ws = [weight[i] for g in tight for i in members[g]]
    return water_level(ds, ws, budget), budget


def _recent_cuts_bound(st: _Filling, rnd: _Round) -> tuple[float, list[bool] | None]:
    """The lowest level the recent cuts allow (capacity read by formula,
    no max flow), and the source side of the cut that sets it."""
    net, bound = st.net, rnd.level
    side: list[bool] | None = None
    for old in st.recent_cuts:
        cut_side = old + [False] * (net.n - len(old))
        tight = _tight_groups(st, rnd.active, cut_side)
        short = st.need - _cut_capacity(net, cut_side)
        if tight and short > st.tol:
            at, budget = _cut_level(st, rnd, tight, short)
            if at < bound and budget > 0.0:
                bound, side = at, cut_side
    return bound, side


def _hall_bound(st: _Filling, rnd: _Round, bound: float, side: list[bool] | None) -> tuple[float, list[bool] | None]:
    """``bound`` lowered to what each Hall cut allows: what must run on one
    class's resources alone (every group, retired or pooled, whose classes
    all lie within them) fits their capacity."""
    net, pooled, members = st.net, st.pooled, st.members
    for inside, multi, rs in st.hall:
        keys = [key for key in pooled if all(k in inside for k in key)]
        supply = math.fsum(
            [
                *(net.base[st.class_src[k]] for k in inside),
                *(net.base[st.group_src[g]] for g in multi),
                *(net.base[pooled[key][1][0]] for key in keys),
            ]
        )
        short = supply - math.fsum(st.pb.resource_capacity[r] for r in rs)
        tight = [g for k in inside for g in st.contracted_of[k] if members[g]]
        tight += [g for g in multi if members[g]]
        if tight and short > st.tol:
            at, budget = _cut_level(st, rnd, tight, short)
            if at < bound and budget > 0.0:
                bound = at
                side = [False] * net.n
                side[SOURCE] = True
                for node in [*(st.class0 + k for k in inside), *(FIRST_RESOURCE + r for r in rs)]:
                    side[node] = True
                for node in [*(st.group_node[g] for g in multi), *(pooled[key][0] for key in keys)]:
                    side[node] = True
    return bound, side


def _newton_step(st: _Filling, rnd: _Round, deficit: float) -> tuple[float, list[bool]]:
    """One Newton step after a max flow short by ``deficit``: the level a
    minimum cut allows, and that cut's source side.  Every minimum cut at
    this level has the same deficit, and each bounds the level from above;
    the smallest and the largest source side often fix different levels,
    so step to the lower."""
    side = st.net.reachable_from(SOURCE)
    wide = [not x for x in st.net.reaching(SINK)]
    steps = []
    for cut_side in (side, wide):
        tight = _tight_groups(st, rnd.active, cut_side)
        if tight:
            at, _budget = _cut_level(st, rnd, tight, deficit)
            steps.append((at, cut_side is wide))
    lower, is_wide = min(steps, default=(rnd.level, False))
    return lower, (wide if is_wide else side)


def _cut_capacity(net: FlowNetwork, side: list[bool]) -> float:
    # Forward edge e runs from to[e + 1] to to[e]; it crosses the cut when
    # its tail is on the source side and its head is not (True > False).
    # Summed in edge order from 0.0, as a plain loop would.
    crossing = map(gt, map(side.__getitem__, net.to[1::2]), map(side.__getitem__, net.to[0::2]))
    return reduce(add, compress(net.base[0::2], crossing), 0.0)


# -- 4. freezing at the level ----------------------------------------------------------------


def _freeze_at_level(st: _Filling, rnd: _Round, side: list[bool] | None) -> bool:
    """Step 4: freeze every rising member that cannot rise past L: demand
    saturated (DEMAND, or BLOCKED if only its reach is), its parent's total
    used up (PARENT), or its group cut off from its parent in the residual
    graph (BLOCKED).  Returns whether any member froze."""
    net, tol, level, parent_level = st.net, st.tol, rnd.level, rnd.parent_level
    members, frozen, capped, reach = st.members, st.frozen, st.capped, st.reach
    weight, demand, group_parent = st.pb.weight, st.pb.demand, st.pb.group_parent
    group_node, parent_node, group_extra = st.group_node, st.parent_node, st.group_extra
    value, reason, froze_at, group_frozen = st.value, st.reason, st.froze_at, st.group_frozen
    comp = net.components(skip=SOURCE)
    # The cut that fixed the level is tight there, so its source-side
    # groups under sink-side parents are stuck by construction; asking
    # the residual graph alone would miss them when float dust leaves a
    # hair of capacity across the cut.
    behind: set[int] = set()
    if side is not None:
        behind = set(_tight_groups(st, rnd.active, side + [False] * (net.n - len(side))))
    changed = False
    for g in rnd.active:
        p = group_parent[g]
        stuck = g in behind or (net.flow(group_extra[g]) <= tol and comp[group_node[g]] != comp[parent_node[p]])
        for i in members[g]:
            if frozen[i]:
                continue
            v = min(capped[i], weight[i] * level)
            if reach[i] - v <= tol:
                why, v = (DEMAND if demand[i] - v <= tol else BLOCKED), reach[i]
            elif parent_level[p] <= level * (1.0 + 1e-12):
                why = PARENT
            elif stuck:
                why = BLOCKED
            else:
                continue
            frozen[i], value[i], reason[i], froze_at[i] = True, v, why, level
            group_frozen[g] += v
            changed = True
    return changed


def _settle_behind_cut(st: _Filling, rnd: _Round, side: list[bool]) -> bool:
    """Step 5: the cut that fixed the level stays saturated from here on.  A
    sink-side group fed by a source-side parent keeps getting all it can
    take, so it is settled now; its parent's remaining total then shrinks,
    which turns what would be one blocking event per parent into a plain
    parent water level (no max flow).  Then close the source-side classes
    to the sink-side groups.  Returns whether any member froze."""
    side = side + [False] * (st.net.n - len(side))
    members, frozen, reach, demand, tol, level = st.members, st.frozen, st.reach, st.pb.demand, st.tol, rnd.level
    group_node, parent_node, group_parent = st.group_node, st.parent_node, st.pb.group_parent
    value, reason, froze_at, group_frozen = st.value, st.reason, st.froze_at, st.group_frozen
    changed = False
    for g in rnd.active:
        if side[group_node[g]] or not side[parent_node[group_parent[g]]]:
            continue
        for i in members[g]:
            if not frozen[i]:
                v = reach[i]
                why = DEMAND if demand[i] - v <= tol else BLOCKED
                frozen[i], value[i], reason[i], froze_at[i] = True, v, why, level
                group_frozen[g] += v
                changed = True
    _close_classes(st, rnd.active, side)
    return changed


def _close_classes(st: _Filling, active: list[int], side: list[bool]) -> None:
    """After a tight cut, sink-side groups can never again send flow into
    source-side classes (those resources are spoken for), so drop the edges
    and cap each member at what its open classes can still take.  This turns
    the many per-tenant "blocked" events that would follow into plain demand
    saturation, which needs no max-flow."""
    net, class0, members, frozen, reach = st.net, st.class0, st.members, st.frozen, st.reach
    group_class_edges, group_node = st.group_class_edges, st.group_node
    for g in active:
        class_edges = group_class_edges[g]
        if side[group_node[g]] or not class_edges or all(frozen[i] for i in members[g]):
            continue
        open_cap = 0.0
        for k, _cap, edge in class_edges:
            if side[class0 + k]:
                net.drop(edge)
            else:
                open_cap += net.base[edge]
        for i in members[g]:
            if not frozen[i] and open_cap < reach[i]:
                reach[i] = open_cap


def _freeze_below_level(st: _Filling, rnd: _Round) -> None:
    """Float dust hid the blocking cut: freeze everything still below the
    level rather than loop; the error is within tolerance."""
    members, frozen, capped, weight, level = st.members, st.frozen, st.capped, st.pb.weight, rnd.level
    value, reason, froze_at, group_frozen = st.value, st.reason, st.froze_at, st.group_frozen
    for g in rnd.active:
        for i in members[g]:
            if not frozen[i]:
                v = min(capped[i], weight[i] * level)
                frozen[i], value[i], reason[i], froze_at[i] = True, v, BLOCKED, level
                group_frozen[g] += v


# -- 6. retiring settled groups --------------------------------------------------------------


def _retire_settled(st: _Filling, rnd: _Round) -> None:
    """Step 6: a group whose members are all frozen leaves the network where
    that is exact: a contracted group's total becomes fixed supply on its
    class; a one-member or one-class group moves onto a pooled node."""
    members, frozen, group_frozen, group_parent = st.members, st.frozen, st.group_frozen, st.pb.group_parent
    group_class, retired, parent_retired = st.group_class, st.retired, st.parent_retired
    for g in rnd.active:
        settled = all(frozen[i] for i in members[g])
        if settled and group_class[g] >= 0:
            st.net.drop(st.group_extra[g])
            st.class_fixed[group_class[g]] += group_frozen[g]
            retired[g] = True
            parent_retired[group_parent[g]] += group_frozen[g]
            continue
        single = settled and (len(members[g]) == 1 or len(st.group_class_edges[g]) == 1)
        if single and _retire(st, g):
            retired[g] = True
            parent_retired[group_parent[g]] += group_frozen[g]


def _retire(st: _Filling, g: int) -> bool:
    """Move a settled group (one member, or one class) onto a node shared by
    all settled groups with the same open classes, so the graph shrinks as
    the filling goes on.  Exact for one or two classes: a fixed total v split over two
    classes with caps d is the segment y1 <= min(v, d1), y2 <= min(v, d2),
    y1 + y2 = v, and such segments add up class by class.  With three or
    more classes only a forced routing (v fills every open class) is exact."""
    net = st.net
    v = st.group_frozen[g]
    opened = [(k, net.base[edge]) for k, _cap, edge in st.group_class_edges[g] if net.base[edge] > 0.0]
    if len(opened) > 2:
        room = sum(cap for _, cap in opened)
        if v < room * (1.0 - 1e-12):
            return False  # three or more classes do not add up like this: keep the node
        # Settled at all its open classes can take: every class edge must be
        # full, so the routing is forced and each class gets its part as
        # plain one-class supply (proportional, so the parts add up to v).
        for k, cap in opened:
            _pool_into(st, (k,), cap * v / room, [cap * v / room])
    else:
        _pool_into(st, tuple(k for k, _ in opened), v, [min(v, cap) for _, cap in opened])
    net.drop(st.group_src[g])
    net.drop(st.group_extra[g])
    for _k, _cap, edge in st.group_class_edges[g]:
        net.drop(edge)
    return True


def _pool_into(st: _Filling, key: tuple[int, ...], v: float, caps: list[float]) -> None:
    """Add a settled total ``v`` (class parts ``caps``) to the pooled node of its class set."""
    net, pooled = st.net, st.pooled
    if key not in pooled:
        node = net.add_node()
        edges = [net.add_edge(SOURCE, node, 0.0)]
        edges += [net.add_edge(node, st.class0 + k, 0.0) for k in key]
        pooled[key] = (node, edges)
    _, edges = pooled[key]
    net.set_capacity(edges[0], net.base[edges[0]] + v)
    for cap, edge in zip(caps, edges[1:], strict=True):
        net.set_capacity(edge, net.base[edge] + cap)
