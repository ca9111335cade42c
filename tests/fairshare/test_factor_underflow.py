"""Issue 11, item 6: the fair-share order is exact for any usage.

Invariants checked: among 3,000 equal tenants, two heavy users whose
F = 2^-x underflows (x above 1074) keep a positive F and distinct exponents
in the right order; the booking round (through the ``simulate`` scenario)
serves the lighter of the two first although the heavier one submitted
earlier; ``factor_text`` writes such an F in decimal; usage too large to add
up as floats gives finite factors, not NaN; usage far after ``now`` is an
``EngineError``, not an OverflowError.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from allocation.fairshare.factor import (
    SMALLEST_FACTOR,
    factor_text,
    fair_share_exponents,
    fair_share_factors,
)
from allocation.fairshare.limits import EngineError
from allocation.fairshare.scenario import dump_result, run_scenario
from allocation.fairshare.types import Pool, Tenant, Usage

pytestmark = pytest.mark.engine

NOW = datetime(2027, 1, 8, tzinfo=UTC)
N = 3000  # s = 1/3000: a tenant with 40% of the usage has x = 1200


def _crowd() -> tuple[tuple[Pool, ...], tuple[Tenant, ...], tuple[Usage, ...]]:
    tenants = tuple(Tenant(f"t{i}", "p") for i in range(N))
    usage = (Usage("t0", NOW, 600.0), Usage("t1", NOW, 400.0))
    return (Pool("p", 1.0),), tenants, usage


def test_heavy_users_keep_a_positive_factor_and_an_exact_order() -> None:
    pools, tenants, usage = _crowd()
    factors = fair_share_factors(pools=pools, tenants=tenants, usage=usage, now=NOW)
    exponents = fair_share_exponents(pools=pools, tenants=tenants, usage=usage, now=NOW)
    # e = u + (1 - u) / N and s = 1 / N: x = N * u + (1 - u).
    assert exponents["t0"] == pytest.approx(N * 0.6 + 0.4)
    assert exponents["t1"] == pytest.approx(N * 0.4 + 0.6)
    assert exponents["t2"] == pytest.approx(1.0)
    assert 2.0 ** -exponents["t1"] == 0.0  # what F = 2^-x computed directly would show
    assert all(0.0 < f <= 1.0 for f in factors.values())
    assert factors["t0"] == factors["t1"] == SMALLEST_FACTOR
    assert exponents["t1"] < exponents["t0"]


def _scenario() -> dict[str, Any]:
    at = "2027-01-08T00:00:00Z"
    window = {"earliest_start": at, "latest_end": "2027-01-08T01:00:00Z", "chips": 1, "hours": 1}
    tenants: list[dict[str, Any]] = [{"id": f"t{i}", "pool": "p"} for i in range(N)]
    tenants[0]["usage"] = [{"at": at, "normalized_hours": 600}]
    tenants[1]["usage"] = [{"at": at, "normalized_hours": 400}]
    return {
        "chip_types": {"H100": {"throughput": 1.0}},
        "resources": [{"site": "MUC", "chip_type": "H100", "chips": 1}],
        "pools": [{"id": "p", "weight": 1}],
        "tenants": tenants,
        "now": at,
        "horizon": {"start": at, "hours": 24},
        # One chip for one hour: whoever comes first in fair-share order gets it.
        "bookings": [
            {"id": "heavier", "tenant": "t0", "submitted_at": "2027-01-07T00:00:00Z", **window},
            {"id": "lighter", "tenant": "t1", "submitted_at": "2027-01-07T12:00:00Z", **window},
        ],
    }


def test_booking_round_serves_the_lighter_of_two_underflowed_tenants_first() -> None:
    output = run_scenario(_scenario())
    assert [p["booking"] for p in output["booking"]["placements"]] == ["lighter"]
    assert output["booking"]["unplaced"] == [{"booking": "heavier", "reason": "capacity"}]
    assert all(0.0 < f <= 1.0 for f in output["fair_share"].values())
    dump_result(output)  # valid JSON, no NaN


@pytest.mark.parametrize(
    ("exponent", "text"),
    # decimal.Decimal(2) ** Decimal("-1200.4") is 4.40142397...E-362.
    [
        (0.0, "1.00000"),
        (1.0, "0.500000"),
        (4 / 3, "0.396850"),
        (40.0, "9.09495e-13"),
        (1200.4, "4.40142e-362"),
        (1000 / math.log10(2), "1.00000e-1000"),
    ],
)
def test_factor_text_writes_any_factor_in_decimal(exponent: float, text: str) -> None:
    assert factor_text(exponent) == text


def test_usage_too_large_to_add_up_gives_finite_factors() -> None:
    pools = (Pool("p", 1.0), Pool("q", 1.0))
    tenants = (Tenant("a", "p"), Tenant("b", "q"), Tenant("c", "q"))
    week_ago = NOW - timedelta(hours=168)
    # a's own two records overflow (the NaN); b's add up to 1.5e308.
    usage = (Usage("a", NOW, 1e308), Usage("a", NOW, 1e308), Usage("b", NOW, 1e308), Usage("b", week_ago, 1e308))
    factors = fair_share_factors(pools=pools, tenants=tenants, usage=usage, now=NOW)
    # R = 2 and 1.5 (units of 1e308): u = 4/7 and 3/7; s = 1/2, and 1/4 each in pool q.
    assert factors["a"] == pytest.approx(2 ** (-(4 / 7) / 0.5))
    assert factors["b"] == pytest.approx(2 ** (-(3 / 7) / 0.25))
    assert factors["c"] == pytest.approx(2 ** (-(3 / 7 * 0.5) / 0.25))


def test_usage_far_after_now_is_refused_naming_the_tenant() -> None:
    far = NOW + timedelta(hours=168 * 1024)
    with pytest.raises(EngineError, match=r"^usage of tenant 'a' at 2046-.*half-lives after now"):
        fair_share_factors(pools=(Pool("p", 1.0),), tenants=(Tenant("a", "p"),), usage=(Usage("a", far, 1.0),), now=NOW)
