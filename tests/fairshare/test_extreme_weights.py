"""Issue 11, item 7: extreme weights never grant above capacity.

Invariants checked: with pool weights 1 and 1e-17 on one resource of 10
GPU-hours (demands 4 and 20) the round grants 4 + 6, not 4 + 20, on the
single-class and the general path; with any weights the format allows
(``limits.WEIGHT_MIN`` to ``WEIGHT_MAX``) capacity, demand and work
conservation hold, and a single resource matches water-filling in exact
rational arithmetic; beyond what a float can carry (a subnormal weight) the
round refuses with ``EngineError`` naming the resource instead of
overgranting; demands too large to add up are refused naming the request.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocation.fairshare.allocation_round import allocate, allocate_general
from allocation.fairshare.limits import WEIGHT_MAX, WEIGHT_MIN, EngineError
from allocation.fairshare.types import AllocationInput, Pool, Request, Resource, Tenant
from tests.fairshare.test_allocation_properties import _check_invariants, scenarios

pytestmark = pytest.mark.engine

MUC, LUX = ("MUC", "H100"), ("LUX", "H100")


def _issue_case(small: float, *, general: bool = False) -> AllocationInput:
    resources = (Resource("MUC", "H100", 1.0, 10.0),)
    eligible: tuple[tuple[str, str], ...] = (MUC,)
    if general:
        # A second resource only the small pool may use: two classes, the flow path.
        resources += (Resource("LUX", "H100", 1.0, 1.0),)
        eligible = (MUC, LUX)
    return AllocationInput(
        resources=resources,
        pools=(Pool("big", 1.0), Pool("small", small)),
        tenants=(Tenant("tb", "big"), Tenant("ts", "small")),
        requests=(Request("rb", "tb", 4.0, (MUC,)), Request("rs", "ts", 20.0, eligible)),
    )


def _granted(result: object, key: tuple[str, str]) -> float:
    return math.fsum(g.gpu_hours for g in result.grants if (g.site, g.chip_type) == key)  # type: ignore[attr-defined]


@pytest.mark.parametrize("small", [1e-17, 1e-30, 1e-300])
def test_a_tiny_pool_weight_gets_the_rest_not_its_whole_demand(small: float) -> None:
    result = allocate(_issue_case(small))
    assert _granted(result, MUC) == pytest.approx(10.0)
    assert result.requests == {"rb": 4.0, "rs": 6.0}


@pytest.mark.parametrize("small", [1e-17, 1e-30])
def test_the_flow_path_keeps_its_figures_within_the_grants(small: float) -> None:
    inp = _issue_case(small, general=True)
    for result in (allocate(inp), allocate_general(inp)):
        assert _granted(result, MUC) <= 10.0 + 1e-9
        assert _granted(result, LUX) <= 1.0 + 1e-9
        assert result.requests == {"rb": 4.0, "rs": 7.0}
        _check_invariants(inp, result)


def test_a_weight_no_float_can_carry_is_refused_naming_the_resource() -> None:
    # 1e-320 is subnormal: 6 / 1e-320 overflows, the level is infinite and
    # everything would "fit"; the round refuses instead.
    with pytest.raises(EngineError, match=r"^resource MUC/H100: the round would grant"):
        allocate(_issue_case(1e-320))


def _exact_fill(demands: list[float], weights: list[float], total: float) -> list[Fraction]:
    ds, ws, left = [Fraction(d) for d in demands], [Fraction(w) for w in weights], Fraction(total)
    if sum(ds) <= left:
        return ds
    order = sorted(range(len(ds)), key=lambda i: ds[i] / ws[i])
    rising = sum(ws)
    for i in order:
        if ds[i] / ws[i] * rising >= left:
            break
        left -= ds[i]
        rising -= ws[i]
    level = left / rising
    return [min(d, w * level) for d, w in zip(ds, ws, strict=True)]


weights = st.integers(-30, 30).map(lambda e: 10.0**e)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40).map(float), weights), min_size=2, max_size=6), st.integers(1, 60))
def test_single_resource_matches_exact_water_filling(pools: list[tuple[float, float]], capacity: int) -> None:
    inp = AllocationInput(
        resources=(Resource("MUC", "H100", 1.0, float(capacity)),),
        pools=tuple(Pool(f"p{i}", w) for i, (_, w) in enumerate(pools)),
        tenants=tuple(Tenant(f"t{i}", f"p{i}") for i in range(len(pools))),
        requests=tuple(Request(f"r{i}", f"t{i}", d, (MUC,)) for i, (d, _) in enumerate(pools)),
    )
    result = allocate(inp)
    want = _exact_fill([d for d, _ in pools], [w for _, w in pools], float(capacity))
    for i, exact in enumerate(want):
        assert result.requests[f"r{i}"] == pytest.approx(float(exact), rel=1e-9, abs=1e-9)
    assert _granted(result, MUC) <= capacity + 1e-9


@st.composite
def extreme_scenarios(draw: st.DrawFn) -> AllocationInput:
    inp = draw(scenarios(max_resources=4))
    pools = tuple(Pool(p.id, draw(weights)) for p in inp.pools)
    tenants = tuple(Tenant(t.id, t.pool, draw(weights)) for t in inp.tenants)
    return AllocationInput(inp.resources, pools, tenants, inp.requests)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(extreme_scenarios())
def test_any_weights_in_range_keep_capacity_and_demand(inp: AllocationInput) -> None:
    assert all(WEIGHT_MIN <= p.weight <= WEIGHT_MAX for p in inp.pools)
    _check_invariants(inp, allocate(inp))


@pytest.mark.parametrize("two_resources", [False, True])
def test_demands_too_large_to_add_up_are_refused_naming_the_request(two_resources: bool) -> None:
    # The issue's two demands of 1e308: their sum overflows fsum, so the engine must refuse them by name.
    inp = _issue_case(1.0, general=two_resources)
    huge = tuple(Request(q.id, q.tenant, 1e308, q.eligible) for q in inp.requests)
    with pytest.raises(EngineError, match=r"^request 'rb': demand 1e\+308 is too large to add up"):
        allocate(AllocationInput(inp.resources, inp.pools, inp.tenants, huge))
