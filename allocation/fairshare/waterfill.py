"""Weighted water-filling: the one-dimensional core of every leximin step.

Invariants:
- ``water_level(demands, weights, total)`` returns the level L with
  ``sum(min(D_i, w_i * L)) == total`` (the largest such L is irrelevant: the
  sum is strictly increasing until every item is saturated), or ``inf`` when
  ``total`` covers every demand.  Weights are > 0, demands >= 0.
- Pure functions of their arguments; the result does not depend on the order
  of the items, so callers get the same answer for the same input.
- Bit-stable: the level is fixed by subtracting the saturated items' demands
  and weights one by one in ascending order of D/w (ties in input order).
  Any faster formulation must perform exactly those float operations in
  that order, or figures (and the cleaned output) could move in the last bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from itertools import accumulate, compress
from operator import ge, mul, sub, truediv

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
    ratios = list(map(truediv, demands, weights))
    # The scan "items whose saturation level lies below the candidate level
    # are saturated at it; the first one above fixes the level for the rest",
    # i.e. with ``order`` the items sorted by ratio (ties in input order)
    #     for i in order:
    #         if ratios[i] * weight_left >= remaining: break
    #         remaining -= demands[i]; weight_left -= weights[i]
    # runs here at C speed (a million tenants made the Python loop the
    # round's largest cost).  accumulate() performs the very same
    # subtractions in the same order, so every figure is bit-identical:
    # remaining[k] and weight_left[k] are the values before item k is
    # considered, index n the values after all of them.
    d_sorted, w_sorted = _sorted_by(ratios, demands), _sorted_by(ratios, weights)
    remaining = list(accumulate(d_sorted, sub, initial=total))
    weight_left = list(accumulate(w_sorted, sub, initial=math.fsum(weights)))
    # d / w of the same operands is the same float: the ratios in order,
    # without a third sort.
    stops = map(ge, map(mul, map(truediv, d_sorted, w_sorted), weight_left), remaining)
    k = next(compress(range(n), stops), n)
    if weight_left[k] <= 0.0:
        return INF
    return max(remaining[k], 0.0) / weight_left[k]


def _sorted_by(keys: list[float], values: Sequence[float]) -> list[float]:
    """``values`` in ascending order of ``keys``, ties in input order: the
    same list as ``[values[i] for i in sorted(range(n), key=keys.__getitem__)]``.

    list.sort computes the keys once, first element to last, so feeding it
    ``keys`` one by one pairs key i with ``values[i]``; the permutation depends
    on the keys alone, and the sort moves each value along with its key.  Fetching ``values[i]`` in sorted order
    afterwards would instead jump around memory, a cache miss per item that
    cost more than the sort itself on a million items.
    (tests/fairshare/test_waterfill.py pins this down.)
    """
    return sorted(values, key=partial(next, iter(keys)))


def fill(demands: Sequence[float], weights: Sequence[float], total: float) -> list[float]:
    """Each item's share of ``total`` under weighted water-filling."""
    level = water_level(demands, weights, total)
    if level == INF:
        return list(demands)
    return [min(d, w * level) for d, w in zip(demands, weights, strict=True)]
