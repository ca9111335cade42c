"""Weighted water-filling: the one-dimensional core of every leximin step.

Invariants:
- ``water_level(demands, weights, total)`` returns the level L with
  ``sum(min(D_i, w_i * L)) == total`` (the largest such L is irrelevant: the
  sum is strictly increasing until every item is saturated), or ``inf`` when
  ``total`` covers every demand.  Weights are > 0, demands >= 0.
- Pure functions of their arguments, so callers get the same answer for the
  same input (up to ``SCAN_MAX`` items also whatever their order).
- Bit-stable up to ``SCAN_MAX`` items: the level is fixed by subtracting
  the saturated items' demands one by one in ascending order of D/w (ties
  in input order), against the weight of the items not yet saturated summed
  from the largest ratio down (``_weights_above``); any faster formulation
  of that scan must perform exactly those float operations in that order.
- Exact for any ratio of weights: the rising weight is a sum of positive
  weights, never a difference, so a weight of 1e-17 next to 1 still counts
  (a difference rounds it to 0.0 and the level to infinity: everything
  "fits" and the round grants above capacity).
- Above ``SCAN_MAX`` items (a pool of a million-tenant round) sorting is the
  largest cost, so the level is found by selection instead: pivots split the
  items into saturated and unsaturated ones in linear expected time, and the
  sums are ``math.fsum`` (correctly rounded).  The level is then within
  1e-12 of the exact one (closer than the scan's running subtractions get on
  wide ranges) but not bit for bit the scan's; it is still deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from itertools import accumulate, compress
from operator import add, eq, ge, mul, sub, truediv

INF = math.inf
SCAN_MAX = 4096  # above this many items, selection beats sorting
_SMALL = 64  # selection hands the last few candidates to the scan
_SAMPLE = 1024  # sample size for guessing the level
_MARGIN = 24  # sample items either side of the guess: about 5% of candidates stay


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
    if n > SCAN_MAX:
        return _selected_level(demands, weights, ratios, total)
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
    weight_left = _weights_above(w_sorted)
    # d / w of the same operands is the same float: the ratios in order,
    # without a third sort.
    stops = map(ge, map(mul, map(truediv, d_sorted, w_sorted), weight_left), remaining)
    k = next(compress(range(n), stops), n)
    if weight_left[k] <= 0.0:
        return INF
    level = max(remaining[k], 0.0) / weight_left[k]
    # The items before k are saturated at the level, so it is at least the last one's ratio. Rounding
    # in the running sums can put it below (an item that all but fills the total leaves ``remaining``
    # at 0.0 for the rest), and the level must never fall under an item counted as saturated.
    if k and level < (floor := d_sorted[k - 1] / w_sorted[k - 1]):
        return floor
    return level


def _selected_level(demands: Sequence[float], weights: Sequence[float], ratios: list[float], total: float) -> float:
    """The scan's level without sorting every item (see the module docstring).

    Invariant of the loop: every item left out of the candidates is settled,
    its demand in ``saturated`` (its ratio lies below the level) or its
    weight in ``rising`` (its ratio lies at or above it), so the level solves
    ``fsum(saturated) + sum(min(d, w * L) over candidates) + L * fsum(rising)
    == total``.  Each pass guesses the level from an evenly spaced sample,
    brackets the guess with two sample ratios, and settles every candidate
    outside the bracket; a wrong guess still settles one side.
    """
    saturated: list[float] = []
    rising: list[float] = []
    d, w, r = demands, weights, ratios
    while len(r) > _SMALL:
        lo, hi = _bracket(d, w, r, math.fsum(saturated), math.fsum(rising), total)
        # Comprehensions: a comparison in the loop costs less than calling
        # lo.__ge__ per item, and these two passes run over every candidate.
        low = [x <= lo for x in r]
        high = [x > hi for x in r]
        mid = list(map(eq, low, high))  # neither: lo < ratio <= hi
        low_d, high_w = math.fsum(compress(d, low)), math.fsum(compress(w, high))
        mid_d, mid_w = list(compress(d, mid)), list(compress(w, mid))
        # The sums at both ends of the bracket; items in it count as rising at
        # ``lo`` and as saturated at ``hi``.
        at_lo = math.fsum([*saturated, low_d, lo * math.fsum([*rising, high_w, *mid_w])])
        at_hi = math.fsum([*saturated, low_d, *mid_d, hi * math.fsum([*rising, high_w])])
        if at_lo < total <= at_hi:  # the usual case: the bracket holds the level
            saturated.append(low_d)
            rising.append(high_w)
            keep, next_d, next_w = mid, mid_d, mid_w
        elif total <= at_lo:
            rising.append(high_w + math.fsum(mid_w))
            keep, next_d, next_w = low, list(compress(d, low)), list(compress(w, low))
        else:
            saturated.append(low_d + math.fsum(mid_d))
            keep, next_d, next_w = high, list(compress(d, high)), list(compress(w, high))
        kept = list(compress(r, keep))
        if len(kept) == len(r):
            break  # every candidate ties: the scan below sorts them out
        d, w, r = next_d, next_w, kept
    order = sorted(range(len(r)), key=r.__getitem__)
    remaining = total - math.fsum(saturated)
    settled = math.fsum(rising)
    # As in the scan: the weight still rising is summed afresh, never left over from subtractions.
    weight_left = [settled + x for x in _weights_above([w[i] for i in order])]
    k = len(order)
    for j, i in enumerate(order):
        if r[i] * weight_left[j] >= remaining:
            k = j
            break
        remaining -= d[i]
    if weight_left[k] <= 0.0:
        return INF
    return max(remaining, 0.0) / weight_left[k]


def _bracket(
    d: Sequence[float], w: Sequence[float], r: list[float], saturated: float, rising: float, total: float
) -> tuple[float, float]:
    """Two candidate ratios that likely enclose the level: the sample's own
    water level (its sums scaled up to all candidates) and ``_MARGIN``
    sample items either side of it."""
    step = max(len(r) // _SAMPLE, 1)
    sd, sw, sr = d[::step], w[::step], r[::step]
    scale = len(r) / len(sr)
    order = sorted(range(len(sr)), key=sr.__getitem__)
    below = 0.0  # sampled demand of the items below the current ratio
    above = math.fsum(sw)  # sampled weight of the rest
    j = len(order)
    for pos, i in enumerate(order):
        if saturated + scale * (below + sr[i] * above) + sr[i] * rising >= total:
            j = pos
            break
        below += sd[i]
        above -= sw[i]
    lo = sr[order[max(j - 1 - _MARGIN, 0)]]
    hi = sr[order[min(j + _MARGIN, len(order) - 1)]]
    return lo, hi


def _weights_above(w_sorted: list[float]) -> list[float]:
    """``out[k] = sum(w_sorted[k:])``, summed from the end; ``out[n] == 0.0``.

    Subtracting the saturated weights from the total instead cancels: with
    weights 1 and 1e-17, ``(1 + 1e-17) - 1`` is 0.0, the last item seems to
    rise at no cost, the level becomes infinite and the round hands out
    more than its capacity.  A sum of positive weights is never 0.0, and is
    accurate to a few units in the last place however small it is.
    """
    out = list(accumulate(reversed(w_sorted), add, initial=0.0))
    out.reverse()
    return out


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
