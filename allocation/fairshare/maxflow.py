"""A small Dinic max-flow on float capacities, plus the residual-graph queries
the leximin filling needs (source side of a min cut, strongly connected parts).

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
"""

from __future__ import annotations

import math
from collections import deque

INF = math.inf


class FlowNetwork:
    def __init__(self, nodes: int, eps: float) -> None:
        self.n = nodes
        self.eps = eps
        self.adj: list[list[int]] = [[] for _ in range(nodes)]
        self.to: list[int] = []
        self.cap: list[float] = []
        self.base: list[float] = []
        self.ends: tuple[int, int] | None = None  # (s, t) once a flow exists
        self.gone = bytearray()  # per edge pair: dropped for good
        self.newly_gone = 0  # dropped since the adjacency lists were last compacted

    def add_node(self) -> int:
        self.adj.append([])
        self.n += 1
        return self.n - 1

    def add_edge(self, u: int, v: int, capacity: float) -> int:
        e = len(self.to)
        self.to += (v, u)
        self.cap += (capacity, 0.0)
        self.base += (capacity, 0.0)
        self.adj[u].append(e)
        self.adj[v].append(e + 1)
        self.gone.append(0)
        return e

    def drop(self, e: int) -> None:
        """Remove forward edge ``e`` for good: its flow is cancelled and, at
        the next compaction, both arcs leave the adjacency lists.  The
        filling retires settled groups as it goes, and scanning their dead
        arcs in every phase was a large part of each max flow."""
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
        self.newly_gone = 0

    def set_capacity(self, e: int, capacity: float) -> None:
        """Change a forward edge's capacity, keeping the current flow valid:
        flow above the new capacity is cancelled along flow-carrying paths to
        the source and the sink (the graphs here are DAGs, so the walk ends)."""
        carried = self.cap[e ^ 1]
        if self.ends is not None and carried > capacity:
            excess = carried - capacity
            self.cap[e ^ 1] -= excess
            self._cancel_down(self.to[e], excess)
            self._cancel_up(self.to[e ^ 1], excess)
            carried = capacity
        self.base[e] = capacity
        self.cap[e] = capacity - carried

    def _cancel_down(self, u: int, amount: float) -> None:
        adj, to, cap, eps = self.adj, self.to, self.cap, self.eps
        assert self.ends is not None
        if u == self.ends[1]:
            return
        for e in adj[u]:
            if e & 1 or cap[e ^ 1] <= 0.0:
                continue
            d = min(amount, cap[e ^ 1])
            cap[e ^ 1] -= d
            cap[e] += d
            self._cancel_down(to[e], d)
            amount -= d
            if amount <= eps:
                return

    def _cancel_up(self, u: int, amount: float) -> None:
        adj, to, cap, eps = self.adj, self.to, self.cap, self.eps
        assert self.ends is not None
        if u == self.ends[0]:
            return
        for e in adj[u]:
            if not e & 1 or cap[e] <= 0.0:
                continue
            d = min(amount, cap[e])
            cap[e] -= d
            cap[e ^ 1] += d
            self._cancel_up(to[e], d)
            amount -= d
            if amount <= eps:
                return

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
        while True:
            level = self._levels(s, t)
            if level[t] < 0:
                break
            self._blocking_flow(s, t, level)
        return sum(self.cap[e ^ 1] for e in self.adj[s] if not e & 1)

    def _levels(self, s: int, t: int) -> list[int]:
        adj, to, cap, eps = self.adj, self.to, self.cap, self.eps
        level = [-1] * self.n
        level[s] = 0
        queue = deque([s])
        while queue:
            u = queue.popleft()
            if 0 <= level[t] <= level[u]:
                break  # nodes this deep cannot lie on a shortest path to t
            nxt = level[u] + 1
            for e in adj[u]:
                v = to[e]
                if level[v] < 0 and cap[e] > eps:
                    level[v] = nxt
                    queue.append(v)
        return level

    def _blocking_flow(self, s: int, t: int, level: list[int]) -> float:
        adj, to, cap, eps = self.adj, self.to, self.cap, self.eps
        it = [0] * self.n

        def push(u: int, limit: float) -> float:
            # Multi-push DFS: one call saturates as many level-graph paths
            # through u as ``limit`` allows, so each edge is scanned about
            # once per phase instead of once per augmenting path.
            if u == t:
                return limit
            sent = 0.0
            lst = adj[u]
            want = level[u] + 1
            i = it[u]
            while i < len(lst):
                e = lst[i]
                if cap[e] > eps:
                    v = to[e]
                    if level[v] == want:
                        room = cap[e]
                        d = push(v, room if room < limit - sent else limit - sent)
                        if d > 0.0:
                            cap[e] -= d
                            cap[e ^ 1] += d
                            sent += d
                            if limit - sent <= eps:
                                it[u] = i
                                return sent
                i += 1
            it[u] = i
            level[u] = -1  # dead end for the rest of this phase
            return sent

        return push(s, INF)

    def reachable_from(self, s: int) -> list[bool]:
        """Source side of the minimum cut after ``max_flow``."""
        adj, to, cap, eps = self.adj, self.to, self.cap, self.eps
        seen = [False] * self.n
        seen[s] = True
        stack = [s]
        while stack:
            u = stack.pop()
            for e in adj[u]:
                v = to[e]
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
                pushed = False
                while i < len(lst):
                    e = lst[i]
                    i += 1
                    v = to[e]
                    if v == skip or cap[e] <= eps:
                        continue
                    if index[v] < 0:
                        work[-1] = (u, i)
                        index[v] = low[v] = counter
                        counter += 1
                        stack.append(v)
                        on_stack[v] = True
                        work.append((v, 0))
                        pushed = True
                        break
                    if on_stack[v] and index[v] < low[u]:
                        low[u] = index[v]
                if pushed:
                    continue
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
