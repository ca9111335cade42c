"""A small Dinic max-flow on float capacities, plus the residual-graph queries
the leximin filling needs (source side of a min cut, strongly connected parts).

Algorithm (``FlowNetwork.max_flow``):

1. Start from the current flow (zero the first time; later calls keep the
   last flow, which ``set_capacity`` keeps feasible by cancelling excess
   along flow paths, ``_cancel``).
2. Phase: label nodes by their distance from the source in the residual
   graph (``_levels``, a breadth-first search run from both ends that
   stops where they meet, ``_layer`` per layer).  No path left: done.
3. Push a blocking flow along arcs that go one level up
   (``_blocking_flow``, an iterative multi-push depth-first search that
   keeps a per-node arc pointer and marks dead ends), and go to 2.

The flow value is what leaves the source; ``reachable_from``/``reaching``
give the smallest and largest minimum cut's source side, ``components``
the strongly connected parts of the residual graph (Tarjan).

Complexity: at most V - 1 phases, since each one lengthens the shortest
augmenting path; a blocking flow costs O(VE) with arc pointers, so O(V^2 E)
in all (O(E min(V^(2/3), E^(1/2))) on unit capacities).  Warm starts
make the repeated calls of one leximin round pay only for the change.
The cut and component searches are O(V + E).

References:
- E. A. Dinic, "Algorithm for solution of a problem of maximum flow in a
  network with power estimation", Soviet Math. Doklady 11 (1970) 1277-1280.
- S. Even, R. E. Tarjan, "Network flow and testing graph connectivity",
  SIAM J. Comput. 4 (1975) 507-518: the blocking-flow formulation and the
  unit-capacity bounds.
- R. K. Ahuja, T. L. Magnanti, J. B. Orlin, "Network Flows", Prentice Hall
  1993, chapter 7: Dinic's algorithm and its O(V^2 E) bound.
- T. H. Cormen, C. E. Leiserson, R. L. Rivest, C. Stein, "Introduction to
  Algorithms", 3rd ed., MIT Press 2009, chapter 26: residual networks,
  augmenting paths and the max-flow min-cut theorem the cuts rely on.
- R. E. Tarjan, "Depth-first search and linear graph algorithms", SIAM J.
  Comput. 1 (1972) 146-160: strongly connected components.

Invariants:
- Edge ``e`` and its reverse are ``e`` and ``e ^ 1``; ``cap`` holds residual
  capacities, ``base`` the capacities set by the caller; the flow on ``e`` is
  what its reverse edge gained, ``cap[e ^ 1] - base[e ^ 1]``.  Capacities may be ``inf``.
- A residual capacity at or below ``eps`` counts as zero everywhere, so float
  dust never creates a path (and never makes a saturated resource look free).
- Deterministic: the same edges and the same sequence of capacity changes
  give the same flow.
- A dropped edge never carries flow again and is never given capacity
  again; dropping keeps the order of the remaining arcs (determinism).
- Warm start: after the first ``max_flow`` the flow persists; every
  ``set_capacity`` keeps it feasible, and each graph built here is a DAG
  (source -> ... -> sink layers), so cancelling excess flow terminates.
- Each phase augments along the same arcs, in the same order, as a blocking
  flow on the full BFS level graph would.  The levels come from a search run
  from both ends, which leaves some nodes off every shortest path unlevelled
  or out of the blocking flow's reach; it could only have found them to be
  dead ends (no flow, no capacity change), so skipping them changes nothing
  but the time.
- ``radj[u]`` lists the reverse of each arc in ``adj[u]`` (the arcs into
  ``u``, in the same order) and ``frm`` the tail of every arc, so the sink
  side of that search reads arcs into a node as cheaply as arcs out of it.
"""

from __future__ import annotations

import math

INF = math.inf


class FlowNetwork:
    def __init__(self, nodes: int, eps: float) -> None:
        self.n = nodes
        self.eps = eps
        self.adj: list[list[int]] = [[] for _ in range(nodes)]
        self.radj: list[list[int]] = [[] for _ in range(nodes)]
        self.to: list[int] = []
        self.frm: list[int] = []  # tail of each arc, as ``to`` holds its head
        self.cap: list[float] = []
        self.base: list[float] = []
        self.ends: tuple[int, int] | None = None  # (s, t) once a flow exists
        self.gone = bytearray()  # per edge pair: dropped for good
        self.newly_gone = 0  # dropped since the adjacency lists were last compacted

    def add_node(self) -> int:
        self.adj.append([])
        self.radj.append([])
        self.n += 1
        return self.n - 1

    def add_edge(self, u: int, v: int, capacity: float) -> int:
        e = len(self.to)
        self.to += (v, u)
        self.frm += (u, v)
        self.cap += (capacity, 0.0)
        self.base += (capacity, 0.0)
        self.adj[u].append(e)
        self.adj[v].append(e + 1)
        self.radj[u].append(e + 1)
        self.radj[v].append(e)
        self.gone.append(0)
        return e

    def drop(self, e: int) -> None:
        """Remove forward edge ``e`` for good: its flow is cancelled and, at
        the next compaction, both arcs leave the adjacency lists.  The
        filling retires settled groups as it goes, so without compaction
        every phase would scan their dead arcs again."""
        self.set_capacity(e, 0.0)
        if not self.gone[e >> 1]:
            self.gone[e >> 1] = 1
            self.newly_gone += 1

    def _compact(self) -> None:
        # Rebuilding costs one pass over the arcs, so wait until enough died.
        if self.newly_gone * 8 < len(self.gone):
            return
        gone = self.gone
        self.adj = [[a for a in arcs if not gone[a >> 1]] for arcs in self.adj]
        self.radj = [[a ^ 1 for a in arcs] for arcs in self.adj]
        self.newly_gone = 0

    def set_capacity(self, e: int, capacity: float) -> None:
        """Change a forward edge's capacity, keeping the current flow valid:
        flow above the new capacity is cancelled along flow-carrying paths to
        the source and the sink (the graphs here are DAGs, so the walk ends)."""
        cap = self.cap
        carried = cap[e ^ 1]
        if carried > capacity and self.ends is not None:
            excess = carried - capacity
            cap[e ^ 1] = carried - excess
            # Most edges here start at the source or end at the sink, where a
            # walk would stop at once; skipping the call saves its overhead.
            s, t = self.ends
            head, tail = self.to[e], self.to[e ^ 1]
            if head != t:
                self._cancel(head, excess, 0)
            if tail != s:
                self._cancel(tail, excess, 1)
            carried = capacity
        self.base[e] = capacity
        cap[e] = capacity - carried

    # The walk below is depth-first with an explicit stack; a parent whose
    # amount is used up keeps no frame, since all it had left to do was to
    # return once its child finished.

    def _cancel(self, u: int, amount: float, up: int) -> None:
        """Cancel ``amount`` of flow leaving ``u`` towards the sink (``up`` 0:
        along forward arcs, whose flow their reverse holds) or reaching ``u``
        from the source (``up`` 1: along reverse arcs, whose residual is
        the flow), stopping at that end."""
        assert self.ends is not None
        end = self.ends[1 - up]
        adj, to, cap, eps = self.adj, self.to, self.cap, self.eps
        stack: list[tuple[list[int], int, int, float]] = []
        lst = adj[u]
        i, n = 0, len(lst)
        while True:
            while i < n:
                e = lst[i]
                i += 1
                if e & 1 != up:
                    continue
                held = e ^ 1 ^ up  # the arc whose residual is the flow to cancel
                f = cap[held]
                if f <= 0.0:
                    continue
                d = f if f < amount else amount
                cap[held] = f - d
                cap[held ^ 1] += d
                amount -= d
                v = to[e]
                if v == end:
                    if amount <= eps:
                        break
                    continue
                if amount > eps:
                    stack.append((lst, i, n, amount))
                lst = adj[v]
                i, n = 0, len(lst)
                amount = d
            if not stack:
                return
            lst, i, n, amount = stack.pop()

    def flow(self, e: int) -> float:
        # Read from the reverse edge: base - cap is nan on infinite edges.
        return self.cap[e ^ 1] - self.base[e ^ 1]

    def max_flow(self, s: int, t: int) -> float:
        """Augment the current flow (zero at first) to a maximum one; later
        calls start from the previous flow, which capacity changes kept valid,
        so a Newton step only pays for the difference."""
        if self.ends is None:
            self.cap = list(self.base)
            self.ends = (s, t)
        self._compact()
        eps = self.eps
        cap = self.cap
        # Within one call the source's arcs only lose residual capacity (no
        # path ever enters the source), so each phase rescans just the arcs
        # that were still open in the one before.
        first = [e for e in self.adj[s] if cap[e] > eps]
        while True:
            level, first = self._levels(s, t, first)
            if level[t] < 0:
                break
            self._blocking_flow(s, t, level, first)
        return sum(self.cap[e ^ 1] for e in self.adj[s] if not e & 1)

    def _levels(self, s: int, t: int, src: list[int]) -> tuple[list[int], list[int]]:
        """Levels for one phase (``level[t]`` is -1 when no path is left) and
        the source's open arcs.  Only nodes off every shortest s-t path may
        be missing from the level graph a one-sided BFS would give.

        Breadth-first from both ends, each step expanding the side with less
        to scan, until the two searches meet: the source side alone scanned
        most of the graph in every phase, while near a maximum flow the few
        open paths are found sooner from the sink."""
        adj, radj, to, frm, cap, eps = self.adj, self.radj, self.to, self.frm, self.cap, self.eps
        level = [-1] * self.n  # distance from the source; the phase's levels once the searches meet
        sink_dist = [-1] * self.n
        level[s] = 0
        sink_dist[t] = 0
        # The source always goes first: its arc list is the longest, and the
        # open arcs kept here are all the blocking flow needs to scan there.
        first: list[int] = []
        src_layer: list[int] = []
        src_scan = 0  # arcs the source side's next layer would scan
        for e in src:
            if cap[e] > eps:
                v = to[e]
                if level[v] < 0:
                    level[v] = 1
                    src_layer.append(v)
                    src_scan += len(adj[v])
                first.append(e)
        if not src_layer:
            level[t] = -1
            return level, first
        src_depth, sink_depth = 1, 0
        sink_layer = [t]
        sink_seen = [t]
        sink_scan = len(adj[t])
        met = level[t] >= 0
        while not met:
            # The sink side gets twice the weight: a node it labels off every
            # shortest path can never be entered by the blocking flow, while
            # one the source side labels is entered until found a dead end.
            if 2 * src_scan <= sink_scan:
                src_depth += 1
                src_layer, src_scan, met = _layer(src_layer, adj, to, cap, eps, level, src_depth, sink_dist, adj)
                grew = src_layer
            else:
                sink_depth += 1
                sink_layer, sink_scan, met = _layer(sink_layer, radj, frm, cap, eps, sink_dist, sink_depth, level, adj)
                sink_seen += sink_layer
                grew = sink_layer
            if not grew:  # one search ran out of nodes: no path is left
                level[t] = -1
                return level, first
        _join_levels(level, sink_dist, src_layer, sink_seen, src_depth + sink_depth)
        return level, first

    def _blocking_flow(self, s: int, t: int, level: list[int], first: list[int]) -> float:
        # Multi-push DFS: one visit to u saturates as many level-graph paths
        # through u as its limit allows, so each arc is scanned about once
        # per phase instead of once per augmenting path.  It runs on an
        # explicit stack, so a deep level graph costs no Python call per node
        # and path; each frame is a suspended visit, resumed with the
        # amount its child sent.  Arcs into the sink are settled in place.
        adj, to, cap, eps = self.adj, self.to, self.cap, self.eps
        it = [0] * self.n
        stack: list[tuple[int, list[int], int, int, float, float, int]] = []
        u = s
        lst = first
        i, n = 0, len(lst)
        want = level[s] + 1
        limit = INF
        sent = 0.0
        while True:
            while i < n:
                e = lst[i]
                room = cap[e]
                if room > eps:
                    v = to[e]
                    if level[v] == want:
                        rest = limit - sent
                        if room > rest:
                            room = rest
                        if v != t:
                            stack.append((u, lst, n, i, limit, sent, e))
                            u = v
                            lst = adj[v]
                            i, n = it[v], len(lst)
                            want += 1
                            limit = room
                            sent = 0.0
                            continue
                        if room > 0.0:
                            cap[e] -= room
                            cap[e ^ 1] += room
                            sent += room
                            if limit - sent <= eps:
                                break
                i += 1
            else:
                level[u] = -1  # dead end for the rest of this phase
            it[u] = i
            d = sent
            while True:
                if not stack:
                    return d
                u, lst, n, i, limit, sent, e = stack.pop()
                want -= 1
                if d > 0.0:
                    cap[e] -= d
                    cap[e ^ 1] += d
                    sent += d
                    if limit - sent <= eps:
                        it[u] = i
                        d = sent
                        continue
                i += 1
                break

    def reachable_from(self, s: int) -> list[bool]:
        """Source side of the minimum cut after ``max_flow``."""
        return self._search(s, self.adj, self.to)

    def reaching(self, t: int) -> list[bool]:
        """Nodes that can still reach ``t`` in the residual graph after
        ``max_flow``: the complement is the largest minimum cut's source side."""
        return self._search(t, self.radj, self.frm)

    def _search(self, start: int, arcs: list[list[int]], ends: list[int]) -> list[bool]:
        # Forwards along ``adj`` to arc heads, or backwards along ``radj`` to
        # arc tails; either way only arcs with residual capacity count.
        cap, eps = self.cap, self.eps
        seen = [False] * self.n
        seen[start] = True
        stack = [start]
        while stack:
            u = stack.pop()
            for e in arcs[u]:
                v = ends[e]
                if not seen[v] and cap[e] > eps:
                    seen[v] = True
                    stack.append(v)
        return seen

    def components(self, skip: int) -> list[int]:
        """Strongly connected component id of each node of the residual graph
        without node ``skip`` (iterative Tarjan; ``skip`` gets -1)."""
        adj, to, cap, eps = self.adj, self.to, self.cap, self.eps
        n = self.n
        index = [-1] * n
        low = [0] * n
        comp = [-1] * n
        on_stack = [False] * n
        stack: list[int] = []
        counter = 0
        ncomp = 0
        for root in range(n):
            if root == skip or index[root] >= 0:
                continue
            work = [(root, 0)]
            index[root] = low[root] = counter
            counter += 1
            stack.append(root)
            on_stack[root] = True
            while work:
                u, i = work[-1]
                lst = adj[u]
                deg = len(lst)
                while i < deg:
                    e = lst[i]
                    i += 1
                    if cap[e] <= eps:
                        continue
                    v = to[e]
                    if v == skip:
                        continue
                    iv = index[v]
                    if iv < 0:
                        work[-1] = (u, i)
                        index[v] = low[v] = counter
                        counter += 1
                        stack.append(v)
                        on_stack[v] = True
                        work.append((v, 0))
                        break
                    if iv < low[u] and on_stack[v]:
                        low[u] = iv
                else:
                    work.pop()
                    if work:
                        parent = work[-1][0]
                        if low[u] < low[parent]:
                            low[parent] = low[u]
                    if low[u] == index[u]:
                        while True:
                            v = stack.pop()
                            on_stack[v] = False
                            comp[v] = ncomp
                            if v == u:
                                break
                        ncomp += 1
        return comp


def _layer(
    frontier: list[int],
    arcs: list[list[int]],
    ends: list[int],
    cap: list[float],
    eps: float,
    mark: list[int],
    depth: int,
    other: list[int],
    adj: list[list[int]],
) -> tuple[list[int], int, bool]:
    """One breadth-first layer of either search in ``_levels``: the source's
    follows ``adj`` to arc heads (``to``), the sink's follows ``radj`` back to
    arc tails (``frm``).  Marks new nodes at ``depth`` and returns them, the
    arcs the next layer would scan, and whether the other search saw one."""
    nxt: list[int] = []
    work = 0
    met = False
    for u in frontier:
        for e in arcs[u]:
            if cap[e] > eps:
                v = ends[e]
                if mark[v] < 0:
                    mark[v] = depth
                    nxt.append(v)
                    work += len(adj[v])
                    if other[v] >= 0:
                        met = True
    return nxt, work, met


def _join_levels(level: list[int], sink_dist: list[int], src_layer: list[int], sink_seen: list[int], dist: int) -> None:
    """Turn the two searches' distances into one phase's levels.

    Both searches stopped after whole layers at the first common node, so
    the shortest path has ``dist`` arcs.  A node in the source side's last
    layer with no sink distance is off every such path.  A node seen only
    from the sink gets the level it has on a shortest path; if it lies on
    none, its source distance exceeds that level and no arc from a node
    levelled by its source distance can enter it."""
    for v in src_layer:
        if sink_dist[v] < 0:
            level[v] = -1
    for v in sink_seen:
        if level[v] < 0:
            level[v] = dist - sink_dist[v]
