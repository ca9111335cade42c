"""Fair-share factor (section 2): hand-computed cases.

Invariants checked: the spec example; decay by half-life; a tenant is held
back with its overusing pool; nobody with usage gives F = 1 everywhere;
F stays in (0, 1] for past usage.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from allocation.fairshare.factor import fair_share_factors, global_shares
from allocation.fairshare.types import Pool, Tenant, Usage

pytestmark = pytest.mark.engine

NOW = datetime(2027, 1, 8, tzinfo=UTC)
WEEK = timedelta(hours=168)


def test_spec_example() -> None:
    factors = fair_share_factors(
        pools=(Pool("public", 3), Pool("acme", 1)),
        tenants=(Tenant("t1", "public"), Tenant("a1", "acme")),
        usage=(Usage("t1", NOW - WEEK, 40.0),),
        now=NOW,
        half_life_hours=168,
    )
    # s_t1 = 3/4; u_t1 = 1 -> F = 2^(-4/3)
    assert factors == {"t1": pytest.approx(0.39685, abs=5e-6), "a1": 1.0}
    assert factors["t1"] == pytest.approx(2 ** (-4 / 3), rel=1e-12)


def test_decay_halves_usage_per_half_life() -> None:
    factors = fair_share_factors(
        pools=(Pool("p", 1), Pool("q", 1)),
        tenants=(Tenant("t1", "p"), Tenant("t2", "q")),
        # 40 h a half-life ago weighs 20, the same as 20 h right now.
        usage=(Usage("t1", NOW - WEEK, 40.0), Usage("t2", NOW, 20.0)),
        now=NOW,
    )
    assert factors["t1"] == pytest.approx(0.5, rel=1e-12)
    assert factors["t2"] == pytest.approx(0.5, rel=1e-12)


def test_decay_with_unequal_usage() -> None:
    factors = fair_share_factors(
        pools=(Pool("p", 1), Pool("q", 1)),
        tenants=(Tenant("t1", "p"), Tenant("t2", "q")),
        usage=(Usage("t1", NOW - WEEK, 40.0), Usage("t2", NOW, 10.0)),
        now=NOW,
    )
    # R = 20 and 10; u = 2/3 and 1/3; s = 1/2 each.
    assert factors["t1"] == pytest.approx(2 ** (-4 / 3), rel=1e-12)
    assert factors["t2"] == pytest.approx(2 ** (-2 / 3), rel=1e-12)


def test_tenant_is_held_back_with_its_overusing_pool() -> None:
    factors = fair_share_factors(
        pools=(Pool("A", 1), Pool("B", 1)),
        tenants=(Tenant("a1", "A"), Tenant("a2", "A"), Tenant("b1", "B")),
        usage=(Usage("a1", NOW, 100.0),),
        now=NOW,
    )
    # u_a1 = u_A = 1. a2 never used anything but e_a2 = 0 + (1 - 0) * 1/2,
    # s_a2 = 1/4 -> F = 2^-2; a1: e = 1, s = 1/4 -> 2^-4; b1 untouched.
    assert factors["a1"] == pytest.approx(0.0625, rel=1e-12)
    assert factors["a2"] == pytest.approx(0.25, rel=1e-12)
    assert factors["b1"] == 1.0
    assert factors["b1"] > factors["a2"] > factors["a1"]


def test_tenant_weights_shape_shares_and_leakage() -> None:
    pools = (Pool("A", 1), Pool("B", 3))
    tenants = (Tenant("a1", "A", weight=1), Tenant("a2", "A", weight=3), Tenant("b1", "B"))
    shares = global_shares(pools=pools, tenants=tenants)
    assert shares == {
        "a1": pytest.approx(1 / 16),
        "a2": pytest.approx(3 / 16),
        "b1": pytest.approx(3 / 4),
    }
    factors = fair_share_factors(
        pools=pools,
        tenants=tenants,
        usage=(Usage("a1", NOW, 30.0), Usage("b1", NOW, 10.0)),
        now=NOW,
    )
    # u_a1 = 3/4, u_A = 3/4, u_b1 = 1/4.
    e_a1 = 0.75 + 0.0 * 0.25
    e_a2 = 0.0 + 0.75 * 0.75
    assert factors["a1"] == pytest.approx(2 ** (-e_a1 / (1 / 16)), rel=1e-12)
    assert factors["a2"] == pytest.approx(2 ** (-e_a2 / (3 / 16)), rel=1e-12)
    assert factors["b1"] == pytest.approx(2 ** (-0.25 / 0.75), rel=1e-12)


@pytest.mark.parametrize("usage", [(), (Usage("t1", NOW, 0.0),)])
def test_nobody_has_usage_means_every_factor_is_one(usage: tuple[Usage, ...]) -> None:
    factors = fair_share_factors(
        pools=(Pool("p", 2), Pool("q", 1)),
        tenants=(Tenant("t1", "p"), Tenant("t2", "p", weight=5), Tenant("t3", "q")),
        usage=usage,
        now=NOW,
    )
    assert factors == {"t1": 1.0, "t2": 1.0, "t3": 1.0}


def test_unknown_tenant_or_pool_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown tenant"):
        fair_share_factors(
            pools=(Pool("p", 1),),
            tenants=(Tenant("t1", "p"),),
            usage=(Usage("zz", NOW, 1.0),),
            now=NOW,
        )
    with pytest.raises(ValueError, match="unknown pool"):
        fair_share_factors(pools=(Pool("p", 1),), tenants=(Tenant("t1", "x"),), usage=(), now=NOW)


@given(
    st.lists(
        st.tuples(
            st.integers(0, 5),
            st.floats(0, 1e6, allow_nan=False),
            st.floats(0, 5000, allow_nan=False),
        ),
        max_size=30,
    ),
    st.lists(st.floats(0.1, 10), min_size=6, max_size=6),
)
def test_factor_is_in_unit_interval_for_past_usage(
    records: list[tuple[int, float, float]], weights: list[float]
) -> None:
    pools = (Pool("p", weights[0]), Pool("q", weights[1]))
    tenants = tuple(Tenant(f"t{i}", "p" if i < 3 else "q", weights[i]) for i in range(6))
    usage = tuple(Usage(f"t{i}", NOW - timedelta(hours=age), h) for i, h, age in records)
    factors = fair_share_factors(pools=pools, tenants=tenants, usage=usage, now=NOW)
    assert set(factors) == {t.id for t in tenants}
    assert all(0.0 <= f <= 1.0 for f in factors.values())
