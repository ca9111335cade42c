"""The single-class fast path: its two ways of matching requests to tenants
agree exactly, and its lazily formatted explanations behave like a dict.

``allocate_single_class`` skips id lookups when request q is tenant q's only
request (the common shape).  Shuffling the requests forces the lookup path,
which must give the very same floats and sentences; repeated tenant ids must
fall back to it as well.
"""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocation.fairshare.allocation_round import allocate, allocate_general
from allocation.fairshare.types import AllocationInput, Grant, Pool, Request, Resource, Tenant

pytestmark = pytest.mark.engine

KEY = ("MUC", "H100")


@st.composite
def one_request_each(draw: st.DrawFn) -> AllocationInput:
    pools = tuple(Pool(f"p{i}", float(draw(st.integers(1, 4)))) for i in range(draw(st.integers(1, 4))))
    n = draw(st.integers(1, 30))
    tenants = tuple(
        Tenant(f"t{i}", draw(st.sampled_from(pools)).id, float(draw(st.sampled_from([1, 2, 3])))) for i in range(n)
    )
    demands = draw(st.lists(st.sampled_from([0.0, -1.0, 0.1, 2.5, 7.3, 40.0, 123.4]), min_size=n, max_size=n))
    requests = tuple(Request(f"q{i}", t.id, d, (KEY,)) for i, (t, d) in enumerate(zip(tenants, demands, strict=True)))
    capacity = draw(st.sampled_from([0.0, 10.0, 55.5, 300.0, 1e4]))
    throughput = draw(st.sampled_from([1.0, 2.5]))
    return AllocationInput((Resource(*KEY, throughput, capacity),), pools, tenants, requests)


@settings(max_examples=200, deadline=None)
@given(one_request_each(), st.randoms(use_true_random=False))
def test_in_order_and_looked_up_requests_agree_exactly(inp: AllocationInput, rng: random.Random) -> None:
    shuffled = list(inp.requests)
    rng.shuffle(shuffled)
    fast = allocate(inp)
    looked_up = allocate(AllocationInput(inp.resources, inp.pools, inp.tenants, tuple(shuffled)))
    assert fast.pools == looked_up.pools
    assert fast.tenants == looked_up.tenants
    assert fast.requests == looked_up.requests
    assert sorted(fast.grants) == sorted(looked_up.grants)
    assert dict(fast.explanations) == dict(looked_up.explanations)


def test_repeated_tenant_ids_fall_back_to_lookups() -> None:
    pools = (Pool("p", 1.0),)
    tenants = (Tenant("a", "p"), Tenant("a", "p"), Tenant("b", "p"))
    requests = tuple(Request(f"q{i}", t.id, 10.0, (KEY,)) for i, t in enumerate(tenants))
    inp = AllocationInput((Resource(*KEY, 1.0, 15.0),), pools, tenants, requests)
    fast, general = allocate(inp), allocate_general(inp)
    assert fast.tenants == general.tenants
    assert fast.requests == general.requests
    assert dict(fast.explanations) == dict(general.explanations)


def test_explanations_read_like_a_dict() -> None:
    pools = (Pool("public", 2.0), Pool("acme", 1.0))
    tenants = (Tenant("t1", "public"), Tenant("a1", "acme", 2.0), Tenant("idle", "acme"))
    requests = (
        Request("r1", "t1", 5.0, (KEY,)),
        Request("r2", "a1", 500.0, (KEY,)),
        Request("r3", "idle", 0.0, (KEY,)),
    )
    res = allocate(AllocationInput((Resource(*KEY, 1.0, 100.0),), pools, tenants, requests))
    why = res.explanations
    assert list(why) == ["t1", "a1", "idle"] and len(why) == 3
    assert why["t1"] == "saturated: got its full demand of 5.0 normalized hours"
    assert why["a1"].startswith("held at 95.0 of its 500.0 normalized hours")
    assert why["idle"] == "asked for nothing it can run this round, so it got 0.0 normalized hours"
    assert why.get("nobody", "") == "" and "nobody" not in why
    with pytest.raises(KeyError):
        why["nobody"]
    as_dict = dict(why)
    assert why == as_dict and as_dict == why
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert why["a1"] == why["a1"]  # formatted on each read, identically


def test_grants_are_immutable_named_records() -> None:
    g = Grant("r1", "MUC", "H100", 5.0)
    assert (g.request, g.site, g.chip_type, g.gpu_hours) == ("r1", "MUC", "H100", 5.0)
    with pytest.raises(AttributeError):
        g.gpu_hours = 6.0  # type: ignore[misc]
    res = allocate(
        AllocationInput(
            (Resource(*KEY, 1.0, 5.0),), (Pool("p", 1.0),), (Tenant("t", "p"),), (Request("r1", "t", 9.0, (KEY,)),)
        )
    )
    assert res.grants == (g,) and type(res.grants[0]) is Grant
