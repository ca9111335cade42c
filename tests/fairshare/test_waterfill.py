"""water_level against the plain scan it replaces, bit for bit.

The engine's figures must not move in the last bit when the scan is made
faster, so the reference here is the straightforward loop over the items
sorted by D/w, and equality is exact (same float, same sign).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocation.fairshare.waterfill import _sorted_by, fill, water_level

pytestmark = pytest.mark.engine


def plain_water_level(demands: list[float], weights: list[float], total: float) -> float:
    if total <= 0.0:
        return 0.0
    if len(demands) == 1:
        return math.inf if demands[0] <= total else total / weights[0]
    if sum(demands) <= total:
        return math.inf
    ratios = [d / w for d, w in zip(demands, weights, strict=True)]
    order = sorted(range(len(demands)), key=ratios.__getitem__)
    remaining, weight_left = total, math.fsum(weights)
    for i in order:
        if ratios[i] * weight_left >= remaining:
            break
        remaining -= demands[i]
        weight_left -= weights[i]
    if weight_left <= 0.0:
        return math.inf
    return max(remaining, 0.0) / weight_left


# Few distinct values make ties (equal ratios) common; the wide range makes
# the order of subtractions matter to the last bit.
demand = st.one_of(
    st.sampled_from([0.0, 1.0, 2.0, 2.5, 0.1, 0.3]),
    st.floats(0.0, 1e7, allow_nan=False, allow_infinity=False),
)
weight = st.one_of(st.sampled_from([1.0, 2.0, 1 / 3, 0.7]), st.floats(1e-3, 1e3))


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(demand, weight), min_size=1, max_size=40), st.floats(-1.0, 1.2))
def test_water_level_is_the_plain_scan_bit_for_bit(items: list[tuple[float, float]], fraction: float) -> None:
    demands, weights = [d for d, _ in items], [w for _, w in items]
    total = fraction * sum(demands)
    want = plain_water_level(demands, weights, total)
    got = water_level(demands, weights, total)
    assert got == want and math.copysign(1.0, got) == math.copysign(1.0, want)
    assert fill(demands, weights, total) == [d if want == math.inf else min(d, w * want) for d, w in items]


@given(st.lists(st.tuples(st.sampled_from([0.5, 1.0, 2.0, 3.0]), st.integers()), max_size=60))
def test_sorted_by_moves_values_with_their_keys_stably(pairs: list[tuple[float, int]]) -> None:
    keys, values = [k for k, _ in pairs], [float(v) for _, v in pairs]
    order = sorted(range(len(keys)), key=keys.__getitem__)
    assert _sorted_by(keys, values) == [values[i] for i in order]


def test_hand_worked_single_resource_case() -> None:
    # The case: capacity 10, demands 2, 2.6, 4, 5 -> 2, 2.6, 2.7, 2.7.
    got = fill([2.0, 2.6, 4.0, 5.0], [1.0] * 4, 10.0)
    assert [round(v, 9) for v in got] == [2.0, 2.6, 2.7, 2.7]
