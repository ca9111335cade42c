"""water_level against the plain scan it replaces.

The engine's figures must not move in the last bit when the scan is made
faster, so the reference here is the straightforward loop over the items
sorted by D/w (the weight still rising summed afresh at each step, from the
largest ratio down), and equality is exact (same float, same sign) up to
``SCAN_MAX`` items.  Above that (a pool of a million-tenant round) the level
is found by selection with exactly rounded sums, and the reference is the
exact level in rational arithmetic (the plain scan's running subtractions
drift further from it than the selection does on wide ranges).
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocation.fairshare.waterfill import SCAN_MAX, _sorted_by, fill, water_level

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
    remaining, weight_left, floor = total, 0.0, 0.0
    for k, i in enumerate(order):
        # The weight still rising, summed from the largest ratio down (never
        # the total less the saturated weights, which cancels to 0.0).
        weight_left = 0.0
        for j in reversed(order[k:]):
            weight_left += weights[j]
        if ratios[i] * weight_left >= remaining:
            break
        remaining -= demands[i]
        floor = ratios[i]  # saturated: the level is at least its ratio
        weight_left = 0.0
    if weight_left <= 0.0:
        return math.inf
    return max(max(remaining, 0.0) / weight_left, floor)


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


def _large_cases() -> list[tuple[str, list[float], list[float]]]:
    rng = random.Random(7)
    n = SCAN_MAX + 1000
    lognormal = [round(rng.lognormvariate(3.0, 1.2), 1) for _ in range(n)]
    return [
        ("lognormal, mixed weights", lognormal, [rng.choice([1.0, 2.0, 0.5]) for _ in range(n)]),
        ("few distinct demands (ties)", [float(rng.choice([1, 2, 3])) for _ in range(n)], [1.0] * n),
        ("every item equal", [5.0] * n, [1.0] * n),
        ("sorted input", sorted(lognormal), [1.0] * n),
        ("reverse sorted input", sorted(lognormal, reverse=True), [2.0] * n),
        ("wide range", [rng.random() * 1e7 for _ in range(n)], [rng.uniform(1e-3, 1e3) for _ in range(n)]),
    ]


def exact_water_level(demands: list[float], weights: list[float], total: float) -> float:
    """The level in exact rational arithmetic, rounded once at the end."""
    if sum(demands) <= total:
        return math.inf
    items = sorted((Fraction(d) / Fraction(w), Fraction(d), Fraction(w)) for d, w in zip(demands, weights, strict=True))
    remaining, weight_left = Fraction(total), sum((w for _, _, w in items), Fraction(0))
    for ratio, d, w in items:
        if ratio * weight_left >= remaining:
            break
        remaining -= d
        weight_left -= w
    return float(remaining / weight_left)


@pytest.mark.parametrize(("name", "demands", "weights"), _large_cases(), ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("fraction", [0.001, 0.3, 0.6, 0.97, 0.9999, 1.0])
def test_selection_above_scan_max_finds_the_exact_level(
    name: str, demands: list[float], weights: list[float], fraction: float
) -> None:
    total = fraction * sum(demands)
    want = exact_water_level(demands, weights, total)
    got = water_level(demands, weights, total)
    if want == math.inf:
        assert got == math.inf
    else:
        assert abs(got - want) <= 1e-12 * want, name


def test_an_item_that_all_but_fills_the_total_does_not_drop_the_level_to_zero() -> None:
    """Rounding counts the first item saturated (7.4999... < 7.5) and leaves 0.0 for the second; the
    level is still the first item's ratio, not 0.0 (which gave its pool's tenants nothing)."""
    level = water_level([7.5, 2.5], [4.999995000005e-07, 4.999995000005e-23], 7.5)

    assert level == pytest.approx(7.5 / 4.999995000005e-07)
