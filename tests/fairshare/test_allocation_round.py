"""Hand-worked cases of the allocation round (spec section 1)."""

from __future__ import annotations

import pytest

from allocation.fairshare.allocation_round import allocate
from allocation.fairshare.types import AllocationInput, Grant, Pool, Request, Resource, Tenant

pytestmark = pytest.mark.engine

H100 = ("MUC", "H100")


def one_resource(capacity: float) -> tuple[Resource, ...]:
    return (Resource("MUC", "H100", 1.0, capacity),)


def test_single_resource_four_tenants_in_one_pool() -> None:
    demands = [2.0, 2.6, 4.0, 5.0]
    inp = AllocationInput(
        one_resource(10.0),
        (Pool("p", 1.0),),
        tuple(Tenant(f"t{i}", "p") for i in range(4)),
        tuple(Request(f"r{i}", f"t{i}", d, (H100,)) for i, d in enumerate(demands)),
    )
    res = allocate(inp)
    assert list(res.tenants.values()) == [2.0, 2.6, 2.7, 2.7]
    assert list(res.requests.values()) == [2.0, 2.6, 2.7, 2.7]
    assert res.pools == {"p": 10.0}


def test_single_resource_four_pools() -> None:
    demands = [2.0, 2.6, 4.0, 5.0]
    inp = AllocationInput(
        one_resource(10.0),
        tuple(Pool(f"p{i}", 1.0) for i in range(4)),
        tuple(Tenant(f"t{i}", f"p{i}") for i in range(4)),
        tuple(Request(f"r{i}", f"t{i}", d, (H100,)) for i, d in enumerate(demands)),
    )
    assert list(allocate(inp).pools.values()) == [2.0, 2.6, 2.7, 2.7]


def test_weighted_water_filling_between_pools() -> None:
    # weights 1:2:3; the middle pool only wants 1, the rest splits 1:3.
    inp = AllocationInput(
        one_resource(12.0),
        (Pool("a", 1.0), Pool("b", 2.0), Pool("c", 3.0)),
        (Tenant("ta", "a"), Tenant("tb", "b"), Tenant("tc", "c")),
        (
            Request("ra", "ta", 100.0, (H100,)),
            Request("rb", "tb", 1.0, (H100,)),
            Request("rc", "tc", 100.0, (H100,)),
        ),
    )
    assert allocate(inp).pools == {"a": 2.75, "b": 1.0, "c": 8.25}


def test_weighted_water_filling_between_tenants_of_a_pool() -> None:
    inp = AllocationInput(
        one_resource(9.0),
        (Pool("p", 1.0),),
        (Tenant("heavy", "p", 2.0), Tenant("light", "p", 1.0)),
        (Request("rh", "heavy", 100.0, (H100,)), Request("rl", "light", 100.0, (H100,))),
    )
    assert allocate(inp).tenants == {"heavy": 6.0, "light": 3.0}


def test_surplus_stays_in_its_pool_first() -> None:
    # Pool A's small tenant leaves 4 hours over; they go to its sibling, not to pool B.
    inp = AllocationInput(
        one_resource(10.0),
        (Pool("A", 1.0), Pool("B", 1.0)),
        (Tenant("a1", "A"), Tenant("a2", "A"), Tenant("b1", "B")),
        (
            Request("q1", "a1", 1.0, (H100,)),
            Request("q2", "a2", 10.0, (H100,)),
            Request("q3", "b1", 10.0, (H100,)),
        ),
    )
    res = allocate(inp)
    assert res.pools == {"A": 5.0, "B": 5.0}
    assert res.tenants == {"a1": 1.0, "a2": 4.0, "b1": 5.0}


def test_flexible_request_goes_to_the_less_contended_site() -> None:
    lux = ("LUX", "H100")
    inp = AllocationInput(
        (Resource("MUC", "H100", 1.0, 10.0), Resource("LUX", "H100", 1.0, 10.0)),
        (Pool("p", 1.0),),
        (Tenant("fixed", "p"), Tenant("flex", "p")),
        (Request("rf", "fixed", 10.0, (H100,)), Request("rx", "flex", 10.0, (H100, lux))),
    )
    res = allocate(inp)
    assert res.requests == {"rf": 10.0, "rx": 10.0}
    assert res.grants == (Grant("rf", "MUC", "H100", 10.0), Grant("rx", "LUX", "H100", 10.0))


def test_two_chip_types_with_different_throughput() -> None:
    b200 = ("MUC", "B200")
    inp = AllocationInput(
        (Resource("MUC", "H100", 1.0, 100.0), Resource("MUC", "B200", 2.5, 40.0)),
        (Pool("A", 1.0), Pool("B", 1.0)),
        (Tenant("a", "A"), Tenant("b", "B")),
        (Request("ra", "a", 300.0, (H100, b200)), Request("rb", "b", 300.0, (b200,))),
    )
    res = allocate(inp)
    # 200 normalized hours in all; B can only use the B200 (40 GPU-h = 100 normalized).
    assert res.pools == {"A": 100.0, "B": 100.0}
    assert res.grants == (Grant("ra", "MUC", "H100", 100.0), Grant("rb", "MUC", "B200", 40.0))


def test_the_spec_example() -> None:
    both = (H100, ("MUC", "B200"))
    inp = AllocationInput(
        (Resource("MUC", "H100", 1.0, 1000.0, 4), Resource("MUC", "B200", 2.5, 200.0, 2)),
        (Pool("public", 3.0), Pool("acme", 1.0)),
        (Tenant("t1", "public", 1.0, 200.0), Tenant("a1", "acme", 1.0, 1000.0)),
        (Request("r1", "t1", 500.0, (H100,)), Request("r2", "a1", 2000.0, both)),
    )
    res = allocate(inp)
    assert res.pools == {"public": 500.0, "acme": 1000.0}
    assert res.tenants == {"t1": 500.0, "a1": 1000.0}
    assert res.requests == {"r1": 500.0, "r2": 1000.0}
    assert res.grants == (
        Grant("r1", "MUC", "H100", 500.0),
        Grant("r2", "MUC", "H100", 500.0),
        Grant("r2", "MUC", "B200", 200.0),
    )
    assert res.explanations["t1"].startswith("saturated: got its full demand of 500.0")


def starved_input() -> AllocationInput:
    lux = ("LUX", "H100")
    return AllocationInput(
        (Resource("MUC", "H100", 1.0, 100.0), Resource("LUX", "H100", 1.0, 1000.0)),
        (Pool("A", 1.0), Pool("B", 1.0)),
        (Tenant("a", "A"), Tenant("b1", "B"), Tenant("b2", "B")),
        (
            Request("qa", "a", 100.0, (H100,)),
            Request("qb1", "b1", 1000.0, (lux,)),
            Request("qb2", "b2", 100.0, (H100,)),
        ),
    )


def test_tenant_starved_because_its_only_resource_serves_another_pool() -> None:
    res = allocate(starved_input())
    # Step 1: A can only use MUC, so it gets all of it; B reaches 1000 on LUX.
    assert res.pools == {"A": 100.0, "B": 1000.0}
    assert res.tenants == {"a": 100.0, "b1": 1000.0, "b2": 0.0}
    why = res.explanations["b2"]
    assert "got nothing" in why
    assert "MUC/H100" in why
    assert "needed by other pools ('A')" in why


def test_every_tenant_has_an_explanation_in_plain_words() -> None:
    res = allocate(starved_input())
    assert res.explanations["a"] == "saturated: got its full demand of 100.0 normalized hours"
    assert res.explanations["b1"] == "saturated: got its full demand of 1000.0 normalized hours"


def test_tenant_held_by_its_pool_cap_says_so() -> None:
    inp = AllocationInput(
        one_resource(10.0),
        (Pool("A", 1.0), Pool("B", 1.0)),
        (Tenant("a", "A"), Tenant("b", "B")),
        (Request("qa", "a", 100.0, (H100,)), Request("qb", "b", 100.0, (H100,))),
    )
    why = allocate(inp).explanations["a"]
    assert "its pool 'A' was capped at 5.0" in why
    assert "MUC/H100" in why


def test_tenant_held_at_fair_level_names_the_exhausted_resource() -> None:
    lux = ("LUX", "H100")
    inp = AllocationInput(
        (Resource("MUC", "H100", 1.0, 10.0), Resource("LUX", "H100", 1.0, 100.0)),
        (Pool("p", 1.0),),
        (Tenant("m1", "p"), Tenant("m2", "p"), Tenant("l", "p")),
        (
            Request("q1", "m1", 50.0, (H100,)),
            Request("q2", "m2", 50.0, (H100,)),
            Request("q3", "l", 500.0, (lux,)),
        ),
    )
    res = allocate(inp)
    assert res.tenants == {"m1": 5.0, "m2": 5.0, "l": 100.0}
    assert "fair level" in res.explanations["m1"]
    assert "MUC/H100 are exhausted" in res.explanations["m1"]


def test_everyone_appears_and_unrunnable_requests_get_zero() -> None:
    inp = AllocationInput(
        one_resource(10.0),
        (Pool("p", 1.0), Pool("idle", 1.0)),
        (Tenant("t", "p"), Tenant("quiet", "p"), Tenant("lost", "idle")),
        (
            Request("ok", "t", 4.0, (H100,)),
            Request("nowhere", "t", 4.0, ()),
            Request("unknown", "lost", 4.0, (("XXX", "H100"),)),
        ),
    )
    res = allocate(inp)
    assert res.pools == {"p": 4.0, "idle": 0.0}
    assert res.tenants == {"t": 4.0, "quiet": 0.0, "lost": 0.0}
    assert res.requests == {"ok": 4.0, "nowhere": 0.0, "unknown": 0.0}
    assert res.grants == (Grant("ok", "MUC", "H100", 4.0),)
    assert set(res.explanations) == {"t", "quiet", "lost"}


def test_same_input_gives_identical_output() -> None:
    inp = starved_input()
    assert allocate(inp) == allocate(inp)


def test_requests_of_one_tenant_are_water_filled() -> None:
    inp = AllocationInput(
        one_resource(9.0),
        (Pool("p", 1.0),),
        (Tenant("t", "p"),),
        (
            Request("small", "t", 1.0, (H100,)),
            Request("big1", "t", 10.0, (H100,)),
            Request("big2", "t", 10.0, (H100,)),
        ),
    )
    assert allocate(inp).requests == {"small": 1.0, "big1": 4.0, "big2": 4.0}
