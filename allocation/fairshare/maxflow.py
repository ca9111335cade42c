"""A small Dinic max-flow on float capacities, plus the residual-graph queries
the leximin filling needs (source side of a min cut, strongly connected parts).

Invariants:
- Edge ``e`` and its reverse are ``e`` and ``e ^ 1``; ``cap`` holds residual
  capacities, ``base`` the capacities set by the caller; the flow on ``e`` is
  what its reverse edge gained, ``cap[e ^ 1] - base[e ^ 1]``.  Capacities may be ``inf``.
- A residual capacity at or below ``eps`` counts as zero everywhere, so float
  dust never creates a path (and never makes a saturated resource look free).
- Deterministic: the same edges added in the same order give the same flow.
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
        return e

    def set_capacity(self, e: int, capacity: float) -> None:
        self.base[e] = capacity

    def flow(self, e: int) -> float:
        # Read from the reverse edge: base - cap is nan on infinite edges.
        return self.cap[e ^ 1] - self.base[e ^ 1]

    def max_flow(self, s: int, t: int) -> float:
        """Recompute the flow from zero with the current base capacities."""
        self.cap = list(self.base)
        total = 0.0
        while True:
            level = self._levels(s, t)
            if level[t] < 0:
                return total
            total += self._blocking_flow(s, t, level)

    def _levels(self, s: int, t: int) -> list[int]:
        adj, to, cap, eps = self.adj, self.to, self.cap, self.eps
        level = [-1] * self.n
        level[s] = 0
        queue = deque([s])
        while queue:
            u = queue.popleft()
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
        total = 0.0
        path: list[int] = []
        u = s
        while True:
            if u == t:
                f = min(cap[e] for e in path)
                for e in path:
                    cap[e] -= f
                    cap[e ^ 1] += f
                total += f
                path.clear()
                u = s
                continue
            lst = adj[u]
            i = it[u]
            want = level[u] + 1
            while i < len(lst):
                e = lst[i]
                if cap[e] > eps and level[to[e]] == want:
                    break
                i += 1
            it[u] = i
            if i < len(lst):
                path.append(lst[i])
                u = to[lst[i]]
                continue
            # Dead end: prune the node for this phase and step back.
            level[u] = -1
            if not path:
                return total
            e = path.pop()
            u = to[e ^ 1]
            it[u] += 1

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
