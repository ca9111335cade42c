"""Turn settled request totals into per-resource pieces, deterministically.

Invariants:
- One max-flow on source -> class (sum of its requests' totals) -> resource
  -> sink decides how much of each class lands on each resource; the totals
  are feasible by construction, so the flow carries them all (up to float
  dust).
- Within a class, requests take the class's resource portions in input order
  of requests and of resources ("north-west corner"), so each request's
  pieces come out sorted by resource order and the split is reproducible.
- Pieces are in normalized hours; the caller converts to GPU-hours.
"""

from __future__ import annotations

from collections.abc import Sequence

from allocation.fairshare.maxflow import INF, FlowNetwork


def split_grants(
    class_resources: Sequence[Sequence[int]],
    capacity: Sequence[float],
    req_class: Sequence[int],
    req_value: Sequence[float],
    eps: float,
) -> list[list[tuple[int, float]]]:
    n_res, n_cls = len(capacity), len(class_resources)
    supply = [0.0] * n_cls
    for q, k in enumerate(req_class):
        if k >= 0:
            supply[k] += req_value[q]
    net = FlowNetwork(2 + n_res + n_cls, eps)
    for r, c in enumerate(capacity):
        net.add_edge(2 + r, 1, c)
    arcs: list[list[tuple[int, int]]] = []
    for k, rs in enumerate(class_resources):
        net.add_edge(0, 2 + n_res + k, supply[k])
        arcs.append([(r, net.add_edge(2 + n_res + k, 2 + r, INF)) for r in rs])
    net.max_flow(0, 1)
    port_res = [[r for r, _ in arc] for arc in arcs]
    port_left = [[net.flow(e) for _, e in arc] for arc in arcs]
    cursor = [0] * n_cls
    pieces: list[list[tuple[int, float]]] = []
    for q, k in enumerate(req_class):
        parts: list[tuple[int, float]] = []
        want = req_value[q] if k >= 0 else 0.0
        if want > eps:
            rs, left = port_res[k], port_left[k]
            j = cursor[k]
            while want > eps and j < len(rs):
                take = min(left[j], want)
                if take > eps:
                    parts.append((rs[j], take))
                left[j] -= take
                want -= take
                if left[j] <= eps:
                    j += 1
            cursor[k] = j
        pieces.append(parts)
    return pieces
