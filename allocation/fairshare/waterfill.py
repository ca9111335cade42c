"""Weighted water-filling: the one-dimensional core of every leximin step.

Invariants:
- ``water_level(demands, weights, total)`` returns the level L with
  ``sum(min(D_i, w_i * L)) == total`` (the largest such L is irrelevant: the
  sum is strictly increasing until every item is saturated), or ``inf`` when
  ``total`` covers every demand.  Weights are > 0, demands >= 0.
- Pure functions of their arguments; the result does not depend on the order
  of the items, so callers get the same answer for the same input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

INF = math.inf


def water_level(demands: Sequence[float], weights: Sequence[float], total: float) -> float:
    """The level L at which ``sum(min(D, w * L))`` reaches ``total``."""
    if total <= 0.0:
        return 0.0
    n = len(demands)
    if n == 1:
        # The single-item case is the common one in the tenant and request steps.
        return INF if demands[0] <= total else total / weights[0]
    if sum(demands) <= total:
        return INF
    ratios = [d / w for d, w in zip(demands, weights, strict=True)]
    order = sorted(range(n), key=ratios.__getitem__)
    remaining = total
    weight_left = math.fsum(weights)
    for i in order:
        # Items whose saturation level lies below the candidate level are
        # saturated at it; the first one above fixes the level for the rest.
        if ratios[i] * weight_left >= remaining:
            break
        remaining -= demands[i]
        weight_left -= weights[i]
    if weight_left <= 0.0:
        return INF
    return max(remaining, 0.0) / weight_left


def fill(demands: Sequence[float], weights: Sequence[float], total: float) -> list[float]:
    """Each item's share of ``total`` under weighted water-filling."""
    level = water_level(demands, weights, total)
    if level == INF:
        return list(demands)
    return [min(d, w * level) for d, w in zip(demands, weights, strict=True)]
